"""Dropout left in a graph: find where a random mask meets the data, tell whether it is on, and cut it out.

A dropout is on in training mode (its mask drops values on every run), off as
it stands (a keep probability of 1 folded in: the mask keeps everything), or off
when its settings (graph/settings.py: a keep probability or rate placeholder)
are fed their inference values. Forms read: TF1's ``x / keep * floor(keep + U)``,
TF2's ``select(U >= rate, x / (1 - rate), 0)`` with a placeholder or a constant
rate, and Keras' stateless Dropout left in training mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from inspector.graph.ops import DROPOUT_APPLY_OPS, DROPOUT_THRESHOLD_OPS, PLACEHOLDER_OPS, SHAPE_OPS, UNIFORM_RANDOM_OPS, is_random
from inspector.graph.refs import node_of, split_ref
from inspector.graph.settings import Range, exactly, passed_input, value_range
from inspector.graph.table import NodeTable
from inspector.graph.workgraph import WorkGraph
from inspector.optimizer.passes.context import Because, no_reasons

# Dropout.state
ON = "on"      # training mode: the outputs are random
OFF = "off"    # the mask keeps every value as the graph stands
FED = "fed"    # the mask keeps every value once its settings are fed their inference values

# A setting's value while telling a scaling by it from a weight: any fraction.
_SOME_FRACTION = Range(0.25, 0.75)


@dataclass(frozen=True)
class Dropout:
    output: str                        # the node where the mask meets the data
    source: str                        # the tensor it scales and masks (what inference reads instead)
    random: str                        # the random op that draws the mask
    scaling: tuple[str, ...] = ()      # the 1/keep_prob scaling stepped back over to reach ``source``
    state: str = ON                    # ON, OFF or FED
    settings: tuple[str, ...] = ()     # FED: the placeholders whose inference values turn it off

    def to_json(self) -> dict:
        return {"output": self.output, "source": self.source, "random": self.random, "scaling": list(self.scaling),
                "state": self.state, "settings": list(self.settings)}


def find_dropout(
    g: WorkGraph, *, inputs: Sequence[str], values: Mapping[str, float | bool] | None = None
) -> tuple[list[Dropout], list[str]]:
    """Dropouts still drawing masks, whether each is on, and notes on random ops that are not a dropout.

    ``inputs`` are the model inputs (the data); ``values`` the inference values
    of the graph's auxiliary inputs (Signature.inference_values), for FED.
    """
    # A uniform draw first: Keras' key/counter op feeds the draw of the same mask.
    randoms = sorted((node.name for node in g if is_random(node.op)), key=lambda n: g.node(n).op not in UNIFORM_RANDOM_OPS)
    if not randoms:
        return [], []
    data = _forward(g, list(inputs), skip=SHAPE_OPS)
    index = NodeTable(g)
    settings = {node.name: _SOME_FRACTION for node in g if node.op in PLACEHOLDER_OPS and node.name not in data}
    fed = {name: exactly(float(value)) for name, value in (values or {}).items() if name in g and name not in data}
    notes: list[str] = []
    found: dict[str, Dropout] = {}
    for random in randoms:
        tainted = _forward(g, [random], skip=frozenset())
        hit = False
        for name in sorted(tainted & data):
            node = g.node(name)
            refs = g.data_inputs(node)
            mask = [r for r in refs if node_of(r) in tainted and node_of(r) not in data]
            values_in = [r for r in refs if node_of(r) in data and node_of(r) not in tainted]
            if not mask or not values_in:
                continue
            hit = True
            if name in found:
                continue
            if node.op not in DROPOUT_APPLY_OPS or len(values_in) != 1 or not _thresholded(g, mask[0], tainted):
                notes.append(f"random values from {random} reach {name} ({node.op}), which is not a dropout; left as is")
                continue
            source, scaling = _unscaled(g, index, values_in[0], data, settings, reader=name)
            state, used = _state(g, index, node, refs.index(mask[0]), refs.index(values_in[0]), scaling, fed)
            found[name] = Dropout(output=name, source=source, random=random, scaling=tuple(n for n, _ in scaling),
                                  state=state, settings=used)
        if not hit:
            notes.append(f"{random} draws random values that never meet the input's data")
    return sorted(found.values(), key=lambda d: d.output), notes


def strip_dropout(
    g: WorkGraph, found: Sequence[Dropout], *, keep: Sequence[str], because: Because = no_reasons
) -> list[str]:
    """Readers of each dropout's output read its input, unscaled: the identity it is at inference (or is, when off)."""
    for dropout in found:
        if dropout.output in g and dropout.output not in set(keep):
            # Between the random op and the output: what draws and thresholds the mask.
            mask = _forward(g, [dropout.random], skip=frozenset()) - _forward(g, [dropout.output], skip=frozenset())
            g.splice_out(dropout.output, to=dropout.source)
            if dropout.state == ON:
                because(dropout.scaling, f"the 1/keep_prob scaling of the dropout at {dropout.output}, which inference does not do")
                because(dropout.output, f"training-mode dropout, the identity at inference: readers now read {dropout.source}")
            else:
                at = _settings_text(dropout)
                because(dropout.scaling, f"the scaling of the dropout at {dropout.output}, by exactly 1 {at}")
                because(dropout.output, f"dropout that keeps every value {at}: the identity, readers now read {dropout.source}")
            because(sorted(mask), f"drew the random mask of the dropout at {dropout.output}")
    g.prune(keep)
    return [f"{d.output}: now reads {d.source} directly" for d in found]


