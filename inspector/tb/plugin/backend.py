"""GraphDiffPlugin: the "Graph diff" tab's HTTP routes (runs, diff, the drawing's levels, search, stories, nodes, static files) over bounded caches."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from inspector.analysis.diff import MORE_NODES_FIRST, diff_graphs, likely_before, with_passes
from inspector.errors import InspectorError
from inspector.graph.table import gc_paused
from inspector.tb.plugin.drawing import DiffFacts, Drawing, build
from inspector.tb.plugin.drift import read_drift
from inspector.tb.plugin.logdir import GraphStore, RunGraph, StoreStats
from inspector.tb.plugin.nodeinfo import node_info
from inspector.tb.plugin.metadata import PLUGIN_NAME, TAB_NAME
from inspector.tb.plugin.pair import read_changes, read_diff, read_pair
from inspector.tb.plugin.payload import diff_payload
from inspector.tb.plugin.shared import ByteLRU, LogOnce, SingleFlight, one_line

# Static files the ES module loads, by route; nothing else under static/ is served.
_STATIC = {
    "/index.js": ("index.js", "text/javascript"),
    "/panes.js": ("panes.js", "text/javascript"),
    "/toolbar.js": ("toolbar.js", "text/javascript"),
    "/layout.js": ("layout.js", "text/javascript"),
    "/layouts.js": ("layouts.js", "text/javascript"),
    "/dagre.min.js": ("vendor/dagre.min.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}
# Diffs kept ready to send, as gzipped JSON (a warm answer is a dict lookup), by their size.
DEFAULT_MAX_PAYLOAD_BYTES = 64 << 20
# Drawings (items, edges and partners of both graphs) kept for the pairs looked at last.
DRAWINGS_KEPT = 4
# A search query's length at most.
QUERY_CHARS = 200

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginStats:
    """Counters of one GraphDiffPlugin: diffs computed, the payload cache, and its store's reads."""

    diffs_computed: int
    payloads_cached: int
    payload_cache_bytes: int
    store: StoreStats | None

    def to_json(self) -> dict:
        return {
            "diffs_computed": self.diffs_computed,
            "payloads_cached": self.payloads_cached,
            "payload_cache_bytes": self.payload_cache_bytes,
            "store": self.store.to_json() if self.store is not None else None,
        }


