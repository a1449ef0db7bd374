"""The inference optimizer: input/output names, inspector's passes, and TensorFlow's and Grappler's as baselines."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.errors import InspectorError
from inspector.graph.ops import VARIABLE_OPS
from inspector.graph.refs import node_of
from inspector.graph.stats import GraphStats, dtype_name, graph_stats


@dataclass(frozen=True)
class DetectedNames:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class PassReport:
    """One pass: nodes it removed and added (a node that changed op counts as both), and what it did."""

    name: str
    removed: int
    added: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Unfolded:
    """A batch norm left in the graph, and why it could not be folded into weights."""

    node: str
    reason: str


@dataclass(frozen=True)
class OptimizeResult:
    graph: GraphDef
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    detected: bool                    # names were detected rather than given
    passes: tuple[PassReport, ...]
    unfolded: tuple[Unfolded, ...]
    dropout: tuple[str, ...]          # training-mode dropout found (the node where the mask is applied)
    dropout_stripped: bool
    nodes_before: int
    nodes_after: int

    def to_json(self) -> dict:
        return {
            "input_names": list(self.input_names),
            "output_names": list(self.output_names),
            "detected": self.detected,
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            "passes": [{"name": p.name, "removed": p.removed, "added": p.added, "notes": list(p.notes)} for p in self.passes],
            "unfolded": [{"node": u.node, "reason": u.reason} for u in self.unfolded],
            "dropout": list(self.dropout),
            "dropout_stripped": self.dropout_stripped,
        }


# The passes, in the order they run.
PASSES: tuple[str, ...] = (
    "strip_unused", "remove_identity", "fold_constants", "dropout", "fold_batch_norm", "merge_linear", "simplify",
    "fuse_resize_conv",
)



def detect_names(graph: GraphDef, *, what: str = "the graph") -> DetectedNames:
    """Inputs are placeholders fed by nothing; outputs are sinks that are not Const/NoOp.

    Several candidates for one role is an error that asks for the flag rather
    than a guess: picking the wrong output silently optimizes the wrong model.
    """
    stats = graph_stats(graph)
    return DetectedNames(inputs=_detect_inputs(stats, what), outputs=_detect_outputs(stats, what))


def _detect_inputs(stats: GraphStats, what: str) -> tuple[str, ...]:
    inputs = tuple(s.name for s in stats.inputs)
    if not inputs:
        raise InspectorError(f"{what}: found no input placeholder; pass --input_names")
    if len(inputs) > 1:
        raise InspectorError(f"{what}: several input placeholders ({', '.join(inputs)}); pick with --input_names")
    return inputs


def _detect_outputs(stats: GraphStats, what: str) -> tuple[str, ...]:
    outputs = stats.outputs
    if not outputs:
        raise InspectorError(f"{what}: found no output (every node is read by another); pass --output_names")
    if len(outputs) > 1:
        shown = ", ".join(outputs[:6]) + (" ..." if len(outputs) > 6 else "")
        raise InspectorError(f"{what}: several possible outputs ({shown}); pick with --output_names")
    return outputs


def optimize(
    graph: GraphDef,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    placeholder_type_enum: int = DataType.DT_FLOAT,
    toco_compatible: bool = False,
    frozen_graph: bool = True,
    strip_dropout: bool = False,
    what: str = "the graph",
) -> OptimizeResult:
    """Optimize a frozen graph for inference and say what each pass did.

    Names left as None are detected (see :func:`detect_names`). The result is
    checked to import into TensorFlow before it is returned; a graph that would
    not is an InspectorError, never a return value. ``toco_compatible`` skips the
    resize/pad+conv fusion (its fused ops are not TFLite ops) and keeps activations
    next to their convolutions, where TFLite fuses them; ``frozen_graph=False``
    lets variables through (their values cannot be folded); ``strip_dropout``
    removes training-mode dropout, which is reported either way.
    """
    from inspector.optimizer.passes import batchnorm, constfold, dropout, fuse, linear, prune, simplify, tfrun
    from inspector.graph.workgraph import WorkGraph

    _check_structure(graph, what)
    stats = graph_stats(graph)
    detected = input_names is None or output_names is None
    inputs = _given_names(graph, input_names, "--input_names", what) if input_names is not None else _detect_inputs(stats, what)
    outputs = _given_names(graph, output_names, "--output_names", what) if output_names is not None else _detect_outputs(stats, what)
    originals = {node.name: node for node in graph.node}
    for name in inputs:
        node = originals[name]
        if node.op == "Placeholder" and node.attr["dtype"].type != placeholder_type_enum:
            have = dtype_name(node.attr["dtype"].type)
            if node.attr["dtype"].type not in DataType.values():
                raise InspectorError(
                    f"{what}: input {name} has dtype {node.attr['dtype'].type}, which is no TensorFlow type; "
                    "the file is damaged, export the graph again"
                )
            raise InspectorError(
                f"{what}: input {name} is a {have} placeholder, not {dtype_name(placeholder_type_enum)}; "
                f"pass --placeholder_type_enum {node.attr['dtype'].type}"
            )
    keep = list(dict.fromkeys(list(outputs) + list(inputs)))

    try:
        original_info = tfrun.static_outputs(graph)
    except tfrun.ImportFailed as exc:
        raise InspectorError(
            f"{what}: TensorFlow cannot import this graph ({exc}); check that it loads with "
            "tf.graph_util.import_graph_def (a custom op, or a graph from a newer TensorFlow?)"
        ) from None
    for name in inputs:
        outputs_of = original_info.get(name) or [(None, None)]
        dtype = outputs_of[0][0]
        # An input that is not a Placeholder becomes one; its readers still expect its old dtype (refs aside).
        if dtype is not None and dtype % 100 != placeholder_type_enum:
            raise InspectorError(
                f"{what}: input {name} gives {dtype_name(dtype % 100)}, not {dtype_name(placeholder_type_enum)}; "
                f"pass --placeholder_type_enum {dtype % 100}"
            )
    g = WorkGraph(graph)
    reports: list[PassReport] = []

    def run(name: str, step: Callable[[], list[str]]) -> None:
        before = {(node.name, node.op) for node in g}
        try:
            notes = step()
            # Checked after every pass (cheap without the weights), so a failure names the pass at fault.
            tfrun.import_graph(tfrun.light(g.to_graphdef()))
        except tfrun.ImportFailed as exc:
            raise InspectorError(
                f"{what}: after the {name} pass the graph does not import into TensorFlow ({exc}); nothing written. "
                "This is a bug in inspector's optimizer, please report it with the graph"
            ) from None
        except tfrun.EvaluateFailed as exc:
            # The graph imports, but a Const's value does not match its shape or dtype: a damaged file.
            raise InspectorError(
                f"{what}: TensorFlow cannot compute the graph's constants ({exc}); a Const is corrupt "
                "(a damaged or hand-edited file?), export the graph again"
            ) from None
        after = {(node.name, node.op) for node in g}
        reports.append(PassReport(name=name, removed=len(before - after), added=len(after - before), notes=tuple(notes)))

    run("strip_unused", lambda: prune.strip_unused(g, inputs=inputs, outputs=outputs, placeholder_types=[placeholder_type_enum] * len(inputs)))
    variables = [node.name for node in g if node.op in VARIABLE_OPS]
    if variables and frozen_graph:
        raise InspectorError(
            f"{what}: holds {len(variables)} variables (e.g. {variables[0]}), so it is not frozen; freeze it first "
            "(retrain.py and freeze_graph write frozen graphs) or pass --frozen_graph=False"
        )
    run("remove_identity", lambda: prune.remove_identities(g, inputs=inputs, outputs=outputs, frozen=frozen_graph))
    # Found before constant folding, while a decomposed batch norm still shows its Rsqrt.
    candidates = batchnorm.find_batch_norms(g, constfold.constant_names(g))
    run("fold_constants", lambda: constfold.fold_constants(g, keep=keep))

    found: list[dropout.Dropout] = []
    stripped: list[dropout.Dropout] = []

    def dropout_pass() -> list[str]:
        dropouts, notes = dropout.find_dropout(g, inputs=inputs)
        found.extend(dropouts)
        if not found:
            return notes
        if strip_dropout:
            stripped.extend(d for d in found if d.output not in keep)
            notes += [f"{d.output}: an output of the graph, so left in" for d in found if d.output in keep]
            return notes + dropout.strip_dropout(g, stripped, keep=keep)
        return notes + [f"{d.output}: training-mode dropout, left in (strip_dropout removes it)" for d in found]

    run("dropout", dropout_pass)
    unfolded: list[Unfolded] = []

    def batchnorm_pass() -> list[str]:
        notes, left = batchnorm.fold_batch_norms(g, keep=keep, candidates=candidates)
        unfolded.extend(Unfolded(node=name, reason=reason) for name, reason in left)
        return notes

    run("fold_batch_norm", batchnorm_pass)
    run("merge_linear", lambda: linear.merge_linear(g, keep=keep))
    run("simplify", lambda: simplify.simplify(g, keep=keep, hoist_activations=not toco_compatible))
    if toco_compatible:
        reports.append(PassReport("fuse_resize_conv", 0, 0, ("skipped: toco_compatible (its fused ops are not TFLite ops)",)))
    else:
        run("fuse_resize_conv", lambda: fuse.fuse_resize_and_conv(g, keep=keep))

    result = g.to_graphdef()
    _restore_inputs(result, originals, original_info, inputs, placeholder_type_enum)
    _validate(result, inputs=inputs, outputs=outputs, what=what)
    return OptimizeResult(
        graph=result,
        input_names=tuple(inputs),
        output_names=tuple(outputs),
        detected=detected,
        passes=tuple(reports),
        unfolded=tuple(unfolded),
        dropout=tuple(d.output for d in found),
        dropout_stripped=bool(found) and len(stripped) == len(found),
        nodes_before=len(graph.node),
        nodes_after=len(result.node),
    )


def optimize_graph(graph: GraphDef, *, input_names: Sequence[str], output_names: Sequence[str]) -> GraphDef:
    """Optimize for inference with inspector's passes and return just the graph."""
    return optimize(graph, input_names=input_names, output_names=output_names).graph


