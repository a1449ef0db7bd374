"""Will it load on the phone: TensorFlow Lite conversion of a frozen graph, which ops stop it, and export with verification."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.graph import tfcompat
from inspector.atomic import write_bytes_atomic
from inspector.errors import CheckFailed, InspectorError
from inspector.graph.io import LoadedGraph
from inspector.graph.refs import node_of
from inspector.run.latency import DEFAULT_THREADS, BenchReport, GraphTiming, bootstrap_ratio_ci
from inspector.run.runners import GraphRunner, TFLiteRunner, one_name, random_batch, read_image
from inspector.graph.ops import FEED_OPS, is_random
from inspector.graph.refs import upstream
from inspector.graph.stats import placeholder_spec
from inspector.analysis.summary import Flag, GraphSummary, summarize
from inspector.run.verify import VerifyReport, check_inputs, collect_images, verify_runners

Quantize = Literal["none", "dynamic", "float16"]
QUANTIZE_MODES: tuple[str, ...] = ("none", "dynamic", "float16")

# OpIssue.status values.
FLEX = "flex"                # no builtin, but TensorFlow Select ops (the Flex delegate) run it
UNSUPPORTED = "unsupported"  # neither: the app would need a custom op

# Node names listed per op issue; the count says how many there are in all.
MAX_ISSUE_NODES = 5

_QUANTIZE_WORDS = {"none": "float32", "dynamic": "dynamic-range quantized (8-bit weights)", "float16": "float16 weights"}


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class OpIssue:
    """One op type the converter cannot turn into a TensorFlow Lite builtin, and the graph's nodes of that type."""

    op: str                  # TensorFlow op type, e.g. "Dequantize"
    status: str              # FLEX or UNSUPPORTED
    nodes: tuple[str, ...]   # the first MAX_ISSUE_NODES node names
    count: int
    constant: bool           # every node computes from constants only: export folds them away

    @property
    def why(self) -> str:
        if self.status == FLEX:
            text = (f"{self.op} has no TensorFlow Lite builtin: the app must link TensorFlow Select ops "
                    "(tensorflow-lite-select-tf-ops, several MB)")
        else:
            text = (f"{self.op} is neither a TensorFlow Lite builtin nor a Select op: the app would need a custom op "
                    f"written for it; build the model without {self.op}")
        if self.constant:
            text += "; its inputs are all constants, so export folds it into a constant and needs no Select op"
        if self.op == "Dequantize":
            text += ("; these are weights quantized by TF1's quantize_graph: export the float graph with "
                     "quantize='dynamic' for 8-bit weights TensorFlow Lite runs natively")
        return text

    def to_json(self) -> dict:
        return {"op": self.op, "status": self.status, "nodes": list(self.nodes), "count": self.count,
                "constant": self.constant, "why": self.why}