class GraphDiffPlugin(base_plugin.TBPlugin):
    """Two runs' graphs side by side: op-count table, name-scope trees, per-scope summaries."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        logdir = getattr(context, "logdir", None) or ""
        # --logdir_spec (several named logdirs) leaves logdir empty; the tab then says so.
        self._logdir = Path(logdir).expanduser() if logdir else None
        self._store = GraphStore(self._logdir) if self._logdir else None
        # The lock guards the cache and the counter; diffs are computed outside it, once per key.
        self._lock = threading.Lock()
        self._payloads: ByteLRU[bytes] = ByteLRU(max_payload_bytes)
        # Counted, not sized: a drawing is a few hundred bytes a node, and only the last few pairs are open.
        self._drawings: ByteLRU[tuple[Drawing, RunGraph, RunGraph]] = ByteLRU(DRAWINGS_KEPT)
        # What a diff leaves for its drawing, until the tab asks for that (the drawing is made on its first /level).
        self._facts: ByteLRU[DiffFacts] = ByteLRU(DRAWINGS_KEPT)
        self._flights = SingleFlight()
        self._failures = LogOnce(_log)
        self._computed = 0

    def stats(self) -> PluginStats:
        """How much work the tab has done and what its caches hold."""
        with self._lock:
            computed, cached, size = self._computed, len(self._payloads), self._payloads.bytes
        return PluginStats(
            diffs_computed=computed,
            payloads_cached=cached,
            payload_cache_bytes=size,
            store=self._store.stats() if self._store is not None else None,
        )

    def get_plugin_apps(self) -> dict[str, Any]:
        apps: dict[str, Any] = {"/runs": self._serve_runs, "/diff": self._serve_diff, "/level": self._serve_level,
                                "/search": self._serve_search, "/story": self._serve_story, "/node": self._serve_node,
                                "/drift": self._serve_drift}
        for route in _STATIC:
            apps[route] = self._serve_static
        return apps

    def is_active(self) -> bool:
        return self._store is not None and self._store.has_event_files()

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        # Reloading would refetch a diff that only changes when a run is rewritten.
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name=TAB_NAME, disable_reload=True)

    def data_plugin_names(self) -> tuple[str, ...]:
        # Activity is decided by is_active(): graphs are not summary data.
        return ()

    # --- data --------------------------------------------------------------

    def runs_json(self) -> dict[str, Any]:
        """Runs with graphs, the pair to open on and why, and unreadable files."""
        if self._store is None:
            raise InspectorError("this TensorBoard was started without --logdir (e.g. with --logdir_spec); the Graph diff tab needs --logdir")
        runs, problems = self._store.runs()
        names = [r.run for r in runs]
        pair, source = None, "none"
        recorded = read_pair(self._logdir)
        if recorded and recorded[0] in names and recorded[1] in names:
            pair, source = recorded, "recorded"
        elif len(names) >= 2:
            # Of the first two runs, before and after by the one rule the terminal uses too.
            first, second = runs[0], runs[1]
            pair = (first.run, second.run) if likely_before(first.nodes, second.nodes) else (second.run, first.run)
            source = MORE_NODES_FIRST
        elif len(names) == 1:
            pair, source = (names[0], names[0]), "the only run"
        return {
            "logdir": str(self._logdir),
            "runs": [r.to_json() for r in runs],
            "default": {"a": pair[0], "b": pair[1], "source": source} if pair else None,
            "problems": list(problems),
        }

    def diff_json_bytes(self, a: str, b: str) -> bytes:
        """The gzipped JSON of :func:`payload.diff_payload` for runs ``a`` and ``b``, cached per logged graph."""
        key, ga, gb = self._pair(a, b)
        with self._lock:
            cached = self._payloads.get(key)
        if cached is not None:
            return cached
        return self._flights.run(("diff", key), lambda: self._compute(key, ga, gb))[0]

    def drawing(self, a: str, b: str) -> tuple[Drawing, RunGraph, RunGraph]:
        """The drawing of runs ``a`` and ``b`` (drawing.py), made from their diff and kept for the last few pairs."""
        key, ga, gb = self._pair(a, b)
        with self._lock:
            cached = self._drawings.get(key)
        if cached is not None:
            return cached
        return self._flights.run(("drawing", key), lambda: self._draw(key, ga, gb))

    def _pair(self, a: str, b: str) -> tuple[tuple, RunGraph, RunGraph]:
        if self._store is None:
            raise InspectorError("this TensorBoard was started without --logdir; the Graph diff tab needs --logdir")
        ga, gb = self._store.graph(a), self._store.graph(b)
        return (ga.run, ga.source, gb.run, gb.source), ga, gb

    def _compute(self, key: tuple, ga: RunGraph, gb: RunGraph) -> tuple[bytes, DiffFacts]:
        """The /diff body and the facts its drawing is made of, from one diff (the one compare stored, if it did).

        The drawing itself waits for its first request: the tab shows the diff's
        summary, stories and tables while it asks for the drawing.
        """
        with self._lock:
            body, facts = self._payloads.get(key), self._facts.get(key)  # made by a request that finished just now?
        if body is not None and facts is not None:
            return body, facts
        files = (Path(ga.source.path).name, Path(gb.source.path).name)
        stored = _stored(read_diff(self._logdir, ga.run, gb.run, files))
        if stored is not None:
            payload, facts = stored
        else:
            diff = _diff(ga, gb, changes=read_changes(self._logdir, ga.run, gb.run, files))
            with gc_paused():
                payload, facts = diff_payload(diff, ga.graph, gb.graph), DiffFacts.of(diff)
        body = body or _payload_bytes(payload, ga, gb)
        with self._lock:
            self._computed += stored is None
            self._payloads.put(key, body, len(body))
            self._facts.put(key, facts, 1)
        return body, facts

    def _draw(self, key: tuple, ga: RunGraph, gb: RunGraph) -> tuple[Drawing, RunGraph, RunGraph]:
        with self._lock:
            drawn, facts = self._drawings.get(key), self._facts.get(key)
        if drawn is not None:
            return drawn
        if facts is None:  # the diff's facts were let go (or never made): the same single flight as /diff
            facts = self._flights.run(("diff", key), lambda: self._compute(key, ga, gb))[1]
        drawn = (build(facts, ga.graph, gb.graph), ga, gb)
        with self._lock:
            self._drawings.put(key, drawn, 1)
            self._facts.pop(key)  # drawn: the facts are in the drawing now
        return drawn

    # --- routes ------------------------------------------------------------

    @wrappers.Request.application
    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        try:
            return http_util.Respond(request, self.runs_json(), "application/json")
        except InspectorError as exc:
            return _error(request, exc.message, 400)
        except Exception as exc:  # noqa: BLE001 - the tab shows a message instead of a blank page
            return self._bug(request, "listing the runs", exc)

    @wrappers.Request.application
    def _serve_diff(self, request: wrappers.Request) -> wrappers.Response:
        a, b = request.args.get("a"), request.args.get("b")
        if not a or not b:
            return _error(request, "pass two runs: /diff?a=RUN&b=RUN (see /runs)", 400)
        try:
            body = self.diff_json_bytes(a, b)
        except InspectorError as exc:
            return _error(request, exc.message, 400)
        except Exception as exc:  # noqa: BLE001 - the tab shows a message instead of a blank page
            return self._bug(request, f"comparing {a!r} with {b!r}", exc)
        return http_util.Respond(request, body, "application/json", content_encoding="gzip")

    @wrappers.Request.application
    def _serve_level(self, request: wrappers.Request) -> wrappers.Response:
        def answer(drawing: Drawing, ga: RunGraph, gb: RunGraph) -> Any:
            side = _side(request)
            try:
                return drawing.level(side, int(request.args.get("id", "0")))
            except (KeyError, ValueError):
                raise InspectorError(f"run {(ga if side == 'a' else gb).run!r} has no scope with id {request.args.get('id')!r}; "
                                     "reload the tab") from None
        return self._drawn(request, "drawing a scope", answer)

    @wrappers.Request.application
    def _serve_search(self, request: wrappers.Request) -> wrappers.Response:
        query = request.args.get("q", "")[:QUERY_CHARS]
        return self._drawn(request, "searching", lambda d, ga, gb: {"query": query, "found": d.search(query) if query else []})

    @wrappers.Request.application
    def _serve_story(self, request: wrappers.Request) -> wrappers.Response:
        def answer(drawing: Drawing, ga: RunGraph, gb: RunGraph) -> Any:
            try:
                index = int(request.args.get("i", ""))
                if index < 0:
                    raise IndexError(index)
                return drawing.story(index)
            except (IndexError, ValueError):
                raise InspectorError(f"there is no story {request.args.get('i')!r} in this diff; reload the tab") from None
        return self._drawn(request, "lighting up a story", answer)

    @wrappers.Request.application
    def _serve_node(self, request: wrappers.Request) -> wrappers.Response:
        def answer(drawing: Drawing, ga: RunGraph, gb: RunGraph) -> Any:
            side, name = _side(request), request.args.get("name", "")
            try:
                info = node_info(drawing, (ga.graph, gb.graph), side, name)
            except KeyError:
                raise InspectorError(f"run {(ga if side == 'a' else gb).run!r} has no node {name!r}") from None
            drift = self._drift(drawing, ga)
            if drift is not None:
                info["drift"] = {s: drift["layers"][s].get(info[s]["name"]) if info[s] else None for s in ("a", "b")}
            return info
        return self._drawn(request, "describing a node", answer)

    @wrappers.Request.application
    def _serve_drift(self, request: wrappers.Request) -> wrappers.Response:
        def answer(drawing: Drawing, ga: RunGraph, gb: RunGraph) -> Any:
            read = read_drift(self._logdir) if self._logdir is not None else None
            drift = self._drift(drawing, ga, read)
            if drift is None or read is None:
                return {"found": False}
            record = read[1]
            return {"found": True, "a": record["a"], "b": record.get("b"), "factor": record.get("factor"),
                    "first_out": record.get("first_out"), "inputs": list(record.get("inputs") or [])[:8],
                    "items": {s: sorted(drift["per_item"][s].items()) for s in ("a", "b")}}
        return self._drawn(request, "reading the layers' drift", answer)

    def _drift(self, drawing: Drawing, ga: RunGraph, read: tuple | None = None) -> dict | None:
        # The drift `verify --layers --logdir` recorded, when it is of this pair's first run.
        read = read if read is not None else (read_drift(self._logdir) if self._logdir is not None else None)
        if read is None or read[1].get("a") != ga.run:
            return None
        return drawing.drift(*read)

    def _drawn(self, request: wrappers.Request, what: str, answer) -> wrappers.Response:
        a, b = request.args.get("a"), request.args.get("b")
        if not a or not b:
            return _error(request, f"pass two runs: {request.path}?a=RUN&b=RUN (see /runs)", 400)
        try:
            return http_util.Respond(request, answer(*self.drawing(a, b)), "application/json")
        except InspectorError as exc:
            return _error(request, exc.message, 400)
        except Exception as exc:  # noqa: BLE001 - the tab shows a message instead of a blank page
            return self._bug(request, f"{what} for {a!r} and {b!r}", exc)

    def _bug(self, request: wrappers.Request, what: str, exc: Exception) -> wrappers.Response:
        # Logged once per distinct failure: a page that retries must not fill the log.
        self._failures.failure(what, exc)
        return _error(request, f"{what} failed ({type(exc).__name__}: {one_line(exc)}); this is a bug in inspector, please report it", 500)

    @wrappers.Request.application
    def _serve_static(self, request: wrappers.Request) -> wrappers.Response:
        route = request.path[request.path.rindex("/"):]
        name, content_type = _STATIC[route]
        data = resources.files("inspector.tb.plugin").joinpath("static").joinpath(name).read_bytes()
        return http_util.Respond(request, data, content_type)


def _side(request: wrappers.Request) -> str:
    side = request.args.get("side", "a")
    if side not in ("a", "b"):
        raise InspectorError(f"side must be a or b, not {side[:20]!r}")
    return side


def _diff(ga: RunGraph, gb: RunGraph, *, changes: dict | None = None):
    diff = diff_graphs(
        ga.graph,
        gb.graph,
        labels=(ga.run, gb.run),
        paths=(ga.source.path, gb.source.path),
        sizes=(ga.graph_bytes, gb.graph_bytes),
    )
    return with_passes(diff, changes) if changes is not None else diff


def _stored(record: dict | None) -> tuple[dict[str, Any], DiffFacts] | None:
    if record is None:
        return None
    try:
        return record["payload"], DiffFacts.from_json(record["facts"])
    except (KeyError, TypeError, ValueError):
        return None  # not what compare writes: the tab diffs the runs itself


def _payload_bytes(payload: dict[str, Any], ga: RunGraph, gb: RunGraph) -> bytes:
    extra = {
        "logged": {
            side: {"event_file": g.source.path, "wall_time": g.wall_time, "graph_bytes": g.graph_bytes, "weights_in_log": g.weights_in_log}
            for side, g in (("a", ga), ("b", gb))
        }
    }
    text = json.dumps(payload | extra, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def _error(request: wrappers.Request, message: str, code: int) -> wrappers.Response:
    return http_util.Respond(request, {"error": message}, "application/json", code=code)
