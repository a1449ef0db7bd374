"""Benchmark: a large frozen graph to a TensorBoard run, the codelab's TensorFlow way against inspector's.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_tb.py            # rich table
    .venv/bin/python bench/bench_tb.py --json     # machine-readable
    .venv/bin/python bench/bench_tb.py --repeats 5 --graph tf_files/retrained_graph.pb

The graph is an Inception-v3-sized frozen GraphDef (about 96 MB, 2,217 nodes)
that ``inspector.graph.samples.keras_frozen("InceptionV3")`` builds once, in a child
process, and caches at ``bench/.cache/inception_v3_frozen.pb`` (git-ignored;
``--regenerate`` rebuilds it).

Each repetition runs both tools, interleaved, each in its own child process
started through a tiny launcher that times it and reads its peak memory
(``ru_maxrss`` from ``os.wait4``), so the figure is that process's own:

* codelab: ``bench/codelab_graph_pb2tb.py LOGDIR GRAPH``, the codelab's
  scripts/graph_pb2tb.py (TensorFlow Session, ``import_graph_def``,
  ``FileWriter.add_graph``);
* inspector: ``python -m scripts.graph_pb2tb LOGDIR GRAPH``.

Every run writes to a fresh LOGDIR, and the graph each one wrote is read back
(without TensorFlow) to check it has all the graph's nodes. Reported: median
wall time, peak RSS, and the run's size on disk as a share of the graph's; then
the speed-up, the memory ratio and the log size against the issue's targets
(at least 10x faster, at most 1/4 of the memory, a run under 1% of the graph).
Exit code 0 whether or not the targets are met; 2 if a child fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a file, so the project root is not on sys.path by itself.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tensorboard.compat.proto.event_pb2 import Event  # noqa: E402
from tensorboard.compat.proto.graph_pb2 import GraphDef  # noqa: E402

DEFAULT_GRAPH = ROOT / "bench" / ".cache" / "inception_v3_frozen.pb"
CODELAB_SCRIPT = ROOT / "bench" / "codelab_graph_pb2tb.py"
INSPECTOR_MODULE = "scripts.graph_pb2tb"

TARGET_SPEEDUP = 10.0
TARGET_MEMORY_RATIO = 0.25
TARGET_LOG_PERCENT = 1.0

# Each tool is started by this tiny launcher, not by the benchmark itself: on
# Linux exec() folds the spawning process's RSS high-water mark into the new
# program's ru_maxrss, so a child spawned straight from this process (which
# reads ~100 MB event files to check them) would report this process's peak.
# The launcher's own peak (~11 MB) is below any Python child's.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "exit": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}))
"""

_GENERATE = (
    "import sys; from pathlib import Path; "
    "from inspector.graph.samples import keras_frozen, write_graph; "
    "write_graph(keras_frozen('InceptionV3'), Path(sys.argv[1]))"
)


@dataclass(frozen=True)
class Sample:
    """One child process's run."""

    seconds: float
    peak_rss_bytes: int
    run_bytes: int
    nodes_logged: int


@dataclass(frozen=True)
class ToolResult:
    name: str
    command: tuple[str, ...]
    samples: tuple[Sample, ...]

    @property
    def median_seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_rss_bytes(self) -> int:
        return max(s.peak_rss_bytes for s in self.samples)

    @property
    def run_bytes(self) -> int:
        return int(statistics.median(s.run_bytes for s in self.samples))


@dataclass(frozen=True)
class Report:
    graph: Path
    graph_bytes: int
    graph_nodes: int
    repeats: int
    codelab: ToolResult
    inspector: ToolResult

    @property
    def speedup(self) -> float:
        return self.codelab.median_seconds / self.inspector.median_seconds

    @property
    def memory_ratio(self) -> float:
        return self.inspector.peak_rss_bytes / self.codelab.peak_rss_bytes

    @property
    def log_percent(self) -> float:
        return 100.0 * self.inspector.run_bytes / self.graph_bytes

    def targets(self) -> dict[str, bool]:
        return {
            "speedup_at_least_10x": self.speedup >= TARGET_SPEEDUP,
            "memory_at_most_quarter": self.memory_ratio <= TARGET_MEMORY_RATIO,
            "log_under_1_percent": self.log_percent < TARGET_LOG_PERCENT,
        }


