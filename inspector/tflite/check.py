"""Will it load on the phone: the .tflite export writes, made the way export makes it, and which ops stop it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.analysis.summary import Flag, summarize
from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph
from inspector.graph.ops import PLACEHOLDER_OPS
from inspector.graph.refs import upstream
from inspector.graph.settings import PURPOSE_WORDS
from inspector.graph.names import Resolver, parse_names
from inspector.graph.signature import LABEL, InputSpec, Signature, placeholder_spec
from inspector.graph.trust import refuse_to_run
from inspector.run.feeds import Feed, InputOption, numpy_dtype, shape_text, value_text
from inspector.tflite.convert import (
    Attempt, check_quantize, convert, fold, input_shapes, is_constant, tflite_ops, to_tf, with_values,
)

# OpIssue.status values.
FLEX = "flex"                # no builtin, but TensorFlow Select ops (the Flex delegate) run it
UNSUPPORTED = "unsupported"  # neither: the app would need a custom op

# Node names listed per op issue; the count says how many there are in all.
MAX_ISSUE_NODES = 5

# InputSpec.purpose (graph/signature.py) in words.


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
        if self.constant:
            text = (f"{self.op} has no TensorFlow Lite builtin, but it computes from constants only: export computes it "
                    "in TensorFlow and stores the result, so the .tflite needs no Select op")
        elif self.status == FLEX:
            text = (f"{self.op} has no TensorFlow Lite builtin: the app must link TensorFlow Select ops "
                    "(tensorflow-lite-select-tf-ops, several MB)")
        else:
            text = (f"{self.op} is neither a TensorFlow Lite builtin nor a Select op: the app would need a custom op "
                    f"written for it; build the model without {self.op}")
        if self.op == "Dequantize":
            text += "; these are 8-bit weights from TF1's quantize_graph"
        return text

    def to_json(self) -> dict:
        return {"op": self.op, "status": self.status, "nodes": list(self.nodes), "count": self.count,
                "constant": self.constant, "why": self.why}


@dataclass(frozen=True)
class MobileVerdict:
    """Does the .tflite export writes hold TensorFlow Lite builtin ops only, and if not, which ops stop it.

    ``tflite_ops`` and ``tflite_bytes`` are of the model export writes with the same
    options: the builtin one, else (``builtin_only`` False) the one with Select ops
    that ``export --select_tf_ops`` writes.
    """

    path: Path
    input_names: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]   # the shapes converted at (batch 1)
    output_names: tuple[str, ...]
    builtin_only: bool
    select_converts: bool | None   # with Select ops allowed; None: not tried (builtins sufficed)
    issues: tuple[OpIssue, ...]
    error: str | None              # a conversion failure that is not about missing ops
    tflite_ops: dict[str, int]
    tflite_bytes: int | None
    flags: tuple[Flag, ...]        # summary flags: training-only ops, float64, control flow, unknown dims
    seconds: float
    quantize: str = "none"
    folded: tuple[str, ...] = ()   # constant nodes export computes in TensorFlow and stores as constants
    fixed: dict[str, Any] = field(default_factory=dict)  # placeholders stored as constants: name -> value
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.builtin_only

    @property
    def flex_ops(self) -> tuple[str, ...]:
        return tuple(i.op for i in self.issues if i.status == FLEX and not (self.ok and i.constant))

    @property
    def unsupported_ops(self) -> tuple[str, ...]:
        return tuple(i.op for i in self.issues if i.status == UNSUPPORTED and not (self.ok and i.constant))

    @property
    def not_needed(self) -> tuple[Flag, ...]:
        """Ops an inference-only runtime would not need (training leftovers)."""
        return tuple(f for f in self.flags if f.training_only)

    @property
    def message(self) -> str:
        extra = _not_needed_text(self.not_needed)
        if self.ok:
            ops = sum(self.tflite_ops.values())
            folded = ""
            if self.folded:
                kinds = "/".join(sorted({i.op for i in self.issues if i.constant}))
                folded = f" once export computes its {len(self.folded)} constant {kinds} node(s) in TensorFlow"
            return (f"converts to TensorFlow Lite builtin ops only ({ops} ops, {mib(self.tflite_bytes)}){folded}: "
                    "loads in any TensorFlow Lite runtime" + extra)
        if self.unsupported_ops:
            return (f"cannot convert: {issues_text(self.issues, UNSUPPORTED)} "
                    "neither a TensorFlow Lite builtin nor a Select op" + self._leftovers() + extra)
        if self.flex_ops:
            size = f" (export --select_tf_ops writes {mib(self.tflite_bytes)})" if self.tflite_bytes is not None else ""
            return (f"needs TensorFlow Select ops for {issues_text(self.issues, FLEX)}: the app must link "
                    f"tensorflow-lite-select-tf-ops{size}" + self._leftovers() + extra)
        return f"the TensorFlow Lite converter fails: {self.error}" + extra

    def _leftovers(self) -> str:
        return leftover_fix(self.issues, self.not_needed, then="check that graph")

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
            "quantize": self.quantize,
            "folded": list(self.folded),
            "fixed": {name: np.asarray(value).tolist() for name, value in self.fixed.items()},
            "notes": list(self.notes),
            "not_needed": [f.to_json() for f in self.not_needed],
            "flags": [f.to_json() for f in self.flags],
            "seconds": self.seconds,
        }


# --- what the converter is given, and what it makes: shared by check and export --------------


@dataclass(frozen=True)
class ConverterInputs:
    """The converter's inputs at their shapes, its outputs, and the placeholders the .tflite holds as constants."""

    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    outputs: tuple[str, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict, compare=False)
    notes: tuple[str, ...] = ()


