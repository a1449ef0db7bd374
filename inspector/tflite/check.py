"""Will it load on the phone: TensorFlow Lite's converter on a frozen graph, and which ops stop it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.analysis.summary import Flag, summarize
from inspector.graph.io import LoadedGraph
from inspector.graph.refs import upstream
from inspector.graph.names import Resolver, parse_names
from inspector.graph.trust import refuse_to_run
from inspector.tflite.convert import Attempt, convert, input_shapes, is_constant, tflite_ops, to_tf

# OpIssue.status values.
FLEX = "flex"                # no builtin, but TensorFlow Select ops (the Flex delegate) run it
UNSUPPORTED = "unsupported"  # neither: the app would need a custom op

# Node names listed per op issue; the count says how many there are in all.
MAX_ISSUE_NODES = 5


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
            size = f", {mib(self.tflite_bytes)}" if self.tflite_bytes is not None else ""
            return f"converts to TensorFlow Lite builtin ops only ({ops} ops{size}): loads in any TensorFlow Lite runtime" + extra
        if self.unsupported_ops:
            return (f"cannot convert: {issues_text(self.issues, UNSUPPORTED)} "
                    "neither a TensorFlow Lite builtin nor a Select op" + extra)
        if self.flex_ops:
            text = f"needs TensorFlow Select ops for {issues_text(self.issues, FLEX)}: the app must link tensorflow-lite-select-tf-ops"
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


# --- check ----------------------------------------------------------------------------


def check(
    loaded: LoadedGraph,
    *,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    input_height: int | None = None,
    input_width: int | None = None,
    allow_unsafe_ops: bool = False,
) -> MobileVerdict:
    """Convert the graph with TensorFlow's own TensorFlow Lite converter and say whether it loads on a phone.

    First with builtin ops only (``ok`` when that works); when it fails, again
    with TensorFlow Select ops allowed, to tell ops that need the Flex delegate
    from ops nothing can run. Names left out are the graph's signature's: its
    model inputs, with the scalar placeholders its output reads (the converter
    must be given every placeholder it needs), and its one output. An image input
    that declares no size needs ``input_height`` and ``input_width``. Nothing is
    written or cached. A graph holding an op the op policy refuses (graph/trust.py)
    is an InspectorError unless ``allow_unsafe_ops``: the converter imports the graph
    and folds its constants.
    """
    what = str(loaded.path)
    refuse_to_run(loaded.graph, what=what, allow_unsafe_ops=allow_unsafe_ops)
    summary = summarize(loaded)
    names = Resolver(loaded.graph, what=what)
    inputs = names.inputs(input_names)
    if parse_names(input_names) is None:
        # Issue 11 gives such a setting (a keep_prob) its inference value instead.
        inputs += tuple(s.name for s in names.signature.auxiliary if s.needed)
    outputs = names.outputs(output_names)
    shapes = input_shapes(loaded, inputs, input_height=input_height, input_width=input_width, sig=names.signature)
    tf_graph = to_tf(loaded, what)
    start = time.perf_counter()
    builtin = convert(tf_graph, inputs=list(zip(inputs, shapes)), outputs=outputs, select=False, what=what)
    select: Attempt | None = None
    if builtin.model is None:
        select = convert(tf_graph, inputs=list(zip(inputs, shapes)), outputs=outputs, select=True, what=what)
    seconds = time.perf_counter() - start

    issues: tuple[OpIssue, ...] = ()
    error: str | None = None
    model = builtin.model
    if builtin.model is None and select is not None:
        model = select.model
        issues = find_issues(loaded.graph, outputs, builtin, select)
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
        tflite_ops=tflite_ops(model) if model is not None else {},
        tflite_bytes=len(model) if model is not None else None,
        flags=summary.flags,
        seconds=seconds,
    )


def find_issues(graph: GraphDef, outputs: Sequence[str], builtin: Attempt, select: Attempt) -> tuple[OpIssue, ...]:
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
        for op in tflite_ops(select.model):
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
            constant = bool(names) and all(is_constant(graph, name) for name in names)
            issues.append(OpIssue(op=op, status=status, nodes=tuple(names[:MAX_ISSUE_NODES]), count=len(names), constant=constant))
    return tuple(issues)


def issue_nodes(graph: GraphDef, outputs: Sequence[str], issues: Sequence[OpIssue]) -> list[str]:
    needed = upstream(graph, list(outputs))
    ops = {i.op for i in issues}
    return [node.name for node in graph.node if node.name in needed and node.op in ops]


# --- wording ----------------------------------------------------------------------------


def issues_text(issues: Sequence[OpIssue], status: str) -> str:
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


def mib(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


__all__ = ["check", "MobileVerdict", "OpIssue", "FLEX", "UNSUPPORTED", "MAX_ISSUE_NODES", "find_issues", "issue_nodes", "issues_text", "mib"]
