"""What a frozen graph is, read from the protobuf alone (like TensorFlow's summarize_graph), and what in it does not belong in an inference graph."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.io import LoadedGraph
from inspector.graph.refs import split_ref
from inspector.graph.ops import (
    CONTROL_FLOW_OPS, LOOP_OPS, SWITCH_OPS, V1_CONTROL_FLOW_OPS, UnsafeNode, is_random, unsafe_nodes,
)
from inspector.graph.settings import PURPOSE_WORDS, exactly, value_range
from inspector.graph.signature import TRAINING_FIX, InputSpec, LeftOut, OutputSpec, Signature, signature, training_reason
from inspector.graph.stats import graph_stats
from inspector.graph.table import NodeTable, gc_paused
from inspector.graph.workgraph import WorkGraph
from inspector.optimizer.passes.dropout import OFF, ON, find_dropout

# Node names listed per flag; the count says how many there are in all.
MAX_FLAG_NODES = 5

# Flag kinds. The first two are ops an inference-only runtime never needs.
DROPOUT = "dropout"
DROPOUT_OFF = "dropout_off"  # dropout whose mask keeps every value at the inference values: no randomness, ops to cut
TRAINING = "training"
CONTROL_FLOW = "control_flow"
FLOAT64 = "float64"
UNKNOWN_DIMS = "unknown_dims"
UNSAFE = "unsafe"  # a security finding: an op inspector never runs (graph/ops.py's op policy)
TRAINING_KINDS = frozenset({DROPOUT, TRAINING})
# Flags that make a graph no inference graph: training leftovers (dropout that is off included: its random
# ops and settings are still there to feed and run), and ops that reach outside the graph.
NOT_READY_KINDS = TRAINING_KINDS | {UNSAFE, DROPOUT_OFF}


@dataclass(frozen=True)
class Flag:
    """Something in the graph an inference graph should not have: which op, where, and what to do."""

    kind: str                 # dropout, dropout_off, training, unsafe, control_flow, float64, unknown_dims
    op: str                   # the op type of the nodes listed
    nodes: tuple[str, ...]    # the first MAX_FLAG_NODES node names
    count: int                # how many nodes in all
    why: str                  # one line: why it matters, then (after "; ") the fix

    @property
    def training_only(self) -> bool:
        return self.kind in TRAINING_KINDS

    @property
    def unsafe(self) -> bool:
        """A security finding: the op reads or writes files, runs Python, talks to the network..."""
        return self.kind == UNSAFE

    def to_json(self) -> dict:
        return {"kind": self.kind, "op": self.op, "nodes": list(self.nodes), "count": self.count, "why": self.why}


@dataclass(frozen=True)
class GraphSummary:
    path: Path
    format: str
    size_bytes: int
    nodes: int
    ops: dict[str, int]                     # op histogram, most used first
    params: int                             # elements held in Const tensors
    const_bytes: int                        # bytes held in Const tensors
    inputs: tuple[InputSpec, ...]           # model inputs (graph/signature.py decides them for every command)
    optional_inputs: tuple[InputSpec, ...]  # PlaceholderWithDefault: fed only to bypass what computes the default
    outputs: tuple[OutputSpec, ...]         # several: the graph is ambiguous, commands ask for --output_names
    flags: tuple[Flag, ...]
    auxiliary_inputs: tuple[InputSpec, ...] = ()  # settings (with .value, .purpose, .why), labels, encoded image bytes
    left_out: tuple[LeftOut, ...] = ()            # sinks and placeholders that are neither, and why

    @property
    def inference_values(self) -> dict[str, float | bool]:
        """What each needed auxiliary input is fed at inference (a keep probability 1, a training flag false)."""
        return {s.name: s.value for s in self.auxiliary_inputs if s.needed and s.value is not None}

    @property
    def unfed(self) -> tuple[InputSpec, ...]:
        """Needed auxiliary inputs whose value at inference the graph does not tell: the user feeds them."""
        return tuple(s for s in self.auxiliary_inputs if s.needed and s.value is None)

    @property
    def training_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.training_only)

    @property
    def unsafe_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.unsafe)

    @property
    def inference_ready(self) -> bool:
        """No op in the graph that only training needs, and none that inspector refuses to run."""
        return not any(f.kind in NOT_READY_KINDS for f in self.flags)

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "format": self.format,
            "size_bytes": self.size_bytes,
            "nodes": self.nodes,
            "ops": dict(self.ops),
            "params": self.params,
            "const_bytes": self.const_bytes,
            "inputs": [s.to_json() for s in self.inputs],
            "optional_inputs": [s.to_json() for s in self.optional_inputs],
            "auxiliary_inputs": [s.to_json() for s in self.auxiliary_inputs],
            "outputs": [o.to_json() for o in self.outputs],
            "left_out": [x.to_json() for x in self.left_out],
            "inference_values": self.inference_values,
            "unfed": [s.name for s in self.unfed],
            "inference_ready": self.inference_ready,
            "flags": [f.to_json() for f in self.flags],
        }


@gc_paused()  # millions of small objects, no cycles
def summarize(loaded: LoadedGraph) -> GraphSummary:
    """Inputs, outputs, sizes, op histogram and flags of one graph; reads the protobuf only (no TensorFlow)."""
    graph = loaded.graph
    sig = signature(graph)
    stats = graph_stats(graph, sig=sig)
    flags = (
        _unsafe_flags(graph)
        + _dropout_flags(graph, sig)
        + _training_flags(graph)
        + _control_flow_flags(graph, sig)
        + _float64_flags(graph)
        + _unknown_dim_flags(sig.inputs)
    )
    return GraphSummary(
        path=loaded.path,
        format=loaded.format,
        size_bytes=loaded.size_bytes,
        nodes=stats.nodes,
        ops=stats.ops,
        params=stats.params,
        const_bytes=stats.const_bytes,
        inputs=sig.inputs,
        optional_inputs=sig.optional,
        outputs=sig.outputs,
        flags=tuple(flags),
        auxiliary_inputs=sig.auxiliary,
        left_out=sig.left_out,
    )


# --- flags ----------------------------------------------------------------------


def _flag(kind: str, op: str, names: list[str], why: str) -> Flag:
    return Flag(kind=kind, op=op, nodes=tuple(names[:MAX_FLAG_NODES]), count=len(names), why=why)


def _grouped(nodes: list[NodeDef]) -> dict[str, list[str]]:
    """Node names by op type, op types in first-seen order."""
    groups: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        groups[node.op].append(node.name)
    return groups


def _unsafe_flags(graph: GraphDef) -> list[Flag]:
    groups: dict[tuple[str, str], list[UnsafeNode]] = defaultdict(list)
    for found in unsafe_nodes(graph):
        groups[found.op, _unsafe_text(found)].append(found)
    return [
        _flag(UNSAFE, op, [u.node for u in found],
              f"{text}: inspector never runs it nor evaluates it (verify, label, bench, check and export refuse the graph, "
              "optimize never folds it); remove it from the graph, or pass --allow-unsafe-ops to run a graph you trust")
        for (op, text), found in groups.items()
    ]


def _unsafe_text(found: UnsafeNode) -> str:
    if not found.runs:
        return found.why
    if not found.via:
        return f"runs the {found.runs} op, which {found.why}"
    return f"calls function {found.via[0]!r}, which holds a {found.runs} op, which {found.why}"


def _dropout_flags(graph: GraphDef, sig: Signature) -> list[Flag]:
    randoms = [n for n in graph.node if is_random(n.op)]
    if not randoms:
        return []
    found, _ = find_dropout(WorkGraph(graph), inputs=list(sig.input_names), values=sig.inference_values)
    by_random = {d.random: d for d in found}
    flags: list[Flag] = []
    # Each dropout's random ops: the draw find_dropout names, and what else feeds only its mask (Keras' key/counter).
    members = {n.name: by_random[n.name] for n in randoms if n.name in by_random}
    for d in found:
        for name in _mask_randoms(graph, d.output, randoms):
            members.setdefault(name, d)
    on = [n for n in randoms if n.name in members and members[n.name].state == ON]
    for op, names in _grouped(on).items():
        where = ", ".join(dict.fromkeys(members[name].output for name in names[:2]))
        flags.append(_flag(
            DROPOUT, op, names,
            f"training dropout still active: a random mask applied at {where} changes the output on every run; "
            "re-export with dropout off (is_training=False), or strip it with inspector optimize --strip-dropout",
        ))
    off = [n for n in randoms if n.name in members and members[n.name].state != ON]
    for op, names in _grouped(off).items():
        d = members[names[0]]
        flags.append(_flag(DROPOUT_OFF, op, names, f"dropout (a random mask applied at {d.output}) {_off_text(d, sig)}; "
                           "inspector optimize cuts it and its random ops out"))
    # Random ops outside a dropout: initializers left behind, or noise layers.
    other = [n for n in randoms if n.name not in members]
    for op, names in _grouped(other).items():
        flags.append(_flag(
            TRAINING, op, names,
            "random numbers drawn at run time (an initializer or noise layer left from training), so outputs may vary; "
            + TRAINING_FIX,
        ))
    return flags


def _off_text(dropout, sig: Signature) -> str:
    """How a dropout that is off gets there: at which auxiliary inputs' inference values, or as the graph stands."""
    if dropout.state == OFF:
        return "keeps every value as the graph stands (keep probability 1 or rate 0), so outputs are not random"
    parts = []
    for name in dropout.settings:
        spec = sig.spec(name)
        if spec is not None and spec.value is not None:
            shown = str(spec.value).lower() if isinstance(spec.value, bool) else f"{spec.value:g}"
            parts.append(f"{name} = {shown} ({PURPOSE_WORDS.get(spec.purpose, spec.role)})")
    return (f"is off at inference, where {', '.join(parts)}: every inspector command feeds that, so outputs are "
            "not random; an app must feed it too")


