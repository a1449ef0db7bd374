"""Load and save GraphDefs (.pb, .pbtxt, SavedModel folders) with one clear line per load error."""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from inspector.atomic import write_bytes_atomic
from inspector.errors import InspectorError
from inspector.files import open_regular, read_limited
from inspector.graph.nesting import MAX_NESTING, text_depth, wire_depth
from inspector.graph.refs import node_of

_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")

# Protobuf refuses messages of 2 GiB or more; say so before trying.
PROTOBUF_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class LoadedGraph:
    """A graph read from disk, with where it came from."""

    path: Path
    graph: GraphDef
    size_bytes: int
    format: str  # "pb", "pbtxt" or "saved_model"

    @property
    def name(self) -> str:
        return self.path.name

    def to_json(self) -> dict:
        return {"path": str(self.path), "format": self.format, "size_bytes": self.size_bytes, "nodes": len(self.graph.node)}


def load_graph(path: Path | str, *, signature: str = "serving_default") -> LoadedGraph:
    """Read a frozen graph; a SavedModel folder is frozen for ``signature`` (imports TensorFlow)."""
    path = Path(path)
    if not path.exists():
        hint = _missing_hint(path)
        raise InspectorError(f"{path}: no such file or folder{hint}")
    if path.is_dir():
        return _load_saved_model(path, signature=signature)
    try:
        data = read_limited(
            path, limit=PROTOBUF_LIMIT, itself="pass the graph file itself",
            too_big=lambda size: f"{size / 2**30:.1f} GiB is over protobuf's 2 GiB limit for one GraphDef; "
            "export it as a SavedModel folder instead",
        )
    except IsADirectoryError:  # pragma: no cover - raced with is_dir above
        return _load_saved_model(path, signature=signature)
    graph, fmt = parse_graph_bytes(data, path=path)
    check_graph(graph, path=path)
    return LoadedGraph(path=path, graph=graph, size_bytes=len(data), format=fmt)


# Node entries read through :func:`load_graph_streamed` are parsed in batches of about this many bytes.
_BATCH_BYTES = 16 * 2**20


def load_graph_streamed(path: Path | str, *, large: int, on_large: Callable[[NodeDef], None]) -> LoadedGraph:
    """:func:`load_graph` of a binary .pb that reads it node by node: ``on_large`` edits each node entry over ``large`` bytes as it streams by.

    Memory stays near the graph as edited plus the biggest node (a whole-file
    read holds the file's bytes and the parsed graph at once); small entries are
    parsed in batches, at protobuf's speed. Anything but a well-formed binary
    GraphDef in a regular file under the size limit (a folder, text, another
    message, damage) is read by :func:`load_graph` instead, which says what is
    wrong with it.
    """
    path = Path(path)
    streamed = _stream(path, large=large, on_large=on_large)
    if streamed is None:
        loaded = load_graph(path)
        for node in loaded.graph.node:
            if node.ByteSize() > large:
                on_large(node)
        return loaded
    graph, size = streamed
    check_graph(graph, path=path)
    return LoadedGraph(path=path, graph=graph, size_bytes=size, format="pb")


def _stream(path: Path, *, large: int, on_large: Callable[[NodeDef], None]) -> tuple[GraphDef, int] | None:
    try:
        fd, info = open_regular(path, itself="pass the graph file itself")
    except OSError:
        return None
    if not 0 < info.st_size <= PROTOBUF_LIMIT:
        os.close(fd)
        return None
    graph = GraphDef()
    batch = bytearray()
    try:
        with os.fdopen(fd, "rb") as f:
            if sniff(f.peek(64)[:64], name=path.name) is not None:
                return None
            while f.tell() < info.st_size:
                header = bytearray()
                key = _varint(f, header)
                field, wire = key >> 3, key & 7
                if wire == 2:
                    length = _varint(f, header)
                    if field == 1 and length > large:
                        graph.MergeFromString(bytes(batch))
                        batch.clear()
                        node = NodeDef.FromString(_exactly(f, length))
                        on_large(node)
                        graph.node.append(node)
                    else:
                        batch += header
                        batch += _exactly(f, length)
                elif wire in (0, 1, 5):
                    width = {1: 8, 5: 4}.get(wire)
                    batch += header
                    if width is None:
                        _varint(f, batch)
                    else:
                        batch += _exactly(f, width)
                else:
                    return None  # groups: no GraphDef field is one
                if len(batch) >= _BATCH_BYTES:
                    graph.MergeFromString(bytes(batch))
                    batch.clear()
            graph.MergeFromString(bytes(batch))
    except (DecodeError, RuntimeError, ValueError, EOFError, OSError):
        return None
    if not graph.node:
        return None
    return graph, info.st_size


