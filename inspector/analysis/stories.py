"""What happened between two graphs, told as stories: each removed and added node explained by one transformation, found by pattern.

Works on any pair, whoever optimized it (inspector, TensorFlow's
optimize_for_inference, Grappler, a hand edit): a batch norm folded into its
convolution, Identity nodes removed, constant subgraphs computed, dropout
removed, two linear layers merged, a resize and pad fused into the conv,
8-bit weights dequantized, nodes no output needs pruned. Each pattern claims
nodes from what the matching left removed or added, in that order, and the
Consts and Identities that fed only what a story claimed go with it; whatever no
pattern explains is told by name scope, so the stories account for every
removed and added node exactly once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.analysis.matching import CHANGED, Matching
from inspector.graph.ops import (
    BATCH_NORM_CORE_OPS, BATCH_NORM_OPS, CONST_OPS, FUSED_BATCH_NORM_OPS, DEFAULT_PLACEHOLDER_OPS, DEQUANTIZE_OPS, DROPOUT_APPLY_OPS, FEED_OPS, FUSED_CONV_OPS, IDENTITY_OPS,
    LINEAR_BETWEEN_OPS, PAD_OPS, RESIZE_OPS, SHAPE_OPS, VARIABLE_OPS, WEIGHTED_OPS, is_random,
)
from inspector.graph.refs import CONTROL
from inspector.graph.table import NodeTable

RESCALED = "weights rescaled"

# Story kinds, in the order they claim nodes (the order a reader meets them in too).
UNUSED = "unused_pruned"
DROPOUT = "dropout_removed"
BATCH_NORM = "batch_norm_folded"
LINEAR = "linear_merged"
FUSED = "resize_conv_fused"
DEQUANTIZED = "dequantized"
IDENTITY = "identity_removed"
BYPASSED = "noop_removed"
CONSTANTS = "constants_folded"
OTHER_REMOVED = "removed"
OTHER_ADDED = "added"
# Between two linear layers: reshapes, a bias, and what forwards its input (an unfed PlaceholderWithDefault too).
_PASS_THROUGH = LINEAR_BETWEEN_OPS | IDENTITY_OPS | DEFAULT_PLACEHOLDER_OPS
_SCALING_OPS = frozenset({"RealDiv", "Div", "Mul"})
_SCALE_OPS = frozenset({"Mul", "Add", "AddV2", "Sub"})
# A kind told several times, in one line ("27 batch norms folded into their layers"): the terminal and the tab.
GROUP_WORDS = {
    BATCH_NORM: "batch norms folded into their layers",
    LINEAR: "pairs of linear layers merged into one",
    DROPOUT: "dropouts removed (random masks and scaling)",
    FUSED: "resizes and pads fused into their convolutions",
    OTHER_REMOVED: "scopes with nodes removed",
    OTHER_ADDED: "scopes with nodes added",
}
KINDS = (UNUSED, DROPOUT, BATCH_NORM, LINEAR, FUSED, DEQUANTIZED, IDENTITY, BYPASSED, CONSTANTS, OTHER_REMOVED, OTHER_ADDED)


@dataclass(frozen=True)
class Story:
    kind: str                   # one of KINDS
    scope: str                  # where: the layer or name scope it is about ("" for the whole graph)
    text: str                   # one line for a person
    removed: tuple[str, ...]    # a's nodes it accounts for
    added: tuple[str, ...]      # b's nodes it accounts for
    changed: tuple[str, ...] = ()  # b's names of matched nodes it rewrote (weights rescaled, op changed, rewired)
    passes: tuple[str, ...] = ()   # the optimizer passes that did it, when b's change record says
    subject: str = ""              # BATCH_NORM: "batch norm" or "per-channel scale"
    facts: tuple[str, ...] = ()    # what else it did, in words the text uses too: RESCALED, "Add became BiasAdd"

    def to_json(self) -> dict:
        return {"kind": self.kind, "scope": self.scope, "text": self.text, "removed": list(self.removed),
                "added": list(self.added), "changed": list(self.changed), "passes": list(self.passes),
                "nodes_before": len(self.removed), "nodes_after": len(self.added)}


class _Side:
    """One graph (its NodeTable), the readers of each node by name, and the pool of nodes no story has claimed yet."""

    def __init__(self, table: NodeTable, pool: Iterable[str]) -> None:
        self.table = table
        self.nodes = table.nodes
        self.order = table.order
        self.op = table.ops.__getitem__
        self.pool: dict[str, None] = dict.fromkeys(pool)
        self._constant: dict[str, bool] = {}
        # Made per node as the patterns ask (most nodes are never asked about), and shared: callers do not mutate them.
        self._inputs: dict[str, tuple[list[str], list[str]]] = {}
        self._readers: dict[str, list[tuple[str, int]]] = {}
        self._neighbours: dict[str, list[str]] = {}

    def _refs(self, name: str) -> tuple[list[str], list[str]]:
        """``name``'s inputs that are nodes of this graph: all of them, and its data inputs."""
        refs = self._inputs.get(name)
        if refs is None:
            nodes = self.nodes
            present = [(n, port) for n, port in self.table.inputs[name] if n in nodes]
            refs = self._inputs[name] = ([n for n, _ in present], [n for n, port in present if port != CONTROL])
        return refs

    def readers(self, name: str) -> list[tuple[str, int]]:
        """(reader, input slot) of what reads ``name``; the slot is CONTROL for a ^control input."""
        found = self._readers.get(name)
        if found is None:
            found = self._readers[name] = [(r.name, CONTROL if port == CONTROL else slot)
                                           for r, slot, port in self.table.readers.get(name, ())]
        return found

    def inputs(self, name: str) -> list[str]:
        return self._refs(name)[0]

    def data_inputs(self, name: str) -> list[str]:
        return self._refs(name)[1]

    def neighbours(self, name: str) -> list[str]:
        found = self._neighbours.get(name)
        if found is None:
            found = self._neighbours[name] = self.inputs(name) + [r for r, _ in self.readers(name)]
        return found

    def feeder(self, name: str) -> bool:
        """A node that holds or computes a fixed value: a constant computation, a placeholder, a shape."""
        op = self.op(name)
        return (op in FEED_OPS and not self.data_inputs(name)) or op in SHAPE_OPS or self.constant(name)

    def constant(self, name: str) -> bool:
        """Nothing upstream is fed, random or a variable (a cycle counts as not constant)."""
        known = self._constant
        if name in known:
            return known[name]
        # Depth first, each node decided after all its inputs (a diamond's shared input first); an input still
        # open when its reader is decided is on a cycle with it, and reads as not constant.
        opened: set[str] = set()
        stack = [(name, False)]
        while stack:
            n, inputs_done = stack.pop()
            if inputs_done:
                op = self.op(n)
                known[n] = not (op in FEED_OPS or op in VARIABLE_OPS or is_random(op)) and all(
                    known.get(i, False) for i in self.inputs(n))
                continue
            if n in known or n in opened:
                continue
            opened.add(n)
            stack.append((n, True))
            stack.extend((i, False) for i in self.inputs(n) if i not in known and i not in opened)
        return known[name]

    def claim(self, names: Iterable[str], *, through: Collection[str] = ()) -> tuple[str, ...]:
        """Take ``names`` out of the pool, with the feeders (Consts, their Identities) that fed only them; in graph order.

        ``through``: matched nodes the story rewrote (a Sub now a Const), whose old feeders go with it too.
        """
        taken = {n for n in names if n in self.pool}
        frontier = [*taken, *through]
        while frontier:
            name = frontier.pop()
            for source in self.inputs(name):
                if (source in self.pool and source not in taken and self.feeder(source)
                        and all(r in taken or r in through for r, _ in self.readers(source))):
                    taken.add(source)
                    frontier.append(source)
        for name in taken:
            del self.pool[name]
        return tuple(sorted(taken, key=self.order.__getitem__))


