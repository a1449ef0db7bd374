"""Which node of one graph is which node of the other: by name, by the digest of everything a node computes from, then by its matched neighbours.

Names are the first clue, not the only one: a graph renamed throughout (every
node prefixed, exported again by another tool) computes the same thing from the
same weights, so each node's *structural digest* (its op, its attributes, its
weights' digest and, recursively, the digests of its data inputs: a Merkle hash
of the computation) is equal across the two. What the optimizer rewrote (a conv
whose weights were rescaled, a node now reading past a removed Identity) has a
new digest; such nodes are matched through neighbours already matched: the same
op reading the same matched input at the same slot, or read by the same matched
node at the same slot. Everything is hashing and dictionary lookups: linear in
the nodes, plus the bytes of the weights digested once.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto

from inspector.graph.ops import CONST_OPS, IDENTITY_OPS
from inspector.graph.refs import CONTROL
from inspector.graph.table import NodeTable

# On a Const whose payload a logged run left out: the local digest of the Const as it was.
DIGEST_ATTR = "_inspector_digest"

# Pair kinds.
SAME = "same"        # one name, one definition
RENAMED = "renamed"  # another name, the same definition (its inputs read through the matching)
CHANGED = "changed"  # matched, but its op, inputs, weights or attributes differ

# How a pair was found.
BY_NAME = "name"
BY_DIGEST = "digest"
BY_NEIGHBOURS = "neighbours"

_ROUNDS = 8
_MAX_COMPARED = 16  # candidates whose names are compared; past that, the first in graph order  # neighbour propagation: each round reaches one more node along a rewritten chain


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    kind: str                   # SAME, RENAMED or CHANGED
    how: str                    # BY_NAME, BY_DIGEST or BY_NEIGHBOURS
    what: tuple[str, ...] = ()  # CHANGED: of "op", "inputs", "value", "attrs", "device"


@dataclass(frozen=True)
class Matching:
    pairs: tuple[Pair, ...]      # in b's graph order
    removed: tuple[str, ...]     # a's nodes without a match, in graph order
    added: tuple[str, ...]       # b's nodes without a match, in graph order

    def counts(self) -> dict[str, int]:
        kinds = defaultdict(int)
        for pair in self.pairs:
            kinds[pair.kind] += 1
        return {"same": kinds[SAME], "renamed": kinds[RENAMED], "changed": kinds[CHANGED],
                "removed": len(self.removed), "added": len(self.added)}

    def a_to_b(self) -> dict[str, str]:
        return {p.a: p.b for p in self.pairs}


def match(a: GraphDef, b: GraphDef, *, tables: tuple[NodeTable, NodeTable] | None = None) -> Matching:
    """Pair the nodes of ``a`` and ``b``: by name, then by structural digest, then through matched neighbours.

    ``tables``: both graphs' NodeTables, when the caller has built them already.
    """
    ta, tb = tables if tables is not None else (NodeTable(a), NodeTable(b))
    nodes_a, nodes_b = ta.nodes, tb.nodes
    pairs: dict[str, str] = {}   # a -> b
    back: dict[str, str] = {}    # b -> a
    how: dict[str, str] = {}

    def pair(x: str, y: str, found: str) -> None:
        pairs[x], back[y], how[x] = y, x, found

    # One name, one op: a match. One name, another op is only a fallback: Grappler gives the conv a batch
    # norm was folded into the name of the Mul it replaced, and the conv's own match is found by structure.
    renamed_ops = []
    for name, node in nodes_b.items():
        other = nodes_a.get(name)
        if other is not None:
            if other.op == node.op:
                pair(name, name, BY_NAME)
            else:
                renamed_ops.append(name)

    local_a = {name: local_digest(node) for name, node in nodes_a.items()}
    local_b = {name: local_digest(node) for name, node in nodes_b.items()}
    digests_a, digests_b = _digests(ta, local_a), _digests(tb, local_b)
    # Equal digests: the same computation from the same weights under another name. A digest one node
    # on each side has pairs them now; where several share one (the same epsilon in every batch norm),
    # matched neighbours decide first, and names only for what is left.
    by_digest: dict[bytes, list[str]] = defaultdict(list)
    for name in nodes_a:
        if name not in pairs:
            by_digest[digests_a[name]].append(name)
    wanted: dict[bytes, list[str]] = defaultdict(list)
    for name in nodes_b:
        if name not in back:
            wanted[digests_b[name]].append(name)
    for digest, names in wanted.items():
        candidates = by_digest.get(digest, ())
        if len(names) == 1 and len(candidates) == 1:
            pair(candidates[0], names[0], BY_DIGEST)
    _through_neighbours(ta, tb, pairs, back, pair)
    for digest, names in wanted.items():
        # The digest's unmatched nodes of a, kept as a pool that shrinks as they pair: one pass, not one per name.
        pool = dict.fromkeys(x for x in by_digest.get(digest, ()) if x not in pairs)
        for name in names:
            if name not in back and pool:
                chosen = _closest(name, pool)
                del pool[chosen]
                pair(chosen, name, BY_DIGEST)
    _through_neighbours(ta, tb, pairs, back, pair)
    for name in renamed_ops:
        if name not in pairs and name not in back:
            pair(name, name, BY_NAME)  # Add became BiasAdd under its name

    result = []
    for name, node in nodes_b.items():
        x = back.get(name)
        if x is None:
            continue
        what = _differences(nodes_a[x], node, ta.inputs[x], pairs, local_a[x], local_b[name])
        kind = CHANGED if what else (SAME if x == name else RENAMED)
        result.append(Pair(a=x, b=name, kind=kind, how=how[x], what=what))
    return Matching(
        pairs=tuple(result),
        removed=tuple(name for name in nodes_a if name not in pairs),
        added=tuple(name for name in nodes_b if name not in back),
    )


def local_digest(node: NodeDef) -> bytes:
    """The node without its name and inputs: op, device-free attributes, weights. Equal for one computation step.

    A Const whose payload a logged run left out (tb/events.strip_weights) carries
    this digest of its full self in DIGEST_ATTR, and that is its digest; the
    attribute is trusted only on a payload-less Const, so a graph cannot pass
    off other weights as equal.
    """
    stored = _stored_digest(node)
    if stored is not None:
        return stored
    h = hashlib.blake2b(node.op.encode(), digest_size=16)
    for key in sorted(node.attr):
        if key.startswith("_"):  # _class (colocation names), _output_shapes: bookkeeping, not the computation
            continue
        h.update(key.encode())
        h.update(node.attr[key].SerializeToString(deterministic=True))
    return h.digest()


def _stored_digest(node: NodeDef) -> bytes | None:
    if DIGEST_ATTR not in node.attr or node.op not in CONST_OPS or "value" not in node.attr:
        return None
    tensor = node.attr["value"].tensor
    shell = TensorProto(dtype=tensor.dtype, tensor_shape=tensor.tensor_shape, version_number=tensor.version_number)
    stored = node.attr[DIGEST_ATTR].s
    return stored if tensor.ByteSize() == shell.ByteSize() and len(stored) == 16 else None


def _digests(table: NodeTable, local: Mapping[str, bytes]) -> dict[str, bytes]:
    """Each node's Merkle digest over its data inputs (ports included); a cycle (a loop) is cut at the back edge."""
    nodes = table.nodes
    done: dict[str, bytes] = {}
    on_stack: set[str] = set()
    blake2b = hashlib.blake2b
    ports: dict[int, bytes] = {}

    def digest(name: str, data: list[tuple[str, int]]) -> bytes:
        parts = [local[name]]
        for n, port in data:
            parts.append(done.get(n) or local[n])  # a back edge reads the local digest only
            parts.append(ports.get(port) or ports.setdefault(port, port.to_bytes(4, "little", signed=True)))
        return blake2b(b"".join(parts), digest_size=16).digest()

    for start in nodes:
        if start in done:
            continue
        data = table.data_inputs(start)
        if all(n in done for n, _ in data):
            # Most graphs list producers first: the node is ready as it comes, as the walk below would find it.
            done[start] = digest(start, data)
            continue
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            data = table.data_inputs(name)
            if not expanded:
                on_stack.add(name)
                stack.append((name, True))
                stack.extend((n, False) for n, _ in data if n not in done and n not in on_stack)
                continue
            done[name] = digest(name, data)
            on_stack.discard(name)
    return done


