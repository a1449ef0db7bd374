"""What the passes ask TensorFlow: can it import a graph, static shapes and dtypes, values of constant subgraphs."""

from __future__ import annotations

from typing import Any

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto

from inspector.graph import tfcompat
from inspector.graph.trust import without_unsafe
from inspector.graph.ops import DTYPE_BYTES
from inspector.graph.workgraph import CONST_VALUE_LIMIT

# Shape inference never reads the values of big constants (weights), only of
# small ones (Reshape shapes, paddings), so the import for shapes leaves them out.
_LIGHT_LIMIT = 1024

Shape = tuple[int | None, ...] | None  # None: unknown rank; None in a dim: unknown size


# Both are internal: the optimizer's pipeline catches each one around every call
# into this module and raises an InspectorError that names the graph and the fix.
class ImportFailed(Exception):
    """TensorFlow refused to import a graph; the message is TensorFlow's first line."""


class EvaluateFailed(Exception):
    """TensorFlow imported a graph but could not compute a constant in it (a corrupt Const, typically)."""


def import_graph(graph: GraphDef) -> Any:
    """A fresh ``tf.Graph`` holding ``graph`` without its unsafe nodes (graph/trust.py), or ImportFailed.

    The optimizer never lets TensorFlow see an unsafe node: shape inference at
    import would evaluate a ReadFile, and a folded Shape would carry what it read.
    """
    tf = tfcompat.tf()
    tf_graph = tf.Graph()
    try:
        with tf_graph.as_default():
            tf.graph_util.import_graph_def(tfcompat.to_tf(without_unsafe(graph)), name="")
    except (tfcompat.BadTensorDtype, ValueError, TypeError, KeyError, tf.errors.OpError) as exc:
        raise ImportFailed(tfcompat.error_line(exc)) from None
    return tf_graph


def light(graph: GraphDef, *, limit: int = _LIGHT_LIMIT) -> GraphDef:
    """``graph`` with the values of big constants dropped (dtype and shape kept), for shape inference.

    A Const too big to hold in memory (over CONST_VALUE_LIMIT as an array,
    however few bytes its proto has) becomes a Placeholder of its dtype and
    shape: a shape function that asks for an input's value makes TensorFlow
    build a Const's whole tensor (zeros when its values are dropped), and a
    Placeholder has no value to build.
    """
    out = GraphDef()
    out.CopyFrom(graph)
    for index, node in enumerate(out.node):
        if node.op != "Const" or "value" not in node.attr:
            continue
        tensor = node.attr["value"].tensor
        elements = 1
        for dim in tensor.tensor_shape.dim:
            elements *= max(dim.size, 0)
        if elements * DTYPE_BYTES.get(tensor.dtype, 8) > CONST_VALUE_LIMIT:
            out.node[index].CopyFrom(_stand_in(node))
        elif elements > limit:
            node.attr["value"].tensor.CopyFrom(TensorProto(dtype=tensor.dtype, tensor_shape=tensor.tensor_shape))
    return out


def _stand_in(const: NodeDef) -> NodeDef:
    tensor = const.attr["value"].tensor
    dtype = const.attr["dtype"].type if "dtype" in const.attr else tensor.dtype  # the type its readers see
    return NodeDef(
        name=const.name, op="Placeholder", input=const.input, device=const.device,
        attr={"dtype": AttrValue(type=dtype), "shape": AttrValue(shape=tensor.tensor_shape)},
    )


def static_outputs(graph: GraphDef) -> dict[str, list[tuple[int, Shape]]]:
    """For each node, (dtype enum, static shape) of each output, from TensorFlow's shape inference."""
    tf_graph = import_graph(light(graph))
    info: dict[str, list[tuple[int, Shape]]] = {}
    for op in tf_graph.get_operations():
        outputs = []
        for tensor in op.outputs:
            shape = tensor.shape
            dims = None if shape.rank is None else tuple(shape.as_list())
            outputs.append((tensor.dtype.as_datatype_enum, dims))
        info[op.name] = outputs
    return info


def evaluate(graph: GraphDef, fetches: list[str]) -> list[np.ndarray]:
    """Run ``graph`` (constants only, no feeds) on the CPU and return the ``fetches`` tensors."""
    tf = tfcompat.tf()
    cpu_only = GraphDef()
    cpu_only.CopyFrom(graph)
    for node in cpu_only.node:
        node.device = ""
        if "_class" in node.attr:
            del node.attr["_class"]
    tf_graph = import_graph(cpu_only)
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0}, inter_op_parallelism_threads=1)
    with tf.compat.v1.Session(graph=tf_graph, config=config) as session:
        try:
            # A corrupt Const makes TensorFlow's C++ log the whole tensor to fd 2 before it raises.
            with tfcompat.quiet_stderr():
                return list(session.run(fetches))
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise EvaluateFailed(tfcompat.error_line(exc)) from None


def tensor_proto(value: np.ndarray) -> TensorProto:
    """Any NumPy value TensorFlow returned (strings, bfloat16 included) as a TensorProto."""
    tf = tfcompat.tf()
    return TensorProto.FromString(tf.make_tensor_proto(value).SerializeToString())


def op_info(op: str) -> tuple[bool, bool]:
    """(registered, safe to evaluate ahead of time): stateful ops and function calls are not."""
    tfcompat.tf()
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(op)
    if op_def is None:
        return False, False
    calls = any(attr.type.startswith("func") for attr in op_def.attr)
    return True, not op_def.is_stateful and not calls