def tell(a: GraphDef, b: GraphDef, matching: Matching, *, outputs: Sequence[str] = (),
         tables: tuple[NodeTable, NodeTable] | None = None) -> tuple[Story, ...]:
    """The stories of ``a`` -> ``b``; ``outputs`` are a's outputs (nodes upstream of none of them were pruned).

    ``tables``: both graphs' NodeTables, when the caller has built them already.
    """
    ta, tb = tables if tables is not None else (NodeTable(a), NodeTable(b))
    sa, sb = _Side(ta, matching.removed), _Side(tb, matching.added)
    pairs = {p.a: p for p in matching.pairs}
    back = {p.b: p.a for p in matching.pairs}
    stories: list[Story] = []
    stories += _unused(sa, outputs)
    stories += _dropout(sa)
    stories += _batch_norms(sa, sb, pairs, back)
    stories += _fused_batch_norms(sa, sb, pairs, back)
    stories += _linear(sa, sb, pairs, back)
    stories += _fused(sa, sb, pairs, back)
    stories += _dequantized(sa, sb, pairs)
    stories += _identities(sa, pairs)
    stories += _bypassed(sa, sb, pairs)
    stories += _constants(sa, sb, pairs, back)
    stories += _leftovers(sa, OTHER_REMOVED)
    stories += _leftovers(sb, OTHER_ADDED)
    return tuple(stories)