def without_dropout(
    graph: GraphDef, *, inputs: Sequence[str], values: Mapping[str, float | bool], keep: Sequence[str]
) -> tuple[GraphDef, tuple[Dropout, ...]]:
    """A copy of ``graph`` with every dropout cut out (what ``optimize --strip-dropout`` does), and the dropouts cut.

    For running a graph as it computes at inference; the graph itself when it
    has no dropout. ``keep`` are the nodes that must stay (the outputs).
    """
    g = WorkGraph(graph)
    found, _ = find_dropout(g, inputs=inputs, values=values)
    found = [d for d in found if d.output not in set(keep)]
    if not found:
        return graph, ()
    strip_dropout(g, found, keep=[*keep, *(name for name in inputs if name in g)])
    return g.to_graphdef(), tuple(found)


def _settings_text(dropout: Dropout) -> str:
    if dropout.state == FED:
        return f"at the inference value of {', '.join(dropout.settings)}"
    return "as the graph stands (keep probability 1 or rate 0)"


def _state(
    g: WorkGraph, index: NodeTable, apply: NodeDef, mask_slot: int, data_slot: int, scaling: list[tuple[str, str]],
    fed: Mapping[str, Range],
) -> tuple[str, tuple[str, ...]]:
    """ON, OFF or FED, and for FED the settings that turn it off."""
    def keeps(env: Mapping[str, Range]) -> bool:
        if passed_input(index, apply, mask_slot, env) != data_slot:
            return False
        return all((r := value_range(index, factor, env)) is not None and r.exact == 1.0 for _, factor in scaling)

    if keeps({}):
        return OFF, ()
    if fed and keeps(fed):
        # The settings it takes: those without whose value the mask is no longer known to keep everything.
        return FED, tuple(name for name in fed if not keeps({k: v for k, v in fed.items() if k != name}))
    return ON, ()


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
        if node.op in DROPOUT_THRESHOLD_OPS:
            return True
        stack.extend(node_of(r) for r in g.data_inputs(node))
    return False


def _unscaled(
    g: WorkGraph, index: NodeTable, ref: str, data: set[str], settings: Mapping[str, Range], *, reader: str
) -> tuple[str, list[tuple[str, str]]]:
    """Step back over the 1/keep_prob scaling (x / keep, x * scale) that only the dropout reads.

    The factor is one number: a constant, or computed from settings (placeholders
    that are not data: x / keep_prob, x / (1 - rate)) and constants, never a
    weight. Returns the tensor reached and the (scaling node, factor) stepped over.
    """
    node = g.producer(ref)
    if node is None or split_ref(ref)[1] != 0 or node.op not in ("Mul", "RealDiv", "Div"):
        return ref, []
    if [u.name for u in g.users(node.name)] != [reader]:
        return ref, []
    refs = g.data_inputs(node)
    if len(refs) != 2:
        return ref, []
    for x_index in [0, 1] if node.op == "Mul" else [0]:
        x, factor = refs[x_index], refs[1 - x_index]
        value = value_range(index, factor, settings)
        if node_of(x) in data and value is not None and not value.noisy:
            return x, [(node.name, factor)]
    return ref, []