@dataclass(frozen=True)
class MobileVerdict:
    """Does the graph convert to TensorFlow Lite builtin ops, and if not, which ops stop it."""

    path: Path
    input_names: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]   # the shapes converted at (batch 1)
    output_names: tuple[str, ...]
    builtin_only: bool
    select_converts: bool | None   # with Select ops allowed; None: not tried (builtins sufficed)
    issues: tuple[OpIssue, ...]
    error: str | None              # a conversion failure that is not about missing ops
    tflite_ops: dict[str, int]     # ops of the converted model (the Select-ops one when builtins failed)
    tflite_bytes: int | None
    flags: tuple[Flag, ...]        # summary flags: training-only ops, float64, control flow, unknown dims
    seconds: float

    @property
    def ok(self) -> bool:
        return self.builtin_only

    @property
    def flex_ops(self) -> tuple[str, ...]:
        return tuple(i.op for i in self.issues if i.status == FLEX)

    @property
    def unsupported_ops(self) -> tuple[str, ...]:
        return tuple(i.op for i in self.issues if i.status == UNSUPPORTED)

    @property
    def not_needed(self) -> tuple[Flag, ...]:
        """Ops an inference-only runtime would not need (training leftovers)."""
        return tuple(f for f in self.flags if f.training_only)

    @property
    def message(self) -> str:
        extra = _not_needed_text(self.not_needed)
        if self.ok:
            ops = sum(self.tflite_ops.values())
            size = f", {_mib(self.tflite_bytes)}" if self.tflite_bytes is not None else ""
            return f"converts to TensorFlow Lite builtin ops only ({ops} ops{size}): loads in any TensorFlow Lite runtime" + extra
        if self.unsupported_ops:
            return (f"cannot convert: {_issues_text(self.issues, UNSUPPORTED)} "
                    "neither a TensorFlow Lite builtin nor a Select op" + extra)
        if self.flex_ops:
            text = f"needs TensorFlow Select ops for {_issues_text(self.issues, FLEX)}: the app must link tensorflow-lite-select-tf-ops"
            if all(i.constant for i in self.issues):
                text += "; all compute from constants only, so export folds them and the .tflite needs none"
            return text + extra
        return f"the TensorFlow Lite converter fails: {self.error}" + extra

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "message": self.message,
            "path": str(self.path),
            "input_names": list(self.input_names),
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_names": list(self.output_names),
            "builtin_only": self.builtin_only,
            "select_converts": self.select_converts,
            "flex_ops": list(self.flex_ops),
            "unsupported_ops": list(self.unsupported_ops),
            "issues": [i.to_json() for i in self.issues],
            "error": self.error,
            "tflite_ops": dict(self.tflite_ops),
            "tflite_bytes": self.tflite_bytes,
            "not_needed": [f.to_json() for f in self.not_needed],
            "flags": [f.to_json() for f in self.flags],
            "seconds": self.seconds,
        }


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
        """Unquantized: agrees to 5 decimals with the same top-1 everywhere. Quantized: both ran steadily (figures are reported, not judged)."""
        if self.verify is None:
            return False
        steady = self.verify.self_consistent_a and self.verify.self_consistent_b
        if self.quantize != "none":
            return steady
        return self.verify.ok and self.top1_agreeing == len(self.verify.inputs)

    @property
    def message(self) -> str:
        size = (f"{self.tflite} ({_QUANTIZE_WORDS[self.quantize]}, {_mib(self.tflite_bytes)}, "
                f"{_mib(self.gzip_bytes)} gzipped; the graph is {_mib(self.graph_bytes)})")
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
            return (f"wrote {size}: same top-1 on {self.top1_agreeing} of {what}, largest probability difference {report.max_abs_diff:.3g} "
                    f"(quantized: not expected to agree to {report.decimals} decimals){speed}")
        if self.ok:
            return (f"wrote {size}: agrees with the graph to {report.decimals} decimals on {what} "
                    f"(largest difference {report.max_abs_diff:.2g}), {top1}{speed}")
        worst = max(report.inputs, key=lambda c: c.max_abs_diff)
        return (f"wrote {size}, but it differs from the graph beyond {report.decimals} decimals on "
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
            "output_name": self.output_name,
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
        }


# --- check ----------------------------------------------------------------------------


def check(
    loaded: LoadedGraph,
    *,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    input_height: int | None = None,
    input_width: int | None = None,
) -> MobileVerdict:
    """Convert the graph with TensorFlow's own TensorFlow Lite converter and say whether it loads on a phone.

    First with builtin ops only (``ok`` when that works); when it fails, again
    with TensorFlow Select ops allowed, to tell ops that need the Flex delegate
    from ops nothing can run. Names left out are read from the graph (every
    placeholder; the likely outputs). An image input that declares no size needs
    ``input_height`` and ``input_width``. Nothing is written or cached.
    """
    what = str(loaded.path)
    summary = summarize(loaded)
    inputs = _input_names(loaded, summary, input_names)
    outputs = _output_names(loaded, summary, output_names)
    shapes = _input_shapes(loaded, inputs, input_height=input_height, input_width=input_width)
    tf_graph = _to_tf(loaded, what)
    start = time.perf_counter()
    builtin = _convert(tf_graph, inputs=list(zip(inputs, shapes)), outputs=outputs, select=False, what=what)
    select: _Attempt | None = None
    if builtin.model is None:
        select = _convert(tf_graph, inputs=list(zip(inputs, shapes)), outputs=outputs, select=True, what=what)
    seconds = time.perf_counter() - start

    issues: tuple[OpIssue, ...] = ()
    error: str | None = None
    model = builtin.model
    if builtin.model is None and select is not None:
        model = select.model
        issues = _issues(loaded.graph, outputs, builtin, select)
        if not issues:
            error = builtin.failure or "conversion failed"
    return MobileVerdict(
        path=loaded.path,
        input_names=inputs,
        input_shapes=shapes,
        output_names=outputs,
        builtin_only=builtin.model is not None,
        select_converts=None if select is None else select.model is not None,
        issues=issues,
        error=error,
        tflite_ops=_tflite_ops(model) if model is not None else {},
        tflite_bytes=len(model) if model is not None else None,
        flags=summary.flags,
        seconds=seconds,
    )