# --- the patterns ----------------------------------------------------------------------------


def _unused(sa: _Side, outputs: Sequence[str]) -> list[Story]:
    live = [o for o in outputs if o in sa.nodes]
    if not live:
        return []
    # Through data edges only: a NoOp or Assert that only a control edge ties to an output computes nothing it reads.
    needed, stack = set(), list(live)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(sa.data_inputs(name))
    removed = sa.claim(n for n in list(sa.pool) if n not in needed)
    if not removed:
        return []
    ops = _ops_text(sa, removed)
    noun = "node" if len(removed) == 1 else "nodes"
    return [Story(UNUSED, "", f"{len(removed)} {noun} no output needs pruned ({ops})", removed, ())]


def _dropout(sa: _Side) -> list[Story]:
    stories = []
    for random in [n for n in sa.pool if is_random(sa.op(n))]:
        if random not in sa.pool:
            continue
        # The mask: what the random op reaches among the removed nodes.
        mask, stack = {random}, [random]
        while stack:
            for reader, _ in sa.readers(stack.pop()):
                if reader in sa.pool and reader not in mask:
                    mask.add(reader)
                    stack.append(reader)
        # The 1/keep scaling the mask multiplies: x / keep (TF1) or x * 1/(1 - rate) (TF2), now gone too.
        mask |= {n for m in list(mask) if sa.op(m) in DROPOUT_APPLY_OPS for n in sa.data_inputs(m)
                 if n in sa.pool and sa.op(n) in _SCALING_OPS}
        removed = sa.claim(mask)
        applied = removed[-1] if removed else random
        stories.append(Story(DROPOUT, _scope(applied), f"dropout at {_scope(applied) or applied} removed: its random mask "
                             f"and scaling ({_ops_text(sa, removed)})", removed, ()))
    return stories


