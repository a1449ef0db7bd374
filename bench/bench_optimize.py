"""Benchmark: inference latency after TensorFlow's optimize_for_inference, Grappler offline and inspector's optimizer.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_optimize.py                  # rich tables + the README's markdown
    .venv/bin/python bench/bench_optimize.py --json           # machine-readable
    .venv/bin/python bench/bench_optimize.py --only poets_224 --runs 300
    .venv/bin/python bench/bench_optimize.py --threads 2 --mode raw
    .venv/bin/python bench/bench_optimize.py --save /tmp/bench_optimize.json   # tables, and the JSON too

The graphs: every frozen graph under ``../shared/fixtures/graphs/`` (see its
MANIFEST.md), plus three the project builds with Keras 3 and random weights
(``inspector.graph.samples``): MobileNet at 224 px, InceptionV3 at 299 px (read from
``bench/.cache/inception_v3_frozen.pb``, built and cached there when missing,
as ``bench/bench_tb.py`` does) and the tiny ``keras_conv_bn``.

For each graph the three tools each make an optimized graph from the original:

* ``tf``: ``inspector.optimizer.baselines.tensorflow_optimize``, TensorFlow's
  ``optimize_for_inference`` exactly as the codelab runs it;
* ``grappler``: ``inspector.optimizer.baselines.grappler_optimize``, Grappler run offline
  with its constant-folding and arithmetic optimizers (the graph it writes, not
  what a Session does at run time);
* ``inspector``: ``inspector.optimizer.pipeline.optimize`` with its defaults
  (``strip_dropout=False``, so the dropout_active graph keeps its random dropout:
  its outputs change from run to run, which does not matter for latency).

The four graphs (original and three optimized) are then timed in one process,
each in its own ``tf.compat.v1.Session`` with ``--threads`` intra- and inter-op
threads (default 1: far steadier on a shared machine, and closer to a phone's
one big core), all fed the same random image. After warm-up (the first runs
allocate, and in ``default`` mode run Grappler), the four are run round-robin,
one run each per round, the order rotating every round so no graph always
follows the same one; a slow moment of the machine hits the whole round. The
number of rounds is ``--runs`` or, by default, what fits ``--budget`` seconds
per graph and mode (at least 20, at most 200).

Each graph is timed in two session modes:

* ``raw``: TensorFlow's run-time graph rewriting off (``rewrite_options.
  disable_meta_optimizer`` and ``optimizer_options.opt_level = L0``, i.e. no
  Grappler, no classic constant folding or CSE): each graph costs what its
  nodes cost, as on a phone, where TFLite and TF Mobile run the graph they are
  given. This is the table that says what an optimizer's graph is worth.
* ``default``: TensorFlow's default session settings (Grappler and the classic
  optimizer rewrite every graph when the session first runs it), what a desktop
  user of ``label_image`` gets. Run-time Grappler already folds much of what the
  offline tools fold, so the differences shrink.

Reported per graph and mode: node counts, median milliseconds of each graph,
each tool's speed-up (median original / median optimized) with a 95% bootstrap
interval (rounds resampled whole, seeded) and the interquartile range of the
per-round ratios, and the verdict for inspector against the faster of the other
two: ``tie`` when the two tools' speed-up intervals overlap (within noise),
else ``faster`` or ``slower``; shown with the ratio median(best other) /
median(inspector) and its paired bootstrap interval (rounds resampled whole),
which is narrower. Both intervals only hold this run's noise: the machine's
load drifts between runs by a few percent, so a one-off ``slower`` within 2-3%
needs a second run before it means anything. Each optimized graph's output on the timing input is
also compared with the original's (``max |diff|``; dropout_active's is random).
The load average before and after each graph is recorded. Exit code 0 unless a
graph cannot be built or run (2).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
# Run as a file, so the project root is not on sys.path by itself.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tensorboard.compat.proto.graph_pb2 import GraphDef  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "graphs"
INCEPTION_CACHE = ROOT / "bench" / ".cache" / "inception_v3_frozen.pb"
MOBILENET_SIZE = 224

TOOLS = ("tf", "grappler", "inspector")
GRAPHS = ("original",) + TOOLS
MODES = ("raw", "default")
TOOL_TITLES = {"original": "original", "tf": "TF optimize_for_inference", "grappler": "Grappler offline", "inspector": "inspector"}

DEFAULT_THREADS = 1
DEFAULT_BUDGET_S = 20.0
MIN_ROUNDS = 20
MAX_ROUNDS = 300
WARMUP_RUNS = 3          # per graph, alone (first-run allocation, run-time Grappler)
WARMUP_ROUNDS = 3        # then round-robin, untimed; their times size the run
SEED = 0
RESAMPLES = 2000


class BenchError(Exception):
    """A graph could not be built, optimized or run."""


# --- the graphs ---------------------------------------------------------------


@dataclass
class Case:
    """One original graph, its names and where it came from."""

    name: str
    source: str
    build: Callable[[], GraphDef]
    graph: GraphDef | None = None


def fixture_cases(folder: Path) -> list[Case]:
    cases = []
    for path in sorted(folder.rglob("*.pb")):
        name = f"{path.parent.relative_to(folder)}/{path.stem}"
        cases.append(Case(name=name, source=str(path), build=lambda path=path: _load(path)))
    return cases


def keras_cases() -> list[Case]:
    return [
        Case(f"keras/MobileNet_{MOBILENET_SIZE}", f"samples.keras_frozen('MobileNet', input_size={MOBILENET_SIZE})", _keras_mobilenet),
        Case("keras/InceptionV3_299", str(INCEPTION_CACHE.relative_to(ROOT)), _keras_inception),
        Case("keras/conv_bn", "samples.keras_conv_bn()", _keras_conv_bn),
    ]


def _load(path: Path) -> GraphDef:
    from inspector.graph.io import load_graph

    return load_graph(path).graph


def _keras_mobilenet() -> GraphDef:
    from inspector.graph.samples import keras_frozen

    return keras_frozen("MobileNet", input_size=MOBILENET_SIZE)


def _keras_inception() -> GraphDef:
    from inspector.graph.samples import keras_frozen, write_graph

    if not INCEPTION_CACHE.exists():
        write_graph(keras_frozen("InceptionV3"), INCEPTION_CACHE)
    return _load(INCEPTION_CACHE)


def _keras_conv_bn() -> GraphDef:
    from inspector.graph.samples import keras_conv_bn

    return keras_conv_bn()


# --- optimizing ---------------------------------------------------------------


@dataclass
class Optimized:
    graphs: dict[str, GraphDef]       # by GRAPHS name
    seconds: dict[str, float]         # each tool's optimization time
    input_name: str
    output_name: str


def optimize_all(graph: GraphDef, *, what: str) -> Optimized:
    from inspector.errors import InspectorError
    from inspector.optimizer.baselines import grappler_optimize, tensorflow_optimize
    from inspector.optimizer.pipeline import detect_names, optimize

    try:
        names = detect_names(graph, what=what)
    except InspectorError as exc:
        raise BenchError(str(exc)) from None
    inputs, outputs = names.inputs, names.outputs
    makers: dict[str, Callable[[], GraphDef]] = {
        "tf": lambda: tensorflow_optimize(graph, input_names=inputs, output_names=outputs),
        "grappler": lambda: grappler_optimize(graph, output_names=outputs),
        "inspector": lambda: optimize(graph, input_names=inputs, output_names=outputs, what=what).graph,
    }
    graphs: dict[str, GraphDef] = {"original": graph}
    seconds: dict[str, float] = {}
    for tool, make in makers.items():
        start = time.perf_counter()
        try:
            graphs[tool] = make()
        except Exception as exc:  # noqa: BLE001 - any failure: name the tool and its first line
            raise BenchError(f"{what}: {tool} failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from None
        seconds[tool] = time.perf_counter() - start
    return Optimized(graphs=graphs, seconds=seconds, input_name=inputs[0], output_name=outputs[0])


def op_histogram(graph: GraphDef) -> dict[str, int]:
    return dict(Counter(node.op for node in graph.node).most_common())


# --- timing -------------------------------------------------------------------


def session_config(mode: str, threads: int | None) -> Any:
    from inspector.graph import tfcompat

    tf = tfcompat.tf()
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
    if threads:
        config.intra_op_parallelism_threads = threads
        config.inter_op_parallelism_threads = threads
    if mode == "raw":
        # No Grappler at session creation, and no classic graph optimizer (constant
        # folding, CSE) either: the graph runs as written.
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        config.graph_options.optimizer_options.opt_level = tf.compat.v1.OptimizerOptions.L0
        config.graph_options.optimizer_options.do_constant_folding = False
        config.graph_options.optimizer_options.do_common_subexpression_elimination = False
    elif mode != "default":
        raise ValueError(mode)
    return config


class Timed:
    """One graph in its own Graph and Session."""

    def __init__(self, graph: GraphDef, *, input_name: str, output_name: str, config: Any, what: str) -> None:
        from inspector.graph import tfcompat

        tf = tfcompat.tf()
        self.what = what
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(tfcompat.to_tf(graph), name="")
        self.input = self.graph.get_tensor_by_name(f"{input_name}:0")
        self.output = self.graph.get_tensor_by_name(f"{output_name}:0")
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        # A callable skips Session.run's per-call fetch/feed parsing, the same for every graph.
        self.call = self.session.make_callable(self.output, feed_list=[self.input])

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.call(batch)

    def close(self) -> None:
        self.session.close()


# Tried in order on a graph whose input declares no image size (poets_pair's optimized graph).
PROBE_SIZES = (224, 128, 192, 160, 299, 96)


def declared_size(graph: GraphDef, input_name: str) -> tuple[int, int] | None:
    from inspector.optimizer.passes import tfrun

    info = tfrun.static_outputs(graph)
    shape = (info.get(input_name) or [(None, None)])[0][1]
    if shape and len(shape) == 4 and shape[1] and shape[2]:
        return int(shape[1]), int(shape[2])
    return None


def input_size(graph: GraphDef, input_name: str, output_name: str) -> tuple[tuple[int, int], bool]:
    """The image size the graph declares, else the first of PROBE_SIZES it runs on; and whether it was probed."""
    from inspector.run.images import random_batch

    size = declared_size(graph, input_name)
    if size is not None:
        return size, False
    timed = Timed(graph, input_name=input_name, output_name=output_name, config=session_config("default", None), what="probe")
    try:
        for side in PROBE_SIZES:
            batch = random_batch((side, side), rng=np.random.default_rng(SEED), mean=127.5, std=127.5)
            try:
                timed.run(batch)
            except Exception:  # noqa: BLE001 - the wrong size fails somewhere inside the graph
                continue
            return (side, side), True
    finally:
        timed.close()
    raise BenchError(f"{input_name} declares no image size and none of {PROBE_SIZES} runs")


@dataclass
class ModeResult:
    mode: str
    rounds: int
    samples_ms: dict[str, list[float]]                  # by GRAPHS name, one per round
    max_abs_diff: dict[str, float]                      # each tool's output vs the original's
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    seconds: float

    def median(self, name: str) -> float:
        return statistics.median(self.samples_ms[name])

    def quartiles(self, name: str) -> tuple[float, float]:
        values = np.asarray(self.samples_ms[name])
        return float(np.quantile(values, 0.25)), float(np.quantile(values, 0.75))

    def ratio(self, a: str, b: str) -> float:
        """median(a) / median(b): above 1, b is faster."""
        return self.median(a) / self.median(b)

    def ratio_ci(self, a: str, b: str) -> tuple[float, float]:
        from inspector.run.latency import bootstrap_ratio_ci

        return bootstrap_ratio_ci(self.samples_ms[a], self.samples_ms[b], seed=SEED, resamples=RESAMPLES)

    def ratio_iqr(self, a: str, b: str) -> tuple[float, float]:
        per_round = np.asarray(self.samples_ms[a]) / np.asarray(self.samples_ms[b])
        return float(np.quantile(per_round, 0.25)), float(np.quantile(per_round, 0.75))

    def best_other(self) -> str:
        return min(("tf", "grappler"), key=self.median)

    def verdict(self) -> tuple[str, float, tuple[float, float]]:
        """inspector against the faster of tf and grappler: (word, median(best)/median(inspector), its paired interval).

        The word compares the two speed-up intervals: "tie" when they overlap.
        """
        best = self.best_other()
        ratio = self.ratio(best, "inspector")
        low, high = self.ratio_ci(best, "inspector")
        best_low, best_high = self.ratio_ci("original", best)
        ours_low, ours_high = self.ratio_ci("original", "inspector")
        word = "faster" if ours_low > best_high else "slower" if ours_high < best_low else "tie"
        return word, ratio, (low, high)

    def to_json(self) -> dict:
        word, ratio, ci = self.verdict()
        return {
            "mode": self.mode,
            "rounds": self.rounds,
            "seconds": self.seconds,
            "load_before": list(self.load_before),
            "load_after": list(self.load_after),
            "graphs": {
                name: {
                    "median_ms": self.median(name),
                    "q1_ms": self.quartiles(name)[0],
                    "q3_ms": self.quartiles(name)[1],
                    "min_ms": min(self.samples_ms[name]),
                    "samples_ms": self.samples_ms[name],
                }
                for name in GRAPHS
            },
            "speedup": {
                tool: {
                    "ratio": self.ratio("original", tool),
                    "ci95": list(self.ratio_ci("original", tool)),
                    "per_round_iqr": list(self.ratio_iqr("original", tool)),
                    "max_abs_diff": self.max_abs_diff[tool],
                }
                for tool in TOOLS
            },
            "inspector_vs_best": {
                "best_other": self.best_other(),
                "ratio": ratio,
                "ci95": list(ci),
                "verdict": word,
                "at_least_as_fast": word != "slower",
            },
        }


def time_mode(
    opt: Optimized, *, size: tuple[int, int], mode: str, threads: int | None, runs: int | None, budget_s: float, what: str,
    progress: Callable[[str], None],
) -> ModeResult:
    from inspector.run.images import random_batch

    config = session_config(mode, threads)
    batch = random_batch(size, rng=np.random.default_rng(SEED), mean=127.5, std=127.5)
    load_before = os.getloadavg()
    started = time.perf_counter()
    timed: dict[str, Timed] = {}
    try:
        for name in GRAPHS:
            try:
                timed[name] = Timed(opt.graphs[name], input_name=opt.input_name, output_name=opt.output_name, config=config, what=f"{what} ({name})")
            except Exception as exc:  # noqa: BLE001
                raise BenchError(f"{what}: the {name} graph does not load: {type(exc).__name__}: {exc}") from None
        outputs: dict[str, np.ndarray] = {}
        for name in GRAPHS:
            for _ in range(WARMUP_RUNS):
                try:
                    outputs[name] = np.asarray(timed[name].run(batch), dtype=np.float64).reshape(-1)
                except Exception as exc:  # noqa: BLE001
                    raise BenchError(f"{what}: the {name} graph does not run: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        diffs = {
            tool: float(np.max(np.abs(outputs[tool] - outputs["original"]))) if outputs[tool].shape == outputs["original"].shape else float("inf")
            for tool in TOOLS
        }
        warm = _rounds(timed, batch, WARMUP_ROUNDS, offset=0)
        round_s = sum(statistics.median(v) for v in warm.values()) / 1000.0
        rounds = runs if runs is not None else int(min(MAX_ROUNDS, max(MIN_ROUNDS, budget_s / max(round_s, 1e-6))))
        progress(f"{what} [{mode}]: {rounds} rounds of ~{round_s * 1000:.1f} ms")
        samples = _rounds(timed, batch, rounds, offset=WARMUP_ROUNDS)
    finally:
        for t in timed.values():
            t.close()
    return ModeResult(
        mode=mode, rounds=rounds, samples_ms=samples, max_abs_diff=diffs,
        load_before=load_before, load_after=os.getloadavg(), seconds=time.perf_counter() - started,
    )


def _rounds(timed: dict[str, Timed], batch: np.ndarray, rounds: int, *, offset: int) -> dict[str, list[float]]:
    """``rounds`` round-robin rounds, one run of each graph; the order rotates by one every round."""
    names = list(GRAPHS)
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection mid-run would land on whichever graph happened to be running
    try:
        for r in range(rounds):
            shift = (r + offset) % len(names)
            for name in names[shift:] + names[:shift]:
                call = timed[name].call
                start = clock()
                call(batch)
                samples[name].append((clock() - start) / 1e6)
    finally:
        if enabled:
            gc.enable()
    return samples


# --- the whole run ------------------------------------------------------------


@dataclass
class CaseResult:
    name: str
    source: str
    input_name: str
    output_name: str
    input_size: tuple[int, int]
    size_probed: bool
    nodes: dict[str, int]
    ops: dict[str, dict[str, int]]
    optimize_seconds: dict[str, float]
    modes: dict[str, ModeResult] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "input_name": self.input_name,
            "output_name": self.output_name,
            "input_size": list(self.input_size),
            "input_size_probed": self.size_probed,
            "nodes": self.nodes,
            "ops": self.ops,
            "optimize_seconds": self.optimize_seconds,
            "modes": {mode: result.to_json() for mode, result in self.modes.items()},
        }


def run_case(case: Case, *, modes: tuple[str, ...], threads: int | None, runs: int | None, budget_s: float,
             progress: Callable[[str], None]) -> CaseResult:
    progress(f"{case.name}: building and optimizing")
    graph = case.build()
    opt = optimize_all(graph, what=case.name)
    size, probed = input_size(graph, opt.input_name, opt.output_name)
    if probed:
        progress(f"  {opt.input_name} declares no size; it runs on {size[0]}x{size[1]}")
    result = CaseResult(
        name=case.name, source=case.source, input_name=opt.input_name, output_name=opt.output_name,
        input_size=size, size_probed=probed,
        nodes={name: len(opt.graphs[name].node) for name in GRAPHS},
        ops={name: op_histogram(opt.graphs[name]) for name in GRAPHS},
        optimize_seconds=opt.seconds,
    )
    # Inception's budget is the same in seconds, so it gets fewer (but at least MIN_ROUNDS) rounds.
    for mode in modes:
        result.modes[mode] = time_mode(opt, size=size, mode=mode, threads=threads, runs=runs, budget_s=budget_s, what=case.name, progress=progress)
        m = result.modes[mode]
        progress(
            f"  {mode}: " + ", ".join(f"{n} {m.median(n):.2f} ms" for n in GRAPHS)
            + f"; inspector vs best: {m.verdict()[0]} ({m.verdict()[1]:.3f}); load {m.load_after[0]:.2f}"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/bench_optimize.py",
        description="Latency of each graph optimized by TensorFlow's tool, Grappler offline and inspector, timed round-robin.",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--save", type=Path, default=None, metavar="FILE", help="also write the JSON results to FILE")
    parser.add_argument("--runs", type=int, default=None, help=f"timed rounds per graph and mode (default: what fits --budget, {MIN_ROUNDS}-{MAX_ROUNDS})")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help=f"seconds of timing per graph and mode when --runs is not given (default {DEFAULT_BUDGET_S:g})")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only graphs whose name contains NAME (repeatable, or comma-separated)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"intra- and inter-op threads of every Session (default {DEFAULT_THREADS}; 0: TensorFlow's default)")
    parser.add_argument("--mode", choices=MODES + ("both",), default="both", help="session mode: raw (no run-time graph rewriting), default (TensorFlow's), or both (default)")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help=f"folder of frozen graphs (default: {FIXTURES})")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras-built graphs")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.threads < 0:
        parser.error("--threads must be 0 or more")
    modes = MODES if args.mode == "both" else (args.mode,)
    threads = args.threads or None

    cases = (fixture_cases(args.fixtures) if args.fixtures.is_dir() else []) + ([] if args.no_keras else keras_cases())
    wanted = [w.strip() for item in args.only for w in item.split(",") if w.strip()]
    if wanted:
        cases = [c for c in cases if any(w.lower() in c.name.lower() for w in wanted)]
    if not cases:
        print("error: no graph to benchmark (check --fixtures and --only)", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        if not args.json:
            print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_start = os.getloadavg()
    results: list[CaseResult] = []
    try:
        for case in cases:
            results.append(run_case(case, modes=modes, threads=threads, runs=args.runs, budget_s=args.budget, progress=progress))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    conditions = {
        "threads": threads,
        "modes": list(modes),
        "runs": args.runs,
        "budget_s": args.budget,
        "load_start": list(load_start),
        "load_end": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "seconds": time.perf_counter() - started,
        "tensorflow": _tf_version(),
    }
    document = {"conditions": conditions, "graphs": [r.to_json() for r in results]}
    if args.save is not None:
        args.save.write_text(json.dumps(document, indent=2) + "\n")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        _print_tables(results, modes, conditions)
    return 0


def _tf_version() -> str:
    from inspector.graph import tfcompat

    return tfcompat.tf().__version__


# --- output -------------------------------------------------------------------


def _ratio_cell(m: ModeResult, tool: str) -> str:
    low, high = m.ratio_ci("original", tool)
    return f"{m.ratio('original', tool):.2f} ({low:.2f}-{high:.2f})"


def _verdict_cell(m: ModeResult, *, markup: bool) -> str:
    word, ratio, (low, high) = m.verdict()
    best = "TF" if m.best_other() == "tf" else "Grappler"
    text = f"{word}: {ratio:.2f}x {best} ({low:.2f}-{high:.2f})"
    if markup:
        colour = {"faster": "green", "tie": "yellow", "slower": "red"}[word]
        return f"[{colour}]{text}[/{colour}]"
    return f"**{word}**: {ratio:.2f}x {best} ({low:.2f}-{high:.2f})" if word != "tie" else text


def _threads_text(threads: int | None) -> str:
    return "TensorFlow's default threads" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}"


def _mode_title(mode: str) -> str:
    return {
        "raw": "run-time graph rewriting off (no Grappler, opt_level L0): the graph as written, as on a phone",
        "default": "TensorFlow's default session (Grappler rewrites every graph at run time), as on a desktop",
    }[mode]


def _print_tables(results: list[CaseResult], modes: tuple[str, ...], conditions: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    # Wide tables: a pipe or a file gets them whole instead of squeezed to 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=240)
    for mode in modes:
        table = Table(title=f"[{mode}] {_mode_title(mode)}; {_threads_text(conditions['threads'])}", title_justify="left")
        table.add_column("graph")
        table.add_column("nodes orig/tf/grap/insp", justify="right")
        table.add_column("rounds", justify="right")
        for name in GRAPHS:
            table.add_column(f"{name} ms", justify="right")
        for tool in TOOLS:
            table.add_column(f"speed-up {tool} (95% CI)", justify="right")
        table.add_column("inspector vs best other", justify="left")
        for r in results:
            m = r.modes[mode]
            table.add_row(
                r.name,
                "/".join(str(r.nodes[n]) for n in GRAPHS),
                str(m.rounds),
                *[f"{m.median(n):.2f}" for n in GRAPHS],
                *[_ratio_cell(m, t) for t in TOOLS],
                _verdict_cell(m, markup=True),
            )
        console.print(table)
        spreads = Table(title=f"[{mode}] spread: IQR of the per-round ratios original/optimized; output check", title_justify="left")
        spreads.add_column("graph")
        for tool in TOOLS:
            spreads.add_column(f"{tool} IQR", justify="right")
        for tool in TOOLS:
            spreads.add_column(f"{tool} max |diff|", justify="right")
        spreads.add_column("load before/after", justify="right")
        for r in results:
            m = r.modes[mode]
            spreads.add_row(
                r.name,
                *[f"{a:.2f}-{b:.2f}" for a, b in (m.ratio_iqr("original", t) for t in TOOLS)],
                *[f"{m.max_abs_diff[t]:.1e}" for t in TOOLS],
                f"{m.load_before[0]:.2f}/{m.load_after[0]:.2f}",
            )
        console.print(spreads)

    verdicts = [(r.name, mode, r.modes[mode].verdict()[0]) for r in results for mode in modes]
    slower = [f"{name} [{mode}]" for name, mode, word in verdicts if word == "slower"]
    console.print(
        f"inspector at least as fast as the best of TF and Grappler (tie: their 95% intervals overlap): "
        f"{sum(w != 'slower' for _, _, w in verdicts)}/{len(verdicts)}"
        + (f"; slower on {', '.join(slower)}" if slower else "")
    )
    console.print(
        f"{conditions['cpus']} CPUs, {_threads_text(conditions['threads'])}, TensorFlow {conditions['tensorflow']}, "
        f"load {conditions['load_start'][0]:.2f} -> {conditions['load_end'][0]:.2f}, {conditions['seconds']:.0f} s in all"
    )
    print()
    print(markdown(results, modes, conditions))


def markdown(results: list[CaseResult], modes: tuple[str, ...], conditions: dict) -> str:
    """The README's tables: one per session mode."""
    lines: list[str] = []
    for mode in modes:
        lines.append(f"*{mode}*: {_mode_title(mode)}; {_threads_text(conditions['threads'])}, median ms over the rounds, "
                     "speed-up = original / optimized (95% bootstrap interval).")
        lines.append("")
        lines.append("| graph | nodes orig / TF / Grappler / inspector | rounds | original ms | TF ms | Grappler ms | inspector ms "
                     "| speed-up TF | speed-up Grappler | speed-up inspector | inspector vs best other |")
        lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
        for r in results:
            m = r.modes[mode]
            lines.append(
                f"| {r.name} | {' / '.join(str(r.nodes[n]) for n in GRAPHS)} | {m.rounds} | "
                + " | ".join(f"{m.median(n):.2f}" for n in GRAPHS) + " | "
                + " | ".join(_ratio_cell(m, t) for t in TOOLS) + " | "
                + _verdict_cell(m, markup=False) + " |"
            )
        lines.append("")
    lines.append(
        f"{conditions['cpus']} CPUs, TensorFlow {conditions['tensorflow']}, {_threads_text(conditions['threads'])} per Session, "
        f"load average {conditions['load_start'][0]:.2f} at the start and {conditions['load_end'][0]:.2f} at the end; "
        "inspector vs best other: tie when the two speed-up intervals overlap, else faster or slower; "
        "the figure is median(best other) / median(inspector) with its paired 95% bootstrap interval."
    )
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