def _varint(f, into: bytearray) -> int:
    """Read one varint from ``f``, appending its bytes to ``into``."""
    result = shift = 0
    while True:
        byte = f.read(1)
        if not byte or shift > 63:
            raise EOFError
        into += byte
        result |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return result
        shift += 7


def _exactly(f, size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise EOFError
    return data


def parse_graph_bytes(data: bytes, *, path: Path) -> tuple[GraphDef, str]:
    """Parse binary or text GraphDef bytes; name what the file is when it is not a graph."""
    if not data:
        raise InspectorError(f"{path}: the file is empty; re-export the graph (retrain.py writes tf_files/retrained_graph.pb)")
    what = sniff(data, name=path.name)
    if what is not None:
        raise InspectorError(f"{path}: this is {what}, not a TensorFlow GraphDef; pass a frozen graph (.pb)")
    graph = GraphDef()
    binary_error = None
    try:
        graph.ParseFromString(data)
    except DecodeError as exc:
        binary_error = exc
    except (RuntimeError, ValueError) as exc:  # upb raises these for some deep nesting / bad UTF-8
        binary_error = exc
    if binary_error is None and len(graph.node) > 0:
        return graph, "pb"
    text = _as_text(data)
    if text is not None and text.strip():  # whitespace alone (b"\n": a graph cut after 1 byte) is no text graph
        return _parse_text(text, path=path), "pbtxt"
    if binary_error is None:
        # Parsed cleanly but holds no nodes: a different protobuf message.
        raise InspectorError(
            f"{path}: a protobuf message with no graph nodes (not a GraphDef); pass a frozen graph (.pb)"
        )
    depth = wire_depth(data)
    if depth > MAX_NESTING:
        raise _too_deep(path, depth)
    raise InspectorError(
        f"{path}: not a valid GraphDef: the protobuf is truncated or corrupt ({len(data):,} bytes); "
        "copy or export the graph again"
    )


def is_tflite(path: Path) -> bool:
    """Is ``path`` a regular file that starts as a TensorFlow Lite flatbuffer (TFL3 at bytes 4-8)? Reads 8 bytes."""
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            return f.read(8)[4:8] == b"TFL3"
    except OSError:
        return False


def sniff(data: bytes, *, name: str = "") -> str | None:
    """Name a well-known file type that is not a GraphDef, or None."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "a PNG image"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "a GIF image"
    if head.startswith(b"BM") and name.lower().endswith(".bmp"):
        return "a BMP image"
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "a TensorFlow Lite flatbuffer (.tflite)"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "a Keras HDF5 model (.h5); load it in Keras and save a SavedModel or a frozen graph"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (a .keras model file?)"
    if _is_tfrecord(data):
        if "tfevents" in name:
            return "a TensorBoard event file"
        return "a TFRecord file (a TensorBoard event file?)"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive; unpack it first"
    return None


def _is_tfrecord(data: bytes) -> bool:
    if len(data) < 16:
        return False
    (length,) = struct.unpack("<Q", data[:8])
    (crc,) = struct.unpack("<I", data[8:12])
    if length > len(data):
        return False
    return _masked_crc32c(data[:8]) == crc


def _masked_crc32c(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _crc32c(data: bytes) -> int:
    # Only ever called on the 8-byte record header, so a bitwise loop is fine here.
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _as_text(data: bytes) -> str | None:
    sample = data[:4096]
    if b"\x00" in sample:
        return None
    # Text format escapes control characters; raw ones mean a binary protobuf
    # (a truncated .pb can be valid UTF-8), so it gets the binary parse's error.
    if _CONTROL.search(data):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text


def _parse_text(text: str, *, path: Path) -> GraphDef:
    # Python's text parser recurses per nested message; no protobuf reader takes
    # more than MAX_NESTING levels anyway, so deeper text is refused unparsed.
    depth = text_depth(text)
    if depth > MAX_NESTING:
        raise _too_deep(path, depth)
    graph = GraphDef()
    try:
        text_format.Parse(text, graph, allow_unknown_field=False)
    except RecursionError:
        # Within MAX_NESTING but called with little stack left (a deep caller, a low recursion limit).
        raise InspectorError(
            f"{path}: messages nested {depth} levels deep, more than Python's text parser can read here; "
            "write the graph as a binary .pb (tf.io.write_graph(..., as_text=False))"
        ) from None
    except text_format.ParseError as exc:
        where = str(exc).split("\n")[0] if str(exc) else "parse error"
        raise InspectorError(
            f"{path}: a text file that is not a GraphDef in text format ({where}); "
            "pass a frozen graph (.pb) or a .pbtxt written by tf.io.write_graph"
        ) from None
    if not graph.node:
        raise InspectorError(f"{path}: a text GraphDef with no nodes; pass a graph that has nodes (a .pb, or a .pbtxt from tf.io.write_graph)")
    return graph


def _too_deep(path: Path, depth: int) -> InspectorError:
    return InspectorError(
        f"{path}: messages nested {depth} levels deep, over the {MAX_NESTING}-level limit for a GraphDef "
        "(protobuf and TensorFlow read no deeper); export the graph again"
    )


def check_graph(graph: GraphDef, *, path: Path) -> None:
    """Refuse graphs that no TensorFlow could import: unnamed nodes, duplicates, dangling inputs."""
    if not _plainly_sound(graph):
        _refuse(graph, path=path)


def _plainly_sound(graph: GraphDef) -> bool:
    """Whether the graph passes check_graph, asked quickly; False when unsure (the caller looks again, slowly).

    Every graph read goes through this, so it reads each field once. With no
    name holding ``^`` or ``:``, an input ``x`` names node ``x``; an input that
    names no node seen yet (one further on, ``^x``, ``x:1``) is kept, with its
    node's other inputs, to be asked at the end: memory grows with those, not
    with the edges.
    """
    names: set[str] = set()
    add = names.add
    later: list[str] = []
    for node in graph.node:
        name = node.name
        if not name or not node.op or name in names:
            return False
        add(name)
        inputs = node.input
        if inputs and not names.issuperset(inputs):
            later += inputs
    if any(name[:1] == "^" or ":" in name for name in names):
        return False
    return all(node_of(raw) in names for raw in later)


def _refuse(graph: GraphDef, *, path: Path) -> None:
    """check_graph node by node: the first problem, named as a user can fix it."""
    names: set[str] = set()
    for index, node in enumerate(graph.node):
        if not node.name or not node.op:
            raise InspectorError(
                f"{path}: node #{index} has no {'name' if not node.name else 'op'}; the file is corrupt, export the graph again"
            )
        if node.name in names:
            raise InspectorError(
                f"{path}: two nodes are named {node.name!r}; node names must be unique, export the graph again"
            )
        names.add(node.name)
    for node in graph.node:
        for raw in node.input:
            source = node_of(raw)
            if source not in names:
                raise InspectorError(
                    f"{path}: node {node.name!r} reads {raw!r}, which names no node in the graph "
                    "(a truncated or hand-edited file?); export the graph again"
                )




def _missing_hint(path: Path) -> str:
    if path.suffix in ("", ".pb") and path.parent.is_dir():
        near = sorted(p.name for p in path.parent.glob("*.pb"))[:5]
        if near:
            return f"; graphs in {path.parent}: {', '.join(near)}"
    return "; check the path"


def _load_saved_model(path: Path, *, signature: str) -> LoadedGraph:
    if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
        raise InspectorError(
            f"{path}: a folder without saved_model.pb, so not a SavedModel; pass a frozen graph (.pb) or a SavedModel folder"
        )
    from inspector.graph import tfcompat

    graph = tfcompat.freeze_saved_model(path, signature=signature)
    return LoadedGraph(path=path, graph=graph, size_bytes=graph.ByteSize(), format="saved_model")


def save_graph(graph: GraphDef, path: Path | str, *, refuse: tuple[Path, ...] = ()) -> Path:
    """Write ``graph`` atomically as binary (.pb) or text (.pbtxt, by suffix)."""
    path = Path(path)
    if path.suffix == ".pbtxt":
        data = text_format.MessageToString(graph).encode("utf-8")
    else:
        # Map fields (attr) are written in key order, not in the per-process hash order, so one graph is one file.
        data = graph.SerializeToString(deterministic=True)
    return write_bytes_atomic(path, data, refuse=refuse)


def default_stem(path: Path) -> str:
    """``tf_files/retrained_graph.pb`` -> ``retrained``: the run name the codelab uses."""
    stem = path.name if path.is_dir() else path.stem
    for suffix in ("_graph", "-graph", ".graph"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem or "graph"


__all__ = [
    "LoadedGraph",
    "load_graph",
    "parse_graph_bytes",
    "save_graph",
    "sniff",
    "check_graph",
    "default_stem",
    "PROTOBUF_LIMIT",
]