def _through_neighbours(ta: NodeTable, tb: NodeTable, pairs: dict[str, str], back: dict[str, str], pair) -> None:
    """Match what is left through matched neighbours, a few rounds, so a rewritten chain is followed node by node."""
    for _ in range(_ROUNDS):
        found = 0
        for name, node in tb.nodes.items():
            if name in back:
                continue
            candidates = _by_inputs(name, node.op, ta, tb, back, pairs) or _by_readers(name, node.op, ta, tb, back, pairs)
            if candidates:
                pair(_closest(name, candidates), name, BY_NEIGHBOURS)
                found += 1
        if not found:
            return


def _by_inputs(name: str, op: str, ta: NodeTable, tb: NodeTable, back, pairs) -> list[str]:
    """Unmatched nodes of a with ``op`` that read, at the same slot, what ``name``'s matched inputs are in a."""
    votes: dict[str, int] = defaultdict(int)
    for slot, (source, port) in enumerate(tb.inputs[name]):
        if port == CONTROL or source not in back:
            continue
        for reader, at in _readers_through_identity(back[source], ta):
            if at == slot and reader.op == op and reader.name not in pairs:
                votes[reader.name] += 1
    return _best(votes)


def _readers_through_identity(name: str, ta: NodeTable) -> list[tuple[NodeDef, int]]:
    """Who reads ``name`` in a (data inputs), also past Identity nodes the other graph may have removed."""
    out, stack, seen = [], [name], {name}
    readers = ta.readers
    while stack:
        for reader, slot, port in readers.get(stack.pop(), ()):
            if port == CONTROL:
                continue
            out.append((reader, slot))
            if reader.op in IDENTITY_OPS and reader.name not in seen:
                seen.add(reader.name)
                stack.append(reader.name)
    return out


