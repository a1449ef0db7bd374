"""Dtypes and static shapes of plain constant arithmetic, worked out here as TensorFlow's shape functions give them.

Constant folding needs each candidate's dtypes (to leave resources and refs
alone) and the static size of what it would fold (the size guard). On a CNN
those candidates are Consts and the arithmetic of batch norms (``var + eps``,
``Rsqrt``, ``gamma * ...``), whose dtype is their ``T`` and whose shape is their
inputs' broadcast: importing them into TensorFlow to be told so costs ~30 µs a
node, on the critical path while TensorFlow itself is still being imported.
Anything this module is not sure of (another op, an attribute the op does not
declare, a dtype that does not match, shapes that do not broadcast, a function
library, which TensorFlow checks at any import) makes it answer None, and
TensorFlow is asked as before: its answer, or its refusal, is the one the user gets.
"""

from __future__ import annotations

from collections.abc import Iterable

from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.ops import CONST_OPS, DTYPE_BYTES, ELEMENTWISE_ARITHMETIC_OPS, ELEMENTWISE_UNARY_OPS
from inspector.graph.refs import split_ref
from inspector.graph.workgraph import WorkGraph
from inspector.optimizer.passes import tfrun

# The dtypes every op below takes as its T (TensorFlow's "floating" types, less complex ones).
_FLOATS = frozenset({DataType.DT_FLOAT, DataType.DT_DOUBLE, DataType.DT_HALF, DataType.DT_BFLOAT16})
_ARITIES = {
    **dict.fromkeys(ELEMENTWISE_ARITHMETIC_OPS, 2), **dict.fromkeys(ELEMENTWISE_UNARY_OPS, 1), "Identity": 1,
}
Outputs = list[tuple[int, tfrun.Shape]]


def static_outputs(g: WorkGraph, names: Iterable[str]) -> tfrun.StaticOutputs | None:
    """For each of ``names`` (nodes that read only each other), its outputs as TensorFlow infers them; None if unsure.

    ``names`` producers first (as :meth:`WorkGraph.to_graphdef` orders nodes): one pass, however
    hostile the graph; a node named before what it reads gets None too.
    """
    if g.has_functions():
        return None
    found: dict[str, Outputs] = {}
    for name in names:
        node = g.get(name)
        if node is None:
            return None
        outputs = _const(node) if node.op in CONST_OPS else _computed(node, g.inputs(name), found)
        if outputs is None:
            return None
        found[name] = outputs
    return tfrun.StaticOutputs(tfrun.Known(found))


def _declares_only(attrs, keys: tuple[str, ...]) -> bool:
    # An attribute its op does not declare may be from a newer TensorFlow, whose op may compute otherwise (a leading
    # "_" marks one for the runtime).
    if len(attrs) == len(keys):
        return all(key in attrs for key in keys)
    return all(key in attrs for key in keys) and all(key in keys or key.startswith("_") for key in attrs)


def _const(node: NodeDef) -> Outputs | None:
    attrs = node.attr
    if node.input or not _declares_only(attrs, ("dtype", "value")):
        return None
    # An attribute of another kind reads as 0 (DT_INVALID) here, which is no dtype.
    dtype, value = attrs["dtype"].type, attrs["value"]
    if value.WhichOneof("value") != "tensor":
        return None
    tensor = value.tensor
    if dtype != tensor.dtype or dtype not in DTYPE_BYTES or tensor.tensor_shape.unknown_rank:
        return None
    shape = tuple(dim.size for dim in tensor.tensor_shape.dim)
    if any(size < 0 for size in shape):
        return None
    return [(dtype, shape)]


def _computed(node: NodeDef, refs: tuple[str, ...], found: dict[str, Outputs]) -> Outputs | None:
    arity = _ARITIES.get(node.op)
    if arity is None or not _declares_only(node.attr, ("T",)):
        return None
    dtype = node.attr["T"].type  # 0 for an attribute that holds no type
    if dtype not in _FLOATS:
        return None
    shapes = []
    for ref in refs:
        source, port = split_ref(ref)
        if port < 0:
            continue  # a control edge: it orders, it feeds nothing
        outputs = found.get(source)
        if outputs is None:
            return None  # read before it was worked out, or from outside: TensorFlow says
        if port >= len(outputs) or outputs[port][0] != dtype:
            return None  # TensorFlow refuses an input of another dtype
        shapes.append(outputs[port][1])
    if len(shapes) != arity:
        return None
    shape = shapes[0] if arity == 1 else _broadcast(shapes[0], shapes[1])
    return None if shape is None else [(dtype, shape)]


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape NumPy's (and TensorFlow's) broadcasting gives, or None when the two do not broadcast."""
    if a == b:
        return a
    if len(a) < len(b):
        a, b = b, a
    b = (1,) * (len(a) - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)
