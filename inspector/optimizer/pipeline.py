"""The inference optimizer: input/output names, running the registry of passes, and what each pass did."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.errors import InspectorError
from inspector.graph.ops import VARIABLE_OPS, dtype_name
from inspector.graph.io import check_graph
from inspector.graph.refs import upstream
from inspector.graph.names import Resolver
from inspector.graph.table import gc_paused

if TYPE_CHECKING:
    from inspector.graph.signature import Signature
    from inspector.graph.stats import GraphStats
    from inspector.graph.workgraph import WorkGraph


@dataclass(frozen=True)
class DetectedNames:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class PassReport:
    """One pass: the nodes it removed, added and rewired, why, and what it did in words.

    Found by comparing the working graph (name, op, inputs of each node) before
    and after the pass. A node that changed op (an Add folded into a Const of the
    same name) is both removed and added; one that kept its op but reads other
    inputs is rewired. Every node listed has a reason: the pass's own where it
    gave one, else one read off the change. Across a run, replaying the passes'
    removed and added names in order turns the input graph's names into the
    output graph's.
    """

    name: str
    notes: tuple[str, ...] = ()
    removed_nodes: tuple[str, ...] = ()
    added_nodes: tuple[str, ...] = ()
    rewired_nodes: tuple[str, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict, hash=False)
    skipped: str | None = None  # why the pass did not run: "--skip-pass", or what an option says

    @property
    def removed(self) -> int:
        return len(self.removed_nodes)

    @property
    def added(self) -> int:
        return len(self.added_nodes)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "removed": self.removed,
            "added": self.added,
            "notes": list(self.notes),
            "skipped": self.skipped,
            "removed_nodes": list(self.removed_nodes),
            "added_nodes": list(self.added_nodes),
            "rewired_nodes": list(self.rewired_nodes),
            "reasons": dict(self.reasons),
        }


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
    # Dropout cut out because it keeps every value at the inference values (a keep probability of 1): no randomness.
    dropout_off: tuple[str, ...] = ()
    fed: Mapping[str, float | bool] = field(default_factory=dict, hash=False)  # auxiliary inputs stored as constants
    # The input graph's signature, which the names were detected from (for a diff of the two, not for JSON).
    signature: Signature | None = field(default=None, hash=False, compare=False, repr=False)
    # The result's, when it was worked out while a helper process checked that the result imports (else None).
    result_signature: Signature | None = field(default=None, hash=False, compare=False, repr=False)
    # Both graphs' counts and sizes (the op table's), worked out then too (else None).
    stats: tuple[GraphStats, GraphStats] | None = field(default=None, hash=False, compare=False, repr=False)

    def to_json(self) -> dict:
        return {
            "input_names": list(self.input_names),
            "output_names": list(self.output_names),
            "detected": self.detected,
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            "passes": [p.to_json() for p in self.passes],
            "unfolded": [{"node": u.node, "reason": u.reason} for u in self.unfolded],
            "dropout": list(self.dropout),
            "dropout_stripped": self.dropout_stripped,
            "dropout_off": list(self.dropout_off),
            "fed": dict(self.fed),
        }



def detect_names(
    graph: GraphDef,
    *,
    what: str = "the graph",
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> DetectedNames:
    """Given names resolved, the others read from the graph's signature (inspector.graph.signature).

    The inputs are its model inputs; the output its one output. Several possible
    outputs is an error that asks for the flag rather than a guess: picking the
    wrong output silently optimizes the wrong model.
    """
    return _detect(Resolver(graph, what=what), input_names, output_names)


def _detect(names: Resolver, input_names: Sequence[str] | None, output_names: Sequence[str] | None) -> DetectedNames:
    return DetectedNames(inputs=names.inputs(input_names), outputs=names.outputs(output_names))


# Passes make and drop millions of small objects; the cycle collector's full walks over them cost
# a quarter of a 100k-node run. What few cycles TensorFlow's imports leave are collected after.
@gc_paused()
def optimize(
    graph: GraphDef,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    placeholder_type_enum: int = DataType.DT_FLOAT,
    toco_compatible: bool = False,
    frozen_graph: bool = True,
    strip_dropout: bool = False,
    skip: Iterable[str] = (),
    what: str = "the graph",
    checked: bool = False,
) -> OptimizeResult:
    """Optimize a frozen graph for inference and say what each pass did.

    Names left as None are detected (see :func:`detect_names`). The result is
    checked to import into TensorFlow before it is returned; a graph that would
    not is an InspectorError, never a return value. ``toco_compatible`` skips the
    resize/pad+conv fusion (its fused ops are not TFLite ops) and keeps activations
    next to their convolutions, where TFLite fuses them; ``frozen_graph=False``
    lets variables through (their values cannot be folded); ``strip_dropout``
    removes training-mode dropout, which is reported either way. Auxiliary inputs
    whose inference value the signature knows (a keep probability 1, a training
    flag false) are stored as that value, so the result equals the original fed
    with them, and the dropout and tf.cond branches they turn off go. ``skip``
    names passes of :data:`inspector.optimizer.passes.PASSES` not to run.
    ``checked``: the caller made :func:`inspector.graph.io.check_graph`'s checks
    already (load_graph does).
    """
    from inspector.graph.workgraph import WorkGraph
    from inspector.graph.signature import signature
    from inspector.graph.stats import graph_stats
    from inspector.optimizer.passes import PASSES, checked_skip, tfprocess, tfrun
    from inspector.optimizer.passes.context import Options, PassContext

    skipped = checked_skip(skip)
    if not checked:
        check_graph(graph, path=what)
    detected = input_names is None or output_names is None
    resolver = Resolver(graph, what=what)
    names = _detect(resolver, input_names, output_names)
    inputs, outputs = names.inputs, names.outputs
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

    original_info = _input_outputs(graph, [name for name in inputs if originals[name].op != "Placeholder"], what=what)
    for name in inputs:
        outputs_of = original_info.get(name) or [(None, None)]
        dtype = outputs_of[0][0]
        # An input that is not a Placeholder becomes one; its readers still expect its old dtype (refs aside).
        if dtype is not None and dtype % 100 != placeholder_type_enum:
            raise InspectorError(
                f"{what}: input {name} gives {dtype_name(dtype % 100)}, not {dtype_name(placeholder_type_enum)}; "
                f"pass --placeholder_type_enum {dtype % 100}"
            )
    variables = _needed_variables(graph, inputs=inputs, outputs=outputs)
    if variables and frozen_graph:
        raise InspectorError(
            f"{what}: holds {len(variables)} variables (e.g. {variables[0]}), so it is not frozen; freeze it first "
            "(retrain.py and freeze_graph write frozen graphs) or pass --frozen_graph=False"
        )
    options = Options(
        placeholder_type_enum=placeholder_type_enum, toco_compatible=toco_compatible, frozen=frozen_graph,
        strip_dropout=strip_dropout,
    )
    def run_passes(check_each: bool) -> tuple[PassContext, list[PassReport]]:
        ctx = PassContext(graph=WorkGraph(graph), inputs=tuple(inputs), outputs=tuple(outputs), options=options,
                          signature=resolver.signature)
        reports: list[PassReport] = []
        for step in PASSES:
            reason = "--skip-pass" if step.name in skipped else step.skip_reason(options)
            if reason:
                reports.append(PassReport(step.name, notes=(f"skipped: {reason}",), skipped=reason))
                continue
            ctx.graph.take_changes()
            ctx.reasons = {}
            try:
                notes = step.run(ctx)
                if check_each:
                    tfrun.check_import(tfrun.light(ctx.graph.to_graphdef()))
            except tfrun.ImportFailed as exc:
                if not check_each:
                    raise  # a pass before this one may have broken the graph: the checked run finds which
                raise InspectorError(
                    f"{what}: after the {step.name} pass the graph does not import into TensorFlow ({exc}); nothing "
                    "written. This is a bug in inspector's optimizer, please report it with the graph"
                ) from None
            except tfrun.EvaluateFailed as exc:
                # The graph imports, but a Const's value does not match its shape or dtype: a damaged file.
                raise InspectorError(
                    f"{what}: TensorFlow cannot compute the graph's constants ({exc}); a Const is corrupt "
                    "(a damaged or hand-edited file?), export the graph again"
                ) from None
            reports.append(_report(step.name, notes, ctx.graph, ctx.reasons))
        return ctx, reports

    # The passes share one working graph; the result is checked once. Only when that check fails are the
    # passes run again, each checked after it runs, so the error names the pass at fault.
    def finished(ctx: PassContext) -> GraphDef:
        result = ctx.graph.to_graphdef()
        _restore_inputs(result, originals, original_info, inputs, placeholder_type_enum)
        return result

    try:
        ctx, reports = run_passes(check_each=False)
        result = finished(ctx)
        check = tfrun.check_import_later(result)
        result_signature, stats = None, None
        if tfprocess.active() is not None:
            # While a helper process imports the result, what a report of the two graphs needs is worked out here.
            result_signature = signature(result)
            stats = (graph_stats(graph, sig=resolver.signature), graph_stats(result, sig=result_signature))
        check()
        imported = True
    except tfrun.ImportFailed:
        # The input is imported only now: a graph TensorFlow cannot import is the user's to fix, not a pass's fault.
        _importable(graph, what=what)
        ctx, reports = run_passes(check_each=True)
        result = finished(ctx)
        imported, result_signature, stats = False, None, None
    _validate(result, inputs=inputs, outputs=outputs, what=what, imported=imported)
    found, stripped = ctx.dropouts, ctx.stripped
    return OptimizeResult(
        graph=result,
        input_names=tuple(inputs),
        output_names=tuple(outputs),
        detected=detected,
        passes=tuple(reports),
        unfolded=tuple(Unfolded(node=name, reason=reason) for name, reason in ctx.unfolded),
        dropout=tuple(d.output for d in found),
        dropout_stripped=bool(found) and len(stripped) == len(found),
        nodes_before=len(graph.node),
        nodes_after=len(result.node),
        dropout_off=tuple(d.output for d in ctx.dropouts_off),
        fed=_stored(resolver.signature.inference_values, reports, inputs),
        signature=resolver.signature,
        result_signature=result_signature,
        stats=stats,
    )


def _stored(values: Mapping[str, float | bool], reports: Sequence[PassReport], inputs: Sequence[str]) -> dict:
    """The inference values the inference_values pass stored as constants (none when it was skipped)."""
    ran = any(p.name == "inference_values" and p.skipped is None for p in reports)
    return {name: value for name, value in values.items() if ran and name not in inputs}


def optimize_graph(graph: GraphDef, *, input_names: Sequence[str], output_names: Sequence[str]) -> GraphDef:
    """Optimize for inference with inspector's passes and return just the graph."""
    return optimize(graph, input_names=input_names, output_names=output_names).graph