def converter_inputs(
    loaded: LoadedGraph,
    sig: Signature,
    *,
    inputs: Sequence[str],
    outputs: Sequence[str],
    feeds: Mapping[str, Any] | None = None,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    input_height: int | None = None,
    input_width: int | None = None,
) -> ConverterInputs:
    """What to convert: ``inputs``, each auxiliary placeholder the outputs read, and ``feeds`` stored as constants.

    An auxiliary scalar whose inference value the signature knows (a dropout keep
    probability: 1, a training flag: false) is stored as that value, as an
    inference model holds it; one whose value it does not know stays an input of
    the .tflite. Any other placeholder the outputs read and nothing gives is an
    InspectorError naming it, before the converter would call it an op in the way.
    ``shapes`` (name -> shape, -1 for the batch) are the shapes ``--input`` gave.
    """
    what = str(loaded.path)
    graph = loaded.graph
    nodes = {node.name: node for node in graph.node}
    fixed: dict[str, Any] = {}
    notes: list[str] = []
    for raw, value in (feeds or {}).items():
        name = raw.removesuffix(":0")
        if name not in nodes or nodes[name].op not in PLACEHOLDER_OPS:
            placeholders = ", ".join(n.name for n in graph.node if n.op in PLACEHOLDER_OPS)
            raise InspectorError(f"{what}: cannot store {raw!r} as a constant: it is no placeholder of this graph; "
                                 f"give a value to one of its placeholders ({placeholders or 'none'})")
        fixed[name] = _fitted(value, placeholder_spec(nodes[name]), what=what)
        notes.append(f"{name} is stored as {value_text(value)}, the value given for it: the .tflite does not take it as an input")
    # A value given replaces the input it would otherwise be.
    chosen = [name for name in inputs if name not in fixed]
    known = sig.inference_values
    needed = upstream(graph, list(outputs), stop=chosen)
    for spec in sig.auxiliary:
        if spec.name not in needed or spec.name in chosen or spec.name in fixed:
            continue
        if spec.role == LABEL:
            raise InspectorError(
                f"{what}: {', '.join(outputs)} reads the label placeholder {spec.name!r}: a loss or a metric, which "
                "inference cannot compute; pick the model's output with --output_names"
            )
        purpose = f"a {PURPOSE_WORDS[spec.purpose]}" if spec.purpose in PURPOSE_WORDS else f"a {spec.role} input"
        if spec.name in known:
            fixed[spec.name] = known[spec.name]
            notes.append(f"{spec.name} ({purpose}) is stored as {value_text(known[spec.name])}, its inference value: "
                         "the .tflite does not take it as an input")
        else:
            chosen.append(spec.name)
            notes.append(f"{spec.name} ({purpose}) stays an input of the .tflite: its value at inference cannot be read "
                         f"from the graph, so the app must feed it; --feed {spec.name}=VALUE stores one instead")
    reached = upstream(graph, list(outputs), stop=[*chosen, *fixed])
    missing = [n.name for n in graph.node if n.op in PLACEHOLDER_OPS and n.name in reached
               and n.name not in chosen and n.name not in fixed]
    if missing:
        raise InspectorError(
            f"{what}: {', '.join(outputs)} reads the placeholder {missing[0]!r}, which the inputs "
            f"({', '.join(chosen)}) leave out; add it to --input_names, or store a value with --feed {missing[0]}=VALUE"
        )
    converted = input_shapes(loaded, chosen, input_height=input_height, input_width=input_width, sig=sig, stated=shapes)
    return ConverterInputs(inputs=tuple(zip(chosen, converted)), outputs=tuple(outputs), fixed=fixed, notes=tuple(notes))


def flags_held(graph: GraphDef, flags: Sequence[Flag], given: ConverterInputs) -> tuple[Flag, ...]:
    """The summary flags about nodes the .tflite holds: its outputs' computation from its inputs (a loss beside it is not)."""
    reached = upstream(graph, list(given.outputs), stop=[name for name, _ in given.inputs]) - set(given.fixed)
    return tuple(f for f in flags if not f.nodes or any(name in reached for name in f.nodes))


