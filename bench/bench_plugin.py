"""Benchmark: the Graph diff tab's data endpoint on a warm TensorBoard, for an Inception-v3-sized pair.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_plugin.py            # table
    .venv/bin/python bench/bench_plugin.py --json     # machine-readable
    .venv/bin/python bench/bench_plugin.py --repeats 50

The pair: ``inspector.graph.samples.keras_frozen("InceptionV3")`` (about 96 MB,
2,217 nodes, cached at ``bench/.cache/inception_v3_frozen.pb`` and built in
a child process if missing, as bench_tb.py does) and its optimized
counterpart (``inspector.optimizer.pipeline.optimize_graph`` in a child process, cached
at ``bench/.cache/inception_v3_optimized.pb``; if that fails, the same graph
with its Identity nodes bypassed, which needs no TensorFlow).

Both are written with ``tblog.write_run`` twice: as inspector writes them by
default (weights left out) and with ``keep_weights=True`` (two ~96 MB event
files, the worst case the plugin must parse). For each, a TensorBoard with the
plugin is started in a child process (through ``tensorboard.program`` with
the plugin's loader, so the entry point need not be installed), then:

* cold: the first ``/data/plugin/graph_diff/diff?a=retrained&b=optimized``
  on a fresh board (reads both event files, diffs, builds the drawing, gzips);
* warm: the same request ``--repeats`` times (median and max), what a person
  switching back to the tab or reloading gets; also ``/runs``.

Requests ask for gzip, as a browser does; the payload is reported both as
sent and as JSON. The target is a warm answer under 1 s. Exit code 0 whether
or not it is met; 2 if a child fails.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a file, so the project root is not on sys.path by itself.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tensorboard.compat.proto.graph_pb2 import GraphDef  # noqa: E402

from inspector.tb.plugin import record_pair  # noqa: E402
from inspector.tb.events import write_run  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
DEFAULT_GRAPH = CACHE / "inception_v3_frozen.pb"
DEFAULT_OPTIMIZED = CACHE / "inception_v3_optimized.pb"
TARGET_WARM_SECONDS = 1.0

_GENERATE = (
    "import sys; from pathlib import Path; "
    "from inspector.graph.samples import keras_frozen, write_graph; "
    "write_graph(keras_frozen('InceptionV3'), Path(sys.argv[1]))"
)
_OPTIMIZE = (
    "import sys; from pathlib import Path; "
    "from tensorboard.compat.proto.graph_pb2 import GraphDef; "
    "from inspector.optimizer.pipeline import detect_names, optimize_graph; "
    "g = GraphDef.FromString(Path(sys.argv[1]).read_bytes()); n = detect_names(g); "
    "Path(sys.argv[2]).write_bytes(optimize_graph(g, input_names=n.inputs, output_names=n.outputs).SerializeToString())"
)
# A TensorBoard with the plugin whether or not its entry point is installed
# (static plugins only, so an installed entry point cannot register it twice).
_BOARD = """
import sys
from tensorboard import default, program
from inspector.tb.plugin.loader import GraphDiffLoader
board = program.TensorBoard(plugins=default.get_static_plugins() + [GraphDiffLoader])
board.configure(argv=[None, "--logdir", sys.argv[1], "--host", "127.0.0.1", "--port", sys.argv[2]])
sys.exit(board.main())
"""


@dataclass(frozen=True)
class ModeResult:
    mode: str  # "weights left out" or "weights kept"
    event_file_bytes: tuple[int, int]
    cold_seconds: float
    warm_median_seconds: float
    warm_max_seconds: float
    runs_first_seconds: float  # right after the cold /diff: the graphs are parsed, the listing is not
    runs_warm_median_seconds: float
    sent_bytes: int  # gzipped, as a browser gets it
    json_bytes: int
    nodes: tuple[int, int]
    identity: tuple[int, int]


@dataclass(frozen=True)
class Report:
    graph: str
    graph_bytes: int
    optimized: str
    optimized_by: str
    repeats: int
    modes: tuple[ModeResult, ...]

    @property
    def meets_target(self) -> bool:
        return all(m.warm_median_seconds < TARGET_WARM_SECONDS for m in self.modes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", type=Path, default=DEFAULT_GRAPH, help="the 'retrained' graph (default: the cached InceptionV3)")
    parser.add_argument("--optimized", type=Path, default=None, help="the 'optimized' graph (default: built from --graph and cached)")
    parser.add_argument("--repeats", type=int, default=20, help="warm requests per mode (default 20)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = run(graph=args.graph, optimized=args.optimized, repeats=args.repeats)
    except ChildFailed as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.json:
        print(json.dumps(asdict(report) | {"meets_target": report.meets_target}, indent=2))
    else:
        print(format_report(report))
    return 0


class ChildFailed(Exception):
    pass


def run(*, graph: Path, optimized: Path | None, repeats: int) -> Report:
    if not graph.exists():
        if graph != DEFAULT_GRAPH:
            raise ChildFailed(f"{graph}: no such graph")
        _child([sys.executable, "-c", _GENERATE, str(graph)], "building InceptionV3 (imports TensorFlow)")
    optimized_by = "given"
    if optimized is None:
        optimized, optimized_by = _optimized_for(graph)
    a = GraphDef.FromString(graph.read_bytes())
    b = GraphDef.FromString(optimized.read_bytes())
    modes = []
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as tmp:
        for keep, label in ((False, "weights left out"), (True, "weights kept")):
            logdir = Path(tmp) / label.replace(" ", "-")
            written = (write_run(a, logdir, "retrained", keep_weights=keep), write_run(b, logdir, "optimized", keep_weights=keep))
            record_pair(logdir, "retrained", "optimized")
            modes.append(_measure(logdir, label, written, repeats=repeats))
    return Report(
        graph=str(graph),
        graph_bytes=graph.stat().st_size,
        optimized=str(optimized),
        optimized_by=optimized_by,
        repeats=repeats,
        modes=tuple(modes),
    )


def _optimized_for(graph: Path) -> tuple[Path, str]:
    target = DEFAULT_OPTIMIZED if graph == DEFAULT_GRAPH else CACHE / f"{graph.stem}_optimized.pb"
    note = target.with_suffix(".how")
    if target.exists() and note.exists():
        return target, note.read_text().strip()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _child([sys.executable, "-c", _OPTIMIZE, str(graph), str(target)], "optimizing (imports TensorFlow)")
        how = "inspector.optimizer.pipeline.optimize_graph"
    except ChildFailed as exc:
        sys.stderr.write(f"note: {exc}; using the graph with its Identity nodes bypassed instead\n")
        target.write_bytes(_without_identities(GraphDef.FromString(graph.read_bytes())).SerializeToString())
        how = "Identity nodes bypassed"
    note.write_text(how + "\n")
    return target, how


def _without_identities(graph: GraphDef) -> GraphDef:
    # Consumers read what each Identity read; Identities nobody reads are outputs and stay.
    read = {ref.lstrip("^").split(":")[0] for node in graph.node for ref in node.input}
    source = {n.name: n.input[0] for n in graph.node if n.op == "Identity" and n.name in read and n.input and not n.input[0].startswith("^")}

    def bypass(ref: str) -> str:
        control = ref.startswith("^")
        name = ref.lstrip("^")
        while name.split(":")[0] in source and (":" not in name or name.endswith(":0")):
            name = source[name.split(":")[0]]
        return "^" + name.split(":")[0] if control else name

    out = GraphDef()
    out.versions.CopyFrom(graph.versions)
    for node in graph.node:
        if node.name in source:
            continue
        copy = out.node.add()
        copy.CopyFrom(node)
        del copy.input[:]
        copy.input.extend(bypass(ref) for ref in node.input)
    return out


def _measure(logdir: Path, label: str, written, *, repeats: int) -> ModeResult:
    port = _free_port()
    log = logdir.parent / f"board-{port}.log"
    with log.open("wb") as sink:
        board = subprocess.Popen(
            [sys.executable, "-c", _BOARD, str(logdir), str(port)],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}/data/plugin/graph_diff"
    try:
        # TensorBoard's own route: the plugin has read nothing yet when it answers.
        _wait_up(board, f"http://127.0.0.1:{port}/data/logdir", log)
        diff_url = f"{base}/diff?a=retrained&b=optimized"
        cold, (sent, body) = _timed(diff_url)
        runs_first = _timed(f"{base}/runs")[0]
        warm = [_timed(diff_url)[0] for _ in range(repeats)]
        runs = [_timed(f"{base}/runs")[0] for _ in range(repeats)]
    finally:
        board.terminate()
        try:
            board.wait(timeout=10)
        except subprocess.TimeoutExpired:
            board.kill()
            board.wait()
    data = json.loads(body)
    identity = {row["op"]: (row["a"], row["b"]) for row in data["diff"]["ops"]}.get("Identity", (0, 0))
    return ModeResult(
        mode=label,
        event_file_bytes=(written[0].bytes_written, written[1].bytes_written),
        cold_seconds=cold,
        warm_median_seconds=statistics.median(warm),
        warm_max_seconds=max(warm),
        runs_first_seconds=runs_first,
        runs_warm_median_seconds=statistics.median(runs),
        sent_bytes=sent,
        json_bytes=len(body),
        nodes=(data["diff"]["totals"]["a"], data["diff"]["totals"]["b"]),
        identity=identity,
    )


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _timed(url: str) -> tuple[float, tuple[int, bytes]]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    start = time.perf_counter()
    try:
        with _NO_PROXY.open(request, timeout=300) as response:
            raw = response.read()
            gzipped = response.headers.get("Content-Encoding") == "gzip"
    except urllib.error.HTTPError as exc:
        detail = exc.read()
        if exc.headers.get("Content-Encoding") == "gzip":
            detail = gzip.decompress(detail)
        raise ChildFailed(f"{url}: HTTP {exc.code}: {detail[:500].decode('utf-8', 'replace')}") from None
    body = gzip.decompress(raw) if gzipped else raw
    # Timed to the decoded body: the browser pays for gunzip too.
    return time.perf_counter() - start, (len(raw), body)


def _wait_up(board: subprocess.Popen, url: str, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if board.poll() is not None:
            raise ChildFailed(f"TensorBoard exited with {board.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        try:
            with _NO_PROXY.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise ChildFailed(f"TensorBoard did not answer {url} within {timeout:g} s")


def _child(argv: list[str], what: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ChildFailed(f"{what} failed with exit code {proc.returncode}: {tail}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def format_report(report: Report) -> str:
    lines = [
        f"graph: {report.graph} ({report.graph_bytes / 1e6:.1f} MB); optimized: {report.optimized} ({report.optimized_by})",
        f"warm = median of {report.repeats} requests; target: warm /diff under {TARGET_WARM_SECONDS:g} s",
        "",
        f"{'mode':<18}{'event files':>22}{'nodes':>12}{'Identity':>11}{'cold /diff':>12}{'warm /diff':>12}{'warm max':>10}{'1st /runs':>11}{'warm /runs':>12}{'sent':>10}{'JSON':>10}",
    ]
    for m in report.modes:
        files = f"{m.event_file_bytes[0] / 1e6:.1f} + {m.event_file_bytes[1] / 1e6:.1f} MB"
        lines.append(
            f"{m.mode:<18}{files:>22}{f'{m.nodes[0]}->{m.nodes[1]}':>12}{f'{m.identity[0]}->{m.identity[1]}':>11}"
            f"{m.cold_seconds:>11.3f}s{m.warm_median_seconds * 1000:>10.1f}ms{m.warm_max_seconds * 1000:>8.1f}ms"
            f"{m.runs_first_seconds * 1000:>9.1f}ms"
            f"{m.runs_warm_median_seconds * 1000:>10.1f}ms{m.sent_bytes / 1e3:>8.1f}kB{m.json_bytes / 1e3:>8.1f}kB"
        )
    lines.append("")
    lines.append("target met" if report.meets_target else "TARGET MISSED")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