# --- what a pass did ------------------------------------------------------------

Snapshot = dict[str, tuple[str, tuple[str, ...]]]  # name -> (op, inputs), of the nodes a pass touched


def _report(name: str, notes: Sequence[str], g: WorkGraph, given: Mapping[str, str]) -> PassReport:
    """The pass's record: what it changed (the working graph's changes since the pass began), each with a reason."""
    changes = g.take_changes()
    before = {n: old for n, (old, _) in changes.items() if old is not None}
    after = {n: new for n, (_, new) in changes.items() if new is not None}
    removed = [n for n, (op, _) in before.items() if n not in after or after[n][0] != op]
    added = [n for n, (op, _) in after.items() if n not in before or before[n][0] != op]
    rewired = [n for n, (op, inputs) in after.items() if n in before and before[n][0] == op and before[n][1] != inputs]
    reasons = {}
    for node in dict.fromkeys(removed + added + rewired):
        reasons[node] = given.get(node) or _read_off(node, before, after, g)
    return PassReport(
        name=name, notes=tuple(notes), removed_nodes=tuple(removed), added_nodes=tuple(added),
        rewired_nodes=tuple(rewired), reasons=reasons,
    )


def _read_off(node: str, before: Snapshot, after: Snapshot, g: WorkGraph) -> str:
    """A reason for a change the pass gave none for, from the snapshots alone."""
    old, new = before.get(node), after.get(node)
    if old is not None and new is not None and old[0] != new[0]:
        return f"{old[0]} replaced by {new[0]}"
    if new is None:
        return f"{old[0]} removed: nothing the outputs need reads it any more"
    if old is None:
        users = [user.name for user in g.users(node)]
        return f"new {new[0]}" + (f", read by {_some(users)}" if users else "")
    gone = [ref for ref in old[1] if ref not in new[1]]
    came = [ref for ref in new[1] if ref not in old[1]]
    if gone and came:
        return f"reads {_some(came)} instead of {_some(gone)}"
    if gone:
        return f"no longer reads {_some(gone)}"
    return f"now also reads {_some(came)}" if came else "reads its inputs in another order"


