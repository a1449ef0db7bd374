"""What the Graph diff tab draws of one pair: each side's nodes nested by name scope, the edges between the items of each level, each item's peer on the other side, and search.

A level (a scope's direct children) is what one layout takes; the tab asks
for a level when the scope is opened. A scope with more than LIMIT children
has them in groups of consecutive ones (in natural order), so no layout ever
takes more than LIMIT items, whatever the graph.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.analysis.diff import GraphDiff, NodeChange
from inspector.analysis.stories import Story
from inspector.graph.table import gc_paused

# Items in one level; past this, groups of consecutive siblings.
LIMIT = 100
# Scopes a name is split into at most; the rest of a deeper name stays its label.
MAX_DEPTH = 48
# Search results per query.
FOUND_SHOWN = 50
# Descendants asked for their partners when a scope's peer is not found by its name.
PEER_SAMPLES = 32
PEER_VISITS = 4000

SCOPE, NODE, GROUP = "scope", "node", "group"
SAME, REMOVED, ADDED, CHANGED, RENAMED = "same", "removed", "added", "changed", "renamed"
STATUSES = (SAME, REMOVED, ADDED, CHANGED, RENAMED)
_INDEX = {s: i for i, s in enumerate(STATUSES)}
_DIGITS = re.compile(r"(\d+)")


def natural(label: str) -> tuple:
    """conv2d_2 before conv2d_10, as a person reads them."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _DIGITS.split(label) if p)


@dataclass
class Side:
    """One graph as items: the root (id 0), scopes, nodes and groups, with parents, children and counts."""

    kind: list[str]
    name: list[str]       # full name for scopes and nodes; "" for the root and groups
    label: list[str]
    parent: list[int]
    children: list[list[int]]
    depth: list[int]
    op: list[str]
    status: list[str]     # a node's status; for others, the summary of what is inside
    counts: list[list[int]]  # nodes inside by status (STATUSES order); a node counts itself
    nodes: dict[str, int]    # node name -> item
    scopes: dict[str, int]   # scope name -> item
    edges: dict[int, dict[tuple[int, int], list[int]]]  # level -> (from child, to child) -> [count, data edges]

    def path(self, item: int) -> list[int]:
        """Item ids from the root's child down to ``item`` (empty for the root)."""
        out = []
        while item > 0:
            out.append(item)
            item = self.parent[item]
        return out[::-1]

    def nearest(self, name: str) -> int:
        """The deepest scope or node whose name is ``name`` or a scope of it; the root if none."""
        if name in self.nodes:
            return self.nodes[name]
        parts = name.split("/")
        for end in range(min(len(parts), MAX_DEPTH), 0, -1):
            prefix = "/".join(parts[:end])
            found = self.scopes.get(prefix, self.nodes.get(prefix))
            if found is not None:
                return found
        return 0


def build_side(graph: GraphDef, status: Mapping[str, str]) -> Side:
    """``graph``'s items; ``status`` gives each node's status (absent: same)."""
    side = Side([SCOPE], [""], [""], [-1], [[]], [0], [""], [SAME], [[0] * 5], {}, {}, {})
    scopes = side.scopes
    scopes[""] = 0

    def scope_of(parts: list[str]) -> int:
        here, prefix = 0, ""
        for part in parts:
            prefix = f"{prefix}/{part}" if prefix else part
            found = scopes.get(prefix)
            if found is None:
                found = _add(side, SCOPE, prefix, part, here)
                scopes[prefix] = found
            here = found
        return here

    graph_nodes = list(graph.node)
    for node in graph_nodes:
        if node.name in side.nodes:
            continue
        parts = node.name.split("/")
        if len(parts) > MAX_DEPTH:
            parts = parts[: MAX_DEPTH - 1] + ["/".join(parts[MAX_DEPTH - 1:])]
        parent = scope_of(parts[:-1])
        item = _add(side, NODE, node.name, parts[-1], parent)
        side.op[item] = node.op
        side.status[item] = status.get(node.name, SAME)
        side.nodes[node.name] = item
    # A node whose name is also a scope (weights beside weights/read) goes inside that scope.
    moved: set[int] = set()
    for name, item in side.nodes.items():
        inner = scopes.get(name)
        if inner is not None:
            moved.add(item)
            side.children[inner].append(item)
            side.parent[item] = inner
            side.label[item] = f"({side.label[item]})"
    if moved:
        # Filtered once per level, not removed one by one: a level can hold every node.
        for item, kids in enumerate(side.children):
            if kids and side.kind[item] != NODE:
                side.children[item] = [k for k in kids if k not in moved or side.parent[k] == item]
    _depths(side)
    _edges(side, graph_nodes)
    _sort_and_group(side)
    _depths(side)
    _count(side)
    return side


