"""Dropout settings and training flags told by structure: the values a mask can take, which placeholders only set a dropout or pick a tf.cond branch, and the value that turns each off at inference.

A dropout's mask is arithmetic on a uniform random draw U in [0, 1) and a few
numbers (``floor(keep + U)``, ``U >= rate``), so the values it can take are an
interval this module computes; the mask is off when that interval is exactly
"keep everything". A placeholder is a keep probability when 1 turns every mask
and scaling it reaches off, a rate when 0 does, a training flag when it only
picks tf.cond branches and one of them trains. Node names are never read.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.ops import (
    CONST_OPS, DROPOUT_APPLY_OPS, MERGE_OPS, SETTING_OPS, SWITCH_OPS, UNIFORM_RANDOM_OPS, is_random,
)
from inspector.graph.refs import CONTROL, data_ref, split_ref
from inspector.graph.table import NodeTable
from inspector.graph.workgraph import const_value

# InputSpec.purpose of an auxiliary input this module tells.
KEEP_PROB = "keep_prob"
DROPOUT_RATE = "dropout_rate"
TRAINING_FLAG = "training_flag"
# Each purpose in words, for notes and messages.
PURPOSE_WORDS = {KEEP_PROB: "dropout keep probability", DROPOUT_RATE: "dropout rate", TRAINING_FLAG: "training flag"}

# A mask is a few ops deep: a longer chain is no dropout read here (and a hostile graph cannot recurse deep).
MAX_DEPTH = 32
# Nodes computed from one setting before it meets the data; more is not a setting.
MAX_SETTING_NODES = 64
# Nodes walked to see what a tf.cond branch does.
MAX_BRANCH_NODES = 20000
# A Const counts as one number up to this many elements, all equal (a keep probability broadcast to [1, 1]).
_ONE_VALUE = 16

_FLOATS = frozenset({DataType.DT_FLOAT, DataType.DT_HALF, DataType.DT_DOUBLE, DataType.DT_BFLOAT16})
_INTS = frozenset({DataType.DT_INT8, DataType.DT_INT16, DataType.DT_INT32, DataType.DT_INT64, DataType.DT_UINT8,
                   DataType.DT_UINT16, DataType.DT_UINT32, DataType.DT_UINT64})
_SHAPE_ONLY = frozenset({"Reshape", "ExpandDims", "Squeeze", "Identity", "StopGradient", "PreventGradient", "Snapshot"})


@dataclass(frozen=True)
class Range:
    """The values a tensor can hold: an interval, each end open or closed; ``noisy`` when drawn from random numbers."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    noisy: bool = False

    @property
    def exact(self) -> float | None:
        """The one value, when there is one."""
        return self.lo if self.lo == self.hi and not (self.lo_open or self.hi_open) else None


def exactly(value: float, *, noisy: bool = False) -> Range:
    return Range(float(value), float(value), noisy=noisy)


UNIFORM = Range(0.0, 1.0, hi_open=True, noisy=True)
_BOTH = Range(0.0, 1.0)  # a bool that may be either
_SOME_FRACTION = Range(0.25, 0.75)  # a float setting, while finding what it is computed into


@dataclass(frozen=True)
class Setting:
    """What an auxiliary placeholder sets, the value it takes at inference (None: not in the graph), and how that was told."""

    purpose: str                     # KEEP_PROB, DROPOUT_RATE, TRAINING_FLAG, or "" (some other setting)
    value: float | bool | None
    why: str


# --- what a value can be ----------------------------------------------------------------


def value_range(index: NodeTable, ref: str, env: Mapping[str, Range] | None = None) -> Range | None:
    """The values ``ref`` can take, from constants, uniform draws and ``env`` (node name -> Range), or None.

    None when the value depends on anything else (the data, a weight, an op this
    module does not compute) or on more than MAX_DEPTH ops.
    """
    return _range(index, ref, env or {}, {}, 0)


def _range(index: NodeTable, ref: str, env: Mapping[str, Range], memo: dict[str, Range | None], depth: int) -> Range | None:
    if ref in memo:
        return memo[ref]
    memo[ref] = None  # a cycle computes nothing
    result = _compute(index, ref, env, memo, depth) if depth <= MAX_DEPTH else None
    memo[ref] = result
    return result


