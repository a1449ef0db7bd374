"""inspector: see what the inference optimizer did to a frozen TensorFlow graph.

The Python API: each function takes graph files (a path, or a graph from
:func:`load`) and returns a frozen result with ``to_json()``; errors are
:class:`InspectorError` (:class:`CheckFailed` for a check that said "no").
Nothing heavy is imported until a function runs: ``import inspector`` loads
neither TensorFlow nor rich.

    import inspector
    result = inspector.compare("tf_files/retrained_graph.pb", "tf_files/optimized_graph.pb",
                               logdir="tf_files/training_summaries", board=False)
    print(result.diff.b.stats.nodes - result.diff.a.stats.nodes)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.errors import CheckFailed, InspectorError

if TYPE_CHECKING:
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    from inspector.analysis.diff import GraphDiff
    from inspector.analysis.summary import GraphSummary
    from inspector.graph.io import LoadedGraph
    from inspector.optimizer.pipeline import OptimizeResult
    from inspector.run.latency import BenchReport
    from inspector.run.label import LabelResult
    from inspector.run.layers import LayersReport
    from inspector.run.verify import VerifyReport
    from inspector.tflite.check import MobileVerdict
    from inspector.tflite.export import ExportReport
    from inspector.workflows.compare import CompareResult
    from inspector.workflows.demo import DemoResult

__version__ = "0.1.0"

# Re-exported as they are, imported on first use (PEP 562): name -> defining module.
_LAZY = {
    "compare": "inspector.workflows.compare",
    "CompareResult": "inspector.workflows.compare",
    "demo": "inspector.workflows.demo",
    "DemoResult": "inspector.workflows.demo",
    "optimize_file": "inspector.workflows.optimize",
    "OptimizedFile": "inspector.workflows.optimize",
    "LoadedGraph": "inspector.graph.io",
}

__all__ = [
    "__version__", "InspectorError", "CheckFailed",
    "load", "diff", "optimize", "verify", "layers", "summarize", "check", "export", "bench", "label",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inspector' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load(path: Path | str) -> LoadedGraph:
    """Read a frozen graph (.pb, .pbtxt) or a SavedModel folder (frozen for serving_default; imports TensorFlow)."""
    from inspector.graph.io import load_graph

    return load_graph(path)


def _loaded(graph: Path | str | LoadedGraph) -> LoadedGraph:
    from inspector.graph.io import LoadedGraph, load_graph

    return graph if isinstance(graph, LoadedGraph) else load_graph(graph)


def diff(a: Path | str | LoadedGraph, b: Path | str | LoadedGraph, *, names: Sequence[str] | None = None) -> GraphDiff:
    """What changed from ``a`` to ``b``: op counts, nodes only in one, nodes rewritten, by name scope (no TensorFlow)."""
    from inspector.analysis.diff import diff_loaded, run_names
    from inspector.workflows.compare import two_names
    from inspector.workflows.outputs import changes_between

    given = two_names(names)
    la, lb = _loaded(a), _loaded(b)
    # When inspector optimized b from a, its change record says which pass told each story.
    return diff_loaded(la, lb, labels=given or run_names(la.path, lb.path), changes=changes_between(la.path, lb.path))


def optimize(
    graph: Path | str | LoadedGraph | GraphDef,
    *,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    skip: Sequence[str] = (),
    placeholder_type_enum: int = 1,
    toco_compatible: bool = False,
    frozen_graph: bool = True,
    strip_dropout: bool = False,
    output: Path | str | None = None,
    force: bool = False,
) -> OptimizeResult:
    """Optimize a frozen graph for inference, saying what each pass did; names left None are detected.

    The optimized graph is ``result.graph``; with ``output`` it is also written
    there (atomically, never over the input, nor over a file inspector did not
    write unless ``force``). ``skip`` names passes to leave out (see
    ``inspector optimize --help``).
    """
    from inspector.graph.io import LoadedGraph
    from inspector.workflows.optimize import OptimizerOptions, run_optimizer

    options = OptimizerOptions.of(
        input_names=input_names, output_names=output_names, skip=skip, placeholder_type_enum=placeholder_type_enum,
        toco_compatible=toco_compatible, frozen_graph=frozen_graph, strip_dropout=strip_dropout,
    )
    if isinstance(graph, (str, Path, LoadedGraph)):
        if output is not None:
            from inspector.workflows.optimize import optimize_into

            return optimize_into(graph, output, options, force=force)[1]
        loaded = _loaded(graph)
        return run_optimizer(loaded.graph, options, what=str(loaded.path))
    if output is None:
        return run_optimizer(graph, options, what="the graph")
    from inspector.graph.io import save_graph
    from inspector.workflows.outputs import owned_output

    with owned_output(output, force=force):
        result = run_optimizer(graph, options, what="the graph")
        save_graph(result.graph, output)
    return result


def verify(
    a: Path | str | LoadedGraph,
    b: Path | str | LoadedGraph,
    *,
    images: Sequence[Path | str] = (),
    labels: Path | str | None = None,
    **options: Any,
) -> VerifyReport:
    """Run ``a`` and ``b`` on the same inputs (``images``, else seeded random ones) and say whether they agree.

    ``labels`` defaults to the labels file beside either graph. Other options
    as :func:`inspector.run.verify.verify` (``image_dirs``, ``decimals``,
    ``random_inputs``, ``seed``, ``input_names``, ``output_names``, ...).
    """
    from inspector.run.labels import find_labels
    from inspector.run.verify import verify as run_verify

    la, lb = _loaded(a), _loaded(b)
    found = Path(labels) if labels is not None else find_labels(la.path) or find_labels(lb.path)
    return run_verify(la, lb, images=[Path(i) for i in images], labels=found, **options)


def layers(
    a: Path | str | LoadedGraph,
    b: Path | str | LoadedGraph,
    *,
    images: Sequence[Path | str] = (),
    logdir: Path | str | None = None,
    **options: Any,
) -> LayersReport:
    """Compare every layer ``a`` and ``b`` compute (``b``: a frozen graph or a .tflite) on the same inputs, in dataflow order.

    Each layer is judged against its own float32 noise floor; the report names
    the first layer out of it (``first_out``) and where the difference grows
    most. ``logdir``: record the drift there for the Graph diff tab (the runs
    named as compare names them). Other options as
    :func:`inspector.run.layers.layers`.
    """
    from inspector.graph.io import LoadedGraph, is_tflite
    from inspector.run.layers import layers as run_layers

    la = _loaded(a)
    lb: LoadedGraph | Path = Path(b) if not isinstance(b, LoadedGraph) and is_tflite(Path(b)) else _loaded(b)
    report = run_layers(la, lb, images=[Path(i) for i in images], **options)
    if logdir is not None:
        from inspector.tb.plugin.drift import record_drift

        record_drift(Path(logdir), report, la.path, lb if isinstance(lb, Path) else lb.path)
    return report


def summarize(path: Path | str | LoadedGraph) -> GraphSummary:
    """Inputs, outputs, sizes, ops, and what does not belong in an inference graph (no TensorFlow)."""
    from inspector.analysis.summary import summarize as run_summarize

    return run_summarize(_loaded(path))


def check(path: Path | str | LoadedGraph, **options: Any) -> MobileVerdict:
    """Will it load on the phone: TensorFlow Lite's converter with builtin ops only, and which ops are in the way.

    Options as :func:`inspector.tflite.check.check` (``input_names``, ``output_names``, ``input_height``, ...).
    """
    from inspector.tflite.check import check as run_check

    return run_check(_loaded(path), **options)


def export(
    path: Path | str | LoadedGraph,
    out: Path | str | None = None,
    *,
    labels: Path | str | None = None,
    force: bool = False,
    **options: Any,
) -> ExportReport:
    """Write a .tflite (default: beside the graph) and verify it against the graph: sizes, agreement, latency.

    An existing .tflite that inspector did not write is refused unless
    ``force``. ``labels`` defaults to the labels file beside the graph. Other options as
    :func:`inspector.tflite.export.export` (``quantize``, ``select_tf_ops``,
    ``images``, ``latency_runs``, ...).
    """
    from inspector.run.labels import find_labels
    from inspector.tflite import export as exporting
    from inspector.workflows.outputs import owned_output

    loaded = _loaded(path)
    target = Path(out) if out is not None else loaded.path.with_suffix(".tflite")
    found = Path(labels) if labels is not None else find_labels(loaded.path)
    with owned_output(target, force=force, flag="--tflite", inputs=(loaded.path,)):
        # Looked up on the module when called, so a stand-in set there is the one used.
        return exporting.export(loaded, target, labels=found, **options)


def bench(a: Path | str | LoadedGraph, b: Path | str | LoadedGraph, **options: Any) -> BenchReport:
    """Median latency of ``a`` and ``b`` on the same input, interleaved (``runs``, ``warmup``, ``threads``, ``image``, ...)."""
    from inspector.run.latency import bench as run_bench

    return run_bench(_loaded(a), _loaded(b), **options)


def label(graph: Path | str | LoadedGraph, image: Path | str, **options: Any) -> LabelResult:
    """Classify one image the way the codelab's label_image does (``labels``, ``top_k``, ``input_name``, ...)."""
    from inspector.run.label import label_image

    return label_image(graph, image, **options)
