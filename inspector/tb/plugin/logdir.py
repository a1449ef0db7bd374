"""Runs with graphs in a TensorBoard logdir: found as TensorBoard finds runs, each event file streamed once and resumed as it grows."""

from __future__ import annotations

import itertools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.meta_graph_pb2 import MetaGraphDef

from inspector.errors import InspectorError
from inspector.graph.ops import CONST_OPS
from inspector.tb.events import GRAPH_FILE_SUFFIX, normalize_run_name
from inspector.tb.plugin.shared import ByteLRU, LogOnce, SingleFlight, one_line
from inspector.tb.records import GraphRecord, open_event_file, read_event, scan_records

# TensorBoard's own test for an event file (io_wrapper.IsTensorFlowEventsFile).
_EVENTS_MARK = "tfevents"
# Parsed graphs kept in memory, by their size as logged; a graph logged with
# --keep-weights can be ~100 MB.
DEFAULT_MAX_GRAPH_BYTES = 256 << 20
_VALUE_FIELDS = (
    "half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val", "int64_val", "bool_val",
    "dcomplex_val", "resource_handle_val", "variant_val", "uint32_val", "uint64_val", "float8_val",
)

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphSource:
    """Which logged graph: its event file, the read of that file, and the record.

    ``generation`` is new each time the file is read from its start (a new or
    replaced file), so a key never names two different graphs; a file that
    only grew keeps its generation and its graph's key.
    """

    path: str
    generation: int
    offset: int
    length: int


@dataclass(frozen=True)
class RunGraph:
    """The graph TensorBoard's Graph tab shows for one run: the last one logged."""

    run: str
    source: GraphSource  # the event file and record it came from
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
class StoreStats:
    """What a GraphStore has read and keeps, since it was made."""

    bytes_read: int  # from event files, all passes and graph reads
    scans: int  # passes over event files (a resumed pass counts one)
    graphs_parsed: int
    files_tracked: int  # event files with a remembered state
    graphs_cached: int
    graph_cache_bytes: int  # their size as logged, within max_graph_bytes

    def to_json(self) -> dict:
        return {
            "bytes_read": self.bytes_read,
            "scans": self.scans,
            "graphs_parsed": self.graphs_parsed,
            "files_tracked": self.files_tracked,
            "graphs_cached": self.graphs_cached,
            "graph_cache_bytes": self.graph_cache_bytes,
        }


@dataclass(frozen=True)
class _Facts:
    # What /runs shows of a graph: kept per file, so an evicted graph costs nothing until diffed.
    nodes: int
    graph_bytes: int
    wall_time: float
    weights_in_log: bool