def _batch_norms(sa: _Side, sb: _Side, pairs, back) -> list[Story]:
    stories = []
    # The normalisation itself; else a per-channel scale or offset by a constant right after a layer (half folded already).
    cores = [n for n in sa.pool if sa.op(n) in BATCH_NORM_CORE_OPS]
    # The layer's own input is asked last: whether it is constant is a walk over everything before it.
    cores += [n for n in sa.pool if sa.op(n) in _SCALE_OPS and any(
        sa.op(x) in WEIGHTED_OPS and x not in sa.pool for x in sa.data_inputs(n)) and any(
        sa.constant(x) for x in sorted(sa.data_inputs(n), key=lambda x: sa.op(x) in WEIGHTED_OPS))]
    for core in cores:
        if core not in sa.pool:
            continue
        cluster = _component(sa, core, lambda n: sa.op(n) in BATCH_NORM_OPS)
        # Nodes of a next to the cluster that were rewritten in place: Add became BiasAdd, or (Grappler) the
        # Mul became the conv and the Sub a Const. What those fed or read goes with the batch norm too.
        rewrote: list = []
        for _ in range(3):
            rewrote = [pairs[n] for n in sorted({n for c in cluster for n in sa.neighbours(c)} - cluster)
                       if n in pairs and pairs[n].kind == CHANGED and ("op" in pairs[n].what or sa.op(n) not in WEIGHTED_OPS)]
            grown = set(cluster)
            for p in rewrote:
                for n in sa.neighbours(p.a):
                    if n in sa.pool and n not in grown and sa.op(n) in BATCH_NORM_OPS:
                        grown |= _component(sa, n, lambda m: sa.op(m) in BATCH_NORM_OPS)
            if grown == cluster:
                break
            cluster = grown
        around = cluster | {p.a for p in rewrote}
        layer = next((n for c in sorted(around, key=sa.order.__getitem__) for n in sa.data_inputs(c)
                      if sa.op(n) in WEIGHTED_OPS and n not in sa.pool), None)
        # b's side: what was added around the layer's match (new weights, a BiasAdd and its bias).
        added: list[str] = []
        changed: list[str] = []
        facts: list[str] = []
        if layer is not None and layer in pairs:
            b_layer = pairs[layer].b
            added = [n for n in sb.neighbours(b_layer) if n in sb.pool]
            added += [n for x in list(added) for n in sb.neighbours(x) if n in sb.pool and sb.op(n) in CONST_OPS]
            weights = [n for n in sb.data_inputs(b_layer) if n in back and pairs[back[n]].kind == CHANGED]
            if weights or any(sb.op(n) in CONST_OPS for n in sb.data_inputs(b_layer) if n in added):
                facts.append(RESCALED)
            changed += weights
        facts += sorted({f"{sa.op(p.a)} became {sb.op(p.b)}" for p in rewrote if sa.op(p.a) != sb.op(p.b)})
        for p in rewrote:
            changed.append(p.b)
            added += [n for n in sb.neighbours(p.b) if n in sb.pool]
        removed = sa.claim(cluster, through={p.a for p in rewrote})
        added_claimed = sb.claim(added)
        where = _scope(layer) if layer is not None else _norm_scope(core)
        what = "batch norm" if any(sa.op(n) in BATCH_NORM_CORE_OPS for n in removed) else "per-channel scale"
        if layer is not None:
            text = f"{what} of {where} folded into its {_layer_word(sa.op(layer))}: {_ops_text(sa, removed)} removed{_facts(facts)}"
        else:
            text = f"{what} of {where}: its constant arithmetic computed ({_ops_text(sa, removed)} removed{_facts(facts)})"
        stories.append(Story(BATCH_NORM, where, text, removed, added_claimed, tuple(dict.fromkeys(changed)),
                             subject=what, facts=tuple(facts)))
    return stories