@dataclass(frozen=True)
class Conversion:
    """The .tflite export writes for one set of options, and what stood in the way of builtin ops only."""

    model: bytes | None      # builtin ops only (constant ops computed first where needed); None: it needs more
    first: Attempt           # builtin ops only, on the graph as it is
    select: Attempt | None   # Select ops allowed: tried only when ``first`` failed
    issues: tuple[OpIssue, ...]
    folded: tuple[str, ...]  # constant nodes computed in TensorFlow and stored as constants
    seconds: float


def convert_graph(loaded: LoadedGraph, given: ConverterInputs, *, quantize: str, what: str) -> Conversion:
    """Convert as export does: builtin ops; failing that, find the ops in the way, and compute them first if they are constants."""
    tf_graph = with_values(to_tf(loaded, what), given.fixed)
    inputs, outputs = list(given.inputs), list(given.outputs)
    start = time.perf_counter()
    first = convert(tf_graph, inputs=inputs, outputs=outputs, quantize=quantize, select=False, what=what)
    if first.model is not None:
        return Conversion(model=first.model, first=first, select=None, issues=(), folded=(),
                          seconds=time.perf_counter() - start)
    select = convert(tf_graph, inputs=inputs, outputs=outputs, quantize=quantize, select=True, what=what)
    fed = [name for name, _ in given.inputs]
    issues = find_issues(loaded.graph, outputs, first, select, fed=fed)
    model: bytes | None = None
    folded: tuple[str, ...] = ()
    if issues and all(i.constant for i in issues):
        names = tuple(issue_nodes(loaded.graph, outputs, issues, fed=fed))
        refolded = convert(fold(tf_graph, names), inputs=inputs, outputs=outputs, quantize=quantize, select=False, what=what)
        if refolded.model is not None:
            model, folded = refolded.model, names
    return Conversion(model=model, first=first, select=select, issues=issues, folded=folded,
                      seconds=time.perf_counter() - start)


# --- check ----------------------------------------------------------------------------


def check(
    loaded: LoadedGraph,
    *,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    input_height: int | None = None,
    input_width: int | None = None,
    quantize: str = "none",
    inputs: Sequence[InputOption | str] = (),
    feeds: Sequence[Feed | str] | Mapping[str, Any] = (),
    allow_unsafe_ops: bool = False,
) -> MobileVerdict:
    """Make the .tflite export would write, with TensorFlow's own converter, and say whether it loads on a phone.

    The conversion is export's (:func:`convert_graph`): builtin ops only; when that
    fails, again with TensorFlow Select ops allowed, to tell ops that need the Flex
    delegate from ops nothing can run, and ops that compute from constants only
    (TF1's quantized-weight Dequantize) are computed in TensorFlow and stored, as
    export does. ``quantize`` is export's. Names left out are the graph's
    signature's; auxiliary placeholders are given as :func:`converter_inputs` says.
    ``inputs`` (``--input NAME[:SHAPE[:DTYPE]]``) add model inputs and the shapes to
    convert them at; ``feeds`` (``--feed NAME=VALUE|FILE.npy``, or a mapping of
    placeholder name -> value) are stored in the .tflite as constants. An image
    input that declares no size needs ``input_height`` and ``input_width``. Nothing
    is written or cached. A graph holding an op the op policy refuses
    (graph/trust.py) is an InspectorError unless ``allow_unsafe_ops``: the
    converter imports the graph and folds its constants.
    """
    check_quantize(quantize)
    what = str(loaded.path)
    refuse_to_run(loaded.graph, what=what, allow_unsafe_ops=allow_unsafe_ops)
    summary = summarize(loaded)
    names = Resolver(loaded.graph, what=what)
    outputs = names.outputs(output_names)
    options = [InputOption.parse(option) for option in inputs]
    named = [*(parse_names(input_names) or ()), *(o.name for o in options)]
    chosen = names.inputs(named or None)
    values = dict(feeds) if isinstance(feeds, Mapping) else {f.name: f.value for f in map(Feed.parse, feeds)}
    shapes = {names.resolve(o.name, role="input"): o.shape for o in options if o.shape is not None}
    given = converter_inputs(loaded, names.signature, inputs=chosen, outputs=outputs, feeds=values, shapes=shapes,
                             input_height=input_height, input_width=input_width)
    made = convert_graph(loaded, given, quantize=quantize, what=what)
    model = made.model
    if model is None and made.select is not None:
        model = made.select.model
    error = None
    if made.model is None and not made.issues:
        error = made.first.failure or "conversion failed"
    notes = list(given.notes)
    dequantized = sum(1 for name in made.folded if _op(loaded.graph, name) == "Dequantize")
    if dequantized:
        stored = {"none": "dequantized, as float32; --quantize dynamic stores them in 8 bits again",
                  "dynamic": "dequantized, then in 8 bits again (--quantize dynamic)",
                  "float16": "dequantized, then as float16 (--quantize float16); --quantize dynamic stores 8 bits"}
        notes.append(f"the .tflite holds the 8-bit weights of {dequantized} Dequantize node(s) {stored[quantize]}")
    return MobileVerdict(
        path=loaded.path,
        input_names=tuple(name for name, _ in given.inputs),
        input_shapes=tuple(shape for _, shape in given.inputs),
        output_names=outputs,
        builtin_only=made.model is not None,
        select_converts=None if made.select is None else made.select.model is not None,
        issues=made.issues,
        error=error,
        tflite_ops=tflite_ops(model) if model is not None else {},
        tflite_bytes=len(model) if model is not None else None,
        flags=flags_held(loaded.graph, summary.flags, given),
        seconds=made.seconds,
        quantize=quantize,
        folded=made.folded,
        fixed=dict(given.fixed),
        notes=tuple(notes),
    )