def _mask_randoms(graph: GraphDef, output: str, randoms: list[NodeDef]) -> list[str]:
    """The random ops whose values reach ``output`` (a dropout's apply node)."""
    by_name = {n.name: n for n in graph.node}
    seen: set[str] = set()
    stack = [output]
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        stack.extend(split_ref(r)[0] for r in by_name[name].input if not r.startswith("^"))
    return [n.name for n in randoms if n.name in seen]


def _training_flags(graph: GraphDef) -> list[Flag]:
    buckets: dict[tuple[str, str], list[NodeDef]] = defaultdict(list)
    for node in graph.node:
        reason = training_reason(node)
        if reason is not None:
            buckets[(reason, node.op)].append(node)
    flags = []
    for (reason, op), nodes in buckets.items():
        flags.append(_flag(TRAINING, op, [n.name for n in nodes], reason))
    return flags


def _control_flow_flags(graph: GraphDef, sig: Signature) -> list[Flag]:
    nodes = [n for n in graph.node if n.op in CONTROL_FLOW_OPS]
    fixed = _fixed_conds(graph, sig) if nodes else None
    flags = []
    for op, names in _grouped(nodes).items():
        if op in V1_CONTROL_FLOW_OPS and fixed is not None:
            why = (f"TF1 tf.cond on a predicate fixed at inference ({fixed}): inspector optimize keeps the branch "
                   "taken and removes the Switch and Merge, which TensorFlow Lite converts only after lowering")
        elif op in V1_CONTROL_FLOW_OPS:
            why = ("TF1 control flow (tf.cond / tf.while_loop): TensorFlow Lite converts it only after lowering, and "
                   "in an inference graph it usually switches on a training flag; fix the branch (is_training=False) "
                   "and re-export; the mobile check says whether it converts")
        else:
            why = ("functional control flow: TensorFlow Lite runs it as subgraphs, slower than a straight graph and "
                   "not on every delegate; the mobile check says whether it converts")
        flags.append(_flag(CONTROL_FLOW, op, names, why))
    return flags