def _fused_batch_norms(sa: _Side, sb: _Side, pairs, back) -> list[Story]:
    """A fused batch norm that kept its name but became the layer's bias add: its scale, offset, mean and variance went."""
    stories = []
    for pair in [p for p in pairs.values() if p.kind == CHANGED and sa.op(p.a) in FUSED_BATCH_NORM_OPS
                 and sb.op(p.b) not in FUSED_BATCH_NORM_OPS]:
        data = sa.data_inputs(pair.a)
        layer = data[0] if data and sa.op(data[0]) in WEIGHTED_OPS else None
        added = [n for n in sb.neighbours(pair.b) if n in sb.pool]
        changed = [pair.b]
        became = f"{sa.op(pair.a)} became {sb.op(pair.b)}"
        rescaled: list[str] = []
        if layer is not None and layer in pairs:
            b_layer = pairs[layer].b
            added += [n for n in sb.data_inputs(b_layer) if n in sb.pool]
            weights = [n for n in sb.data_inputs(b_layer) if n in back and pairs[back[n]].kind == CHANGED]
            changed += weights
            rescaled = [RESCALED] if weights or any(n in sb.pool for n in sb.data_inputs(b_layer)) else []
        removed = sa.claim([], through={pair.a})
        where = _scope(layer) if layer is not None else _norm_scope(pair.a)
        word = _layer_word(sa.op(layer)) if layer is not None else "layer"
        stories.append(Story(BATCH_NORM, where, f"batch norm of {where or pair.a} folded into its {word}: {became}"
                             f"{', ' + _ops_text(sa, removed) + ' removed' if removed else ''}{_facts(rescaled)}",
                             removed, sb.claim(added), tuple(changed), subject="batch norm", facts=(became, *rescaled)))
    return stories


def _linear(sa: _Side, sb: _Side, pairs, back) -> list[Story]:
    stories = []
    for first in [n for n in sa.pool if sa.op(n) in WEIGHTED_OPS]:
        if first not in sa.pool:
            continue
        # Forward through what may sit between two linear layers to a weighted layer that stayed.
        node, between = first, []
        while True:
            readers = [r for r, slot in sa.readers(node) if slot == 0 and sa.op(r) not in SHAPE_OPS]
            if len(readers) != 1:
                break
            node = readers[0]
            # A node an earlier story removed (a dropout: neither matched nor left in the pool) is no longer between them.
            if sa.op(node) in WEIGHTED_OPS or (sa.op(node) not in _PASS_THROUGH and (node in pairs or node in sa.pool)):
                break
            between.append(node)
        if sa.op(node) not in WEIGHTED_OPS or node not in pairs:
            continue
        second = pairs[node]
        # The merged weights beside the second layer, and the merged bias of a bias add after it.
        added = [n for n in sb.neighbours(second.b) if n in sb.pool]
        added += [n for r, _ in sb.readers(second.b) if r in back and pairs[back[r]].kind == CHANGED
                  for n in sb.neighbours(r) if n in sb.pool]
        removed = sa.claim([first, *(n for n in between if n in sa.pool)])
        shape_first, shape_second = _weights_shape(sa, first), _weights_shape(sa, node)
        sizes = ""
        if shape_first and shape_second:
            sizes = f" ({shape_first[-2]}->{shape_first[-1]} and {shape_second[-2]}->{shape_second[-1]} into one " \
                    f"{shape_first[-2]}->{shape_second[-1]})"
        stories.append(Story(LINEAR, _scope(first), f"{first} ({sa.op(first)}) and {node} ({sa.op(node)}) merged into "
                             f"one linear layer{sizes}", removed, sb.claim(added),
                             (second.b,) if second.kind == CHANGED else ()))
    return stories


def _fused(sa: _Side, sb: _Side, pairs, back) -> list[Story]:
    stories = []
    fused = [n for n in sb.nodes if sb.op(n) in FUSED_CONV_OPS and (n in sb.pool or (n in back and sa.op(back[n]) not in FUSED_CONV_OPS))]
    for name in fused:
        # What the fused op stands for in a: the resize and pad feeding its match (or feeding the conv it replaced).
        conv = back.get(name)
        start = [conv] if conv is not None else [n for x in sb.data_inputs(name) if x in back for n, _ in sa.readers(back[x])]
        parts = {n for s in start for n in [s, *sa.data_inputs(s)] if n in sa.pool and sa.op(n) in RESIZE_OPS | PAD_OPS | {"Conv2D"}}
        parts |= {n for p in list(parts) for n in sa.data_inputs(p) if n in sa.pool and sa.op(n) in RESIZE_OPS | PAD_OPS}
        removed = sa.claim(parts)
        added = sb.claim([name] if name in sb.pool else [])
        stories.append(Story(FUSED, _scope(name), f"{_ops_text(sa, removed) or 'resize and pad'} fused into "
                             f"{sb.op(name)} at {name}", removed, added, () if conv is None else (name,)))
    return stories


