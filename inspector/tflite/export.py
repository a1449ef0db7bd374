"""Export a frozen graph as a .tflite, then check the file against the graph on the same inputs and time both."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from inspector.analysis.summary import Flag, summarize
from inspector.atomic import write_bytes_atomic
from inspector.errors import CheckFailed, InspectorError
from inspector.graph.io import LoadedGraph
from inspector.run.feeds import Feed, InputOption
from inspector.run.images import collect_images
from inspector.run.latency import DEFAULT_THREADS, BenchReport, bench_runners
from inspector.run.runners import GraphRunner, TFLiteRunner, one_name
from inspector.run.layers import LayersReport
from inspector.run.verify import VerifyReport, check_inputs, verify_runners
from inspector.tflite.check import (
    FLEX, UNSUPPORTED, OpIssue, convert_graph, converter_inputs, flags_held, issues_text, leftover_fix, mib,
)
from inspector.tflite.convert import QUANTIZE_MODES, Attempt, Quantize, check_quantize, tflite_ops

_QUANTIZE_WORDS = {"none": "float32", "dynamic": "dynamic-range quantized (8-bit weights)", "float16": "float16 weights"}


# A quantized .tflite whose probabilities move by more than this (one point) is traced layer by layer.
DRIFT_THRESHOLD = 0.01


@dataclass(frozen=True)
class ExportReport:
    """A .tflite written from a frozen graph, and how it compares with the graph on the same inputs.

    ``verify`` compares a = the graph with b = the .tflite; ``latency`` times them
    the same way (a = graph, b = .tflite), so its ratio above 1 means the .tflite is faster.
    """

    graph: Path
    tflite: Path
    quantize: str
    input_name: str
    output_name: str
    input_shape: tuple[int, ...]
    tflite_bytes: int
    gzip_bytes: int              # gzip -9 of the .tflite: what the app download grows by
    graph_bytes: int
    graph_gzip_bytes: int
    tflite_ops: dict[str, int]
    select_ops: tuple[str, ...]  # TensorFlow ops left for the Flex delegate (only with select_tf_ops)
    folded: tuple[str, ...]      # constant nodes computed in TensorFlow and stored as constants
    verify: VerifyReport | None  # None: the .tflite needs Select ops, which this interpreter cannot run
    latency: BenchReport | None
    flags: tuple[Flag, ...]      # training-only ops the graph (and so the .tflite) still has
    notes: tuple[str, ...]
    convert_seconds: float
    # Every input the .tflite takes and its shape, named as check and optimize name them.
    input_names: tuple[str, ...] = ()
    input_shapes: tuple[tuple[int, ...], ...] = ()
    # Where the .tflite's layers leave the graph's noise floor, when quantizing moved a probability past DRIFT_THRESHOLD.
    drift: LayersReport | None = None

    @property
    def max_abs_diff(self) -> float | None:
        return self.verify.max_abs_diff if self.verify is not None else None

    @property
    def top1_agreeing(self) -> int:
        return sum(1 for c in self.verify.inputs if c.same_top1) if self.verify is not None else 0

    @property
    def top1_agreement(self) -> float | None:
        """Share of the inputs on which the .tflite's best class is the graph's."""
        if self.verify is None or not self.verify.inputs:
            return None
        return self.top1_agreeing / len(self.verify.inputs)

    @property
    def ok(self) -> bool:
        """Unquantized: agrees within float32 rounding with the same top-1 everywhere. Quantized: both ran steadily (figures are reported, not judged)."""
        if self.verify is None:
            return False
        steady = self.verify.self_consistent_a and self.verify.self_consistent_b
        if self.quantize != "none":
            return steady
        return self.verify.ok and self.top1_agreeing == len(self.verify.inputs)

    @property
    def message(self) -> str:
        size = (f"{self.tflite} ({_QUANTIZE_WORDS[self.quantize]}, {mib(self.tflite_bytes)}, "
                f"{mib(self.gzip_bytes)} gzipped; the graph is {mib(self.graph_bytes)})")
        if self.verify is None:
            return (f"wrote {size}, which needs TensorFlow Select ops ({', '.join(self.select_ops)}); not verified: "
                    "this TensorFlow's Lite interpreter cannot run Select ops, so test it in the app")
        report = self.verify
        if not (report.self_consistent_a and report.self_consistent_b):
            diff = max(report.self_diff_a, report.self_diff_b)
            cause = (f"random ops still active ({', '.join(report.a.random_ops[:3])}): training dropout left in the graph"
                     if report.a.random_ops else "something in it is not deterministic")
            return (f"wrote {size}, but cannot verify it: two runs on the same input differ by up to {diff:.3g}; "
                    f"{cause}. Export the graph for inference (without dropout) and export again")
        count = len(report.inputs)
        what = (f"{count} random input{'s' if count != 1 else ''} (seed {report.seed})" if report.random_inputs
                else f"{count} image{'s' if count != 1 else ''}")
        top1 = f"same top-1 on {self.top1_agreeing} of {count}"
        speed = ""
        if self.latency is not None:
            speed = (f"; TensorFlow Lite {self.latency.b.median_ms:.2f} ms vs graph {self.latency.a.median_ms:.2f} ms "
                     f"per run")
        if self.quantize != "none":
            starts = ""
            first = self.drift.first_out if self.drift is not None else None
            if first is not None:
                starts = (f"; the layers leave the noise at {first.a} ({first.op}, {first.ratio:.3g}x its floor): "
                          f"inspector verify {self.graph} {self.tflite} --layers lists them")
            return (f"wrote {size}: same top-1 on {self.top1_agreeing} of {what}, largest probability difference {report.max_abs_diff:.3g} "
                    f"(quantized: not expected to agree {report.judged}){starts}{speed}")
        if self.ok:
            floor = f", noise floor {report.noise_floor:.2g}" if report.noise_floor is not None else ""
            return (f"wrote {size}: agrees with the graph {report.judged} on {what} "
                    f"(largest difference {report.max_abs_diff:.2g}{floor}), {top1}{speed}")
        worst = max(report.inputs, key=lambda c: c.max_abs_diff)
        return (f"wrote {size}, but it differs from the graph beyond {report.bound} on "
                f"{len(report.disagreeing)} of {what} (largest difference {worst.max_abs_diff:.3g}, on {worst.source}), "
                f"{top1}")

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "message": self.message,
            "graph": str(self.graph),
            "tflite": str(self.tflite),
            "quantize": self.quantize,
            "input_name": self.input_name,
            "input_names": list(self.input_names or (self.input_name,)),
            "input_shapes": [list(s) for s in self.input_shapes or (self.input_shape,)],
            "output_name": self.output_name,
            "output_names": [self.output_name],
            "input_shape": list(self.input_shape),
            "tflite_bytes": self.tflite_bytes,
            "gzip_bytes": self.gzip_bytes,
            "graph_bytes": self.graph_bytes,
            "graph_gzip_bytes": self.graph_gzip_bytes,
            "tflite_ops": dict(self.tflite_ops),
            "select_ops": list(self.select_ops),
            "folded": list(self.folded),
            "max_abs_diff": self.max_abs_diff,
            "top1_agreement": self.top1_agreement,
            "verify": self.verify.to_json() if self.verify is not None else None,
            "latency": self.latency.to_json() if self.latency is not None else None,
            "flags": [f.to_json() for f in self.flags],
            "notes": list(self.notes),
            "convert_seconds": self.convert_seconds,
            "drift": self.drift.to_json() if self.drift is not None else None,
        }


def export(
    loaded: LoadedGraph,
    out: Path | str,
    *,
    quantize: Quantize = "none",
    select_tf_ops: bool = False,
    images: Sequence[Path] = (),
    image_dirs: Sequence[Path] = (),
    random_inputs: int = 3,
    seed: int = 0,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    inputs: Sequence[InputOption | str] = (),
    feeds: Sequence[Feed | str] = (),
    input_height: int | None = None,
    input_width: int | None = None,
    input_mean: float = 127.5,
    input_std: float = 127.5,
    labels: Path | None = None,
    top_k: int = 3,
    latency_runs: int = 20,
    latency_warmup: int = 3,
    threads: int | None = DEFAULT_THREADS,
    progress: Callable[[int, int], None] | None = None,
    allow_unsafe_ops: bool = False,
) -> ExportReport:
    """Convert the graph to ``out`` (a .tflite, written atomically), then check it against the graph.

    ``quantize``: "none" keeps float32 weights; "dynamic" stores 8-bit weights
    (dynamic-range quantization); "float16" stores float16 weights. Ops without
    a builtin whose inputs are all constants (TF1's quantized-weight Dequantize)
    are computed in TensorFlow and stored as constants first. Other ops without
    a builtin are a CheckFailed unless ``select_tf_ops``, which keeps them as
    Select ops; such a .tflite cannot run here, so it is written but not verified.
    The conversion is check's (tflite/check.py: converter_inputs, convert_graph):
    a setting such as a dropout keep probability is stored at its inference value,
    and check's verdict and size are this .tflite's.

    ``inputs`` (``NAME[:SHAPE[:DTYPE]]``) name model inputs and the shapes to
    convert them at; ``feeds`` (``NAME=VALUE|FILE.npy``) are stored in the .tflite
    as constants, as the graph is fed them.

    The .tflite is then run on the same inputs as the graph, through verify
    (``images``/``image_dirs``, else ``random_inputs`` seeded "photos"), and both
    are timed ``latency_runs`` times, interleaved (0: no timing), with
    ``threads`` threads each. ``progress(done, total)`` is called after each
    compared input, then after each timed pair. A graph holding an op the op policy
    refuses (graph/trust.py) is an InspectorError before anything is converted or
    written, unless ``allow_unsafe_ops``; even then, nothing unsafe is folded.
    """
    check_quantize(quantize)
    if latency_runs < 0 or latency_warmup < 0:
        raise InspectorError(f"latency runs and warm-up must be 0 or more, not {latency_runs} and {latency_warmup}")
    if threads is not None and threads < 1:
        raise InspectorError(f"threads must be at least 1, not {threads}")
    out = Path(out)
    what = str(loaded.path)
    files = collect_images(images, image_dirs)
    if not files and random_inputs < 1:
        raise InspectorError("nothing to compare: no image given and random inputs set to 0; pass --image or --random N")
    output_name = one_name(output_names, "--output_names")
    options = [InputOption.parse(o) for o in inputs]
    given_feeds = [Feed.parse(f) for f in feeds]

    with GraphRunner(
        loaded, input_names=input_names, output_name=output_name, inputs=options, feeds=given_feeds, threads=threads,
        what=f"graph ({what})", allow_unsafe_ops=allow_unsafe_ops,
    ) as graph_runner:
        # What the converter is given, and how it converts, are check's: the two never disagree.
        shaped = {o.name.removesuffix(":0") for o in options if o.shape is not None}
        shapes = {item.name: item.shape for item in graph_runner.plan.inputs if item.name in shaped and item.shape is not None}
        given = converter_inputs(loaded, graph_runner.signature, inputs=[i.name for i in graph_runner.plan.inputs],
                                 outputs=(graph_runner.output_name,), feeds={f.name: f.value for f in given_feeds},
                                 shapes=shapes, input_height=input_height, input_width=input_width)
        shape = dict(given.inputs).get(graph_runner.input_name, given.inputs[0][1] if given.inputs else ())
        if graph_runner.plan.image is not None and len(shape) == 4:
            # A bad image or labels file is found now, not after the .tflite is written.
            check_inputs(graph_runner, files, labels=labels, size=(shape[1], shape[2]), mean=input_mean, std=input_std)
        notes: list[str] = list(given.notes)
        made = convert_graph(loaded, given, quantize=quantize, what=what)
        attempt = Attempt(model=made.model)
        if made.folded:
            notes.append(
                f"computed {len(made.folded)} constant {'/'.join(sorted({i.op for i in made.issues}))} node(s) in "
                "TensorFlow and stored the results: TensorFlow Lite has no builtin for them"
            )
        if attempt.model is None:
            select = made.select or Attempt(model=None)
            if select_tf_ops and select.model is not None:
                attempt = select
            else:
                leftovers = [f for f in flags_held(loaded.graph, summarize(loaded).flags, given) if f.training_only]
                raise _not_convertible(loaded.path, made.issues, made.first, select, select_tf_ops=select_tf_ops,
                                       leftovers=leftovers)
        folded = made.folded
        convert_seconds = made.seconds
        model = attempt.model
        assert model is not None
        write_bytes_atomic(out, model, refuse=(loaded.path,))
        ops = tflite_ops(model)
        select_ops = tuple(sorted(op.removeprefix("Flex") for op in ops if op.startswith("Flex")))
        # The graph as loaded, not a second (unbounded) read of its file: the same message, the same bytes to gzip.
        graph_bytes = loaded.graph.SerializeToString(deterministic=True)
        common = dict(
            graph=loaded.path, tflite=out, quantize=quantize, input_name=graph_runner.input_name,
            output_name=graph_runner.output_name, input_shape=shape, tflite_bytes=len(model),
            gzip_bytes=_gzip_size(model), graph_bytes=loaded.size_bytes, graph_gzip_bytes=_gzip_size(graph_bytes),
            tflite_ops=ops, select_ops=select_ops, folded=folded,
            input_names=tuple(name for name, _ in given.inputs), input_shapes=tuple(tuple(s) for _, s in given.inputs),
            flags=flags_held(loaded.graph, summarize(loaded).training_flags, given), convert_seconds=convert_seconds,
        )
        if select_ops:
            return ExportReport(verify=None, latency=None, notes=tuple(notes), **common)

        # Read back from disk: what is verified is the file the app will ship.
        with TFLiteRunner(
            out, input_name=graph_runner.input_name, output_name=graph_runner.output_name, threads=threads,
            what=f"tflite ({out})", random_ops=graph_runner.random_ops,
        ) as tflite_runner:
            report = verify_runners(
                graph_runner, tflite_runner, images=files, labels=labels, top_k=top_k,
                random_inputs=random_inputs, seed=seed, input_height=input_height, input_width=input_width,
                input_mean=input_mean, input_std=input_std, progress=progress,
            )
            latency = None
            if latency_runs > 0:
                latency = bench_runners(
                    graph_runner, tflite_runner, size=report.input_size, image=files[0] if files else None, seed=seed,
                    mean=input_mean, std=input_std, runs=latency_runs, warmup=latency_warmup, threads=threads,
                    progress=progress,
                )
    drift = None
    # A graph that draws random values has no noise floor per layer to trace against (layers.py refuses it).
    if quantize != "none" and report.max_abs_diff > DRIFT_THRESHOLD and not graph_runner.random_ops:
        # Quantizing moved a probability by more than a point: say which layer it starts at.
        from inspector.run.layers import layers

        drift = layers(loaded, out, images=files, random_inputs=random_inputs, seed=seed, input_names=input_names,
                       output_names=output_names, inputs=inputs, feeds=feeds, input_height=input_height,
                       input_width=input_width, input_mean=input_mean, input_std=input_std, allow_unsafe_ops=allow_unsafe_ops)
    # The values the graph is fed every run are stored in the .tflite: the conversion's notes say so once.
    fed_notes = set(graph_runner.plan.notes)
    return ExportReport(verify=report, latency=latency, notes=tuple(notes) + tuple(n for n in report.notes if n not in fed_notes),
                        drift=drift, **common)


def _not_convertible(
    path: Path, issues: Sequence[OpIssue], builtin: Attempt, select: Attempt, *, select_tf_ops: bool,
    leftovers: Sequence[Flag] = (),
) -> CheckFailed:
    """Why there is no .tflite; ops only left from training (``leftovers``) are told to be stripped, as check tells it."""
    unsupported = [i for i in issues if i.status == UNSUPPORTED]
    flex = [i for i in issues if i.status == FLEX]
    if unsupported:
        fix = leftover_fix(issues, leftovers, then="export that graph") or "; build the model without them"
        return CheckFailed(
            f"{path}: cannot convert to TensorFlow Lite: {issues_text(unsupported, UNSUPPORTED)} neither a builtin "
            f"nor a Select op{fix}"
        )
    if flex and not select_tf_ops:
        fix = leftover_fix(issues, leftovers, then="export that graph")
        if fix:
            return CheckFailed(f"{path}: TensorFlow Lite has no builtin for {issues_text(flex, FLEX)}{fix} "
                               "(--select_tf_ops would keep them, for the app to link)")
        return CheckFailed(
            f"{path}: TensorFlow Lite has no builtin for {issues_text(flex, FLEX)}; pass --select_tf_ops to export "
            "with TensorFlow Select ops (the app must link tensorflow-lite-select-tf-ops)"
        )
    failure = select.failure if select_tf_ops and select.failure else builtin.failure
    return CheckFailed(f"{path}: the TensorFlow Lite converter fails: {failure or 'no reason given'}")


def _gzip_size(data: bytes) -> int:
    # mtime=0: the size must not depend on the clock (the header is fixed-size anyway).
    return len(gzip.compress(data, compresslevel=9, mtime=0))



__all__ = ["export", "ExportReport", "QUANTIZE_MODES", "Quantize"]
