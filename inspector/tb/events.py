"""Write a GraphDef as a TensorBoard run (an event file) and read such files back, without TensorFlow."""

from __future__ import annotations

import functools
import os
import re
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path, PurePosixPath

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto

from inspector.analysis.matching import DIGEST_ATTR, local_digest
from inspector.atomic import write_bytes_atomic
from inspector.errors import InspectorError
from inspector.files import open_regular
from inspector.graph.ops import CONST_OPS

if TYPE_CHECKING:
    from inspector.graph.io import LoadedGraph

FILE_VERSION = "brain.Event:2"
GRAPH_FILE_SUFFIX = ".inspector-graph"
DEFAULT_MIN_BYTES = 1024

_OUR_FILE = re.compile(r"^events\.out\.tfevents\.(\d{19,})\..*" + re.escape(GRAPH_FILE_SUFFIX) + r"$")
_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class RunWritten:
    """What ``write_run`` put on disk."""

    run: str  # the run name TensorBoard shows ("." when the run is the logdir itself)
    run_dir: Path
    event_file: Path
    nodes: int
    bytes_written: int  # size of the event file
    consts_stripped: int  # Const nodes whose payload was left out
    bytes_stripped: int  # payload bytes left out
    replaced: tuple[Path, ...]  # our earlier graph event files in that run that were removed

    def to_json(self) -> dict:
        return {
            "run": self.run,
            "run_dir": str(self.run_dir),
            "event_file": str(self.event_file),
            "nodes": self.nodes,
            "bytes_written": self.bytes_written,
            "consts_stripped": self.consts_stripped,
            "bytes_stripped": self.bytes_stripped,
            "replaced": [str(p) for p in self.replaced],
        }


def strip_weights(graph: GraphDef, *, min_bytes: int = DEFAULT_MIN_BYTES) -> tuple[GraphDef, int, int]:
    """Copy ``graph`` with every Const payload over ``min_bytes`` left out (:func:`strip_node`).

    Returns ``(graph, consts_stripped, bytes_stripped)``. The weights left out
    are never copied: a stripped Const is built anew from its other fields.
    """
    if not isinstance(graph, GraphDef):  # TensorFlow's own GraphDef class: same schema, other Python type
        graph = GraphDef.FromString(graph.SerializeToString())
    out = GraphDef()
    for field, value in graph.ListFields():
        if field.name != "node":
            if field.message_type is None:
                setattr(out, field.name, value)
            else:
                getattr(out, field.name).CopyFrom(value)
    consts = stripped = 0
    for node in graph.node:
        payload = _payload(node)
        if payload <= min_bytes:
            out.node.add().CopyFrom(node)
            continue
        shell = out.node.add(name=node.name, op=node.op, input=node.input, device=node.device)
        for key, value in node.attr.items():
            if key != "value":
                shell.attr[key].CopyFrom(value)
        _leave_out(shell, node.attr["value"].tensor, digest=local_digest(node))
        consts += 1
        stripped += payload
    return out, consts, stripped


def _payload(node: NodeDef) -> int:
    """The serialized bytes of a Const's value beyond its dtype and shape (0 for other nodes)."""
    if node.op not in CONST_OPS or "value" not in node.attr or not node.attr["value"].HasField("tensor"):
        return 0
    tensor = node.attr["value"].tensor
    return tensor.ByteSize() - _shell(tensor).ByteSize()


def _shell(tensor: TensorProto) -> TensorProto:
    return TensorProto(dtype=tensor.dtype, tensor_shape=tensor.tensor_shape, version_number=tensor.version_number)


def strip_node(node: NodeDef, *, min_bytes: int = DEFAULT_MIN_BYTES) -> int:
    """Leave out a Const's payload over ``min_bytes``, in place; returns the bytes left out (0: nothing done).

    A stripped Const keeps its dtype and shape (and gains ``_output_shapes``, and
    the digest of its weights as ``_inspector_digest``), so TensorBoard's Graph
    tab still shows the node, its dtype and the shapes on its edges. The graph is
    for looking at only: TensorFlow would reject those Consts.
    """
    payload = _payload(node)
    if payload <= min_bytes:
        return 0
    _leave_out(node, node.attr["value"].tensor, digest=local_digest(node))
    return payload


