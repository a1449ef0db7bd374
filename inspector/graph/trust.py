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
from inspector.files import size_text
from inspector.graph import tfcompat
from inspector.graph.ops import CONST_OPS, UnsafeNode, dtype_name, unsafe_nodes
from inspector.graph.refs import node_of
from inspector.graph.workgraph import CONST_VALUE_LIMIT, unexpanded_bytes

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


def refuse_to_run(graph: GraphDef, *, what: str, allow_unsafe_ops: bool = False) -> None:
    """The gate before TensorFlow runs ``graph``: no unsafe op, and no constant that would expand past the memory cap.

    A "splat" Const (one value and a huge shape, a few bytes in the file) becomes
    its whole array the moment TensorFlow runs it: 224 bytes of graph asked for 4 GB.
    """
    refuse_unsafe(graph, what=what, allow_unsafe_ops=allow_unsafe_ops)
    if allow_unsafe_ops:
        return
    for node in graph.node:
        if node.op not in CONST_OPS or "value" not in node.attr:
            continue
        tensor = node.attr["value"].tensor
        expanded = unexpanded_bytes(tensor)
        if expanded:
            shape = "x".join(str(d.size) for d in tensor.tensor_shape.dim)
            raise InspectorError(
                f"{what}: node {node.name!r} is a {shape} {dtype_name(tensor.dtype)} constant written as "
                f"{tensor.ByteSize():,} bytes that would take {size_text(expanded)} when run, over the "
                f"{size_text(CONST_VALUE_LIMIT)} inspector lets a constant expand to; "
                f"re-export the graph with its weights written out, or pass {ALLOW_FLAG} if you trust it"
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


__all__ = ["ALLOW_FLAG", "refuse_to_run", "refuse_unsafe", "tf_stateful", "unsafe_to_run", "without_unsafe"]
