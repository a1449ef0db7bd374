"""A graph from the internet is a program: the one refusal before TensorFlow runs one, and the part of it TensorFlow may import for shapes.

The rule is graph/ops.py's op policy. A command that runs a graph (verify, label,
bench, check, export) refuses it when *any* node is unsafe, not only those the
fetched output depends on: importing a graph already evaluates non-stateful ops
such as ReadFile for shape inference (a Reshape whose shape is read from a file
gets that shape at import), and TensorFlow Lite's converter folds constants too,
so "not fetched" is not "not run". One rule for the whole graph is also the one
summarize can state without TensorFlow, and the one a user can check by eye.
"""

from __future__ import annotations

from collections import deque

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.graph import tfcompat
from inspector.graph.ops import UnsafeNode, unsafe_nodes
from inspector.graph.refs import node_of

# The option a user passes to run a graph anyway (the library's keyword is allow_unsafe_ops).
ALLOW_FLAG = "--allow-unsafe-ops"

_STATEFUL: dict[str, bool] = {}


def tf_stateful(op: str) -> bool:
    """Does TensorFlow's op registry mark ``op`` stateful (an op it does not know: no)."""
    if op not in _STATEFUL:
        tfcompat.tf()
        from tensorflow.python.framework import op_def_registry

        op_def = op_def_registry.get(op)
        _STATEFUL[op] = op_def is not None and op_def.is_stateful
    return _STATEFUL[op]


def unsafe_to_run(graph: GraphDef) -> tuple[UnsafeNode, ...]:
    """The policy's unsafe nodes plus those TensorFlow marks stateful outside the compute-only allow-list (imports TensorFlow)."""
    return unsafe_nodes(graph, stateful=tf_stateful)


def refuse_unsafe(graph: GraphDef, *, what: str, allow_unsafe_ops: bool = False) -> None:
    """Raise one InspectorError naming the first unsafe node, unless the caller trusts the graph."""
    if allow_unsafe_ops:
        return
    found = unsafe_to_run(graph)
    if not found:
        return
    first = found[0]
    others = len(found) - 1
    more = f" (and {others} other unsafe node{'s' if others != 1 else ''})" if others else ""
    raise InspectorError(
        f"{what}: node {first.node!r} {first.describe}{more}; "
        f"inspector runs no such op unless you trust the graph: pass {ALLOW_FLAG}"
    )


def without_unsafe(graph: GraphDef) -> GraphDef:
    """``graph`` without its unsafe nodes and everything that reads them (data or control), for TensorFlow to import.

    Shape inference evaluates small constant subgraphs, ReadFile included, while a
    graph is imported; what is cut here has unknown shapes instead, which is all an
    optimizer may know of a value read from outside the graph. The graph itself
    when nothing is unsafe.
    """
    found = unsafe_nodes(graph)
    if not found:
        return graph
    readers: dict[str, list[str]] = {}
    for node in graph.node:
        for ref in node.input:
            readers.setdefault(node_of(ref), []).append(node.name)
    cut = {u.node for u in found}
    queue = deque(cut)
    while queue:
        for reader in readers.get(queue.popleft(), ()):
            if reader not in cut:
                cut.add(reader)
                queue.append(reader)
    out = GraphDef()
    out.CopyFrom(graph)
    del out.node[:]
    out.node.extend(node for node in graph.node if node.name not in cut)
    return out


__all__ = ["ALLOW_FLAG", "refuse_unsafe", "tf_stateful", "unsafe_to_run", "without_unsafe"]