def _dequantized(sa: _Side, sb: _Side, pairs) -> list[Story]:
    removed_all: list[str] = []
    added_all: list[str] = []
    for name in [n for n in sa.pool if sa.op(n) in DEQUANTIZE_OPS]:
        for reader, slot in sa.readers(name):
            if reader in pairs:
                b_reader = pairs[reader].b
                b_inputs = sb.table.inputs[b_reader]
                if slot < len(b_inputs) and (x := b_inputs[slot][0]) in sb.pool and sb.op(x) in CONST_OPS:
                    added_all.append(x)
        removed_all.append(name)
    if not removed_all:
        return []
    removed, added = sa.claim(removed_all), sb.claim(added_all)
    return [Story(DEQUANTIZED, "", f"{len(removed_all)} Dequantize computed into float weights: the 8-bit "
                  f"weights stored as {len(added)} float Const", removed, added)]


def _identities(sa: _Side, pairs) -> list[Story]:
    names = [n for n in sa.pool if sa.op(n) in IDENTITY_OPS]
    if not names:
        return []
    removed = sa.claim(names)
    rewired = sorted({pairs[r].b for n in names for r, _ in sa.readers(n)
                      if r in pairs and pairs[r].kind == CHANGED and "inputs" in pairs[r].what})
    reads = Counter(n.rpartition("/")[2] for n in names)
    common = reads.most_common(1)[0]
    note = f" ({common[1]} of them /{common[0]})" if common[1] > 1 and common[0] else ""
    ops = _ops_text(sa, names)
    return [Story(IDENTITY, "", f"{len(names)} {ops if len(set(map(sa.op, names))) > 1 else sa.op(names[0])} removed"
                  f"{note}: their readers read their inputs directly", removed, (), tuple(rewired))]


def _bypassed(sa: _Side, sb: _Side, pairs) -> list[Story]:
    """Nodes that did nothing (a Reshape to the same shape, a Squeeze of nothing, a multiply by 1): their readers read their input."""
    found: list[str] = []
    for name in list(sa.pool):
        data = sa.data_inputs(name)
        if not data or sa.constant(name) or data[0] not in pairs:
            continue
        source = pairs[data[0]].b
        readers = [(r, slot) for r, slot in sa.readers(name) if slot != CONTROL]
        if readers and all(r in pairs and slot < len(sb.table.inputs[pairs[r].b])
                           and sb.table.inputs[pairs[r].b][slot][0] == source for r, slot in readers):
            found.append(name)
    if not found:
        return []
    removed = sa.claim(found)
    return [Story(BYPASSED, "", f"{len(found)} no-op {_ops_text(sa, found)} removed: their readers read their input",
                  removed, (), tuple(sorted({pairs[r].b for n in found for r, _ in sa.readers(n) if r in pairs})))]


def _constants(sa: _Side, sb: _Side, pairs, back) -> list[Story]:
    folded = [n for n in sa.pool if sa.op(n) not in CONST_OPS and sa.constant(n)]
    folded_set = set(folded)
    # b's Consts standing where a computed one: a matched reader reads them at the slot a's read a folded node.
    added = []
    replaced = folded_set | set(sa.pool)
    for name in [n for n in sb.pool if sb.op(n) in CONST_OPS]:
        for reader, slot in sb.readers(name):
            if reader in back and slot != CONTROL:
                a_inputs = sa.table.inputs[back[reader]]
                if slot < len(a_inputs) and a_inputs[slot][0] in replaced:
                    added.append(name)
                    break
    if not folded and not added:
        return []
    removed = sa.claim(folded + [n for n in sa.pool if sa.op(n) in CONST_OPS and all(r in folded_set for r, _ in sa.readers(n))
                                 and sa.readers(n)])
    added_claimed = sb.claim(added)
    into = f"into {len(added_claimed)} Const" if added_claimed else "into the constants that read them"
    return [Story(CONSTANTS, "", f"{len(folded)} constant computations ({_ops_text(sa, folded)}) evaluated {into}",
                  removed, added_claimed)]