def _compute(index: NodeTable, ref: str, env: Mapping[str, Range], memo: dict[str, Range | None], depth: int) -> Range | None:
    name, port = split_ref(ref)
    if port != 0:
        return None
    if name in env:
        return env[name]
    node = index.nodes.get(name)
    if node is None:
        return None
    if node.op in CONST_OPS:
        value = _one_value(node)
        return None if value is None else exactly(value)
    if node.op in UNIFORM_RANDOM_OPS:
        return UNIFORM if _type(node, "dtype") in _FLOATS else None
    if node.op not in SETTING_OPS:
        return None
    data = [r for r in node.input if not r.startswith("^")]
    if not data:
        return None
    args = [_range(index, r, env, memo, depth + 1) for r in data[:2]]
    a = args[0]
    if a is None:
        return None
    op = node.op
    if op in _SHAPE_ONLY:
        return a
    if op == "Cast":
        return _cast(a, _type(node, "DstT"))
    if op == "Neg":
        return _neg(a)
    if op == "Floor":
        return _floor(a)
    if op == "LogicalNot":
        return _not(a)
    if op in ("Reciprocal", "Inv"):
        return _reciprocal(a)
    b = args[1] if len(args) > 1 else None
    if b is None:
        return None
    if op in ("Add", "AddV2"):
        return _add(a, b)
    if op == "Sub":
        return _add(a, _neg(b))
    if op == "Mul":
        if a.exact is not None:
            return _scale(b, a.exact, noisy=a.noisy)
        return _scale(a, b.exact, noisy=b.noisy) if b.exact is not None else None
    if op in ("RealDiv", "Div"):
        if op == "Div" and _type(node, "T") not in _FLOATS:
            return None  # integer division floors
        if b.exact is not None:
            return _scale(a, 1.0 / b.exact, noisy=b.noisy) if b.exact else None
        inverse = _reciprocal(b)
        return _scale(inverse, a.exact, noisy=a.noisy) if inverse is not None and a.exact is not None else None
    if op == "GreaterEqual":
        return _ge(a, b)
    if op == "Greater":
        return _gt(a, b)
    if op == "Less":
        return _gt(b, a)
    if op == "LessEqual":
        return _ge(b, a)
    return None


def _type(node: NodeDef, key: str) -> int:
    # Reading node.attr[key] would add the key to the graph's own proto.
    return node.attr[key].type if key in node.attr else DataType.DT_INVALID


def _one_value(node: NodeDef) -> float | None:
    if "value" not in node.attr:
        return None
    tensor = node.attr["value"].tensor
    # The size first: a weight is never expanded to learn it is not one number.
    if math.prod(max(d.size, 0) for d in tensor.tensor_shape.dim) > _ONE_VALUE:
        return None
    value = const_value(node if node.op == "Const" else _as_const(node))
    if value is None or value.size == 0 or value.dtype.kind not in "biuf":
        return None
    first = float(value.flat[0])
    if not math.isfinite(first) or any(float(v) != first for v in value.flat):
        return None
    return first


def _as_const(node: NodeDef) -> NodeDef:
    copy = NodeDef()
    copy.CopyFrom(node)
    copy.op = "Const"
    return copy


def _add(a: Range, b: Range) -> Range:
    return Range(a.lo + b.lo, a.hi + b.hi, a.lo_open or b.lo_open, a.hi_open or b.hi_open, a.noisy or b.noisy)


def _neg(a: Range) -> Range:
    return Range(-a.hi, -a.lo, a.hi_open, a.lo_open, a.noisy)


def _scale(a: Range, c: float, *, noisy: bool) -> Range | None:
    if not math.isfinite(c):
        return None
    noisy = noisy or a.noisy
    if c == 0:
        return exactly(0.0, noisy=noisy)
    if c < 0:
        return _neg(Range(a.lo * -c, a.hi * -c, a.lo_open, a.hi_open, noisy))
    return Range(a.lo * c, a.hi * c, a.lo_open, a.hi_open, noisy)


def _reciprocal(a: Range) -> Range | None:
    if a.exact is not None:
        return exactly(1.0 / a.exact, noisy=a.noisy) if a.exact else None
    if a.lo > 0 or (a.lo == 0 and a.lo_open) or a.hi < 0 or (a.hi == 0 and a.hi_open):
        if a.lo == 0 or a.hi == 0:
            return None  # unbounded
        return Range(1.0 / a.hi, 1.0 / a.lo, a.hi_open, a.lo_open, a.noisy)
    return None


def _floor(a: Range) -> Range:
    lo, hi = math.floor(a.lo), math.floor(a.hi)
    if a.hi_open and hi == a.hi:
        hi -= 1
    return Range(float(lo), float(max(lo, hi)), noisy=a.noisy)


def _truth(always: bool, never: bool, noisy: bool) -> Range:
    return exactly(1.0, noisy=noisy) if always else exactly(0.0, noisy=noisy) if never else Range(0.0, 1.0, noisy=noisy)