def _some(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _needed_variables(graph: GraphDef, *, inputs: Sequence[str], outputs: Sequence[str]) -> list[str]:
    """Variable nodes the outputs read, short of the inputs (what strip_unused would keep of them)."""
    variables = [node.name for node in graph.node if node.op in VARIABLE_OPS]
    if not variables:
        return []  # a frozen graph has none: no walk
    seen = upstream(graph, outputs, stop=inputs)
    return [name for name in variables if name in seen]


# --- checks -------------------------------------------------------------------


def _importable(graph: GraphDef, *, what: str) -> Mapping:
    """The static outputs of ``graph`` as TensorFlow imports it, or an InspectorError saying it cannot."""
    from inspector.optimizer.passes import tfrun

    try:
        return tfrun.static_outputs(graph)
    except tfrun.ImportFailed as exc:
        raise InspectorError(
            f"{what}: TensorFlow cannot import this graph ({exc}); check that it loads with "
            "tf.graph_util.import_graph_def (a custom op, or a graph from a newer TensorFlow?)"
        ) from None


def _input_outputs(graph: GraphDef, names: Sequence[str], *, what: str) -> Mapping:
    """(dtype, static shape) of the outputs of the inputs ``names`` that are no Placeholder, imported on their own.

    The inputs and what they read import alone (tfrun.closed_subgraph), not the
    whole graph (a second of TensorFlow's time per 100k nodes). A Placeholder
    says its dtype and shape itself.
    """
    from inspector.optimizer.passes import tfrun

    if not names:
        return {}
    return _importable(tfrun.closed_subgraph(graph, upstream(graph, names)), what=what)


def _restore_inputs(result: GraphDef, originals: dict, info: dict, inputs: Sequence[str], dtype: int) -> None:
    """Each input is a Placeholder of ``dtype`` with the shape it was declared with (or had, for other ops)."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    from inspector.optimizer.passes.prune import declared_shape

    for node in result.node:
        # Not a Placeholder only when strip_unused was skipped: then the node is left as it is.
        if node.name not in inputs or node.op != "Placeholder":
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


def _validate(result: GraphDef, *, inputs: Sequence[str], outputs: Sequence[str], what: str, imported: bool = False) -> None:
    """The result keeps its inputs and outputs, uses no TensorFlow-internal op, and imports (unless ``imported`` already)."""
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
    if imported:
        return
    try:
        tfrun.check_import(result)
    except tfrun.ImportFailed as exc:
        raise InspectorError(
            f"{what}: the optimized graph does not import into TensorFlow ({exc}); not written. "
            "This is a bug in inspector's optimizer, please report it with the graph"
        ) from None