def _leave_out(node: NodeDef, tensor: TensorProto, *, digest: bytes) -> None:
    """``node``'s value becomes the shell of ``tensor`` (its Const's value), marked with its shape and digest."""
    # Kept so a diff of logged runs still tells changed weights from equal ones (analysis/matching.py).
    node.attr[DIGEST_ATTR].CopyFrom(AttrValue(s=digest))
    if "_output_shapes" not in node.attr:
        node.attr["_output_shapes"].CopyFrom(AttrValue(list=AttrValue.ListValue(shape=[tensor.tensor_shape])))
    node.attr["value"].tensor.CopyFrom(_shell(tensor))


def write_run(
    graph: GraphDef,
    logdir: Path,
    run: str,
    *,
    keep_weights: bool = False,
    wall_time: float | None = None,
    stripped: tuple[int, int] | None = None,
) -> RunWritten:
    """Write ``graph`` as run ``run`` under ``logdir``, replacing that run's earlier graph.

    ``run`` is relative to ``logdir`` ("retrained", "poets/optimized"; "." is the
    logdir itself, as TensorBoard names it). Only event files this module wrote
    are replaced; training summaries and other tools' files stay. ``stripped``:
    the graph's weights were left out as it was read (:func:`read_stripped`),
    this many Consts and bytes of them.
    """
    logdir = Path(logdir)
    name = normalize_run_name(run)
    run_dir = logdir if name == "." else logdir.joinpath(*name.split("/"))
    for folder in (logdir, run_dir):
        if folder.exists() and not folder.is_dir():
            raise InspectorError(f"{folder}: is a file, not a log folder; pass a folder (it is created if missing)")

    if stripped is not None:
        shown, (consts, left_out) = graph, stripped
    elif keep_weights:
        shown, consts, left_out = graph, 0, 0
    else:
        shown, consts, left_out = strip_weights(graph)
    when = time.time() if wall_time is None else float(wall_time)
    data = b"".join(
        (
            record(Event(wall_time=when, step=0, file_version=FILE_VERSION).SerializeToString()),
            # Map fields (attr) in key order, not per-process hash order: one graph, one event file.
            record(Event(wall_time=when, step=0, graph_def=shown.SerializeToString(deterministic=True)).SerializeToString()),
        )
    )

    event_file, replaced = write_event_file(run_dir, data, suffix=GRAPH_FILE_SUFFIX, ours=_our_graph_files, what="graph")

    return RunWritten(
        run=name,
        run_dir=run_dir,
        event_file=event_file,
        nodes=len(graph.node),
        bytes_written=len(data),
        consts_stripped=consts,
        bytes_stripped=left_out,
        replaced=replaced,
    )


def read_stripped(path: Path | str, *, min_bytes: int = DEFAULT_MIN_BYTES) -> tuple[LoadedGraph, tuple[int, int]]:
    """The graph at ``path`` with its weights left out as it is read (never all in memory), and (Consts, bytes) left out."""
    from inspector.graph.io import load_graph_streamed

    counts = [0, 0]

    def strip(node: NodeDef) -> None:
        payload = strip_node(node, min_bytes=min_bytes)
        if payload:
            counts[0] += 1
            counts[1] += payload

    loaded = load_graph_streamed(path, large=min_bytes, on_large=strip)
    return loaded, (counts[0], counts[1])


def write_event_file(
    run_dir: Path,
    data: bytes,
    *,
    suffix: str,
    ours: Callable[[Path], list[tuple[int, Path]]],
    what: str,
) -> tuple[Path, tuple[Path, ...]]:
    """Write ``data`` as a new event file in ``run_dir`` that replaces the files ``ours(run_dir)`` lists.

    Returns the file that stands (ours, or a newer one a concurrent writer put
    there) and the earlier files removed.
    """
    earlier = ours(run_dir)
    # TensorBoard reads a run's event files in name order and skips files that
    # sort before the one it is on, so each new file must sort after the last.
    stamp = max([time.time_ns()] + [ns + 1 for ns, _ in earlier])
    event_file = run_dir / f"events.out.tfevents.{stamp:019d}.{hostname()}{suffix}"
    write_bytes_atomic(event_file, data)
    # Listed again after the write, and only the newest file kept, even when
    # that is another writer's: of two writers racing on one run, the later
    # lister sees both files, so they converge on one.
    now = ours(run_dir)
    removed = []
    for _, path in now[:-1]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InspectorError(
                f"{path}: wrote {event_file.name} but cannot remove this earlier {what} ({exc.strerror}); "
                f"delete it by hand so TensorBoard shows only the new {what}"
            ) from None
        if path != event_file:
            removed.append(path)
    return (now[-1][1] if now else event_file), tuple(sorted(removed))


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, _CRC.pack(masked_crc32c(length)), data, _CRC.pack(masked_crc32c(data))))