def _ge(a: Range, b: Range) -> Range:
    never = a.hi < b.lo or (a.hi == b.lo and (a.hi_open or b.lo_open))
    return _truth(a.lo >= b.hi, never, a.noisy or b.noisy)


def _gt(a: Range, b: Range) -> Range:
    always = a.lo > b.hi or (a.lo == b.hi and (a.lo_open or b.hi_open))
    return _truth(always, a.hi <= b.lo, a.noisy or b.noisy)


def _not(a: Range) -> Range:
    if a.exact is not None:
        return exactly(0.0 if a.exact else 1.0, noisy=a.noisy)
    return Range(0.0, 1.0, noisy=a.noisy)


def _cast(a: Range, dtype: int) -> Range | None:
    if dtype == DataType.DT_BOOL:
        zero_possible = a.lo <= 0 <= a.hi and not (a.lo == 0 and a.lo_open) and not (a.hi == 0 and a.hi_open)
        if a.exact == 0:
            return exactly(0.0, noisy=a.noisy)
        return _truth(not zero_possible, False, a.noisy)
    if dtype in _FLOATS:
        return a
    if dtype in _INTS and a.exact is not None:
        return exactly(float(math.trunc(a.exact)), noisy=a.noisy)
    return None


# --- masks --------------------------------------------------------------------------------


def passed_input(index: NodeTable, apply: NodeDef, slot: int, env: Mapping[str, Range] | None = None) -> int | None:
    """Which input of ``apply`` (a Mul or Select) comes out unchanged when its input ``slot`` is the mask, or None.

    A Mul by a mask of exactly 1 passes its other input; a Select whose condition
    is always true passes input 1, always false input 2. None when the mask can
    take other values (the dropout is on) or is not known.
    """
    if apply.op not in DROPOUT_APPLY_OPS or slot >= len(apply.input):
        return None
    found = value_range(index, apply.input[slot], env)
    if found is None or found.exact is None:
        return None
    if apply.op == "Mul":
        return 1 - slot if found.exact == 1.0 and slot in (0, 1) else None
    if slot != 0:
        return None
    return 1 if found.exact else 2


# --- placeholders ---------------------------------------------------------------------------


def classify(index: NodeTable, placeholder: NodeDef) -> Setting | None:
    """What ``placeholder`` sets when its every use is a dropout's mask or scaling, or a tf.cond predicate; else None.

    A float one is a keep probability when 1 turns all those masks off, a rate
    when 0 does. A bool one is a training flag; its inference value is the one
    whose branches draw no random numbers and run no training-mode op, when the
    other value's do.
    """
    dtype = placeholder.attr["dtype"].type if "dtype" in placeholder.attr else DataType.DT_INVALID
    if dtype not in _FLOATS and dtype != DataType.DT_BOOL:
        return None
    uses = _uses(index, placeholder.name, _BOTH if dtype == DataType.DT_BOOL else _SOME_FRACTION)
    if not uses:
        return None
    if dtype == DataType.DT_BOOL:
        return _flag(index, placeholder.name, uses)
    return _dropout(index, placeholder.name, uses)


def _uses(index: NodeTable, name: str, value: Range) -> list[tuple[NodeDef, int, str]] | None:
    """Where the values computed from ``name`` (with constants and random draws only) meet anything else.

    Each is (reader, its input index, the tensor it reads there); None when that
    computation is too big to be a setting's.
    """
    probe = {name: value}
    members = {name}
    uses: list[tuple[NodeDef, int, str]] = []
    queue = deque([name])
    while queue:
        current = queue.popleft()
        for reader, slot, port in index.data_readers(current):
            if reader.name in members:
                continue
            if reader.op in SETTING_OPS and value_range(index, reader.name, probe) is not None:
                members.add(reader.name)
                queue.append(reader.name)
                if len(members) > MAX_SETTING_NODES:
                    return None
            else:
                uses.append((reader, slot, data_ref(current, port)))
    return uses