# --- export ---------------------------------------------------------------------------


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
) -> ExportReport:
    """Convert the graph to ``out`` (a .tflite, written atomically), then check it against the graph.

    ``quantize``: "none" keeps float32 weights; "dynamic" stores 8-bit weights
    (dynamic-range quantization); "float16" stores float16 weights. Ops without
    a builtin whose inputs are all constants (TF1's quantized-weight Dequantize)
    are computed in TensorFlow and stored as constants first. Other ops without
    a builtin are a CheckFailed unless ``select_tf_ops``, which keeps them as
    Select ops; such a .tflite cannot run here, so it is written but not verified.

    The .tflite is then run on the same inputs as the graph, through verify
    (``images``/``image_dirs``, else ``random_inputs`` seeded "photos"), and both
    are timed ``latency_runs`` times, interleaved (0: no timing), with
    ``threads`` threads each. ``progress(done, total)`` is called after each
    compared input, then after each timed pair.
    """
    if quantize not in QUANTIZE_MODES:
        raise InspectorError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}, not {quantize!r}")
    if latency_runs < 0 or latency_warmup < 0:
        raise InspectorError(f"latency runs and warm-up must be 0 or more, not {latency_runs} and {latency_warmup}")
    if threads is not None and threads < 1:
        raise InspectorError(f"threads must be at least 1, not {threads}")
    out = Path(out)
    what = str(loaded.path)
    files = collect_images(images, image_dirs)
    if not files and random_inputs < 1:
        raise InspectorError("nothing to compare: no image given and random inputs set to 0; pass --image or --random N")
    input_name = one_name(input_names, "--input_names")
    output_name = one_name(output_names, "--output_names")

    with GraphRunner(loaded, input_name=input_name, output_name=output_name, threads=threads, what=f"graph ({what})") as graph_runner:
        (shape,) = _input_shapes(loaded, (graph_runner.input_name,), input_height=input_height, input_width=input_width)
        if len(shape) == 4:
            # A bad image or labels file is found now, not after the .tflite is written.
            check_inputs(graph_runner, files, labels=labels, size=(shape[1], shape[2]), mean=input_mean, std=input_std)
        notes: list[str] = []
        inputs, outputs = [(graph_runner.input_name, shape)], (graph_runner.output_name,)
        tf_graph = _to_tf(loaded, what)
        start = time.perf_counter()
        attempt = _convert(tf_graph, inputs=inputs, outputs=outputs, quantize=quantize, select=False, what=what)
        folded: tuple[str, ...] = ()
        if attempt.model is None:
            select = _convert(tf_graph, inputs=inputs, outputs=outputs, quantize=quantize, select=True, what=what)
            issues = _issues(loaded.graph, outputs, attempt, select)
            if issues and all(i.constant for i in issues):
                names = tuple(_issue_nodes(loaded.graph, outputs, issues))
                refolded = _convert(
                    _fold(tf_graph, names), inputs=inputs, outputs=outputs, quantize=quantize, select=False, what=what
                )
                if refolded.model is not None:
                    attempt, folded = refolded, names
                    notes.append(
                        f"computed {len(names)} constant {'/'.join(sorted({i.op for i in issues}))} node(s) in "
                        "TensorFlow and stored the results: TensorFlow Lite has no builtin for them"
                    )
            if attempt.model is None and select_tf_ops and select.model is not None:
                attempt = select
            if attempt.model is None:
                raise _not_convertible(loaded.path, issues, attempt, select, select_tf_ops=select_tf_ops)
        convert_seconds = time.perf_counter() - start
        model = attempt.model
        assert model is not None
        write_bytes_atomic(out, model, refuse=(loaded.path,))
        ops = _tflite_ops(model)
        select_ops = tuple(sorted(op.removeprefix("Flex") for op in ops if op.startswith("Flex")))
        graph_bytes = loaded.path.read_bytes() if loaded.path.is_file() else loaded.graph.SerializeToString()
        common = dict(
            graph=loaded.path, tflite=out, quantize=quantize, input_name=graph_runner.input_name,
            output_name=graph_runner.output_name, input_shape=shape, tflite_bytes=len(model),
            gzip_bytes=_gzip_size(model), graph_bytes=len(graph_bytes), graph_gzip_bytes=_gzip_size(graph_bytes),
            tflite_ops=ops, select_ops=select_ops, folded=folded,
            flags=summarize(loaded).training_flags, convert_seconds=convert_seconds,
        )
        if select_ops:
            return ExportReport(verify=None, latency=None, notes=tuple(notes), **common)

        # Read back from disk: what is verified is the file the app will ship.
        with TFLiteRunner(
            out, input_name=graph_runner.input_name, output_name=graph_runner.output_name, threads=threads,
            what=f"tflite ({out})", random_ops=graph_runner.random_ops,
        ) as tflite_runner:
            report = verify_runners(
                graph_runner, tflite_runner, images=files, decimals=5, labels=labels, top_k=top_k,
                random_inputs=random_inputs, seed=seed, input_height=input_height, input_width=input_width,
                input_mean=input_mean, input_std=input_std, progress=progress,
            )
            latency = None
            if latency_runs > 0:
                latency = _time_both(
                    graph_runner, tflite_runner, files=files, size=report.input_size, seed=seed, mean=input_mean,
                    std=input_std, runs=latency_runs, warmup=latency_warmup, threads=threads, graph=loaded.path,
                    tflite=out, progress=progress,
                )
    return ExportReport(verify=report, latency=latency, notes=tuple(notes) + report.notes, **common)


