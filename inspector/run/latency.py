"""How much faster is b than a: median inference latency of two graphs, measured interleaved on one input."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph
from inspector.run.feeds import Feed, InputOption
from inspector.run.inputs import image_size_for
from inspector.run.runners import Inputs, Runner, graph_pair
from inspector.run.samples import samples

# One intra-op and one inter-op thread by default: slower than TensorFlow's
# one-thread-per-core default, but run-to-run spread drops several-fold (no
# thread-pool scheduling noise, no contention with the other graph's session),
# and a phone runs a classifier on one or a few cores anyway.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class GraphTiming:
    """One graph's latencies, in milliseconds."""

    path: Path
    input_name: str
    output_name: str
    samples_ms: tuple[float, ...]
    input_names: tuple[str, ...] = ()  # every input fed per run

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def q1_ms(self) -> float:
        return _quantile(self.samples_ms, 0.25)

    @property
    def q3_ms(self) -> float:
        return _quantile(self.samples_ms, 0.75)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "input_name": self.input_name,
            "input_names": list(self.input_names or (self.input_name,)),
            "output_name": self.output_name,
            "output_names": [self.output_name],
            "median_ms": self.median_ms,
            "q1_ms": self.q1_ms,
            "q3_ms": self.q3_ms,
            "min_ms": self.min_ms,
            "samples_ms": list(self.samples_ms),
        }


@dataclass(frozen=True)
class BenchReport:
    """Latency of a and b and how they compare.

    ``ratio`` is median(a) / median(b): above 1, b is faster. Its spread is
    given two ways: ``ratio_ci`` is a 95% bootstrap interval for that ratio
    (pairs resampled together, seeded), which decides the verdict; ``ratio_q1``
    and ``ratio_q3`` are the interquartile range of the per-pair ratios a_i / b_i,
    how much a single measurement moves. Pairs ran back to back, so a slow
    moment of the machine hits both halves of a pair and cancels in its ratio.
    """

    a: GraphTiming
    b: GraphTiming
    runs: int
    warmup: int
    threads: int | None
    input: str  # the image's path, or "random (seed N)"
    input_size: tuple[int, int] | None  # None: no image input
    ratio_ci: tuple[float, float]
    notes: tuple[str, ...] = ()

    @property
    def pair_ratios(self) -> tuple[float, ...]:
        return tuple(x / y for x, y in zip(self.a.samples_ms, self.b.samples_ms) if y > 0)

    @property
    def ratio(self) -> float:
        return self.a.median_ms / self.b.median_ms if self.b.median_ms > 0 else float("inf")

    @property
    def ratio_q1(self) -> float:
        return _quantile(self.pair_ratios, 0.25)

    @property
    def ratio_q3(self) -> float:
        return _quantile(self.pair_ratios, 0.75)

    @property
    def message(self) -> str:
        low, high = self.ratio_ci
        spread = f"ratio {self.ratio:.2f}, 95% interval {low:.2f}-{high:.2f}"
        if low <= 1.0 <= high:
            verdict = "no clear difference"
        elif self.ratio > 1:
            verdict = f"b is {self.ratio:.2f}x as fast as a"
        else:
            verdict = f"b is {1 / self.ratio:.2f}x as slow as a"
        return (
            f"{verdict}: median {self.a.median_ms:.2f} ms (a) vs {self.b.median_ms:.2f} ms (b) "
            f"over {self.runs} interleaved runs ({spread})"
        )

    def to_json(self) -> dict:
        return {
            "message": self.message,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "ratio": self.ratio,
            "ratio_ci": list(self.ratio_ci),
            "ratio_q1": self.ratio_q1,
            "ratio_q3": self.ratio_q3,
            "runs": self.runs,
            "warmup": self.warmup,
            "threads": self.threads,
            "input": self.input,
            "input_size": list(self.input_size) if self.input_size is not None else None,
            "notes": list(self.notes),
        }