def _dropout(index: NodeTable, name: str, uses: list[tuple[NodeDef, int, str]]) -> Setting | None:
    probe = {name: _SOME_FRACTION}
    masks: list[tuple[NodeDef, int]] = []
    scales: list[tuple[NodeDef, str]] = []
    for reader, slot, ref in uses:
        found = value_range(index, ref, probe)
        if found is None:
            return None
        if found.noisy and reader.op in DROPOUT_APPLY_OPS and (reader.op == "Mul" or slot == 0):
            masks.append((reader, slot))
        elif not found.noisy and (reader.op == "Mul" or (reader.op in ("RealDiv", "Div") and slot == 1)) and (
            _scales_a_dropout(index, reader, probe)
        ):
            scales.append((reader, ref))
        else:
            return None
    if not masks:
        return None
    where = f"it sets the random mask applied at {masks[0][0].name}"
    if scales:
        where += f" and the scaling of the kept values at {scales[0][0].name}"
    for value, purpose, kind in ((1.0, KEEP_PROB, "keep probability"), (0.0, DROPOUT_RATE, "rate")):
        env = {name: exactly(value)}
        if all(_keeps_data(index, apply, slot, env) for apply, slot in masks) and all(
            _is_one(index, ref, env) for _, ref in scales
        ):
            return Setting(purpose, value, (
                f"a dropout {kind} (read from the graph: {where}, and nothing else); at {value:g} the mask keeps "
                "every value and the scaling is 1, so the dropout is the identity, as at inference"))
    return Setting("", None, f"a dropout setting ({where}), but neither 1 nor 0 turns the dropout off, "
                             "so its value at inference is not in the graph")


def _scales_a_dropout(index: NodeTable, scaling: NodeDef, probe: Mapping[str, Range]) -> bool:
    """What ``scaling`` computes is read only by dropouts' masks: x / keep, then times the mask."""
    readers = index.data_readers(scaling.name)
    for reader, slot, _ in readers:
        if reader.op not in DROPOUT_APPLY_OPS:
            return False
        masks = [r for i, r in enumerate(reader.input) if i != slot and not r.startswith("^")]
        if not any((found := value_range(index, r, probe)) is not None and found.noisy for r in masks):
            return False
    return bool(readers)


def _keeps_data(index: NodeTable, apply: NodeDef, slot: int, env: Mapping[str, Range]) -> bool:
    passed = passed_input(index, apply, slot, env)
    # What comes through must be the data, not a constant the mask selects (zeros).
    return passed is not None and passed < len(apply.input) and value_range(index, apply.input[passed], env) is None


def _is_one(index: NodeTable, ref: str, env: Mapping[str, Range]) -> bool:
    found = value_range(index, ref, env)
    return found is not None and found.exact == 1.0


def _flag(index: NodeTable, name: str, uses: list[tuple[NodeDef, int, str]]) -> Setting | None:
    switches = [(reader, ref) for reader, slot, ref in uses if reader.op in SWITCH_OPS and slot == 1]
    if len(switches) != len(uses):
        return None
    branches = {switch.name: (_trains(index, switch.name, 0), _trains(index, switch.name, 1)) for switch, _ in switches}
    names = ", ".join(dict.fromkeys(switch.name for switch, _ in switches))
    for value in (False, True):
        env = {name: exactly(float(value))}
        evidence: str | None = None
        fits = True
        for switch, ref in switches:
            pred = value_range(index, ref, env)
            if pred is None or pred.exact is None:
                fits = False
                break
            live = 1 if pred.exact else 0
            if branches[switch.name][live] is not None:
                fits = False
                break
            evidence = evidence or branches[switch.name][1 - live]
        if fits and evidence is not None:
            return Setting(TRAINING_FLAG, value, (
                f"a training flag (read from the graph: it only picks tf.cond branches, at {names}); when it is "
                f"{str(not value).lower()} the graph {evidence}, so {str(value).lower()} is its inference value"))
    return Setting(TRAINING_FLAG, None, (
        f"a bool that only picks tf.cond branches (at {names}); neither branch draws random numbers or runs an op "
        "in training mode, so which value inference takes is not in the graph"))


def _trains(index: NodeTable, switch: str, port: int) -> str | None:
    """What training-only thing the tf.cond branch behind output ``port`` of ``switch`` does, or None."""
    queue = deque(reader for reader, _, read in index.readers.get(switch, ()) if read == port)
    seen: set[str] = set()
    while queue and len(seen) < MAX_BRANCH_NODES:
        node = queue.popleft()
        if node.name in seen:
            continue
        seen.add(node.name)
        if is_random(node.op):
            return f"draws random numbers at {node.name} ({node.op})"
        if "is_training" in node.attr and node.attr["is_training"].b:
            return f"runs {node.name} ({node.op}) in training mode"
        if node.op in MERGE_OPS:
            continue  # the branch ends here
        readers = index.readers.get(node.name, ())
        queue.extend(reader for reader, _, read in readers if read != CONTROL)
        queue.extend(reader for reader, _, read in readers if read == CONTROL)
    return None


__all__ = [
    "Range",
    "Setting",
    "UNIFORM",
    "classify",
    "exactly",
    "passed_input",
    "value_range",
    "PURPOSE_WORDS",
    "KEEP_PROB",
    "DROPOUT_RATE",
    "TRAINING_FLAG",
]