@dataclass(frozen=True)
class _FileState:
    """One event file as last read: its identity, where reading resumes, and its last graph."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    generation: int  # 0: never scanned (not a regular file, or unreadable)
    end: int
    records: int
    graph: GraphRecord | None
    facts: _Facts | None
    graph_problem: str | None  # the last graph record could not be decoded
    file_problem: str | None  # damage, a graph still being written, or why the file is not read

    def same_version(self, info: os.stat_result) -> bool:
        return (self.device, self.inode, self.size, self.mtime_ns) == (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    def grew_from(self, info: os.stat_result) -> bool:
        # Appended to (what a training job does); anything else is read again from the start.
        return (
            self.generation > 0
            and (self.device, self.inode) == (info.st_dev, info.st_ino)
            and info.st_size > self.size
            and info.st_mtime_ns >= self.mtime_ns
        )

    @property
    def source(self) -> GraphSource | None:
        if self.graph is None:
            return None
        return GraphSource(self.path, self.generation, self.graph.offset, self.graph.length)

    @property
    def problem(self) -> str | None:
        """Why this file shows no graph, when that is worth a line in /runs."""
        if self.facts is not None:
            return None
        return self.graph_problem or self.file_problem


class GraphStore:
    """The graphs of one logdir's runs; each event file is streamed once, and again only past what was read.

    Thread-safe: TensorBoard serves requests from several threads. The lock
    guards the caches only; files are read and graphs parsed outside it, one
    reader per file (others asking for that file wait for its result), so a
    slow file never holds up requests for other runs. Parsed graphs are kept
    up to ``max_graph_bytes`` (their size as logged; least recently used go first).
    """

    def __init__(self, logdir: Path, *, max_graph_bytes: int = DEFAULT_MAX_GRAPH_BYTES) -> None:
        self.logdir = Path(logdir)
        self._lock = threading.Lock()
        self._files: dict[str, _FileState] = {}
        self._graphs: ByteLRU[GraphDef] = ByteLRU(max_graph_bytes)
        self._flights = SingleFlight()
        self._generations = itertools.count(1)
        self._bytes_read = 0
        self._scans = 0
        self._parsed = 0
        self._bugs = LogOnce(_log)

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats(
                bytes_read=self._bytes_read,
                scans=self._scans,
                graphs_parsed=self._parsed,
                files_tracked=len(self._files),
                graphs_cached=len(self._graphs),
                graph_cache_bytes=self._graphs.bytes,
            )

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
        seen: set[str] = set()
        for folder, files in _walk(self.logdir):
            events = sorted(name for name in files if _EVENTS_MARK in name)
            if not events:
                continue
            seen.update(os.path.join(folder, name) for name in events)
            run = _run_name(self.logdir, folder)
            try:
                state, issues = self._last_graph(Path(folder), events)
            except Exception as exc:  # noqa: BLE001 - one run's bug must not cost the tab the others
                self._bugs.failure(f"reading run {run!r}", exc)
                problems.append(f"run {run!r}: reading it failed ({type(exc).__name__}: {one_line(exc)}); this is a bug in inspector, please report it")
                continue
            problems.extend(issues)
            if state is not None:
                found.append(_info(run, state))
        self._forget_all_but(seen)
        found.sort(key=lambda info: info.run)
        return tuple(found), tuple(problems)

    def graph(self, run: str) -> RunGraph:
        """The last graph logged in ``run``; InspectorError names what is wrong with the run."""
        name = normalize_run_name(run)
        folder = self.logdir if name == "." else self.logdir.joinpath(*name.split("/"))
        try:
            # Not folders; FIFOs and the like stay, to be named as problems.
            files = [entry.name for entry in os.scandir(folder) if not entry.is_dir()]
        except FileNotFoundError:
            raise InspectorError(f"run {name!r}: no such run in {self.logdir}; pick one from /runs") from None
        except NotADirectoryError:
            raise InspectorError(f"run {name!r}: not a run folder in {self.logdir}; pick one from /runs") from None
        except OSError as exc:
            raise InspectorError(f"run {name!r}: cannot list {folder} ({exc.strerror}); check its permissions") from None
        events = sorted(f for f in files if _EVENTS_MARK in f)
        if not events:
            raise InspectorError(f"run {name!r}: {folder} holds no event files; pick a run from /runs")
        state, issues = self._last_graph(folder, events)
        if state is None:
            why = f" ({'; '.join(issues)})" if issues else ""
            raise InspectorError(f"run {name!r}: its event files hold no graph{why}; log one with `inspector tb`")
        facts = state.facts
        assert facts is not None and state.source is not None
        return RunGraph(
            run=name,
            source=state.source,
            graph=self._graph_def(state),
            graph_bytes=facts.graph_bytes,
            wall_time=facts.wall_time,
            weights_in_log=facts.weights_in_log,
        )

    # --- files -------------------------------------------------------------

    def _last_graph(self, folder: Path, events: list[str]) -> tuple[_FileState | None, list[str]]:
        # TensorBoard reads a run's files in name order and the Graph tab shows
        # the last graph it met, so the newest file with a graph wins.
        issues: list[str] = []
        for name in reversed(events):
            state = self._state(folder / name)
            if state is None:
                continue  # removed since the listing: write_run replaces files
            if state.facts is not None:
                return state, issues
            if state.problem:
                issues.append(state.problem)
        return None, issues

    def _state(self, path: Path) -> _FileState | None:
        """The file's state, read (or read on from where it was) if it changed; None if it is gone."""
        key = str(path)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return _unread(key, None, f"{path}: cannot read ({exc.strerror}); check the file and its permissions")
        with self._lock:
            cached = self._files.get(key)
        if cached is not None and cached.same_version(info):
            return cached
        return self._flights.run(("file", key), lambda: self._refresh(path))

    def _refresh(self, path: Path) -> _FileState | None:
        key = str(path)
        with self._lock:
            prev = self._files.get(key)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return _unread(key, None, f"{path}: cannot read ({exc.strerror}); check the file and its permissions")
        if prev is not None and prev.same_version(info):
            return prev  # another request read it just now
        try:
            # Refuses (without opening) a FIFO, which would block the read, or a device, which would never end it.
            fd, info = open_event_file(path)
        except InspectorError as exc:
            return self._keep(_unread(key, info, exc.message))
        try:
            state = self._read(fd, path, info, prev)
        finally:
            os.close(fd)
        return self._keep(state)

    def _read(self, fd: int, path: Path, info: os.stat_result, prev: _FileState | None) -> _FileState:
        resume = prev is not None and prev.grew_from(info)
        if resume:
            assert prev is not None
            generation, start, records, graph = prev.generation, prev.end, prev.records, prev.graph
        else:
            generation, start, records, graph = next(self._generations), 0, 0, None
        scan = scan_records(fd, path, size=info.st_size, start=start, records=records, graph=graph)
        read = scan.bytes_read
        facts = graph_problem = None
        if resume and prev is not None and scan.graph == prev.graph:
            # Only summaries were appended: the graph (if any) is the one already parsed.
            facts, graph_problem = prev.facts, prev.graph_problem
        else:
            with self._lock:
                self._graphs.discard_where(lambda s: s.path == str(path))
            if scan.graph is not None:
                source = GraphSource(str(path), generation, scan.graph.offset, scan.graph.length)
                try:
                    parsed, facts = _parse(fd, path, scan.graph)
                except InspectorError as exc:
                    graph_problem = exc.message
                else:
                    with self._lock:
                        self._parsed += 1
                        self._graphs.put(source, parsed, facts.graph_bytes)
                read += scan.graph.length + 4
        with self._lock:
            self._bytes_read += read
            self._scans += 1
        return _FileState(
            path=str(path),
            device=info.st_dev,
            inode=info.st_ino,
            size=info.st_size,
            mtime_ns=info.st_mtime_ns,
            generation=generation,
            end=scan.end,
            records=scan.records,
            graph=scan.graph,
            facts=facts,
            graph_problem=graph_problem,
            file_problem=scan.damage or scan.pending,
        )

    def _keep(self, state: _FileState) -> _FileState:
        with self._lock:
            if state.device or state.inode:
                self._files[state.path] = state
        return state

    def _graph_def(self, state: _FileState) -> GraphDef:
        source = state.source
        assert source is not None and state.graph is not None
        with self._lock:
            cached = self._graphs.get(source)
        if cached is not None:
            return cached
        return self._flights.run(("graph", source), lambda: self._reparse(state, source))

    def _reparse(self, state: _FileState, source: GraphSource) -> GraphDef:
        # Evicted from the cache: read the one record again, if the file is still the one scanned.
        assert state.graph is not None
        with self._lock:
            cached = self._graphs.get(source)
            current = self._files.get(source.path)
        if cached is not None:
            return cached
        path = Path(source.path)
        changed = InspectorError(f"{path}: changed while it was being read; reload the page")
        if current is None or current.generation != source.generation:
            raise changed
        fd, info = open_event_file(path)
        try:
            if (info.st_dev, info.st_ino) != (state.device, state.inode) or info.st_size < state.end:
                raise changed
            parsed, facts = _parse(fd, path, state.graph)
        finally:
            os.close(fd)
        with self._lock:
            self._parsed += 1
            self._bytes_read += state.graph.length + 4
            self._graphs.put(source, parsed, facts.graph_bytes)
        return parsed

    def _forget_all_but(self, paths: set[str]) -> None:
        # Files gone from the logdir: their states and graphs go too.
        with self._lock:
            for key in [k for k in self._files if k not in paths]:
                del self._files[key]
            self._graphs.discard_where(lambda s: s.path not in paths)