def _add(side: Side, kind: str, name: str, label: str, parent: int) -> int:
    item = len(side.kind)
    side.kind.append(kind)
    side.name.append(name)
    side.label.append(label)
    side.parent.append(parent)
    side.children.append([])
    side.depth.append(side.depth[parent] + 1 if parent >= 0 else 0)
    side.op.append("")
    side.status.append(SAME)
    side.counts.append([0] * 5)
    side.children[parent].append(item)
    return item


def _depths(side: Side) -> None:
    order = [0]
    for item in order:
        for k in side.children[item]:
            side.depth[k] = side.depth[item] + 1
            order.append(k)


def _sort_and_group(side: Side) -> None:
    """Each level in natural order; a level of more than LIMIT items in groups of consecutive ones in dataflow order.

    Grouped in dataflow order, a flat scope of hundreds of layers (a Keras
    model) becomes a chain of groups, each a run of layers, instead of
    alphabetical slices with edges going back and forth between them.
    """
    queue = [0]
    label, name, kind = side.label, side.name, side.kind
    keys: dict[str, tuple] = {}  # labels repeat (weights, read, Conv2D): each is split into its sort key once
    while queue:
        item = queue.pop()
        kids = side.children[item]
        if not kids:
            continue
        own = name[item]
        # The node a scope is named after first (weights before weights/read), then as a person reads.
        kids.sort(key=lambda k: (name[k] != own or kind[k] != NODE, keys[label[k]] if label[k] in keys
                                 else keys.setdefault(label[k], natural(label[k]))))
        if len(kids) <= LIMIT:
            queue.extend(k for k in kids if kind[k] != NODE)
            continue
        ordered = _dataflow_order(kids, side.edges.get(item, {}))
        count = -(-len(ordered) // LIMIT)
        size = LIMIT
        while count > LIMIT:
            size *= LIMIT
            count = -(-len(ordered) // size)
        size = -(-len(ordered) // count)  # even groups: 101 items are 51 and 50, not 100 and 1
        side.children[item] = []
        group_of: dict[int, int] = {}
        for start in range(0, len(ordered), size):
            chunk = ordered[start:start + size]
            group = _add(side, GROUP, "", f"{label[chunk[0]]} … {label[chunk[-1]]}", item)
            side.children[group] = chunk
            for k in chunk:
                side.parent[k] = group
                group_of[k] = group
        # Edges between the items: inside one group they are that group's; across, between the groups.
        old = side.edges.pop(item, {})
        for (x, y), (count_xy, data) in old.items():
            gx, gy = group_of[x], group_of[y]
            key, level = ((x, y), gx) if gx == gy else ((gx, gy), item)
            entry = side.edges.setdefault(level, {}).setdefault(key, [0, 0])
            entry[0] += count_xy
            entry[1] += data
        # A group of more than LIMIT is split again when it is visited.
        queue.extend(side.children[item])


def _dataflow_order(kids: list[int], edges: Mapping[tuple[int, int], list[int]]) -> list[int]:
    """``kids`` in topological order of the edges between them (Kahn's), ties and cycles in their given order."""
    rank = {k: i for i, k in enumerate(kids)}
    after: dict[int, list[int]] = {}
    waiting = dict.fromkeys(kids, 0)
    for x, y in edges:
        if x in rank and y in rank:
            after.setdefault(x, []).append(y)
            waiting[y] += 1
    ready = [rank[k] for k in kids if not waiting[k]]
    heapq.heapify(ready)
    out: list[int] = []
    placed: set[int] = set()
    while len(out) < len(kids):
        if not ready:
            # A cycle: the first item not yet placed goes next, and its readers are freed as if it were.
            k = next(k for k in kids if k not in placed)
            heapq.heappush(ready, rank[k])
            waiting[k] = 0
        k = kids[heapq.heappop(ready)]
        if k in placed:
            continue
        placed.add(k)
        out.append(k)
        for y in after.get(k, ()):
            waiting[y] -= 1
            if waiting[y] == 0 and y not in placed:
                heapq.heappush(ready, rank[y])
    return out


def _count(side: Side) -> None:
    order = [0]
    for item in order:
        order.extend(side.children[item])
    for item in reversed(order):
        counts = side.counts[item]
        if side.kind[item] == NODE:
            counts[_INDEX[side.status[item]]] += 1
        parent = side.parent[item]
        if parent >= 0:
            into = side.counts[parent]
            for i, n in enumerate(counts):
                into[i] += n
    for item, counts in enumerate(side.counts):
        if side.kind[item] != NODE:
            side.status[item] = _summary(counts)


def _summary(counts: list[int]) -> str:
    total = sum(counts)
    for status, n in zip(STATUSES, counts):
        if n and n == total:
            return status
    return CHANGED if total else SAME


def _edges(side: Side, graph_nodes: Iterable) -> None:
    parent, depth, nodes = side.parent, side.depth, side.nodes
    flat: dict[tuple[int, int], list[int]] = {}  # (from, to) -> [edges, data edges]; their level is parent[from]
    for node in graph_nodes:
        v = nodes.get(node.name)
        pv = parent[v]
        for ref in node.input:
            control = ref[:1] == "^"
            source = ref[1:] if control else ref.rsplit(":", 1)[0] if ":" in ref else ref
            u = nodes.get(source)
            if u is None and not control and source != ref:
                u = nodes.get(ref)  # a name with a colon in it, not an output index
            if u is None or u == v:
                continue
            x, y = u, v
            if parent[x] != pv:  # not siblings (most edges are): climb to the children of their lowest common scope
                while depth[x] > depth[y]:
                    x = parent[x]
                while depth[y] > depth[x]:
                    y = parent[y]
                if x == y:
                    continue  # one inside the other: a node and the scope it heads
                while parent[x] != parent[y]:
                    x, y = parent[x], parent[y]
            entry = flat.get((x, y))
            if entry is None:
                entry = flat[(x, y)] = [0, 0]
            entry[0] += 1
            entry[1] += not control
    edges = side.edges
    for (x, y), entry in flat.items():
        edges.setdefault(parent[x], {})[(x, y)] = entry


@dataclass(frozen=True)
class DiffFacts:
    """What the drawing takes from a diff: who was removed, added, renamed and changed, and the stories.

    Small enough to store beside the runs (`inspector compare` does, so the
    tab draws without diffing again) and read back with :meth:`from_json`.
    """

    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...]
    changed: tuple[NodeChange, ...]
    stories: tuple[Story, ...]

    @classmethod
    def of(cls, diff: GraphDiff) -> "DiffFacts":
        return cls(diff.only_a, diff.only_b, diff.renamed, diff.changed, diff.stories)

    def to_json(self) -> dict[str, Any]:
        return {
            "only_a": list(self.only_a), "only_b": list(self.only_b), "renamed": [list(p) for p in self.renamed],
            "changed": [[c.name, c.op, list(c.what), c.before, c.op_before] for c in self.changed],
            "stories": [[s.kind, s.scope, s.text, list(s.removed), list(s.added), list(s.changed), list(s.passes)]
                        for s in self.stories],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DiffFacts":
        """The facts :meth:`to_json` wrote; ValueError (or KeyError, TypeError) for anything else."""
        def names(value: Any) -> tuple[str, ...]:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("not a list of names")
            return tuple(value)

        renamed = tuple((x, y) for x, y in (names(p) for p in data["renamed"]))
        changed = tuple(NodeChange(name=str(n), op=str(o), what=names(w), before=str(b), op_before=str(ob))
                        for n, o, w, b, ob in data["changed"])
        stories = tuple(Story(kind=str(k), scope=str(sc), text=str(t), removed=names(r), added=names(a),
                              changed=names(c), passes=names(p)) for k, sc, t, r, a, c, p in data["stories"])
        return cls(names(data["only_a"]), names(data["only_b"]), renamed, changed, stories)


@dataclass
class Drawing:
    """Both sides of one pair, with the node partners the diff matched."""

    a: Side
    b: Side
    partner_a: dict[str, str]  # node in a -> its match in b
    partner_b: dict[str, str]
    story_of: dict[tuple[str, str], int]  # (side, node) -> index in facts.stories
    facts: DiffFacts
    # Output shapes TensorFlow inferred, per side, filled when the node panel first asks (nodeinfo.py).
    shapes: dict[str, Any] = field(default_factory=dict)
    # The drift of the logdir's drift record (tb/plugin/drift.py) on these items, by the record's (size, mtime).
    drifts: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def drift(self, stamp: tuple[int, int], record: dict[str, Any]) -> dict[str, Any]:
        """Each drawn item's largest drift ratio (a layer's own; a scope's, of what it holds), both sides, from ``record``."""
        if stamp in self.drifts:
            return self.drifts[stamp]
        per_item: dict[str, dict[int, float]] = {"a": {}, "b": {}}
        layers: dict[str, dict[str, Any]] = {"a": {}, "b": {}}
        for row in record.get("layers", ()):
            try:
                name, _, ratio, max_abs, max_rel, floor = row
                figures = {"ratio": float(ratio), "max_abs_diff": float(max_abs), "max_rel_diff": float(max_rel),
                           "noise_floor": float(floor)}
            except (TypeError, ValueError):
                continue
            for which, node in (("a", name), ("b", self.partner_a.get(name))):
                side = self.side(which)
                item = side.nodes.get(node) if isinstance(node, str) else None
                if item is None:
                    continue
                layers[which][node] = figures
                while item > 0:
                    seen = per_item[which].get(item)
                    if seen is not None and seen >= figures["ratio"]:
                        break
                    per_item[which][item] = figures["ratio"]
                    item = side.parent[item]
        found = {"per_item": per_item, "layers": layers}
        self.drifts = {stamp: found}  # the last record only: it replaces the one before
        return found

    def side(self, which: str) -> Side:
        return self.a if which == "a" else self.b

    def other(self, which: str) -> tuple[str, Side, dict[str, str]]:
        return ("b", self.b, self.partner_a) if which == "a" else ("a", self.a, self.partner_b)

    def level(self, which: str, item: int) -> dict[str, Any]:
        """The children of ``item`` on side ``which``, with their edges and peers, for one layout."""
        side = self.side(which)
        if not 0 <= item < len(side.kind) or side.kind[item] == NODE:
            raise KeyError(item)
        kids = side.children[item]
        index = {k: i for i, k in enumerate(kids)}
        items = [self._item(which, side, k) for k in kids]
        edges = [[index[x], index[y], count, data] for (x, y), (count, data) in side.edges.get(item, {}).items()]
        return {"side": which, "id": item, "items": items, "edges": edges}

    def _item(self, which: str, side: Side, k: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": k, "kind": side.kind[k], "label": side.label[k], "status": side.status[k]}
        if side.kind[k] != GROUP:
            out["name"] = side.name[k]
        if side.kind[k] == NODE:
            out["op"] = side.op[k]
        else:
            out["counts"] = side.counts[k]
            out["nodes"] = sum(side.counts[k])
        out["peer"] = self.peer(which, k)
        return out

    def peer(self, which: str, item: int) -> dict[str, Any]:
        """What ``item`` matches on the other side, as ``{"path": ids from the top, "exact": bool}``.

        Exact: its partner node, the scope of the same name, or the item that
        holds its descendants' partners. Not exact: only the nearest scope of
        its name that the other side has (a scope the optimizer removed).
        """
        side = self.side(which)
        _, other, partner = self.other(which)
        if side.kind[item] == NODE:
            match = partner.get(side.name[item])
            if match in other.nodes:
                return {"path": other.path(other.nodes[match]), "exact": True}
            return {"path": other.path(other.nearest(side.name[item])), "exact": False}
        if side.kind[item] == SCOPE and side.name[item] in other.scopes:
            return {"path": other.path(other.scopes[side.name[item]]), "exact": True}
        found: list[int] = []
        stack, visits = [item], 0
        while stack and len(found) < PEER_SAMPLES and visits < PEER_VISITS:
            k = stack.pop()
            visits += 1
            if side.kind[k] == NODE:
                match = partner.get(side.name[k])
                if match in other.nodes:
                    found.append(other.nodes[match])
            else:
                stack.extend(reversed(side.children[k]))
        if not found:
            named = side.name[item] or next((side.name[k] for k in side.path(item)[::-1] if side.name[k]), "")
            return {"path": other.path(other.nearest(named)), "exact": False}
        return {"path": _common(other, found), "exact": True}

    def search(self, query: str) -> list[dict[str, Any]]:
        """Nodes of either side whose name or op contains ``query`` (any case), exact names first."""
        q = query.casefold()
        out: list[dict[str, Any]] = []
        for which in ("a", "b"):
            side = self.side(which)
            # A scope is found by its whole name (the lists link to scopes); nodes by any part or their op.
            exact = [found[query] for found in (side.nodes, side.scopes) if query in found and found[query]]
            hits = exact + [k for name, k in side.nodes.items()
                            if k not in exact and (q in name.casefold() or q in side.op[k].casefold())]
            for k in hits[:FOUND_SHOWN]:
                out.append({"side": which, "name": side.name[k], "kind": side.kind[k], "op": side.op[k],
                            "status": side.status[k], "path": side.path(k), "peer": self.peer(which, k)})
        # The node of that very name first, then nodes of that very op, then the shortest names.
        out.sort(key=lambda r: (r["name"] != query, r["op"].casefold() != q, r["side"] != "a", len(r["name"])))
        return out[:FOUND_SHOWN]

    def story(self, index: int) -> dict[str, Any]:
        """The items story ``index`` lights up on each side (its nodes and what holds them), and one to show first."""
        story = self.facts.stories[index]
        touched_a = list(story.removed) + [self.partner_b.get(n, n) for n in story.changed]
        touched_b = list(story.added) + list(story.changed)
        out: dict[str, Any] = {"index": index, "kind": story.kind, "text": story.text}
        for which, names in (("a", touched_a), ("b", touched_b)):
            side = self.side(which)
            lit: set[int] = set()
            first = None
            for name in names:
                k = side.nodes.get(name)
                if k is None:
                    continue
                first = k if first is None else first
                while k > 0 and k not in lit:
                    lit.add(k)
                    k = side.parent[k]
            out[which] = {"lit": sorted(lit), "first": side.path(first) if first is not None else []}
        return out


def _common(side: Side, items: list[int]) -> list[int]:
    paths = [side.path(k) for k in items]
    common: list[int] = []
    for step in zip(*paths):
        if any(s != step[0] for s in step):
            break
        common.append(step[0])
    return common


@gc_paused()  # a node is several list entries and tuples; no cycles among them
def build(diff: GraphDiff | DiffFacts, a: GraphDef, b: GraphDef) -> Drawing:
    """The drawing of one diffed pair (its GraphDiff, or the DiffFacts stored of it)."""
    diff = diff if isinstance(diff, DiffFacts) else DiffFacts.of(diff)
    renamed = dict(diff.renamed)
    changed_before = {c.before or c.name: c.name for c in diff.changed}
    status_a = dict.fromkeys(diff.only_a, REMOVED) | dict.fromkeys(renamed, RENAMED) | dict.fromkeys(changed_before, CHANGED)
    status_b = (dict.fromkeys(diff.only_b, ADDED) | dict.fromkeys(renamed.values(), RENAMED)
                | dict.fromkeys(changed_before.values(), CHANGED))
    side_a, side_b = build_side(a, status_a), build_side(b, status_b)
    only_a, only_b = set(diff.only_a), set(diff.only_b)
    partner_a: dict[str, str] = {}
    for name in side_a.nodes:
        if name in only_a:
            continue
        match = renamed.get(name) or changed_before.get(name) or name
        if match in side_b.nodes and match not in only_b:
            partner_a[name] = match
    partner_b = {v: k for k, v in partner_a.items()}
    story_of: dict[tuple[str, str], int] = {}
    for i, story in enumerate(diff.stories):
        for name in story.removed:
            story_of.setdefault(("a", name), i)
        for name in story.added:
            story_of.setdefault(("b", name), i)
        for name in story.changed:
            story_of.setdefault(("b", name), i)
            story_of.setdefault(("a", partner_b.get(name, name)), i)
    return Drawing(side_a, side_b, partner_a, partner_b, story_of, diff)
