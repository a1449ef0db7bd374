"""Benchmark: time to draw and to expand a scope, inspector's Graph diff tab against TensorBoard's own Graph tab, in a headless Chromium.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_tab.py                          # both tabs, three pairs, median of 3
    .venv/bin/python bench/bench_tab.py --tabs graph             # TensorBoard's Graph tab only
    .venv/bin/python bench/bench_tab.py --pairs codelab --repeat 5 --json
    .venv/bin/python bench/bench_tab.py --timeout 600 --screenshots /tmp/shots

Pairs, each written as runs ``1-before`` and ``2-after`` of its own temporary
logdir, by ``--writer``: ``compare`` (the default) as ``inspector compare A B
--logdir L`` writes them, with the diff it computed stored for the tab;
``tb`` one by one with ``inspector.tb.events.write_run`` (as ``inspector tb``
does), recorded with ``record_pair`` as 1-before -> 2-after, so the tab diffs
them on its first load:

* ``codelab``: ``../shared/fixtures/graphs/poets_pair`` retrained_graph.pb and
  optimized_graph.pb (560 and 420 nodes);
* ``inception``: Keras InceptionV3 frozen and ``inspector optimize`` of it, as
  bench/bench_diff.py builds and caches it in ``bench/.cache/`` (needs
  TensorFlow, slow the first time);
* ``synthetic-100k``: ``bench_diff.synthetic_pair()``, 5,000 conv + batch norm
  blocks (100,001 nodes) and the same folded (25,001 nodes).

Why the runs are named ``1-before`` and ``2-after``: TensorBoard 2.x's Graph
tab draws the first run of its run menu (sorted by name) whatever ``run=`` the
URL names, so run A must sort first for the Graph tab to draw A. The bench
checks which run it drew and reports it (``run_drawn``).

Per pair, one TensorBoard (``inspector.tb.board.start``, on 127.0.0.1, a free
port, a temporary state folder; stopped by its pid at the end) serves both tabs
to one headless Chromium (tests/chromium.py, the DevTools-pipe driver the
browser tests use). The bench waits until TensorBoard lists both runs' graphs,
then runs ``--repeat`` rounds; each round measures each tab once, the tab
order alternating between rounds. A measurement is one fresh page load in a
new browser tab (the previous tab closed), so each starts from nothing but the
browser's HTTP cache:

* drawn: ``performance.now()`` of the page (milliseconds since its navigation
  started) when the tab has drawn, polled from here every 20 ms with a cheap
  expression (so the resolution is ~20 ms plus how long the page's main thread
  is busy, which is when it is drawing anyway);
* expand: the page's clock read just before the click on the largest
  top-level scope of graph A, to the first poll that sees its children drawn.

TensorBoard's Graph tab (``#graphs&run=1-before``): drawn when its
``tf-graph-scene`` (found through shadow roots) reports ``progress.value ==
100`` and its svg holds ``g.node`` elements; expand clicks the
``.buttoncontainer`` (the +) of the ``g.node`` of the top-level metanode with
the largest cardinality in the scene's render hierarchy, and is done when that
``g.node`` has class ``expanded`` and a ``g.node`` named ``SCOPE/...`` is drawn.
Both moments are the elements' arrival in the DOM: TensorBoard then runs its
zoom-to-fit and fade-in transitions (a few hundred ms more on screen). It lays
out only the levels that are open, so its first draw of a big graph is mostly
fetching and parsing the graph and building its hierarchy.

inspector's Graph diff tab (``#graph_diff&a=1-before&b=2-after``, in its
iframe): drawn when ``#gd-graphs`` has ``data-drawn="1"`` and
``data-busy="0"``; expand clicks the ``.gd-toggle`` of the expandable
``[data-node]`` without '/' in ``#gd-pane-a`` with the largest ``data-count``
(else the first), and is done when it is ``data-expanded="1"``, an item of
it is drawn in pane A (an element with ``data-node`` or ``data-group`` inside
it, or a ``[data-node]`` named ``SCOPE/...``), and ``#gd-graphs`` is
``data-busy="0"``.

A measurement that takes longer than ``--timeout`` (default 180 s) is reported
as "> 180 s" (in JSON: null, ``"timed_out": true``) and its tab is closed. One
where the tab gives up is reported as "failed" (JSON ``"failed": true`` and
the message): TensorBoard's progress shows an error, the diff tab shows
``.gd-graphs-error``, or, after the click, the page logs an error
(``console.error``, an uncaught exception; caught by a script the bench adds
to every document) and has not finished a second later. TensorBoard reports
an expand that failed only that way: its Angular error handler logs the
exception and the scope stays closed. Medians count a timeout or failure as
longer than any time measured. An expand after a draw that did not finish is
skipped. Exit code 0, or 2 on an error of the bench (a missing fixture, a tab
that cannot be driven, the diff tab not yet implementing the elements above).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a file, so the project root is not on sys.path by itself; tests/ holds the browser driver.
for _path in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tensorboard.compat.proto.graph_pb2 import GraphDef  # noqa: E402

import browser_setup  # noqa: E402
from chromium import DEEP_QUERY, DIFF_DOC, HEIGHT, WIDTH, Chromium  # noqa: E402
from inspector.errors import InspectorError  # noqa: E402
from inspector.tb import board  # noqa: E402
from inspector.tb.events import write_run  # noqa: E402
from inspector.tb.plugin import diff_tab_url, record_pair  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "graphs" / "poets_pair"
STATIC = ROOT / "inspector" / "tb" / "plugin" / "static"
PAIRS = ("codelab", "inception", "synthetic-100k")
TABS = ("diff", "graph")
TAB_TITLES = {"diff": "Graph diff tab", "graph": "Graph tab"}
# Run A sorts first: TensorBoard's Graph tab draws its first run whatever run= says.
RUN_A, RUN_B = "1-before", "2-after"
POLL_SECONDS = 0.02
SETTLE_SECONDS = 1.0  # after a draw, before the click: the zoom-to-fit transition and late timers end
FAIL_GRACE_SECONDS = 1.0  # an error logged and no result for this long: the tab gave up
RUNS_TIMEOUT = 600.0  # TensorBoard reading the logdir (the 100k graph takes a while)


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


class TimedOut(Exception):
    pass


class Failed(Exception):
    """The tab gave up: it said so, or logged an error and stopped (the message is what it said)."""


# --- what each tab's measurement runs in the page ------------------------------------

# Run in every document and frame before its own scripts: what the page logs as an error
# (TensorBoard's Angular error handler reports a failed expand only with console.error).
ERROR_HOOK = """
window.__benchErrors = [];
(() => {
  const keep = (what) => { if (window.__benchErrors.length < 20) window.__benchErrors.push(String(what).slice(0, 300)); };
  const error = console.error;
  console.error = (...args) => { keep(args.map((a) => (a && a.stack) ? String(a.stack).split('\\n')[0] : String(a)).join(' ')); return error.apply(console, args); };
  window.addEventListener('error', (e) => keep(e.message));
  window.addEventListener('unhandledrejection', (e) => keep('unhandled rejection: ' + ((e.reason && e.reason.message) || e.reason)));
})();
"""
# The errors logged since the click, in the top window and the diff tab's frame.
_ERRORS = f"""const errors = () => {{
  const frame = ({DIFF_DOC} || {{}}).defaultView;
  return [...(window.__benchErrors || []), ...((frame && frame.__benchErrors) || [])];
}};"""
_RESET_ERRORS = f"""window.__benchErrors = []; {{ const frame = ({DIFF_DOC} || {{}}).defaultView; if (frame) frame.__benchErrors = []; }}"""

# The Graph tab's tf-graph-scene, found through shadow roots once and kept on the window.
_GRAPH_SCENE = DEEP_QUERY + """
window.__benchScene = () => {
  let s = window.__benchSceneEl;
  if (!s || !s.isConnected) s = window.__benchSceneEl = (__deepAll('tf-graph-scene')[0] || null);
  return s;
};
window.__benchNodeSel = (name) => 'g.node[data-name="' + CSS.escape(name) + '"]';
"""

GRAPH_DRAWN = _GRAPH_SCENE + """;(() => {
  if (location.href === 'about:blank') return null;
  const s = __benchScene();
  if (!s || !s.shadowRoot) return null;
  const p = s.progress;
  if (p && p.error) return {failed: p.msg};
  if (!p || p.value < 100) return null;
  const n = s.shadowRoot.querySelectorAll('g.node').length;
  return n > 0 ? {t: performance.now(), nodes: n} : null;
})()"""

# Which run the Graph tab drew, and the top-level metanode with the most nodes.
GRAPH_STATE = _GRAPH_SCENE + """;(() => {
  const s = __benchScene();
  const dash = __deepAll('tf-graph-dashboard')[0];
  const ds = dash && dash._datasets && dash._datasets[dash._selectedDataset];
  const rh = s.renderHierarchy;
  let best = null;
  for (const name of rh.root.node.metagraph.nodes()) {
    const r = rh.getRenderNodeByName(name);
    if (!r || !r.node.isGroupNode || !s.shadowRoot.querySelector(__benchNodeSel(name))) continue;
    if (!best || r.node.cardinality > best.count) best = {name, count: r.node.cardinality};
  }
  return {run: ds ? ds.name : null, target: best};
})()"""

GRAPH_CLICK = _GRAPH_SCENE + """;((name) => {
  const s = __benchScene();
  const g = s.shadowRoot.querySelector(__benchNodeSel(name));
  const button = g && g.querySelector(':scope > .buttoncontainer');
  """ + _RESET_ERRORS + """
  const t = performance.now();
  if (button) button.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  else if (g) g.querySelector(':scope > .nodeshape').dispatchEvent(new MouseEvent('dblclick', {bubbles: true}));
  else return {error: 'no g.node for ' + name};
  return {t};
})(%s)"""

GRAPH_EXPANDED = _GRAPH_SCENE + """;((name) => {
  """ + _ERRORS + """
  const s = __benchScene();
  const g = s && s.shadowRoot.querySelector(__benchNodeSel(name));
  const kid = g && g.classList.contains('expanded')
    && s.shadowRoot.querySelector('g.node[data-name^="' + CSS.escape(name + '/') + '"]');
  return kid ? {t: performance.now()} : errors().length ? {failed: errors().join('; ')} : null;
})(%s)"""

_DIFF = f"const d = {DIFF_DOC}; const graphs = d && d.querySelector('#gd-graphs');"
_DIFF_NODE = "const sel = (name) => '[data-node=\"' + CSS.escape(name) + '\"]';"

DIFF_DRAWN = f"""(() => {{
  if (location.href === 'about:blank') return null;
  {_DIFF}
  const failed = graphs && graphs.querySelector('.gd-graphs-error');
  if (failed) return {{failed: failed.textContent}};
  if (!graphs || graphs.dataset.drawn !== '1' || graphs.dataset.busy !== '0') return null;
  return {{t: performance.now(), nodes: d.querySelectorAll('#gd-pane-a [data-node]').length}};
}})()"""

DIFF_STATE = f"""(() => {{
  {_DIFF}
  const scopes = Array.from(d.querySelectorAll('#gd-pane-a [data-node][data-expandable="1"]'))
    .filter(e => !e.dataset.node.includes('/'));
  let best = null;
  for (const e of scopes) {{
    const count = e.dataset.count === undefined ? null : Number(e.dataset.count);
    if (!best || (count !== null && (best.count === null || count > best.count))) best = {{name: e.dataset.node, count}};
  }}
  return {{run: null, target: best}};
}})()"""

DIFF_CLICK = f"""((name) => {{
  {_DIFF} {_DIFF_NODE}
  const el = d.querySelector('#gd-pane-a ' + sel(name));
  const toggle = el && el.querySelector('.gd-toggle');
  if (!toggle) return {{error: 'no .gd-toggle in #gd-pane-a for ' + name}};
  {_RESET_ERRORS}
  const t = performance.now();
  toggle.dispatchEvent(new MouseEvent('click', {{bubbles: true}}));
  return {{t}};
}})(%s)"""

DIFF_EXPANDED = f"""((name) => {{
  {_DIFF} {_DIFF_NODE} {_ERRORS}
  const el = graphs && d.querySelector('#gd-pane-a ' + sel(name));
  const kid = el && el.dataset.expanded === '1' && graphs.dataset.busy === '0'
    && (el.querySelector('[data-node], [data-group]') || d.querySelector('#gd-pane-a [data-node^="' + CSS.escape(name + '/') + '"]'));
  if (kid) return {{t: performance.now()}};
  const box = graphs && graphs.querySelector('.gd-graphs-error');
  return box ? {{failed: box.textContent}} : errors().length ? {{failed: errors().join('; ')}} : null;
}})(%s)"""


@dataclass(frozen=True)
class TabScript:
    drawn: str
    state: str
    click: str
    expanded: str


SCRIPTS = {
    "graph": TabScript(GRAPH_DRAWN, GRAPH_STATE, GRAPH_CLICK, GRAPH_EXPANDED),
    "diff": TabScript(DIFF_DRAWN, DIFF_STATE, DIFF_CLICK, DIFF_EXPANDED),
}


# --- results --------------------------------------------------------------------------

TIMEOUT = "timeout"  # no answer within --timeout
FAILED = "failed"  # the tab gave up (an error shown or logged) and would never finish
SKIPPED = "skipped"  # not measured: the draw before it did not finish
NEVER = (TIMEOUT, FAILED)


@dataclass
class Metric:
    """Samples of one measurement: seconds, TIMEOUT, FAILED or SKIPPED; and what the tab said when it failed."""

    samples: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        """The median, a timeout or failure counted as longer than any time (math.inf); None if nothing was measured."""
        values = [math.inf if s in NEVER else s for s in self.samples if s != SKIPPED]
        return statistics.median(values) if values else None

    def outcome(self) -> str | None:
        """None when the median is a time; else TIMEOUT or FAILED, whichever most of the unfinished samples were."""
        if self.median() != math.inf:
            return None
        return FAILED if self.samples.count(FAILED) > self.samples.count(TIMEOUT) else TIMEOUT

    def to_json(self) -> dict:
        m = self.median()
        return {
            "seconds": None if m is None or m == math.inf else round(m, 4),
            "timed_out": self.outcome() == TIMEOUT,
            "failed": self.outcome() == FAILED,
            "samples": [round(s, 4) if isinstance(s, float) else None for s in self.samples],
            "timeouts": self.samples.count(TIMEOUT),
            "failures": self.samples.count(FAILED),
            "skipped": self.samples.count(SKIPPED),
            "errors": sorted(set(self.errors)),
        }


@dataclass
class TabResult:
    drawn: Metric = field(default_factory=Metric)
    expand: Metric = field(default_factory=Metric)
    expanded: str | None = None  # the scope clicked
    expanded_count: int | None = None  # its number of nodes, as the tab says
    run_drawn: str | None = None  # the run the Graph tab drew (it picks its first)
    nodes_drawn: int | None = None  # elements drawn at first (g.node, or [data-node] in pane A)

    def to_json(self) -> dict:
        out = {"drawn": self.drawn.to_json(), "expand": self.expand.to_json(), "expanded": self.expanded,
               "expanded_count": self.expanded_count, "nodes_drawn": self.nodes_drawn}
        if self.run_drawn is not None:
            out["run_drawn"] = self.run_drawn
        return out


@dataclass
class PairResult:
    pair: str
    nodes_a: int
    nodes_b: int
    tabs: dict[str, TabResult]
    timeout: float  # seconds: a timed-out median is more than this

    def ratios(self) -> dict[str, dict]:
        """Graph tab / diff tab per step: the ratio, or a bound on it when one side timed out (none when one failed)."""
        out = {}
        if set(self.tabs) != set(TABS):
            return out
        for step in ("drawn", "expand"):
            g, d = getattr(self.tabs["graph"], step), getattr(self.tabs["diff"], step)
            gm, dm = g.median(), d.median()
            r = {"ratio": None, "at_least": None, "at_most": None}
            if gm is None or dm is None or not dm or FAILED in (g.outcome(), d.outcome()) or gm == dm == math.inf:
                pass
            elif gm == math.inf:
                r["at_least"] = round(self.timeout / dm, 2)
            elif dm == math.inf:
                r["at_most"] = round(gm / self.timeout, 4)
            else:
                r["ratio"] = round(gm / dm, 3)
            out[step] = r
        return out

    def to_json(self) -> dict:
        return {"pair": self.pair, "nodes": {"a": self.nodes_a, "b": self.nodes_b}, "runs": {"a": RUN_A, "b": RUN_B},
                **{tab: r.to_json() for tab, r in self.tabs.items()}, "ratio_graph_over_diff": self.ratios()}


# --- the browser ----------------------------------------------------------------------


class Page:
    """The one tab the bench drives in ``browser``, replaced by a new one for every page load."""

    def __init__(self, browser: Chromium) -> None:
        self.browser = browser

    def fresh(self) -> None:
        """Open a new tab on about:blank and close every other one (a hung page with them)."""
        b = self.browser
        old = [t["targetId"] for t in b.call("Target.getTargets")["targetInfos"] if t.get("type") == "page"]
        target = b.call("Target.createTarget", url="about:blank")["targetId"]
        b.session = b.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        b.page("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        b.page("Page.enable")
        b.page("Runtime.enable")
        b.page("Page.addScriptToEvaluateOnNewDocument", source=ERROR_HOOK)
        for ident in old:
            try:
                b.call("Target.closeTarget", targetId=ident, timeout=30)
            except (RuntimeError, TimeoutError):
                pass

    def evaluate(self, expression: str, *, timeout: float):
        """``expression``'s value, or TimedOut when the page does not answer within ``timeout`` seconds."""
        try:
            result = self.browser.call("Runtime.evaluate", session=self.browser.session, timeout=max(timeout, 0.05),
                                       expression=expression, returnByValue=True)
        except TimeoutError:
            raise TimedOut from None
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            said = details.get("exception", {}).get("description") or details.get("text") or ""
            if said.startswith("SyntaxError"):
                raise BenchError(f"the bench's own script: {said.splitlines()[0]}")
            # The page is between documents, or the tab's script has not defined what we read yet.
            return None
        return result["result"].get("value")

    def poll(self, expression: str, deadline: float):
        """Evaluate ``expression`` every POLL_SECONDS until it gives a time; that value.

        TimedOut after ``deadline``; Failed when it has said ``failed`` for FAIL_GRACE_SECONDS
        running (an error logged while the work still finishes is not a failure).
        """
        failing_since = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut
            value = self.evaluate(expression, timeout=left)
            if isinstance(value, dict):
                if value.get("error"):
                    raise BenchError(value["error"])
                if "t" in value:
                    return value
                if value.get("failed") is not None:
                    failing_since = failing_since or time.monotonic()
                    if time.monotonic() - failing_since >= FAIL_GRACE_SECONDS:
                        raise Failed(" ".join(str(value["failed"]).split())[:300])
            time.sleep(POLL_SECONDS)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.browser.page("Page.captureScreenshot", format="png")["data"]))