# --- conversion -----------------------------------------------------------------------


@dataclass(frozen=True)
class _OpError:
    code: str                 # the converter's error code name, e.g. ERROR_NEEDS_FLEX_OPS
    op: str                   # TensorFlow op type
    names: tuple[str, ...]    # node names from the error's location


@dataclass(frozen=True)
class _Attempt:
    model: bytes | None
    errors: tuple[_OpError, ...] = ()
    failure: str | None = None  # one line, when the conversion failed


def _convert(
    tf_graph: Any,
    *,
    inputs: Sequence[tuple[str, tuple[int, ...]]],
    outputs: Sequence[str],
    select: bool,
    what: str,
    quantize: str = "none",
) -> _Attempt:
    """One TensorFlow Lite conversion of ``tf_graph`` (TensorFlow's GraphDef) at the given input shapes."""
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        try:
            tf.compat.v1.import_graph_def(tf_graph, name="")
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise InspectorError(
                f"{what}: TensorFlow {tf.__version__} cannot import this graph ({tfcompat.error_line(exc)}); "
                "export it again with the TensorFlow that runs it"
            ) from None
    input_tensors = []
    for name, shape in inputs:
        tensor = graph.get_tensor_by_name(f"{name}:0")
        try:
            tensor.set_shape(shape)
        except ValueError:
            raise InspectorError(
                f"{what}: input {name!r} has shape {tensor.shape}, which does not fit {list(shape)}; "
                "check --input_height/--input_width"
            ) from None
        input_tensors.append(tensor)
    output_tensors = [graph.get_tensor_by_name(f"{name}:0") for name in outputs]
    lite = tf.compat.v1.lite
    converter = lite.TFLiteConverter(tf_graph, input_tensors, output_tensors)
    if select:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        # MLIR's diagnostics go straight to fd 2; the error object carries them anyway.
        with tfcompat.quiet_stderr():
            model = converter.convert()
    except Exception as exc:  # ConverterError, or ValueError/RuntimeError from the converter's own checks
        return _Attempt(model=None, errors=_op_errors(exc), failure=_failure_line(exc))
    return _Attempt(model=bytes(model))


