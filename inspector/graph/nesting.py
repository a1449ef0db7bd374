"""How deep a GraphDef's messages nest, in binary or text form, measured without recursion.

Protobuf's parsers (upb, which this package's protobuf uses, and TensorFlow's
C++ reader) stop at 100 nested messages; Python's text parser recurses and
would hit Python's own recursion limit first. Measuring the depth with a loop
lets the loader name the problem instead of tracing back.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from tensorboard.compat.proto.graph_pb2 import GraphDef

# upb's default decode depth (and CodedInputStream's default recursion limit):
# a node is depth 1, its attr map entry 2, the AttrValue 3, ...
MAX_NESTING = 100

# A text-format token that opens or closes a message; strings and comments are
# matched so that braces inside them are skipped.
_TEXT_TOKEN = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|[{}<>]""")


def text_depth(text: str) -> int:
    """The deepest ``{ }`` (or ``< >``) nesting in text-format ``text``."""
    depth = deepest = 0
    for match in _TEXT_TOKEN.finditer(text):
        token = match.group()
        if token in ("{", "<"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("}", ">"):
            depth -= 1
    return deepest


def wire_depth(data: bytes, *, descriptor: Descriptor = GraphDef.DESCRIPTOR) -> int:
    """The deepest submessage nesting in the wire-format ``data`` of a ``descriptor`` message.

    Only fields the schema declares as messages are entered (as a parser
    would); the walk stops at the first malformed field.
    """
    ends = [len(data)]
    types = [descriptor]
    pos = deepest = 0
    while ends:
        if pos >= ends[-1]:
            ends.pop()
            types.pop()
            continue
        key, pos = _varint(data, pos)
        if key is None:
            break
        wire = key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            if value is None:
                break
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if length is None or pos + length > ends[-1]:
                break
            field = types[-1].fields_by_number.get(key >> 3)
            if field is not None and field.type == FieldDescriptor.TYPE_MESSAGE:
                ends.append(pos + length)
                types.append(field.message_type)
                deepest = max(deepest, len(ends) - 1)
                continue
            pos += length
        else:
            break  # groups: no GraphDef field is one
    return deepest


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


__all__ = ["MAX_NESTING", "text_depth", "wire_depth"]
