"""GraphDiff: what changed between two GraphDefs, by op type, by node (matched by structure), by story and by name scope. Pure data."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.analysis.matching import CHANGED, RENAMED, Matching, match
from inspector.analysis.stories import Story, tell
from inspector.graph.io import LoadedGraph
from inspector.graph.ops import BATCH_NORM_CORE_OPS, BATCH_NORM_OPS
from inspector.graph.signature import Signature, signature
from inspector.graph.stats import GraphStats, graph_stats
from inspector.graph.table import NodeTable, gc_paused



@dataclass(frozen=True)
class GraphSide:
    """One of the two graphs: its label (run name), where it came from, and its stats."""

    label: str
    path: str | None
    size_bytes: int | None
    stats: GraphStats


@dataclass(frozen=True)
class OpRow:
    op: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class OpTable:
    """The op-type half of a diff: both graphs' stats and one row per op type (what ``diff_table`` shows)."""

    a: GraphSide
    b: GraphSide
    rows: tuple[OpRow, ...]


@dataclass(frozen=True)
class NodeChange:
    """A node of both graphs (matched by name or by structure) whose definition differs."""

    name: str
    op: str
    what: tuple[str, ...]  # of "op", "inputs", "value", "attrs", "device"
    before: str = ""       # its name in a, when it differs
    op_before: str = ""    # its op in a, when it differs


@dataclass(frozen=True)
class ScopeChange:
    """Nodes removed (or added) together, summarised for a person.

    ``scope`` is the largest name scope all of whose nodes went (or came); it
    is ``""`` for single nodes spread over many scopes, grouped by op instead.
    """

    scope: str
    kind: str  # "folded", "removed" or "added"
    nodes: int
    ops: dict[str, int]
    examples: tuple[str, ...]
    changed: int = 0  # nodes of the scope that stayed but were rewritten