def _op_errors(exc: BaseException) -> tuple[_OpError, ...]:
    found = []
    for err in getattr(exc, "errors", None) or ():
        try:
            code = err.DESCRIPTOR.fields_by_name["error_code"].enum_type.values_by_number[err.error_code].name
        except (AttributeError, KeyError):
            continue
        op = err.operator.name.removeprefix("tf.") if err.HasField("operator") else ""
        names = tuple(call.name for call in err.location.call if call.name) if err.HasField("location") else ()
        found.append(_OpError(code=code, op=op, names=names))
    return tuple(found)


def _failure_line(exc: BaseException) -> str:
    # A ConverterError's text is MLIR dumps; its first structured error says it in one line.
    for err in getattr(exc, "errors", None) or ():
        message = getattr(err, "error_message", "")
        if message.strip():
            return message.strip().splitlines()[0][:200]
    return tfcompat.error_line(exc)


def _issues(graph: GraphDef, outputs: Sequence[str], builtin: _Attempt, select: _Attempt) -> tuple[OpIssue, ...]:
    """Op types that kept the builtin conversion from working, and what the Select-ops conversion says of them."""
    needed = upstream(graph, list(outputs))
    flex: dict[str, set[str]] = {}
    unsupported: dict[str, set[str]] = {}
    for err in builtin.errors + select.errors:
        if not err.op:
            continue
        if err.code == "ERROR_NEEDS_FLEX_OPS":
            flex.setdefault(err.op, set()).update(err.names)
        elif err.code == "ERROR_NEEDS_CUSTOM_OPS":
            unsupported.setdefault(err.op, set()).update(err.names)
    if select.model is not None:
        # The Select-ops model is the authority on which ops it handed to the Flex delegate.
        for op in _tflite_ops(select.model):
            if op.startswith("Flex"):
                flex.setdefault(op.removeprefix("Flex"), set())
    for op in unsupported:
        flex.pop(op, None)
    nodes_by_op: dict[str, list[str]] = {}
    for node in graph.node:
        if node.name in needed:
            nodes_by_op.setdefault(node.op, []).append(node.name)
    issues = []
    for status, ops in ((UNSUPPORTED, unsupported), (FLEX, flex)):
        for op in sorted(ops):
            names = nodes_by_op.get(op) or sorted(n for n in ops[op] if n in needed)
            constant = bool(names) and all(_is_constant(graph, name) for name in names)
            issues.append(OpIssue(op=op, status=status, nodes=tuple(names[:MAX_ISSUE_NODES]), count=len(names), constant=constant))
    return tuple(issues)


def _issue_nodes(graph: GraphDef, outputs: Sequence[str], issues: Sequence[OpIssue]) -> list[str]:
    needed = upstream(graph, list(outputs))
    ops = {i.op for i in issues}
    return [node.name for node in graph.node if node.name in needed and node.op in ops]


def _is_constant(graph: GraphDef, name: str) -> bool:
    """True when the node's value depends on constants only: no input, variable or random op upstream."""
    by_name = {node.name: node for node in graph.node}
    for other in upstream(graph, [name]):
        node = by_name[other]
        if is_random(node.op) or node.op in FEED_OPS:
            return False
        if not node.input and node.op != "Const":
            return False
    return True


def _fold(tf_graph: Any, names: Sequence[str]) -> Any:
    """A copy of ``tf_graph`` with each named node replaced by a Const holding its value, computed in TensorFlow."""
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(tf_graph, name="")
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        values = dict(zip(names, session.run([f"{name}:0" for name in names])))
    folded = tf.compat.v1.GraphDef()
    folded.CopyFrom(tf_graph)
    for node in folded.node:
        if node.name not in values:
            continue
        value = np.asarray(values[node.name])
        name, device = node.name, node.device
        node.Clear()
        node.name, node.op, node.device = name, "Const", device
        node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return folded


def _not_convertible(
    path: Path, issues: Sequence[OpIssue], builtin: _Attempt, select: _Attempt, *, select_tf_ops: bool
) -> CheckFailed:
    unsupported = [i for i in issues if i.status == UNSUPPORTED]
    flex = [i for i in issues if i.status == FLEX]
    if unsupported:
        return CheckFailed(
            f"{path}: cannot convert to TensorFlow Lite: {_issues_text(unsupported, UNSUPPORTED)} neither a builtin "
            "nor a Select op; build the model without them"
        )
    if flex and not select_tf_ops:
        return CheckFailed(
            f"{path}: TensorFlow Lite has no builtin for {_issues_text(flex, FLEX)}; pass --select_tf_ops to export "
            "with TensorFlow Select ops (the app must link tensorflow-lite-select-tf-ops)"
        )
    failure = select.failure if select_tf_ops and select.failure else builtin.failure
    return CheckFailed(f"{path}: the TensorFlow Lite converter fails: {failure or 'no reason given'}")