def read_graph_events(path: Path) -> list[Event]:
    """Every Event in a TFRecord event file, in order, with both CRCs of each record checked."""
    path = Path(path)
    events: list[Event] = []
    try:
        fd, info = open_regular(path, itself="pass the event file itself")
    except FileNotFoundError:
        raise InspectorError(f"{path}: no such event file; check the path") from None
    except OSError as exc:
        raise InspectorError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None
    with os.fdopen(fd, "rb") as handle:
        index = 0
        while True:
            header = handle.read(_HEADER.size)
            if not header:
                break
            if len(header) < _HEADER.size:
                raise _corrupt(path, index, "the file ends inside a record header")
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise _corrupt(path, index, "the length CRC does not match")
            if length > info.st_size - handle.tell():
                # A length CRC can be forged: never allocate what the file cannot hold.
                raise _corrupt(path, index, "the file ends inside a record")
            data = handle.read(length)
            footer = handle.read(_CRC.size)
            if len(data) < length or len(footer) < _CRC.size:
                raise _corrupt(path, index, "the file ends inside a record")
            if masked_crc32c(data) != _CRC.unpack(footer)[0]:
                raise _corrupt(path, index, "the data CRC does not match")
            try:
                events.append(Event.FromString(data))
            except DecodeError:
                raise _corrupt(path, index, "the record is not an Event") from None
            index += 1
    return events


def normalize_run_name(run: str) -> str:
    """``"retrained/"`` -> ``"retrained"``; ``"."`` stays; names that leave the logdir are refused."""
    if not isinstance(run, str) or not run.strip():
        raise InspectorError(f"{run!r}: empty run name; pass a name such as 'retrained'")
    if "\\" in run or "\x00" in run:
        raise InspectorError(f"{run!r}: run names use '/' between parts and no backslashes or NULs; pass e.g. 'poets/retrained'")
    if PurePosixPath(run).is_absolute() or re.match(r"^[A-Za-z]:", run):
        raise InspectorError(f"{run!r}: the run name must be relative to the logdir; pass e.g. 'retrained'")
    parts = [part for part in run.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InspectorError(f"{run!r}: the run name must stay inside the logdir (no '..'); pass e.g. 'retrained'")
    return "/".join(parts) or "."


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord framing stores."""
    crc = _crc32c()[1](data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def crc32c_backend() -> str:
    """Which CRC-32C implementation is in use (for `doctor`-style reports)."""
    return _crc32c()[0]


@functools.cache
def _crc32c() -> tuple[str, Callable[[bytes], int]]:
    # google-crc32c's C extension is ~600x faster than pure Python, which
    # matters for 90 MB graphs written with --keep-weights.
    try:
        import google_crc32c
    except ImportError:
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c

        return "tensorboard (pure Python)", crc32c
    return f"google-crc32c ({google_crc32c.implementation})", google_crc32c.value


def _our_graph_files(run_dir: Path) -> list[tuple[int, Path]]:
    try:
        entries = list(os.scandir(run_dir))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InspectorError(f"{run_dir}: cannot list the run folder ({exc.strerror}); check permissions") from None
    found = []
    for entry in entries:
        match = _OUR_FILE.match(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


@functools.cache
def hostname() -> str:
    # The host goes into a file name: keep it to characters that are safe everywhere.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "localhost"


def _corrupt(path: Path, index: int, problem: str) -> InspectorError:
    return InspectorError(f"{path}: record {index} is corrupt ({problem}); write the run again")


__all__ = [
    "RunWritten",
    "strip_weights",
    "write_run",
    "read_graph_events",
    "write_event_file",
    "record",
    "hostname",
    "normalize_run_name",
    "masked_crc32c",
    "crc32c_backend",
    "FILE_VERSION",
    "GRAPH_FILE_SUFFIX",
]