@dataclass(frozen=True)
class GraphDiff:
    a: GraphSide
    b: GraphSide
    rows: tuple[OpRow, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    changed: tuple[NodeChange, ...]
    removed: tuple[ScopeChange, ...]
    added: tuple[ScopeChange, ...]
    renamed: tuple[tuple[str, str], ...] = ()   # (name in a, name in b), nothing else different
    stories: tuple[Story, ...] = ()
    summary: dict[str, int] | None = None       # same, renamed, changed, removed, added

    @property
    def ops(self) -> OpTable:
        """The op-type half of this diff."""
        return OpTable(self.a, self.b, self.rows)

    @property
    def identical(self) -> bool:
        return not (self.only_a or self.only_b or self.changed or self.renamed)

    def to_json(self) -> dict:
        def side(s: GraphSide) -> dict:
            return {"label": s.label, "path": s.path, "size_bytes": s.size_bytes, **s.stats.to_json()}

        def scope(c: ScopeChange) -> dict:
            return {"scope": c.scope, "kind": c.kind, "nodes": c.nodes, "changed": c.changed, "ops": c.ops,
                    "examples": list(c.examples)}

        return {
            "summary": dict(self.summary or {}),
            "a": side(self.a),
            "b": side(self.b),
            "ops": [{"op": r.op, "a": r.before, "b": r.after, "delta": r.delta} for r in self.rows],
            "totals": {"a": self.a.stats.nodes, "b": self.b.stats.nodes, "delta": self.b.stats.nodes - self.a.stats.nodes},
            "only_a": list(self.only_a),
            "only_b": list(self.only_b),
            "changed": [{"name": c.name, "op": c.op, "what": list(c.what), "before": c.before or c.name,
                         "op_before": c.op_before or c.op} for c in self.changed],
            "renamed": [{"a": x, "b": y} for x, y in self.renamed],
            "stories": [story.to_json() for story in self.stories],
            "removed_scopes": [scope(c) for c in self.removed],
            "added_scopes": [scope(c) for c in self.added],
        }


def diff_loaded(
    a: LoadedGraph, b: LoadedGraph, *, labels: tuple[str, str] | None = None, changes: Mapping | None = None,
    signatures: tuple[Signature | None, Signature | None] = (None, None),
) -> GraphDiff:
    """Diff two graphs read by ``graphio.load_graph``; labels default to the file names.

    ``changes``: the optimizer's change record of ``b`` made from ``a``
    (workflows/optimize.change_record): each story then names the passes that did it.
    ``signatures``: either graph's signature, when the caller has it already.
    """
    diff = diff_graphs(a.graph, b.graph, signatures=signatures, **_sides(a, b, labels))
    return with_passes(diff, changes) if changes else diff


def op_table_loaded(
    a: LoadedGraph, b: LoadedGraph, *, labels: tuple[str, str] | None = None,
    signatures: tuple[Signature | None, Signature | None] = (None, None),
    stats: tuple[GraphStats | None, GraphStats | None] = (None, None),
) -> OpTable:
    """The op table of :func:`diff_loaded`'s diff, without matching the nodes."""
    return op_table(a.graph, b.graph, signatures=signatures, stats=stats, **_sides(a, b, labels))


def _sides(a: LoadedGraph, b: LoadedGraph, labels: tuple[str, str] | None) -> dict:
    """Labels (the file names unless given), paths and sizes of two loaded graphs, as the diff takes them."""
    return {"labels": labels or (a.path.name, b.path.name), "paths": (str(a.path), str(b.path)),
            "sizes": (a.size_bytes, b.size_bytes)}


def with_passes(diff: GraphDiff, changes: Mapping) -> GraphDiff:
    """``diff`` with each story's passes: those of the change record that removed, added or rewired its nodes."""
    removed: dict[str, str] = {}
    added: dict[str, str] = {}
    order: dict[str, int] = {}
    for record in changes.get("passes", ()):
        if not isinstance(record, Mapping) or not isinstance(record.get("name"), str):
            continue
        order.setdefault(record["name"], len(order))
        for name in record.get("removed", ()):
            removed.setdefault(str(name), record["name"])
        for name in (*record.get("added", ()), *record.get("rewired", ())):
            added[str(name)] = record["name"]  # the last pass to touch a node made what b holds
    def passes(story: Story) -> tuple[str, ...]:
        found = {removed[n] for n in story.removed if n in removed} | {added[n] for n in (*story.added, *story.changed) if n in added}
        return tuple(sorted(found, key=order.__getitem__))  # in the order the optimizer ran them

    stories = tuple(replace(story, passes=passes(story)) for story in diff.stories)
    return replace(diff, stories=stories)


def op_table(
    a: GraphDef,
    b: GraphDef,
    *,
    labels: tuple[str, str] = ("a", "b"),
    paths: tuple[str | None, str | None] = (None, None),
    sizes: tuple[int | None, int | None] = (None, None),
    signatures: tuple[Signature | None, Signature | None] = (None, None),
    stats: tuple[GraphStats | None, GraphStats | None] = (None, None),
) -> OpTable:
    """The op table of ``a`` against ``b`` without matching their nodes: a count per op type is all it needs.

    ``signatures`` and ``stats``: either graph's, when the caller has them already.
    """
    sa, sb = (st if st is not None else graph_stats(g, sig=s) for g, s, st in zip((a, b), signatures, stats))
    return OpTable(GraphSide(labels[0], paths[0], sizes[0], sa), GraphSide(labels[1], paths[1], sizes[1], sb),
                   _op_rows(sa.ops, sb.ops))


@gc_paused()  # a diff allocates millions of small objects and makes no cycles
def diff_graphs(
    a: GraphDef,
    b: GraphDef,
    *,
    labels: tuple[str, str] = ("a", "b"),
    paths: tuple[str | None, str | None] = (None, None),
    sizes: tuple[int | None, int | None] = (None, None),
    matching: Matching | None = None,
    signatures: tuple[Signature | None, Signature | None] = (None, None),
) -> GraphDiff:
    """``a`` against ``b``; ``matching`` (match(a, b)) and ``signatures``: what the caller has already."""
    tables = ta, tb = NodeTable(a), NodeTable(b)
    sigs = tuple(s if s is not None else signature(g, table=t) for s, g, t in zip(signatures, (a, b), tables))
    ops = op_table(a, b, labels=labels, paths=paths, sizes=sizes, signatures=sigs)
    matching = matching if matching is not None else match(a, b, tables=tables)
    ops_a, ops_b = ta.ops, tb.ops
    changed = tuple(
        NodeChange(name=p.b, op=ops_b[p.b], what=p.what, before=p.a if p.a != p.b else "",
                   op_before=ops_a[p.a] if ops_a[p.a] != ops_b[p.b] else "")
        for p in matching.pairs if p.kind == CHANGED
    )
    rewritten_a = {c.before or c.name for c in changed}
    rewritten_b = {c.name for c in changed}
    only_a, only_b = matching.removed, matching.added
    return GraphDiff(
        a=ops.a,
        b=ops.b,
        rows=ops.rows,
        only_a=only_a,
        only_b=only_b,
        changed=changed,
        removed=summarise_scopes(a, set(only_a), kind="removed", rewritten=rewritten_a, table=ta),
        added=summarise_scopes(b, set(only_b), kind="added", rewritten=rewritten_b, table=tb),
        renamed=tuple((p.a, p.b) for p in matching.pairs if p.kind == RENAMED),
        stories=tell(a, b, matching, outputs=_kept_outputs(matching, ops.a.stats.outputs, ops.b.stats.outputs), tables=tables),
        summary=matching.counts(),
    )


def _kept_outputs(matching, outputs_a: tuple[str, ...], outputs_b: tuple[str, ...]) -> list[str]:
    """a's nodes that are b's outputs: what a node of a must feed not to count as pruned (a's own, if none match)."""
    back = {p.b: p.a for p in matching.pairs}
    kept = [back[o] for o in outputs_b if o in back]
    return kept or list(outputs_a)


def _op_rows(before: dict[str, int], after: dict[str, int]) -> tuple[OpRow, ...]:
    rows = [OpRow(op, before.get(op, 0), after.get(op, 0)) for op in set(before) | set(after)]
    # Biggest change first, then the most common op, then by name for a stable order.
    rows.sort(key=lambda r: (-abs(r.delta), -max(r.before, r.after), r.op))
    return tuple(rows)


def summarise_scopes(
    graph: GraphDef, members: set[str], *, kind: str, rewritten: set[str] = frozenset(), examples: int = 3,
    table: NodeTable | None = None,
) -> tuple[ScopeChange, ...]:
    """Group ``members`` (node names of ``graph``) by the largest scope they account for.

    A scope is accounted for when each of its nodes is a member or was
    ``rewritten`` in place: a batch norm folded by TensorFlow's tool leaves two
    of its nodes behind with new ops, and is still one ``.../BatchNorm`` line,
    not a dozen node names. Nodes that went alone (an Identity here and there)
    are grouped by op. ``table``: the graph's NodeTable, when the caller has it.
    """
    if not members:
        return ()
    ops = (table if table is not None else NodeTable(graph)).ops
    # Scopes are numbered by a trie walk, not built as strings: every prefix
    # string of a name 60,000 scopes deep would be quadratic in time and memory.
    # Each distinct scope is walked once (a graph has far fewer scopes than
    # nodes); a node counts on its scope, or on itself when its name is a scope
    # too (weights beside weights/read), then counts go up the trie once per
    # scope (a child's id is always above its parent's).
    trie = _Trie()

    def path(scope: str) -> tuple[int, ...]:
        """The ids of ``scope`` and its enclosing scopes, outermost first (the trie keeps the shallow ones)."""
        return trie.ids(scope) if scope else ()

    heads = [name.rpartition("/")[0] for name in ops]
    scopes = set(heads)
    paths: dict[str, tuple[int, ...]] = {}  # per scope, asked once per node: a graph has far fewer scopes than nodes

    def scope_path(head: str) -> tuple[int, ...]:
        found = paths.get(head)
        if found is None:
            found = path(head)
            if len(found) <= _Trie.CACHED_DEPTH:
                paths[head] = found
        return found

    # Id 0, the root, for a top-level node that is no scope: it stands alone, whatever the counts.
    owns = [scope_path(name)[-1] if name in scopes else scope_path(head)[-1] if head else 0 for name, head in zip(ops, heads)]
    total, hit, kept = ([0] * len(trie.parent) for _ in range(3))
    walks: list[tuple[str, str]] = []
    for name, head, own in zip(ops, heads, owns):
        total[own] += 1
        if name in members:
            hit[own] += 1
            walks.append((name, head))
        if name in rewritten:
            kept[own] += 1
    for scope in range(len(trie.parent) - 1, 0, -1):
        up = trie.parent[scope]
        if up:
            total[up] += total[scope]
            hit[up] += hit[scope]
            kept[up] += kept[scope]
    groups: dict[int | str, list[str]] = defaultdict(list)
    names: dict[int | str, str] = {}
    first: dict[str, int | None] = {}  # scope -> how deep its outermost fully accounted enclosing scope is
    for name, head in walks:
        enclosing = scope_path(head)
        if head not in first:
            first[head] = next((i for i, p in enumerate(enclosing) if hit[p] + kept[p] == total[p]), None)
        depth = first[head]
        # A removed node whose own name is also a scope with surviving children
        # (Keras's ReadVariableOp/resource) accounts for no scope: it stands alone.
        top: int | str = enclosing[depth] if depth is not None else path(name)[-1] if name in scopes else name
        if top not in names:
            names[top] = name if depth is None else "/".join(name.split("/")[: depth + 1])
        groups[top].append(name)
    scoped: list[ScopeChange] = []
    loose: dict[str, list[str]] = defaultdict(list)
    for top, group in groups.items():
        prefix = names[top]
        if len(group) == 1 and group[0] == prefix:
            loose[ops[prefix]].append(prefix)
            continue
        scoped.append(_scope_change(prefix, [ops[n] for n in group], group, kind, examples,
                                    changed=kept[top] if isinstance(top, int) else 0))
    for group in loose.values():
        scoped.append(_scope_change("", [ops[n] for n in group], group, kind, examples))
    scoped.sort(key=lambda c: (-c.nodes, c.scope == "", c.scope))
    return tuple(scoped)


def _scope_change(scope: str, node_ops: list[str], names: list[str], kind: str, examples: int, *,
                  changed: int = 0) -> ScopeChange:
    ops = Counter(node_ops)
    # A removed group made only of batch norm ops, the normalisation itself among them, went into the conv weights.
    if kind == "removed" and set(ops) <= BATCH_NORM_OPS and set(ops) & BATCH_NORM_CORE_OPS:
        kind = "folded"
    return ScopeChange(
        scope=scope,
        kind=kind,
        nodes=len(names),
        ops=dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        examples=tuple(names[:examples]),
        changed=changed,
    )


class _Trie:
    """Scope ids: one per distinct prefix path (the same parts below the same parent are the same scope)."""

    CACHED_DEPTH = 64  # deeper scopes are walked each time: caching every prefix of a deep chain is quadratic

    def __init__(self) -> None:
        self._children: dict[tuple[int, str], int] = {}
        self.parent: list[int] = [0]  # by id; 0 is the root
        self._scopes: dict[str, tuple[int, ...]] = {}

    def _child(self, parent: int, part: str) -> int:
        key = (parent, part)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = len(self.parent)
            self.parent.append(parent)
        return found

    def ids(self, name: str) -> tuple[int, ...]:
        """The ids of ``a``, ``a/b``, ``a/b/c`` for ``a/b/c`` (outermost first)."""
        head, slash, leaf = name.rpartition("/")
        if not slash:
            return (self._child(0, name),)
        scope = self._scopes.get(head)
        if scope is None:
            walked: list[int] = []
            for part in head.split("/"):
                walked.append(self._child(walked[-1] if walked else 0, part))
            scope = tuple(walked)
            if len(scope) <= self.CACHED_DEPTH:
                self._scopes[head] = scope
        return (*scope, self._child(scope[-1], leaf))


# The rule that orders a pair nobody ordered: what an inference optimizer does is remove nodes.
MORE_NODES_FIRST = "more nodes first (an optimizer removes nodes)"


def likely_before(nodes_a: int, nodes_b: int) -> bool:
    """Whether ``a`` is the graph before optimizing, by MORE_NODES_FIRST (a tie keeps the order given)."""
    return nodes_a >= nodes_b


def run_names(a: Path, b: Path) -> tuple[str, str]:
    """Run names for two graph files: ``retrained`` and ``optimized`` for the codelab's files.

    The rule when they clash: prefix each with its folder's name; if that
    clashes too (the same file twice), suffix ``-a`` and ``-b``.
    """
    from inspector.graph.io import default_stem

    na, nb = default_stem(a), default_stem(b)
    if na != nb:
        return na, nb
    pa, pb = a.resolve().parent.name, b.resolve().parent.name
    if pa and pb and pa != pb:
        return f"{pa}-{na}", f"{pb}-{nb}"
    return f"{na}-a", f"{nb}-b"