def tensorflow_optimize(
    graph: GraphDef,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    placeholder_type_enum: int = DataType.DT_FLOAT,
    toco_compatible: bool = False,
) -> GraphDef:
    """TensorFlow's own ``optimize_for_inference``, exactly as the codelab runs it (the baseline; unchecked)."""
    from inspector.graph import tfcompat

    tfcompat.tf()
    from tensorflow.python.tools import optimize_for_inference_lib

    result = optimize_for_inference_lib.optimize_for_inference(
        tfcompat.to_tf(graph), list(input_names), list(output_names), placeholder_type_enum, toco_compatible
    )
    return tfcompat.from_tf(result)


def grappler_optimize(
    graph: GraphDef, *, output_names: Sequence[str], optimizers: Sequence[str] = ("constfold", "arithmetic")
) -> GraphDef:
    """Grappler run offline with only ``optimizers``, fetching ``output_names`` (a baseline for tests and benchmarks)."""
    from inspector.graph import tfcompat

    tf = tfcompat.tf()
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    tf_graph = tf.Graph()
    with tf_graph.as_default():
        tf.graph_util.import_graph_def(tfcompat.to_tf(graph), name="")
        # Grappler keeps what the "train_op" collection fetches and may prune the rest.
        fetch = tf_graph.get_collection_ref("train_op")
        for name in output_names:
            fetch.append(tf_graph.get_operation_by_name(name))
        meta_graph = tf.compat.v1.train.export_meta_graph(graph=tf_graph)
    config = config_pb2.ConfigProto()
    rewrites = config.graph_options.rewrite_options
    rewrites.optimizers.extend(optimizers)
    rewrites.min_graph_nodes = -1
    return tfcompat.from_tf(tf_optimizer.OptimizeGraph(config, meta_graph, verbose=False))


