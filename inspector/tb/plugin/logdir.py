"""Runs with graphs in a TensorBoard logdir: found as TensorBoard finds runs, read from any writer's event files, cached per file version."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.meta_graph_pb2 import MetaGraphDef

from inspector.errors import InspectorError
from inspector.graph.ops import CONST_OPS
from inspector.tb.events import GRAPH_FILE_SUFFIX, normalize_run_name, read_graph_events

# TensorBoard's own test for an event file (io_wrapper.IsTensorFlowEventsFile).
_EVENTS_MARK = "tfevents"
# Parsed graphs kept in memory; a graph logged with --keep-weights can be ~100 MB.
DEFAULT_MAX_GRAPHS = 8
_VALUE_FIELDS = (
    "half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val", "int64_val", "bool_val",
    "dcomplex_val", "resource_handle_val", "variant_val", "uint32_val", "uint64_val", "float8_val",
)


@dataclass(frozen=True)
class FileVersion:
    """An event file as it was when read: a new mtime or size means it must be read again."""

    path: str
    mtime_ns: int
    size: int


@dataclass(frozen=True)
class RunGraph:
    """The graph TensorBoard's Graph tab shows for one run: the last one logged."""

    run: str
    source: FileVersion  # the event file it came from
    graph: GraphDef
    graph_bytes: int  # size of the GraphDef as logged
    wall_time: float
    weights_in_log: bool  # False when large Const payloads were left out (inspector's default)


@dataclass(frozen=True)
class RunInfo:
    """One run with a graph, for the tab's run pickers."""

    run: str
    nodes: int
    event_file: str
    graph_bytes: int
    wall_time: float
    weights_in_log: bool
    written_by_inspector: bool

    def to_json(self) -> dict:
        return {
            "run": self.run,
            "nodes": self.nodes,
            "event_file": self.event_file,
            "graph_bytes": self.graph_bytes,
            "wall_time": self.wall_time,
            "weights_in_log": self.weights_in_log,
            "written_by_inspector": self.written_by_inspector,
        }


@dataclass(frozen=True)
class _Scanned:
    graph: GraphDef
    graph_bytes: int
    wall_time: float
    weights_in_log: bool


class GraphStore:
    """The graphs of one logdir's runs, each event file parsed once per version.

    Thread-safe: TensorBoard serves requests from several threads. Files
    without a graph are remembered cheaply; at most ``max_graphs`` parsed
    graphs stay in memory (least recently used go first).
    """

    def __init__(self, logdir: Path, *, max_graphs: int = DEFAULT_MAX_GRAPHS) -> None:
        self.logdir = Path(logdir)
        self._max_graphs = max_graphs
        self._lock = threading.RLock()
        self._graphs: OrderedDict[FileVersion, _Scanned] = OrderedDict()
        self._no_graph: set[FileVersion] = set()
        self._unreadable: dict[FileVersion, str] = {}
        # The version last seen of each file: a log that grows (training) must
        # not leave one cache entry per size it ever had.
        self._current: dict[str, FileVersion] = {}

    def has_event_files(self) -> bool:
        """Whether any run exists at all; stops at the first event file, so it stays cheap on big logdirs."""
        for _folder, files in _walk(self.logdir):
            if any(_EVENTS_MARK in name for name in files):
                return True
        return False

    def runs(self) -> tuple[tuple[RunInfo, ...], tuple[str, ...]]:
        """Runs that have a graph, by name, and one line per event file that could not be read."""
        found: list[RunInfo] = []
        problems: list[str] = []
        for folder, files in _walk(self.logdir):
            events = sorted(name for name in files if _EVENTS_MARK in name)
            if not events:
                continue
            run = _run_name(self.logdir, folder)
            graph, issues = self._last_graph(run, Path(folder), events)
            problems.extend(issues)
            if graph is not None:
                found.append(_info(graph))
        found.sort(key=lambda info: info.run)
        return tuple(found), tuple(problems)

    def graph(self, run: str) -> RunGraph:
        """The last graph logged in ``run``; InspectorError names what is wrong with the run."""
        name = normalize_run_name(run)
        folder = self.logdir if name == "." else self.logdir.joinpath(*name.split("/"))
        try:
            files = [entry.name for entry in os.scandir(folder) if entry.is_file()]
        except FileNotFoundError:
            raise InspectorError(f"run {name!r}: no such run in {self.logdir}; pick one from /runs") from None
        except NotADirectoryError:
            raise InspectorError(f"run {name!r}: not a run folder in {self.logdir}; pick one from /runs") from None
        except OSError as exc:
            raise InspectorError(f"run {name!r}: cannot list {folder} ({exc.strerror}); check its permissions") from None
        events = sorted(f for f in files if _EVENTS_MARK in f)
        if not events:
            raise InspectorError(f"run {name!r}: {folder} holds no event files; pick a run from /runs")
        graph, issues = self._last_graph(name, folder, events)
        if graph is None:
            why = f" ({'; '.join(issues)})" if issues else ""
            raise InspectorError(f"run {name!r}: its event files hold no graph{why}; log one with `inspector tb`")
        return graph

    def _last_graph(self, run: str, folder: Path, events: list[str]) -> tuple[RunGraph | None, list[str]]:
        # TensorBoard reads a run's files in name order and the Graph tab shows
        # the last graph it met, so the newest file with a graph wins.
        issues: list[str] = []
        for name in reversed(events):
            path = folder / name
            try:
                stat = path.stat()
            except OSError:
                continue  # removed since the listing: write_run replaces files
            version = FileVersion(str(path), stat.st_mtime_ns, stat.st_size)
            scanned = self._scan(version)
            if isinstance(scanned, str):
                issues.append(scanned)
                continue
            if scanned is None:
                continue
            return RunGraph(
                run=run,
                source=version,
                graph=scanned.graph,
                graph_bytes=scanned.graph_bytes,
                wall_time=scanned.wall_time,
                weights_in_log=scanned.weights_in_log,
            ), issues
        return None, issues

    def _scan(self, version: FileVersion) -> _Scanned | str | None:
        with self._lock:
            if version in self._graphs:
                self._graphs.move_to_end(version)
                return self._graphs[version]
            if version in self._no_graph:
                return None
            if version in self._unreadable:
                return self._unreadable[version]
            self._forget(self._current.get(version.path))
            self._current[version.path] = version
            try:
                scanned = _read_last_graph(Path(version.path))
            except InspectorError as exc:
                self._unreadable[version] = exc.message
                return exc.message
            if scanned is None:
                self._no_graph.add(version)
                return None
            self._graphs[version] = scanned
            while len(self._graphs) > self._max_graphs:
                self._graphs.popitem(last=False)
            return scanned

    def _forget(self, version: FileVersion | None) -> None:
        if version is None:
            return
        self._graphs.pop(version, None)
        self._no_graph.discard(version)
        self._unreadable.pop(version, None)