def _fixed_conds(graph: GraphDef, sig: Signature) -> str | None:
    """When every TF1 control-flow op is a tf.cond whose predicate the inference values fix: what fixes them."""
    if any(n.op in LOOP_OPS for n in graph.node):
        return None
    index = NodeTable(graph)
    env = {name: exactly(float(value)) for name, value in sig.inference_values.items()}
    used: list[str] = []
    for node in graph.node:
        if node.op not in SWITCH_OPS:
            continue
        data = [r for r in node.input if not r.startswith("^")]
        pred = value_range(index, data[1], env) if len(data) == 2 else None
        if pred is None or pred.exact is None:
            return None
        used += [name for name in env if value_range(index, data[1], {k: v for k, v in env.items() if k != name}) is None]
    if not used:
        return "a constant"
    return ", ".join(f"{name} = {str(bool(sig.inference_values[name])).lower()}" for name in dict.fromkeys(used))


def _float64_flags(graph: GraphDef) -> list[Flag]:
    nodes = [n for n in graph.node if _uses_double(n)]
    return [
        _flag(FLOAT64, op, names,
              "computes in float64: phones compute in float32 and TensorFlow Lite has few float64 kernels; "
              "cast to float32 (tf.float32) before the graph is exported")
        for op, names in _grouped(nodes).items()
    ]


_DOUBLE = DataType.DT_DOUBLE  # read once: each enum lookup goes through protobuf's wrapper


def _uses_double(node: NodeDef) -> bool:
    for value in node.attr.values():
        kind = value.WhichOneof("value")
        if kind == "type":
            if value.type == _DOUBLE:
                return True
        elif kind == "list":
            if _DOUBLE in value.list.type:
                return True
        elif kind == "tensor" and value.tensor.dtype == _DOUBLE:
            return True
    return False


def _unknown_dim_flags(inputs: tuple[InputSpec, ...]) -> list[Flag]:
    flags = []
    for spec in inputs:
        if spec.shape is None:
            why = ("declares no shape (TF1 optimize_for_inference drops it): TensorFlow Lite needs a fixed input shape; "
                   "pass the size retrain.py trained at (--input_height/--input_width, as the codelab's toco "
                   "--input_shape=1,224,224,3)")
        elif not any(d < 0 for d in spec.shape):
            continue
        elif all(d >= 0 for d in spec.shape[1:]):
            why = (f"batch size unknown (shape {_shape_text(spec.shape)}): the TensorFlow Lite converter fixes it "
                   "to 1, one photo per run, as an app runs it")
        else:
            why = (f"unknown dimensions (shape {_shape_text(spec.shape)}): TensorFlow Lite needs every dimension but "
                   "the batch fixed; pass the size retrain.py trained at (--input_height/--input_width)")
        flags.append(_flag(UNKNOWN_DIMS, spec.op, [spec.name], why))
    return flags


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"



__all__ = [
    "summarize",
    "GraphSummary",
    "Flag",
    "OutputSpec",
    "MAX_FLAG_NODES",
    "TRAINING_KINDS",
    "DROPOUT",
    "DROPOUT_OFF",
    "TRAINING",
    "CONTROL_FLOW",
    "FLOAT64",
    "UNKNOWN_DIMS",
    "UNSAFE",
    "NOT_READY_KINDS",
]