class BenchError(Exception):
    """A child process failed or wrote something unusable."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/bench_tb.py",
        description="Time and measure GRAPH -> TensorBoard run: the codelab's TF script vs inspector's.",
    )
    parser.add_argument("--graph", type=Path, default=DEFAULT_GRAPH, help=f"frozen graph to convert (default: {DEFAULT_GRAPH.relative_to(ROOT)}, generated if missing)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tool, interleaved (default 3)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the cached Inception-v3 graph first")
    parser.add_argument("--inspector-module", default=INSPECTOR_MODULE, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    try:
        graph = args.graph.resolve()
        if graph == DEFAULT_GRAPH and (args.regenerate or not graph.exists()):
            _generate(graph, quiet=args.json)
        elif not graph.is_file():
            raise BenchError(f"{args.graph}: no such file")
        report = run_benchmark(graph, repeats=args.repeats, inspector_module=args.inspector_module, quiet=args.json)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_as_json(report), indent=2))
    else:
        _print_table(report)
    return 0


def run_benchmark(graph: Path, *, repeats: int, inspector_module: str, quiet: bool) -> Report:
    data = graph.read_bytes()  # also warms the page cache, so neither tool pays the first disk read
    nodes = len(GraphDef.FromString(data).node)
    del data
    python = sys.executable
    commands = {
        "codelab": (python, str(CODELAB_SCRIPT)),
        "inspector": (python, "-m", inspector_module),
    }
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    scratch = Path(tempfile.mkdtemp(prefix="bench_tb-"))
    try:
        for rep in range(repeats):
            for name, command in commands.items():
                logdir = scratch / f"{name}-{rep}" / "run"
                sample = _measure(command, logdir, graph, expect_nodes=nodes)
                samples[name].append(sample)
                if not quiet:
                    print(
                        f"  {name:9} run {rep + 1}/{repeats}: {sample.seconds:6.2f} s, "
                        f"{sample.peak_rss_bytes / 1e6:7.1f} MB peak, run {sample.run_bytes / 1e6:.3f} MB",
                        file=sys.stderr,
                    )
                shutil.rmtree(logdir.parent, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Report(
        graph=graph,
        graph_bytes=graph.stat().st_size,
        graph_nodes=nodes,
        repeats=repeats,
        codelab=ToolResult("codelab (TF)", commands["codelab"], tuple(samples["codelab"])),
        inspector=ToolResult("inspector", commands["inspector"], tuple(samples["inspector"])),
    )


def _generate(path: Path, *, quiet: bool) -> None:
    if not quiet:
        print(f"generating {path.relative_to(ROOT)} with keras_frozen('InceptionV3') ...", file=sys.stderr)
    # In a child so this process never imports TensorFlow.
    done = subprocess.run(
        [sys.executable, "-c", _GENERATE, str(path)], cwd=ROOT, env=_child_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    if done.returncode != 0:
        raise BenchError(f"generating {path} failed:\n{done.stderr[-2000:]}")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _measure(command: tuple[str, ...], logdir: Path, graph: Path, *, expect_nodes: int) -> Sample:
    argv = [*command, str(logdir), str(graph)]
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *argv], cwd=ROOT, env=_child_env(),
            stdout=subprocess.PIPE, stderr=errors,
        )
        try:
            measured = json.loads(done.stdout)
        except ValueError:
            measured = None
        if done.returncode != 0 or measured is None or measured["exit"] != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            code = measured["exit"] if measured else done.returncode
            raise BenchError(f"{' '.join(argv)} exited with {code}:\n{tail}")
    run_bytes = sum(p.stat().st_size for p in logdir.rglob("*") if p.is_file())
    logged = _nodes_logged(logdir)
    if logged != expect_nodes:
        raise BenchError(f"{' '.join(argv)}: the run holds a graph of {logged} nodes, expected {expect_nodes}")
    # Linux reports ru_maxrss in KiB.
    return Sample(
        seconds=measured["seconds"], peak_rss_bytes=measured["maxrss_kib"] * 1024,
        run_bytes=run_bytes, nodes_logged=logged,
    )


def _nodes_logged(logdir: Path) -> int:
    """Node count of the last graph in the run's event files, read as TFRecords without TensorFlow."""
    nodes = -1
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            record = data[offset + 12 : offset + 12 + length]
            offset += 12 + length + 4
            event = Event.FromString(record)
            if event.HasField("graph_def"):
                nodes = len(GraphDef.FromString(event.graph_def).node)
    return nodes