def _read_last_graph(path: Path) -> _Scanned | None:
    last: Event | None = None
    for event in read_graph_events(path):
        if event.graph_def or event.meta_graph_def:
            last = event
    if last is None:
        return None
    try:
        if last.graph_def:
            data = last.graph_def
            graph = GraphDef.FromString(data)
        else:
            # Only a MetaGraphDef (tf.compat.v1 FileWriter.add_meta_graph): its graph is what the Graph tab draws.
            graph = MetaGraphDef.FromString(last.meta_graph_def).graph_def
            data = graph.SerializeToString()
    except (DecodeError, RuntimeError, ValueError):
        raise InspectorError(f"{path}: the logged graph is not a valid GraphDef; write the run again") from None
    return _Scanned(graph=graph, graph_bytes=len(data), wall_time=last.wall_time, weights_in_log=_weights_kept(graph))


def _weights_kept(graph: GraphDef) -> bool:
    # tblog.strip_weights leaves Consts with a shape but no payload; any such
    # Const with elements means value changes of large weights are invisible.
    for node in graph.node:
        if node.op not in CONST_OPS or "value" not in node.attr:
            continue
        tensor = node.attr["value"].tensor
        dims = [d.size for d in tensor.tensor_shape.dim]
        if dims and all(d > 0 for d in dims) and not tensor.tensor_content and not any(
            len(getattr(tensor, field)) for field in _VALUE_FIELDS
        ):
            return False
    return True


def _info(graph: RunGraph) -> RunInfo:
    return RunInfo(
        run=graph.run,
        nodes=len(graph.graph.node),
        event_file=graph.source.path,
        graph_bytes=graph.graph_bytes,
        wall_time=graph.wall_time,
        weights_in_log=graph.weights_in_log,
        written_by_inspector=graph.source.path.endswith(GRAPH_FILE_SUFFIX),
    )


def _walk(logdir: Path):
    # Like TensorBoard's run discovery: every folder under the logdir, links not followed.
    for folder, _dirs, files in os.walk(logdir):
        yield folder, files


def _run_name(logdir: Path, folder: str) -> str:
    rel = os.path.relpath(folder, logdir)
    return "." if rel == "." else rel.replace(os.sep, "/")


__all__ = ["FileVersion", "GraphStore", "RunGraph", "RunInfo"]