# --- checks -------------------------------------------------------------------


def _check_structure(graph: GraphDef, what: str) -> None:
    names: set[str] = set()
    for index, node in enumerate(graph.node):
        if not node.name or not node.op:
            raise InspectorError(f"{what}: node #{index} has no {'name' if not node.name else 'op'}; export the graph again")
        if node.name in names:
            raise InspectorError(f"{what}: two nodes are named {node.name!r}; export the graph again")
        names.add(node.name)
    for node in graph.node:
        for raw in node.input:
            if node_of(raw) not in names:
                raise InspectorError(f"{what}: node {node.name!r} reads {raw!r}, which is not in the graph; export the graph again")


def _given_names(graph: GraphDef, names: Sequence[str], flag: str, what: str) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [names]
    known = {node.name for node in graph.node}
    cleaned: list[str] = []
    for raw in names:
        name = raw.strip()
        if name.endswith(":0"):
            name = name[:-2]
        if ":" in name and name.rsplit(":", 1)[1].isdigit():
            raise InspectorError(f"{what}: {raw!r} names a tensor, not a node; pass the node name to {flag}")
        if name and name not in cleaned:
            cleaned.append(name)
    if not cleaned:
        raise InspectorError(f"{what}: {flag} is empty; pass at least one node name")
    missing = [name for name in cleaned if name not in known]
    if missing:
        close = difflib.get_close_matches(missing[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; list the nodes with `inspector stats`"
        raise InspectorError(f"{what}: no node named {', '.join(repr(m) for m in missing)} ({flag}){hint}")
    return tuple(cleaned)


def _restore_inputs(result: GraphDef, originals: dict, info: dict, inputs: Sequence[str], dtype: int) -> None:
    """Each input is a Placeholder of ``dtype`` with the shape it was declared with (or had, for other ops)."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    from inspector.optimizer.passes.prune import declared_shape

    for node in result.node:
        if node.name not in inputs:
            continue
        node.attr["dtype"].type = dtype
        if "shape" in node.attr:
            continue
        shape = declared_shape(originals[node.name])
        static = (info.get(node.name) or [(None, None)])[0][1]
        if shape is None and static is not None:
            dims = [TensorShapeProto.Dim(size=-1 if d is None else d) for d in static]
            shape = AttrValue(shape=TensorShapeProto(dim=dims))
        if shape is not None:
            node.attr["shape"].CopyFrom(shape)


def _validate(result: GraphDef, *, inputs: Sequence[str], outputs: Sequence[str], what: str) -> None:
    from inspector.optimizer.passes import tfrun

    names = {node.name: node for node in result.node}
    lost = [name for name in list(outputs) + list(inputs) if name not in names]
    if lost:
        raise InspectorError(f"{what}: the optimized graph lost {', '.join(lost)}; this is a bug in inspector's optimizer, please report it")
    internal = sorted({node.op for node in result.node if node.op.startswith("_")})
    if internal:
        raise InspectorError(
            f"{what}: uses TensorFlow-internal ops ({', '.join(internal)}) that mobile runtimes cannot load; "
            "export the graph again without Grappler's remapper"
        )
    try:
        tfrun.import_graph(result)
    except tfrun.ImportFailed as exc:
        raise InspectorError(
            f"{what}: the optimized graph does not import into TensorFlow ({exc}); not written. "
            "This is a bug in inspector's optimizer, please report it with the graph"
        ) from None