def _by_readers(name: str, op: str, ta: NodeTable, tb: NodeTable, back, pairs) -> list[str]:
    """Unmatched nodes of a with ``op`` that a's match of one of ``name``'s readers reads at the same slot."""
    votes: dict[str, int] = defaultdict(int)
    nodes_a = ta.nodes
    for reader, slot, port in tb.readers.get(name, ()):
        if port == CONTROL or reader.name not in back:
            continue
        refs = ta.inputs[back[reader.name]]
        if slot >= len(refs):
            continue
        source, port = refs[slot]
        # Step back over Identity: b may read the weights a read through a /read Identity.
        while source in nodes_a and nodes_a[source].op in IDENTITY_OPS and op not in IDENTITY_OPS and ta.inputs[source]:
            source, port = ta.inputs[source][0]
        if port != CONTROL and source in nodes_a and source not in pairs and nodes_a[source].op == op:
            votes[source] += 1
    return _best(votes)


def _best(votes: Mapping[str, int]) -> list[str]:
    if not votes:
        return []
    top = max(votes.values())
    return [name for name, count in votes.items() if count == top]


def _closest(name: str, candidates: Collection[str]) -> str:
    """The candidate whose name is most like ``name`` (then the first in graph order); ``candidates`` keeps that order."""
    first = next(iter(candidates))
    if len(candidates) == 1:
        return first
    if len(candidates) > _MAX_COMPARED:
        # Many equal candidates (identical weights, say): comparing every name would be quadratic.
        return name if name in candidates else first
    return max(candidates, key=lambda c: (c == name, SequenceMatcher(None, c, name, autojunk=False).ratio()))


def _differences(a: NodeDef, b: NodeDef, refs_a: list[tuple[str, int]], pairs: Mapping[str, str], local_a: bytes,
                 local_b: bytes) -> tuple[str, ...]:
    what: list[str] = []
    if a.op != b.op:
        what.append("op")
    if _mapped_inputs(refs_a, pairs) != list(b.input):
        what.append("inputs")
    if a.device != b.device:
        what.append("device")
    if local_a != local_b:  # equal local digests: the same op and the same attributes (weights by digest)
        keys = set(a.attr) | set(b.attr)
        # By digest, so weights a logged run left out compare by the digest they kept.
        if "value" in keys:
            what.append("value")
        if any(a.attr.get(k) != b.attr.get(k) for k in keys - {"value"} if not k.startswith("_")):
            what.append("attrs")
    return tuple(what)


def _mapped_inputs(refs: list[tuple[str, int]], pairs: Mapping[str, str]) -> list[str]:
    out = []
    for source, port in refs:
        mapped = pairs.get(source, f"\0{source}")  # an unmatched input matches nothing in b
        out.append(f"^{mapped}" if port == CONTROL else mapped if port == 0 else f"{mapped}:{port}")
    return out


__all__ = ["match", "Matching", "Pair", "local_digest", "DIGEST_ATTR", "SAME", "RENAMED", "CHANGED", "BY_NAME", "BY_DIGEST", "BY_NEIGHBOURS"]