def _tflite_ops(model: bytes) -> dict[str, int]:
    """Op histogram of a .tflite (builtin names like CONV_2D; custom codes like FlexErf), most used first."""
    tfcompat.tf()  # imported quietly before one of its modules is
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:  # a TensorFlow that moved the schema: the histogram is a nicety, not the verdict
        return {}
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    root = schema.Model.GetRootAsModel(bytearray(model), 0)
    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        custom = code.CustomCode()
        if custom:
            codes.append(custom.decode("utf-8", "replace"))
        else:
            # Codes above 127 live in builtin_code; old files only fill deprecated_builtin_code.
            number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            codes.append(names.get(number, str(number)))
    counts: Counter[str] = Counter()
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            counts[codes[subgraph.Operators(o).OpcodeIndex()]] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# --- names and shapes -----------------------------------------------------------------


def _names(value: Sequence[str] | str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value if v.strip()]


def _resolve(loaded: LoadedGraph, name: str, *, role: str, flag: str) -> str:
    names = {node.name for node in loaded.graph.node}
    candidate = node_of(name)
    for option in (candidate, candidate.removeprefix("import/")):
        if option in names:
            return option
    raise InspectorError(f"{loaded.path}: no node named {name!r}; pass the {role} node's name with {flag}")


def _input_names(loaded: LoadedGraph, summary: GraphSummary, given: Sequence[str] | str | None) -> tuple[str, ...]:
    names = _names(given)
    if names:
        return tuple(_resolve(loaded, n, role="input", flag="--input_names") for n in names)
    if not summary.inputs:
        raise InspectorError(f"{loaded.path}: found no input placeholder; pass the input with --input_names")
    return tuple(s.name for s in summary.inputs)


def _output_names(loaded: LoadedGraph, summary: GraphSummary, given: Sequence[str] | str | None) -> tuple[str, ...]:
    names = _names(given)
    if names:
        return tuple(_resolve(loaded, n, role="output", flag="--output_names") for n in names)
    found = [o.name for o in summary.outputs]
    # retrain.py always names its softmax final_result; other sinks beside it are leftovers.
    if "final_result" in found:
        return ("final_result",)
    if not found:
        raise InspectorError(f"{loaded.path}: found no output (every node is read by another); pass it with --output_names")
    return tuple(found)


def _input_shapes(
    loaded: LoadedGraph,
    names: Sequence[str],
    *,
    input_height: int | None,
    input_width: int | None,
) -> tuple[tuple[int, ...], ...]:
    """The shape each input is converted at: batch 1 and the declared size, else the given size."""
    if (input_height is None) != (input_width is None):
        raise InspectorError("pass both --input_height and --input_width, or neither (they are read from the graph)")
    if input_height is not None and input_width is not None and (input_height <= 0 or input_width <= 0):
        raise InspectorError(f"--input_height and --input_width must be positive, not {input_height}x{input_width}")
    by_name = {node.name: node for node in loaded.graph.node}
    shapes: list[tuple[int, ...]] = []
    for name in names:
        node = by_name[name]
        declared = placeholder_spec(node).shape if node.op in FEED_OPS else None
        given = (input_height, input_width) if input_height is not None and input_width is not None else None
        if declared is not None and all(d >= 0 for d in declared[1:]):
            if given is not None and len(declared) == 4 and tuple(declared[1:3]) != given:
                raise InspectorError(
                    f"{loaded.path}: input {name!r} takes {declared[1]}x{declared[2]} images, not {given[0]}x{given[1]}; "
                    "leave --input_height/--input_width out to use the graph's size"
                )
            shapes.append((1, *declared[1:]) if declared else declared)
            continue
        if declared is not None and len(declared) != 4:
            raise InspectorError(
                f"{loaded.path}: input {name!r} has shape {list(declared)} with unknown dimensions; "
                "TensorFlow Lite needs them fixed: export the graph with a fixed input shape"
            )
        channels = declared[3] if declared is not None and declared[3] > 0 else 3
        if given is None:
            # No stand-in size: a MobileNet's final AvgPool is sized for the trained input, so
            # another size fails to convert for reasons that have nothing to do with its ops.
            raise InspectorError(
                f"{loaded.path}: input {name!r} declares no image size (as after TF 1.x optimize_for_inference), "
                "and TensorFlow Lite needs one; pass --input_height and --input_width (the size retrain.py trained "
                "at, e.g. 128 or 224), as the codelab's toco --input_shape"
            )
        shapes.append((1, given[0], given[1], channels))
    return tuple(shapes)