def _leftovers(side: _Side, kind: str) -> list[Story]:
    """What no pattern explains, by name scope (one level under the common root)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in side.pool:
        groups[_scope(name) or name].append(name)
    stories = []
    verb = "removed" if kind == OTHER_REMOVED else "added"
    for scope, names in sorted(groups.items(), key=lambda kv: natural_key(kv[0])):
        claimed = side.claim(names)
        if not claimed:
            continue
        stories.append(Story(kind, scope, f"{scope}: {_ops_text(side, claimed)} {verb}",
                             claimed if kind == OTHER_REMOVED else (), claimed if kind == OTHER_ADDED else ()))
    return stories


# --- words -----------------------------------------------------------------------------------


def _component(side: _Side, start: str, inside) -> set[str]:
    """Nodes of the pool connected to ``start`` through pool nodes ``inside`` accepts (edges either way)."""
    seen, stack = {start}, [start]
    while stack:
        for n in side.neighbours(stack.pop()):
            if n in side.pool and n not in seen and inside(n):
                seen.add(n)
                stack.append(n)
    return seen


def _ops_text(side: _Side, names: Iterable[str]) -> str:
    ops = Counter(side.op(n) for n in names)
    return ", ".join(f"{op}" if count == 1 else f"{count} {op}" for op, count in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))


def _scope(name: str | None) -> str:
    return name.rpartition("/")[0] if name else ""


def _facts(facts: Sequence[str]) -> str:
    """", the weights rescaled, Add became BiasAdd": the facts as a story's text tells them."""
    return "".join(f", the {fact}" if fact == RESCALED else f", {fact}" for fact in facts)


def _norm_scope(core: str) -> str:
    """Where a batch norm without a layer sits: its scope, without the scopes of the normalisation itself (for display only)."""
    parts = core.split("/")[:-1]
    while len(parts) > 1 and "norm" in parts[-1].lower():
        parts.pop()
    return "/".join(parts)


def _layer_word(op: str) -> str:
    return {"MatMul": "matrix multiply", "DepthwiseConv2dNative": "depthwise convolution"}.get(op, "convolution")


def _weights_shape(side: _Side, layer: str) -> tuple[int, ...] | None:
    inputs = side.data_inputs(layer)
    if len(inputs) < 2:
        return None
    source = inputs[1]
    while side.op(source) in IDENTITY_OPS and side.data_inputs(source):
        source = side.data_inputs(source)[0]
    node = side.nodes[source]
    if node.op not in CONST_OPS or "value" not in node.attr:
        return None
    dims = tuple(d.size for d in node.attr["value"].tensor.tensor_shape.dim)
    return dims if len(dims) >= 2 else None


def natural_key(text: str) -> tuple:
    """Conv2d_2 before Conv2d_10: digits compare as numbers."""
    import re

    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def accounted(stories: Sequence[Story], matching: Matching) -> bool:
    """Every removed and added node in exactly one story."""
    removed = Counter(n for s in stories for n in s.removed)
    added = Counter(n for s in stories for n in s.added)
    return (set(removed) == set(matching.removed) and all(c == 1 for c in removed.values())
            and set(added) == set(matching.added) and all(c == 1 for c in added.values()))


__all__ = ["Story", "tell", "accounted", "natural_key", "KINDS", "GROUP_WORDS", "RESCALED"]