def _unread(path: str, info: os.stat_result | None, problem: str) -> _FileState:
    # Remembered by identity (when known), so it is not tried again until it changes.
    return _FileState(
        path=path,
        device=info.st_dev if info else 0,
        inode=info.st_ino if info else 0,
        size=info.st_size if info else -1,
        mtime_ns=info.st_mtime_ns if info else -1,
        generation=0,
        end=0,
        records=0,
        graph=None,
        facts=None,
        graph_problem=None,
        file_problem=problem,
    )


def _parse(fd: int, path: Path, record: GraphRecord) -> tuple[GraphDef, _Facts]:
    event = read_event(fd, path, record)
    try:
        if event.graph_def:
            graph = GraphDef.FromString(event.graph_def)
            size = len(event.graph_def)
        elif event.meta_graph_def:
            # Only a MetaGraphDef (tf.compat.v1 FileWriter.add_meta_graph): its graph is what the Graph tab draws.
            graph = MetaGraphDef.FromString(event.meta_graph_def).graph_def
            size = graph.ByteSize()
        else:
            raise ValueError("no graph in the record")
    except (DecodeError, RuntimeError, ValueError):
        raise InspectorError(f"{path}: the logged graph is not a valid GraphDef; write the run again") from None
    return graph, _Facts(nodes=len(graph.node), graph_bytes=size, wall_time=event.wall_time, weights_in_log=_weights_kept(graph))


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


def _info(run: str, state: _FileState) -> RunInfo:
    facts = state.facts
    assert facts is not None
    return RunInfo(
        run=run,
        nodes=facts.nodes,
        event_file=state.path,
        graph_bytes=facts.graph_bytes,
        wall_time=facts.wall_time,
        weights_in_log=facts.weights_in_log,
        written_by_inspector=state.path.endswith(GRAPH_FILE_SUFFIX),
    )


def _walk(logdir: Path):
    # Like TensorBoard's run discovery: every folder under the logdir, links not followed.
    for folder, _dirs, files in os.walk(logdir):
        yield folder, files


def _run_name(logdir: Path, folder: str) -> str:
    rel = os.path.relpath(folder, logdir)
    return "." if rel == "." else rel.replace(os.sep, "/")


__all__ = ["GraphSource", "GraphStore", "RunGraph", "RunInfo", "StoreStats", "DEFAULT_MAX_GRAPH_BYTES"]