def bench(
    a: LoadedGraph,
    b: LoadedGraph,
    *,
    runs: int = 50,
    warmup: int = 5,
    seed: int = 0,
    image: Path | None = None,
    threads: int | None = DEFAULT_THREADS,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    inputs: Sequence[InputOption | str] = (),
    feeds: Sequence[Feed | str] = (),
    input_height: int | None = None,
    input_width: int | None = None,
    input_mean: float = 127.5,
    input_std: float = 127.5,
    progress: Callable[[int, int], None] | None = None,
    allow_unsafe_ops: bool = False,
) -> BenchReport:
    """Time ``a`` and ``b`` on the same input, alternating a, b, a, b... after ``warmup`` untimed pairs.

    Each graph has its own Session, created and warmed up before timing, so
    graph import and first-run allocation are not counted. The input is
    ``image`` (read as label_image does) or a random "photo" from ``seed``.
    ``threads`` fixes both thread pools of each Session (None: TensorFlow's
    default). ``progress(done, runs)`` is called after each timed pair. A graph holding
    an op the op policy refuses (graph/trust.py) is an InspectorError unless ``allow_unsafe_ops``.
    """
    if runs < 1:
        raise InspectorError(f"runs must be at least 1, not {runs}")
    if warmup < 0:
        raise InspectorError(f"warmup must be 0 or more, not {warmup}")
    if threads is not None and threads < 1:
        raise InspectorError(f"threads must be at least 1, not {threads}")
    with graph_pair(
        a, b, input_names=input_names, output_names=output_names, inputs=inputs, feeds=feeds, threads=threads,
        allow_unsafe_ops=allow_unsafe_ops,
    ) as (runner_a, runner_b):
        size, notes = image_size_for([runner_a, runner_b], input_height=input_height, input_width=input_width)
        notes = tuple(dict.fromkeys((*runner_a.plan.notes, *runner_b.plan.notes, *notes)))
        return bench_runners(
            runner_a, runner_b, size=size, image=image, seed=seed, mean=input_mean, std=input_std, runs=runs,
            warmup=warmup, threads=threads, progress=progress, notes=notes,
        )


def bench_runners(
    runner_a: Runner,
    runner_b: Runner,
    *,
    size: tuple[int, int] | None,
    image: Path | None = None,
    seed: int = 0,
    mean: float,
    std: float,
    runs: int,
    warmup: int,
    threads: int | None,
    progress: Callable[[int, int], None] | None = None,
    notes: tuple[str, ...] = (),
) -> BenchReport:
    """:func:`bench`'s measurement for two models already open (graphs, or a graph and a .tflite).

    The input is ``image`` read at ``size`` (to a's image input), else random data from
    ``seed``; ``warmup`` untimed pairs, then ``runs`` timed pairs a, b, a, b...
    """
    (sample,) = samples(runner_a.plan, files=[Path(image)] if image is not None else (), random_inputs=1, seed=seed,
                        size=size, mean=mean, std=std, what=runner_a.what)
    batch, source = sample.feeds, str(image) if image is not None else f"random (seed {seed})"
    for _ in range(warmup):
        runner_a.run(batch)
        runner_b.run(batch)
    times_a: list[float] = []
    times_b: list[float] = []
    for done in range(1, runs + 1):
        times_a.append(_time_ms(runner_a, batch))
        times_b.append(_time_ms(runner_b, batch))
        if progress is not None:
            progress(done, runs)
    return BenchReport(
        a=_timing(runner_a, times_a),
        b=_timing(runner_b, times_b),
        runs=runs,
        warmup=warmup,
        threads=threads,
        input=source,
        input_size=size,
        ratio_ci=bootstrap_ratio_ci(times_a, times_b, seed=seed),
        notes=notes,
    )


def _timing(runner: Runner, samples: list[float]) -> GraphTiming:
    path = runner.path if runner.path is not None else Path(runner.what)
    return GraphTiming(path, runner.input_name, runner.output_name, tuple(samples),
                       input_names=tuple(item.name for item in runner.plan.inputs))


def bootstrap_ratio_ci(
    times_a: list[float], times_b: list[float], *, seed: int, resamples: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval for median(a) / median(b), resampling whole pairs."""
    a, b = np.asarray(times_a), np.asarray(times_b)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(a), size=(resamples, len(a)))
    ratios = np.median(a[picks], axis=1) / np.median(b[picks], axis=1)
    tail = (1.0 - level) / 2
    return float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1.0 - tail))


def _time_ms(runner: Runner, batch: Inputs) -> float:
    start = time.perf_counter_ns()
    runner.run(batch)
    return (time.perf_counter_ns() - start) / 1e6


def _quantile(values: tuple[float, ...], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.quantile(np.asarray(values), q))


__all__ = ["bench", "bench_runners", "bootstrap_ratio_ci", "BenchReport", "GraphTiming", "DEFAULT_THREADS"]
