"""Training-mode dropout left in a graph: find where a random mask meets the data, and cut it out on request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inspector.graph.ops import SHAPE_OPS, is_random
from inspector.graph.refs import node_of, split_ref
from inspector.graph.workgraph import WorkGraph, const_value
from inspector.optimizer.passes.context import Because, no_reasons

# A dropout mask is random values pushed through a threshold.
_THRESHOLDS = frozenset({"Floor", "Ceil", "Round", "GreaterEqual", "Greater", "Less", "LessEqual", "Cast"})
_APPLY = frozenset({"Mul", "Select", "SelectV2"})


@dataclass(frozen=True)
class Dropout:
    output: str       # the node where the mask meets the data
    source: str       # the tensor it scales and masks (what inference reads instead)
    random: str       # the random op that draws the mask


def find_dropout(g: WorkGraph, *, inputs: Sequence[str]) -> tuple[list[Dropout], list[str]]:
    """Dropouts still drawing masks, and notes on random ops that are not a dropout."""
    randoms = [node.name for node in g if is_random(node.op)]
    if not randoms:
        return [], []
    data = _forward(g, list(inputs), skip=SHAPE_OPS)
    notes: list[str] = []
    found: list[Dropout] = []
    for random in randoms:
        tainted = _forward(g, [random], skip=frozenset())
        hit = False
        for name in sorted(tainted & data):
            node = g.node(name)
            refs = g.data_inputs(node)
            mask = [r for r in refs if node_of(r) in tainted and node_of(r) not in data]
            values = [r for r in refs if node_of(r) in data and node_of(r) not in tainted]
            if not mask or not values:
                continue
            hit = True
            if node.op not in _APPLY or len(values) != 1 or not _thresholded(g, mask[0], tainted):
                notes.append(f"random values from {random} reach {name} ({node.op}), which is not a dropout; left as is")
                continue
            found.append(Dropout(output=name, source=_unscaled(g, values[0], data, reader=name), random=random))
        if not hit:
            notes.append(f"{random} draws random values that never meet the input's data")
    found.sort(key=lambda d: d.output)
    return found, notes


def strip_dropout(
    g: WorkGraph, found: Sequence[Dropout], *, keep: Sequence[str], because: Because = no_reasons
) -> list[str]:
    """At inference a dropout is the identity: readers of its output read its input, unscaled."""
    for dropout in found:
        if dropout.output in g and dropout.output not in set(keep):
            # Between the random op and the output: what draws and thresholds the mask.
            mask = _forward(g, [dropout.random], skip=frozenset()) - _forward(g, [dropout.output], skip=frozenset())
            # What _unscaled stepped back over: the 1/keep_prob scaling training does and inference does not.
            scaling = [node_of(r) for r in g.data_inputs(g.node(dropout.output)) if node_of(r) not in mask and r != dropout.source]
            g.splice_out(dropout.output, to=dropout.source)
            because(scaling, f"the 1/keep_prob scaling of the dropout at {dropout.output}, which inference does not do")
            because(dropout.output, f"training-mode dropout, the identity at inference: readers now read {dropout.source}")
            because(sorted(mask), f"drew the random mask of the dropout at {dropout.output}")
    g.prune(keep)
    return [f"{d.output}: now reads {d.source} directly" for d in found]


def _forward(g: WorkGraph, starts: list[str], *, skip: frozenset[str]) -> set[str]:
    """Nodes that read ``starts`` through data edges, directly or not, not passing ``skip`` ops."""
    seen: set[str] = set()
    stack = [s for s in starts if s in g]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for user, _, _ in g.data_users(name):
            if user.op not in skip:
                stack.append(user.name)
    return seen


def _thresholded(g: WorkGraph, ref: str, tainted: set[str]) -> bool:
    stack, seen = [node_of(ref)], set()
    while stack:
        name = stack.pop()
        if name in seen or name not in tainted:
            continue
        seen.add(name)
        node = g.node(name)
        if node.op in _THRESHOLDS:
            return True
        stack.extend(node_of(r) for r in g.data_inputs(node))
    return False


def _unscaled(g: WorkGraph, ref: str, data: set[str], *, reader: str) -> str:
    """Step back over the 1/keep_prob scaling (x / keep_prob, or x * scale) that only the dropout reads."""
    node = g.producer(ref)
    if node is None or split_ref(ref)[1] != 0 or node.op not in ("Mul", "RealDiv", "Div"):
        return ref
    if [u.name for u in g.users(node.name)] != [reader]:
        return ref
    refs = g.data_inputs(node)
    if len(refs) != 2:
        return ref
    candidates = [0, 1] if node.op == "Mul" else [0]
    for x_index in candidates:
        x, factor = refs[x_index], refs[1 - x_index]
        value = const_value(g.producer(factor))
        if node_of(x) in data and value is not None and value.size == 1:
            return x
    return ref