def measure(page: Page, tab: str, url: str, result: TabResult, *, timeout: float, shots: Path | None, label: str) -> str:
    """One fresh load of ``url``: append its drawn and expand seconds to ``result``; a line for the log."""
    script = SCRIPTS[tab]
    page.fresh()
    page.browser.navigate(url)
    try:
        drawn = page.poll(script.drawn, time.monotonic() + timeout)
    except (TimedOut, Failed) as exc:
        result.drawn.samples.append(FAILED if isinstance(exc, Failed) else TIMEOUT)
        result.expand.samples.append(SKIPPED)
        if isinstance(exc, Failed):
            result.drawn.errors.append(str(exc))
        _shoot(page, shots, f"{label}-not-drawn.png")
        page.fresh()  # leave the busy page behind
        return (f"drawn: failed ({exc})" if isinstance(exc, Failed) else f"drawn > {timeout:g} s (timed out)") + ", expand skipped"
    result.drawn.samples.append(drawn["t"] / 1000)
    result.nodes_drawn = drawn.get("nodes")
    time.sleep(SETTLE_SECONDS)
    _shoot(page, shots, f"{label}-drawn.png")
    state = page.evaluate(script.state, timeout=60)
    if not state or not state.get("target"):
        raise BenchError(f"{TAB_TITLES[tab]}: no expandable top-level scope found in graph A ({url})")
    target = state["target"]
    result.expanded, result.expanded_count = target["name"], target.get("count")
    if tab == "graph":
        result.run_drawn = state.get("run")
    name = json.dumps(target["name"])
    clicked = page.evaluate(script.click % name, timeout=60)
    if not clicked or clicked.get("error"):
        raise BenchError(f"{TAB_TITLES[tab]}: cannot click {target['name']}: {clicked and clicked.get('error')}")
    line = f"drawn {drawn['t'] / 1000:.2f} s, expand {target['name']}"
    try:
        done = page.poll(script.expanded % name, time.monotonic() + timeout)
    except TimedOut:
        result.expand.samples.append(TIMEOUT)
        _shoot(page, shots, f"{label}-not-expanded.png")
        page.fresh()
        return line + f" > {timeout:g} s (timed out)"
    except Failed as exc:
        result.expand.samples.append(FAILED)
        result.expand.errors.append(str(exc))
        _shoot(page, shots, f"{label}-not-expanded.png")
        return line + f": failed ({exc})"
    seconds = (done["t"] - clicked["t"]) / 1000
    result.expand.samples.append(seconds)
    if shots:
        time.sleep(SETTLE_SECONDS)
        _shoot(page, shots, f"{label}-expanded.png")
    return line + f" {seconds:.2f} s"


