"""NodeTable: one pass over a GraphDef's nodes (the first of each name, graph order, parsed inputs, who reads each), shared by every reader of its structure."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager

from google.protobuf.message import Message
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from inspector.graph.refs import CONTROL, split_ref


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off for a burst of allocation that makes no cycles.

    A graph's structure is millions of small tuples and lists; each batch of
    them starts a collection, and the full ones walk everything allocated so
    far: a third of a table's build, and more the larger the heap. Nested and
    threaded uses only ever turn it back on, never leave it off.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


Reader = tuple[NodeDef, int, int]  # (the reading node, its input slot, the port it reads; CONTROL for ^x)


class NodeTable:
    """A graph's structure, read once.

    The signature, the matching, the stories and the scope summary all walk the
    same edges; each used to parse every input reference of every node again.
    A later node of a name already seen is left out everywhere (TensorFlow
    refuses such a graph; the first is the one a reader of names means).
    """

    __slots__ = ("nodes", "ops", "order", "inputs", "readers")

    def __init__(self, graph: GraphDef | Iterable[NodeDef]) -> None:
        with gc_paused():
            self._build(graph)

    def _build(self, graph: GraphDef | Iterable[NodeDef]) -> None:
        nodes: dict[str, NodeDef] = {}
        ops: dict[str, str] = {}
        vocabulary: dict[str, str] = {}  # one string per op type, not one per node
        known: dict[str, str] = {}  # each name once: an input naming a node seen already shares its string
        inputs: dict[str, list[tuple[str, int]]] = {}
        readers: dict[str, list[Reader]] = {}
        for node in graph.node if isinstance(graph, Message) else graph:  # a GraphDef (TensorBoard's or TensorFlow's), or nodes
            name = node.name
            if name in nodes:
                continue
            nodes[name] = node
            known[name] = name
            op = node.op
            ops[name] = vocabulary.setdefault(op, op)
            refs = inputs[name] = []
            for slot, raw in enumerate(node.input):
                # The common case, a bare name, without a call: this runs for every edge of every graph read.
                if raw[:1] == "^":
                    source, port = raw[1:], CONTROL
                elif ":" not in raw:
                    source, port = raw, 0
                else:
                    source, port = split_ref(raw)
                source = known.get(source, source)
                refs.append((source, port))
                edge = (node, slot, port)
                seen = readers.get(source)
                if seen is None:
                    readers[source] = [edge]
                else:
                    seen.append(edge)
        self.nodes = nodes
        self.ops = ops
        self.inputs = inputs
        self.readers = readers
        self.order = dict(zip(nodes, range(len(nodes))))

    def __len__(self) -> int:
        return len(self.nodes)

    def op(self, name: str) -> str:
        return self.ops[name]

    def data_inputs(self, name: str) -> list[tuple[str, int]]:
        """(source, port) of ``name``'s data inputs that are nodes of the graph, in slot order."""
        nodes = self.nodes
        return [(s, p) for s, p in self.inputs[name] if p != CONTROL and s in nodes]

    def data_readers(self, name: str) -> list[Reader]:
        return [r for r in self.readers.get(name, ()) if r[2] != CONTROL]

    def upstream(self, starts: Iterable[str], *, stop: Collection[str] = (), within: Collection[str] | None = None) -> set[str]:
        """``starts`` and every node they read (data or control), not walking past ``stop``, staying ``within`` when given."""
        nodes, inputs = self.nodes, self.inputs
        seen: set[str] = set()
        stack = list(starts)
        while stack:
            name = stack.pop()
            if name in seen or name not in nodes or (within is not None and name not in within):
                continue
            seen.add(name)
            if name not in stop:
                stack.extend(s for s, _ in inputs[name] if s not in seen)
        return seen

    def downstream(self, starts: Iterable[str], *, within: Collection[str] | None = None) -> set[str]:
        """``starts`` and every node reading them (data or control), staying ``within`` when given."""
        seen: set[str] = set()
        queue = deque(starts)
        readers = self.readers
        while queue:
            name = queue.popleft()
            if name in seen or (within is not None and name not in within):
                continue
            seen.add(name)
            queue.extend(r.name for r, _, _ in readers.get(name, ()))
        return seen


__all__ = ["NodeTable", "Reader", "gc_paused"]