def _as_json(report: Report) -> dict:
    def tool(result: ToolResult) -> dict:
        return {
            "command": list(result.command),
            "median_seconds": result.median_seconds,
            "peak_rss_bytes": result.peak_rss_bytes,
            "run_bytes": result.run_bytes,
            "run_percent_of_graph": 100.0 * result.run_bytes / report.graph_bytes,
            "samples": [asdict(s) for s in result.samples],
        }

    return {
        "graph": str(report.graph),
        "graph_bytes": report.graph_bytes,
        "graph_nodes": report.graph_nodes,
        "repeats": report.repeats,
        "codelab": tool(report.codelab),
        "inspector": tool(report.inspector),
        "speedup": report.speedup,
        "memory_ratio": report.memory_ratio,
        "log_percent": report.log_percent,
        "targets": {
            "speedup_min": TARGET_SPEEDUP,
            "memory_ratio_max": TARGET_MEMORY_RATIO,
            "log_percent_max": TARGET_LOG_PERCENT,
            "met": report.targets(),
        },
    }


def _print_table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    try:
        shown = report.graph.relative_to(ROOT)
    except ValueError:
        shown = report.graph
    table = Table(
        title=f"{shown}: {report.graph_bytes / 1e6:.1f} MB, {report.graph_nodes:,} nodes -> TensorBoard run "
        f"(median of {report.repeats})",
    )
    table.add_column("tool")
    table.add_column("wall s", justify="right")
    table.add_column("runs (s)", justify="right")
    table.add_column("peak RSS MB", justify="right")
    table.add_column("run size", justify="right")
    table.add_column("% of graph", justify="right")
    for result in (report.codelab, report.inspector):
        table.add_row(
            result.name,
            f"{result.median_seconds:.2f}",
            " ".join(f"{s.seconds:.2f}" for s in result.samples),
            f"{result.peak_rss_bytes / 1e6:.0f}",
            _size(result.run_bytes),
            f"{100.0 * result.run_bytes / report.graph_bytes:.2f}%",
        )
    console.print(table)

    met = report.targets()
    goals = Table(title="targets")
    goals.add_column("measure")
    goals.add_column("value", justify="right")
    goals.add_column("target", justify="right")
    goals.add_column("met")
    goals.add_row("speed-up (codelab s / inspector s)", f"{report.speedup:.1f}x", f">= {TARGET_SPEEDUP:.0f}x", _yes(met["speedup_at_least_10x"]))
    goals.add_row("memory (inspector / codelab peak RSS)", f"{report.memory_ratio:.3f}", f"<= {TARGET_MEMORY_RATIO}", _yes(met["memory_at_most_quarter"]))
    goals.add_row("inspector run size / graph size", f"{report.log_percent:.3f}%", f"< {TARGET_LOG_PERCENT:.0f}%", _yes(met["log_under_1_percent"]))
    console.print(goals)


def _yes(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]no[/red]"


def _size(n: int) -> str:
    if n < 1_000_000:
        return f"{n / 1000:.1f} KB"
    return f"{n / 1e6:.1f} MB"


if __name__ == "__main__":
    sys.exit(main())
