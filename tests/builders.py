"""Small GraphDefs built by hand from protos (no TensorFlow), for tests that must run without it."""

from __future__ import annotations

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType

F32 = DataType.DT_FLOAT


def shape_proto(shape) -> TensorShapeProto:
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(d)) for d in shape])


def tensor(array: np.ndarray) -> TensorProto:
    array = np.asarray(array)
    dtype = {np.dtype("float32"): F32, np.dtype("int32"): DataType.DT_INT32}[array.dtype]
    return TensorProto(dtype=dtype, tensor_shape=shape_proto(array.shape), tensor_content=array.tobytes())


def const(name: str, array) -> NodeDef:
    """A Const holding ``array`` (as tensor_content), or the TensorProto given as it is."""
    t = array if isinstance(array, TensorProto) else tensor(np.asarray(array))
    return NodeDef(name=name, op="Const", attr={"dtype": AttrValue(type=t.dtype), "value": AttrValue(tensor=t)})


def op(name: str, kind: str, *inputs: str, **attrs: AttrValue) -> NodeDef:
    return NodeDef(name=name, op=kind, input=list(inputs), attr={"T": AttrValue(type=F32), **attrs})


def placeholder(name: str, shape, op_name: str = "Placeholder") -> NodeDef:
    return NodeDef(name=name, op=op_name, attr={"dtype": AttrValue(type=F32), "shape": AttrValue(shape=shape_proto(shape))})


def conv_attrs() -> dict[str, AttrValue]:
    return {
        "strides": AttrValue(list=AttrValue.ListValue(i=[1, 1, 1, 1])),
        "padding": AttrValue(s=b"SAME"),
        "data_format": AttrValue(s=b"NHWC"),
    }


def retrained_like(*, channels: int = 8, size: int = 16, classes: int = 3, blocks: int = 2, seed: int = 0) -> GraphDef:
    """A retrain.py-shaped graph: conv blocks with `/read` Identities and slim's decomposed batch norm."""
    rng = np.random.default_rng(seed)
    nodes: list[NodeDef] = [placeholder("input", (1, size, size, 3))]
    x, cin = "input", 3
    for i in range(blocks):
        s = f"Net/Conv2d_{i}"
        nodes += [
            const(f"{s}/weights", rng.normal(size=(3, 3, cin, channels)).astype(np.float32)),
            op(f"{s}/weights/read", "Identity", f"{s}/weights"),
            op(f"{s}/Conv2D", "Conv2D", x, f"{s}/weights/read", **conv_attrs()),
        ]
        b = f"{s}/BatchNorm"
        for var, values in (
            ("gamma", rng.uniform(0.5, 1.5, channels)),
            ("beta", rng.normal(size=channels)),
            ("moving_mean", rng.normal(size=channels)),
            ("moving_variance", rng.uniform(0.5, 2.0, channels)),
        ):
            nodes += [const(f"{b}/{var}", values.astype(np.float32)), op(f"{b}/{var}/read", "Identity", f"{b}/{var}")]
        n = f"{b}/batchnorm"
        nodes += [
            const(f"{n}/add/y", np.float32(0.001)),
            op(f"{n}/add", "Add", f"{b}/moving_variance/read", f"{n}/add/y"),
            op(f"{n}/Rsqrt", "Rsqrt", f"{n}/add"),
            op(f"{n}/mul", "Mul", f"{n}/Rsqrt", f"{b}/gamma/read"),
            op(f"{n}/mul_1", "Mul", f"{s}/Conv2D", f"{n}/mul"),
            op(f"{n}/mul_2", "Mul", f"{b}/moving_mean/read", f"{n}/mul"),
            op(f"{n}/sub", "Sub", f"{b}/beta/read", f"{n}/mul_2"),
            op(f"{n}/add_1", "Add", f"{n}/mul_1", f"{n}/sub"),
            op(f"{s}/Relu6", "Relu6", f"{n}/add_1"),
        ]
        x, cin = f"{s}/Relu6", channels
    nodes += [
        const("Net/Pool/reduction_indices", np.array([1, 2], dtype=np.int32)),
        NodeDef(name="Net/Pool", op="Mean", input=[x, "Net/Pool/reduction_indices"],
                attr={"T": AttrValue(type=F32), "Tidx": AttrValue(type=DataType.DT_INT32), "keep_dims": AttrValue(b=False)}),
        const("final_training_ops/weights/final_weights", rng.normal(size=(cin, classes)).astype(np.float32)),
        op("final_training_ops/weights/final_weights/read", "Identity", "final_training_ops/weights/final_weights"),
        NodeDef(name="final_training_ops/Wx_plus_b/MatMul", op="MatMul",
                input=["Net/Pool", "final_training_ops/weights/final_weights/read"],
                attr={"T": AttrValue(type=F32), "transpose_a": AttrValue(b=False), "transpose_b": AttrValue(b=False)}),
        const("final_training_ops/biases/final_biases", rng.normal(size=classes).astype(np.float32)),
        op("final_training_ops/biases/final_biases/read", "Identity", "final_training_ops/biases/final_biases"),
        op("final_training_ops/Wx_plus_b/add", "Add", "final_training_ops/Wx_plus_b/MatMul", "final_training_ops/biases/final_biases/read"),
        op("final_result", "Softmax", "final_training_ops/Wx_plus_b/add"),
    ]
    return GraphDef(node=nodes)


def matmul_graph() -> GraphDef:
    """input -> MatMul(weights/read) -> Mul(scale) -> BiasAdd(bias) -> Softmax final_result.

    One big payload (the 16 KiB weights, in tensor_content) and two small ones
    in float_val (a scalar scale, a 256-byte bias), for tests of what an event
    log keeps of a graph.
    """
    weights = TensorProto(dtype=F32, tensor_shape=shape_proto((64, 64)), tensor_content=bytes(range(256)) * 64)
    scale = TensorProto(dtype=F32, tensor_shape=shape_proto(()), float_val=[2.0])
    bias = TensorProto(dtype=F32, tensor_shape=shape_proto((64,)), float_val=[0.5] * 64)
    graph = GraphDef(
        node=[
            placeholder("input", (-1, 64)),
            const("weights", weights),
            op("weights/read", "Identity", "weights"),
            op("MatMul", "MatMul", "input", "weights/read"),
            const("scale", scale),
            op("Mul", "Mul", "MatMul", "scale"),
            const("bias", bias),
            op("BiasAdd", "BiasAdd", "Mul", "bias"),
            op("final_result", "Softmax", "BiasAdd"),
        ]
    )
    graph.versions.producer = 27
    return graph


def without_identities(graph: GraphDef) -> GraphDef:
    """What stripping the `/read` Identities does: consumers read the Const directly."""
    source = {n.name: n.input[0] for n in graph.node if n.op == "Identity"}
    out = GraphDef()
    for node in graph.node:
        if node.op == "Identity":
            continue
        copy = out.node.add()
        copy.CopyFrom(node)
        del copy.input[:]
        copy.input.extend(source.get(i, i) for i in node.input)
    return out