def find_issues(
    graph: GraphDef, outputs: Sequence[str], builtin: Attempt, select: Attempt, *, fed: Sequence[str] = ()
) -> tuple[OpIssue, ...]:
    """Op types that kept the builtin conversion from working, and what the Select-ops conversion says of them.

    Nodes in ``fed`` are the converter's inputs: never an op in the way, and not walked past.
    """
    needed = upstream(graph, list(outputs), stop=fed) - set(fed)
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


def issue_nodes(graph: GraphDef, outputs: Sequence[str], issues: Sequence[OpIssue], *, fed: Sequence[str] = ()) -> list[str]:
    needed = upstream(graph, list(outputs), stop=fed) - set(fed)
    ops = {i.op for i in issues}
    return [node.name for node in graph.node if node.name in needed and node.op in ops]


def _fitted(value: Any, spec: InputSpec, *, what: str) -> np.ndarray:
    """A value given for a placeholder, checked against its dtype and declared shape (a batch dimension may be left out)."""
    array = np.asarray(value)
    target = numpy_dtype(spec.dtype)
    if target.kind in "iub" and array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        raise InspectorError(f"{what}: --feed {spec.name}: it takes {spec.dtype}, not fractions like {array.flat[0]:g}; "
                             "pass whole numbers")
    shape = spec.shape
    if shape is not None and array.size != 1:
        batched = array[np.newaxis] if array.ndim == len(shape) - 1 else array
        if len(shape) != batched.ndim or any(d >= 0 and d != v for d, v in zip(shape, batched.shape)):
            raise InspectorError(f"{what}: --feed {spec.name}: it takes {shape_text(shape)}, not "
                                 f"{shape_text(array.shape)}; pass a value of that shape")
        array = batched
    return array.astype(target)


def _op(graph: GraphDef, name: str) -> str:
    return next((node.op for node in graph.node if node.name == name), "")


# --- wording ----------------------------------------------------------------------------


def issues_text(issues: Sequence[OpIssue], status: str) -> str:
    chosen = [i for i in issues if i.status == status]
    parts = []
    for issue in chosen:
        where = issue.nodes[0] if issue.count == 1 else f"{issue.count} nodes, e.g. {issue.nodes[0]}" if issue.nodes else "no node found"
        parts.append(f"{issue.op} ({where})")
    verb = "is" if len(chosen) == 1 else "are"
    return ", ".join(parts) + (f" {verb}" if status == UNSUPPORTED else "")


def leftover_fix(issues: Sequence[OpIssue], not_needed: Sequence[Flag], *, then: str) -> str:
    """When every op in the way is a training leftover, the fix is to strip it, not to link Select ops: said after ``;``."""
    kinds = {f.op: f.kind for f in not_needed}
    blocking = [i.op for i in issues]
    if not blocking or not all(op in kinds for op in blocking):
        return ""
    fix = "inspector optimize --strip-dropout" if "dropout" in {kinds[op] for op in blocking} else "inspector optimize"
    return f"; {'they are' if len(blocking) > 1 else 'it is'} only left from training: {fix} removes them, then {then}"


def _not_needed_text(flags: Sequence[Flag]) -> str:
    if not flags:
        return ""
    shown = ", ".join(f"{f.op} ({f.kind})" for f in flags[:4]) + (" ..." if len(flags) > 4 else "")
    return f"; it still carries ops an inference runtime does not need: {shown}"


def mib(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


__all__ = [
    "check", "MobileVerdict", "OpIssue", "FLEX", "UNSUPPORTED", "MAX_ISSUE_NODES", "find_issues", "issue_nodes",
    "issues_text", "mib", "ConverterInputs", "converter_inputs", "Conversion", "convert_graph", "flags_held",
]