# --- timing and sizes -----------------------------------------------------------------


def _time_both(
    graph_runner: GraphRunner,
    tflite_runner: TFLiteRunner,
    *,
    files: Sequence[Path],
    size: tuple[int, int],
    seed: int,
    mean: float,
    std: float,
    runs: int,
    warmup: int,
    threads: int | None,
    graph: Path,
    tflite: Path,
    progress: Callable[[int, int], None] | None,
) -> BenchReport:
    """latency.bench's measurement, for a graph and a .tflite: interleaved pairs after untimed warm-up pairs."""
    if files:
        batch, source = read_image(files[0], size=size, mean=mean, std=std), str(files[0])
    else:
        batch, source = random_batch(size, rng=np.random.default_rng(seed), mean=mean, std=std), f"random (seed {seed})"
    for _ in range(warmup):
        graph_runner.run(batch)
        tflite_runner.run(batch)
    times_graph: list[float] = []
    times_tflite: list[float] = []
    for done in range(1, runs + 1):
        times_graph.append(_time_ms(graph_runner, batch))
        times_tflite.append(_time_ms(tflite_runner, batch))
        if progress is not None:
            progress(done, runs)
    return BenchReport(
        a=GraphTiming(graph, graph_runner.input_name, graph_runner.output_name, tuple(times_graph)),
        b=GraphTiming(tflite, tflite_runner.input_name, tflite_runner.output_name, tuple(times_tflite)),
        runs=runs,
        warmup=warmup,
        threads=threads,
        input=source,
        input_size=size,
        ratio_ci=bootstrap_ratio_ci(times_graph, times_tflite, seed=seed),
    )


def _time_ms(runner: GraphRunner | TFLiteRunner, batch: np.ndarray) -> float:
    start = time.perf_counter_ns()
    runner.run(batch)
    return (time.perf_counter_ns() - start) / 1e6


def _gzip_size(data: bytes) -> int:
    # mtime=0: the size must not depend on the clock (the header is fixed-size anyway).
    return len(gzip.compress(data, compresslevel=9, mtime=0))


# --- wording ----------------------------------------------------------------------------


def _issues_text(issues: Sequence[OpIssue], status: str) -> str:
    chosen = [i for i in issues if i.status == status]
    parts = []
    for issue in chosen:
        where = issue.nodes[0] if issue.count == 1 else f"{issue.count} nodes, e.g. {issue.nodes[0]}" if issue.nodes else "no node found"
        parts.append(f"{issue.op} ({where})")
    verb = "is" if len(chosen) == 1 else "are"
    return ", ".join(parts) + (f" {verb}" if status == UNSUPPORTED else "")


def _not_needed_text(flags: Sequence[Flag]) -> str:
    if not flags:
        return ""
    shown = ", ".join(f"{f.op} ({f.kind})" for f in flags[:4]) + (" ..." if len(flags) > 4 else "")
    return f"; it still carries ops an inference runtime does not need: {shown}"


def _mib(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _to_tf(loaded: LoadedGraph, what: str) -> Any:
    try:
        return tfcompat.to_tf(loaded.graph)
    except ValueError as exc:  # a tensor with no valid dtype: refused before TensorFlow aborts on it
        raise InspectorError(
            f"{what}: TensorFlow {tfcompat.tf().__version__} cannot import this graph ({exc}); "
            "export it again with the TensorFlow that runs it"
        ) from None


__all__ = [
    "check",
    "export",
    "MobileVerdict",
    "ExportReport",
    "OpIssue",
    "QUANTIZE_MODES",
    "FLEX",
    "UNSUPPORTED",
]
