"""Hostile-string and bounded-work mutations for the fuzzer: names, ops, attr strings and labels lines that
reach a terminal, a markdown page or a file; splat Consts; attrs nested past protobuf's limit.

Used by fuzzlib.graph_mutation (one of GRAPH_MUTATIONS each) and fuzzlib.mutate
(a labels file beside some mutants); ``draw`` is fuzzlib's Draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.types_pb2 import DataType

if TYPE_CHECKING:
    from fuzz.fuzzlib import Draw

# Rich markup, terminal escape sequences (colour, OSC 8 links, clear line),
# controls and NULs, bidi and zero-width characters, format specifiers,
# markdown and HTML, scope chains, names only of separators, sheer length.
HOSTILE_STRINGS = (
    "[bold]x[/]", "[/]", "[red]", "[link=file:///etc/passwd]x[/link]", "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://x\x07l\x1b]8;;\x07", "\r\x1b[2K", "a\nb", "a\rb", "a\x00b", "\x00", "\u202eevil", "\u200b",
    "%s%n", "{0}", "{}", "`x`", "| a | b |", "**x**", "<script>alert(1)</script>", "&amp;",
    "a/" * 2000 + "x", "/".join(f"s{i}" for i in range(1500)), "x" * 100_000,
    "/", "//", "a//b", "a/", "../..", "名/ü", "\\", "\t", " ", "-", ":", "^", "a:0", "^b",
)

MUTATIONS = ("hostile_name", "hostile_op", "hostile_attr", "splat_const", "deep_attr")

_VALUE_FIELDS = ("float_val", "int_val", "int64_val", "double_val", "half_val", "bool_val", "string_val", "tensor_content")


def mutate_graph(kind: str, graph: GraphDef, draw: Draw, steps: list[str]) -> None:
    """One of MUTATIONS applied to ``graph`` (which has a node) in place; ``steps`` says what was done."""
    node = graph.node[draw.integer(0, len(graph.node) - 1)]
    if kind == "hostile_name":
        # Renamed wherever it is read too, so the graph stays whole and the name goes all the way through.
        old, new = node.name, draw.choice(HOSTILE_STRINGS)
        steps.append(f"rename node {old!r} -> {short(new)} everywhere")
        rename_everywhere(graph, old, new)
    elif kind == "hostile_op":
        new = draw.choice(HOSTILE_STRINGS)
        steps.append(f"{node.name!r} op {node.op!r} -> {short(new)}")
        node.op = new
    elif kind == "hostile_attr":
        strings = sorted(k for k, v in node.attr.items() if v.WhichOneof("value") == "s")
        key = draw.choice(strings + ["_hostile", "padding", "data_format", "_class"])
        text = draw.choice(HOSTILE_STRINGS).encode("utf-8")
        raw = draw.choice([text, text + b"\xff\xfe", b"\x00" * 8])  # attr strings are bytes, not always UTF-8
        node.attr[key].Clear()
        if key == "_class":
            node.attr[key].list.s.append(b"loc:@" + raw)
        else:
            node.attr[key].s = raw
        steps.append(f"{node.name!r} attr {key} -> {short(raw)}")
    elif kind == "splat_const":
        consts = [n for n in graph.node if "value" in n.attr and n.attr["value"].HasField("tensor")]
        if not consts:
            return
        node = draw.choice(consts)
        tensor = node.attr["value"].tensor
        dims = draw.choice([[25000, 40000], [100000, 100000, 1000], [2**31, 2], [70_000_000]])
        for name in _VALUE_FIELDS:
            tensor.ClearField(name)
        values = draw.integer(0, 1)  # a splat of one value, or a shape with no values at all
        if values and tensor.dtype == DataType.DT_FLOAT:
            tensor.float_val.append(1.0)
        elif values and tensor.dtype == DataType.DT_INT32:
            tensor.int_val.append(1)
        del tensor.tensor_shape.dim[:]
        for d in dims:
            tensor.tensor_shape.dim.add(size=d)
        steps.append(f"{node.name!r} value: {len(tensor.float_val) + len(tensor.int_val)} value(s) over shape {dims}")
    elif kind == "deep_attr":
        levels = draw.choice([30, 32, 33, 40, 200])  # 3 messages a level: 93 .. 603 deep
        value = node.attr["_deep"]
        for _ in range(levels):
            value = value.func.attr["k"]
        value.s = b"x"
        steps.append(f"{node.name!r} attr _deep nested {3 + 3 * levels} levels")
    else:
        raise ValueError(kind)


def rename_everywhere(graph: GraphDef, old: str, new: str) -> None:
    """Rename node ``old`` to ``new`` and every input and colocation that names it."""
    for node in graph.node:
        if node.name == old:
            node.name = new
        for index, ref in enumerate(node.input):
            caret = "^" if ref.startswith("^") else ""
            source, colon, port = ref[len(caret):].rpartition(":")
            if not colon or not port.isdigit():
                source, colon, port = ref[len(caret):], "", ""
            if source == old:
                node.input[index] = caret + new + colon + port
        if "_class" in node.attr:
            wanted = node.attr["_class"].list.s
            for index, s in enumerate(wanted):
                if s == b"loc:@" + old.encode("utf-8"):
                    wanted[index] = b"loc:@" + new.encode("utf-8")


def labels_file(draw: Draw, steps: list[str]) -> bytes:
    """A labels file for ``label --labels``: hostile lines, too few or many of them, odd bytes and line ends."""
    count = draw.choice([0, 1, 2, 3, 5, 1000])
    lines = [draw.choice(HOSTILE_STRINGS + ("daisy", "roses", "")) for _ in range(count)]
    end = draw.choice([b"\n", b"\r\n", b"\r", b"\x00", "\u2028".encode("utf-8")])
    data = end.join(line.encode("utf-8") for line in lines)
    if draw.integer(0, 3) == 0:
        data += b"\xff\xfe junk \x80"
    steps.append(f"labels: {count} lines ending {end!r}" + (f", the first {short(lines[0])}" if lines else ""))
    return data


def short(value: str | bytes) -> str:
    """``value``'s repr, cut to a readable length for a mutant's description."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(value):,} long)"


__all__ = ["HOSTILE_STRINGS", "MUTATIONS", "mutate_graph", "rename_everywhere", "labels_file", "short"]