def _shoot(page: Page, shots: Path | None, name: str) -> None:
    if shots is None:
        return
    try:
        page.screenshot(shots / name)
    except (RuntimeError, TimeoutError):
        pass  # a hung page gives none


# --- pairs, logdirs and TensorBoard ---------------------------------------------------


def load_pair(name: str) -> tuple[GraphDef, GraphDef]:
    import bench_diff

    if name == "codelab":
        files = FIXTURES / "retrained_graph.pb", FIXTURES / "optimized_graph.pb"
        if not all(f.is_file() for f in files):
            raise BenchError(f"{FIXTURES}: the codelab pair is missing; the benchmark needs ../shared/fixtures")
    elif name == "inception":
        try:
            files = bench_diff._inception(bench_diff.CACHE)
        except (subprocess.CalledProcessError, OSError) as exc:
            raise BenchError(f"building the InceptionV3 pair failed ({exc}); it needs TensorFlow in this venv") from None
    else:  # synthetic-100k
        return bench_diff.synthetic_pair()
    return GraphDef.FromString(files[0].read_bytes()), GraphDef.FromString(files[1].read_bytes())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_runs(url: str, timeout: float) -> None:
    """Until TensorBoard's graphs plugin and the Graph diff plugin both list runs A and B."""
    deadline = time.monotonic() + timeout
    wanted = {RUN_A, RUN_B}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "data/plugin/graphs/info", timeout=30) as response:
                if wanted <= set(json.load(response)):
                    return
        except (OSError, ValueError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise BenchError(f"TensorBoard at {url} did not list runs {RUN_A} and {RUN_B} within {timeout:g} s")


def diff_tab_ready() -> bool:
    """Whether the Graph diff tab's front end has the elements this bench drives (#gd-graphs)."""
    return any("gd-graphs" in f.read_text(errors="replace") for f in STATIC.rglob("*")
               if f.is_file() and f.suffix in (".js", ".html", ".mjs") and "vendor" not in f.parts)


def run_pair(name: str, page: Page, folder: Path, *, tabs: tuple[str, ...], repeat: int, timeout: float,
             shots: Path | None, say, writer: str = "compare") -> PairResult:
    a, b = load_pair(name)
    logdir = folder / name / "logs"
    if writer == "compare":
        # As `inspector compare A B --logdir L` writes them: the runs, and the diff it computed for the tab.
        from inspector.workflows.compare import compare

        paths = folder / name / "a.pb", folder / name / "b.pb"
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        paths[0].write_bytes(a.SerializeToString())
        paths[1].write_bytes(b.SerializeToString())
        compare(paths[0], paths[1], logdir=logdir, names=(RUN_A, RUN_B), board=False, check=False)
    else:
        # Runs written one by one (inspector tb, graph_pb2tb): the tab diffs them on its first load.
        write_run(a, logdir, RUN_A)
        write_run(b, logdir, RUN_B)
        record_pair(logdir, RUN_A, RUN_B)
    result = PairResult(name, len(a.node), len(b.node), {tab: TabResult() for tab in tabs}, timeout)
    del a, b
    state = folder / name / "state"
    info = board.start(logdir, port=_free_port(), state=state, timeout=120).info
    try:
        say(f"{name}: TensorBoard {info.url} (pid {info.pid}) on {result.nodes_a:,} / {result.nodes_b:,} nodes")
        _wait_for_runs(info.url, RUNS_TIMEOUT)
        urls = {"graph": board.graph_url(info, RUN_A), "diff": diff_tab_url(info.url, RUN_A, RUN_B)}
        for r in range(repeat):
            order = tabs if r % 2 == 0 else tabs[::-1]
            for tab in order:
                label = f"{name}-{tab}-{r + 1}"
                line = measure(page, tab, urls[tab], result.tabs[tab], timeout=timeout,
                               shots=shots if shots and r == 0 else None, label=label)
                say(f"{name}: {TAB_TITLES[tab]}, round {r + 1}/{repeat}: {line}")
    finally:
        board.stop(port=info.port, state=state, timeout=5)
    return result


# --- the report -----------------------------------------------------------------------


def _secs(m: Metric, timeout: float) -> str:
    v = m.median()
    if v is None:
        return "-"
    if v == math.inf:
        return "failed" if m.outcome() == FAILED else f"> {timeout:g} s"
    return f"{v:.2f} s"


def _sample(x, timeout: float) -> str:
    return f"{x:.2f} s" if isinstance(x, float) else f"> {timeout:g} s" if x == TIMEOUT else x


def _ratio(r: dict | None) -> str:
    if not r:
        return "-"
    if r["ratio"] is not None:
        return f"{r['ratio']:.1f}x"
    if r["at_least"] is not None:
        return f"> {r['at_least']:.0f}x"
    if r["at_most"] is not None:
        return f"< {r['at_most']:.2f}x"
    return "-"


def format_report(results: list[PairResult], tabs: tuple[str, ...], meta: dict) -> str:
    lines = [
        f"TensorBoard {meta['tensorboard']}, {meta['chromium']}; runs written as inspector {meta['writer']} does; "
        f"median of {meta['repeat']} fresh page loads; "
        f"timeout {meta['timeout_seconds']:g} s; runs {RUN_A} (A) and {RUN_B} (B)",
        "drawn = from navigation start; expand = click on graph A's largest top-level scope until its children are drawn",
        "",
    ]
    head = ["pair", "nodes A / B"]
    if "diff" in tabs:
        head += ["diff first draw", "diff drawn", "diff expand"]
    if "graph" in tabs:
        head += ["Graph first draw", "Graph drawn (A)", "Graph expand"]
    if set(tabs) == set(TABS):
        head += ["ratio drawn", "ratio expand"]
    rows = []
    for p in results:
        row = [p.pair, f"{p.nodes_a:,} / {p.nodes_b:,}"]
        for tab in ("diff", "graph"):
            if tab in p.tabs:
                first = p.tabs[tab].drawn.samples[:1]
                row += [_sample(first[0], p.timeout) if first else "-",
                        _secs(p.tabs[tab].drawn, p.timeout), _secs(p.tabs[tab].expand, p.timeout)]
        if set(tabs) == set(TABS):
            ratios = p.ratios()
            row += [_ratio(ratios.get("drawn")), _ratio(ratios.get("expand"))]
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines.append("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    if set(tabs) == set(TABS):
        lines.append("ratio = Graph tab / diff tab (> a bound when the Graph tab timed out; - when a tab failed)")
    lines.append("")
    for p in results:
        for tab, r in sorted(p.tabs.items(), key=lambda kv: TABS.index(kv[0])):
            extra = f", drew run {r.run_drawn}" if r.run_drawn is not None else ""
            warn = " (NOT run A)" if r.run_drawn is not None and r.run_drawn != RUN_A else ""
            count = f" ({r.expanded_count:,} nodes)" if isinstance(r.expanded_count, int) else ""
            lines.append(f"{p.pair}, {TAB_TITLES[tab]}: expanded {r.expanded or '-'}{count}{extra}{warn}")
            for step in ("drawn", "expand"):
                m = getattr(r, step)
                lines.append(f"    {step}, round by round: " + ", ".join(_sample(x, p.timeout) for x in m.samples))
                for said in sorted(set(m.errors)):
                    lines.append(f"    {step} failed: {said}")
    lines.append("(first draw: round 1, the server's caches cold, as a person opening the tab meets it; the median is of all rounds)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, from {', '.join(PAIRS)} (default all)")
    parser.add_argument("--tabs", default="graph,diff", help="comma-separated: graph (TensorBoard's), diff (inspector's); default both")
    parser.add_argument("--repeat", type=int, default=3, help="page loads per tab and pair; the median is reported (default 3)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per measurement before it counts as timed out (default 180)")
    parser.add_argument("--screenshots", type=Path, help="save a PNG of each tab drawn and expanded (first round) in this folder")
    parser.add_argument("--writer", choices=("compare", "tb"), default="compare",
                        help="how the runs are written: as inspector compare does (with the diff it computed, the default), "
                             "or one by one as inspector tb does (the tab then diffs them on its first load)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    pairs = tuple(p.strip() for p in args.pairs.split(",") if p.strip())
    tabs = tuple(dict.fromkeys(t.strip() for t in args.tabs.split(",") if t.strip()))
    bad = [p for p in pairs if p not in PAIRS] + [t for t in tabs if t not in TABS]
    if bad or not pairs or not tabs:
        parser.error(f"unknown pair or tab {', '.join(bad) or '(none given)'}; pairs: {', '.join(PAIRS)}; tabs: graph, diff")
    if args.repeat < 1 or args.timeout <= 0:
        parser.error("--repeat must be at least 1 and --timeout positive")
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if "diff" in tabs and not diff_tab_ready():
        sys.stderr.write(f"error: the Graph diff tab's front end ({STATIC.relative_to(ROOT)}) has no #gd-graphs yet, "
                         "so its drawing cannot be timed; run with --tabs graph\n")
        return 2
    try:
        executable = browser_setup.chromium(say=say)
    except browser_setup.NoBrowser as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    results: list[PairResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-tab-") as tmp:
        folder = Path(tmp)
        browser = Chromium(executable, folder / "chromium-profile", folder / "chromium.log")
        try:
            meta = {"tensorboard": _tensorboard_version(), "chromium": browser.call("Browser.getVersion")["product"],
                    "writer": args.writer, "repeat": args.repeat, "timeout_seconds": args.timeout, "poll_seconds": POLL_SECONDS}
            page = Page(browser)
            for name in pairs:
                results.append(run_pair(name, page, folder, tabs=tabs, repeat=args.repeat, timeout=args.timeout,
                                        shots=args.screenshots, say=say, writer=args.writer))
        except (BenchError, InspectorError) as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
        finally:
            browser.close()
    if args.json:
        print(json.dumps({"schema": 1, **meta, "tabs": list(tabs), "pairs": [p.to_json() for p in results]}, indent=2))
    else:
        print(format_report(results, tabs, meta))
    return 0


def _tensorboard_version() -> str:
    import tensorboard

    return tensorboard.__version__


if __name__ == "__main__":
    sys.exit(main())
