"""Facts about one GraphDef read from the protobuf alone: op histogram, likely inputs and outputs, sizes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from math import prod

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.ops import DTYPE_BYTES, NOT_OUTPUT_OPS, PLACEHOLDER_OPS
from inspector.graph.refs import node_of



@dataclass(frozen=True)
class TensorSpec:
    """A graph input as declared by its placeholder."""

    name: str
    op: str
    dtype: str
    shape: tuple[int, ...] | None  # None: unknown rank; -1: unknown dim


@dataclass(frozen=True)
class GraphStats:
    nodes: int
    ops: dict[str, int]
    params: int                      # elements held in Const tensors
    const_bytes: int                 # bytes held in Const tensors
    inputs: tuple[TensorSpec, ...]   # placeholders fed by nothing
    outputs: tuple[str, ...]         # nodes nobody reads that are not Const/NoOp
    optional_inputs: tuple[TensorSpec, ...] = field(default=())  # PlaceholderWithDefault

    def to_json(self) -> dict:
        return {
            "nodes": self.nodes,
            "ops": dict(self.ops),
            "params": self.params,
            "const_bytes": self.const_bytes,
            "inputs": [spec_json(s) for s in self.inputs],
            "optional_inputs": [spec_json(s) for s in self.optional_inputs],
            "outputs": list(self.outputs),
        }


def spec_json(spec: TensorSpec) -> dict:
    return {"name": spec.name, "op": spec.op, "dtype": spec.dtype, "shape": list(spec.shape) if spec.shape is not None else None}


def graph_stats(graph: GraphDef) -> GraphStats:
    ops: Counter[str] = Counter()
    consumed: set[str] = set()
    params = 0
    const_bytes = 0
    for node in graph.node:
        ops[node.op] += 1
        for raw in node.input:
            consumed.add(node_of(raw))
        if node.op == "Const" and "value" in node.attr:
            elements, nbytes = tensor_size(node.attr["value"].tensor)
            params += elements
            const_bytes += nbytes
    inputs = tuple(placeholder_spec(n) for n in graph.node if n.op in PLACEHOLDER_OPS and not n.input)
    optional = tuple(placeholder_spec(n) for n in graph.node if n.op == "PlaceholderWithDefault")
    outputs = tuple(n.name for n in graph.node if n.name not in consumed and n.op not in NOT_OUTPUT_OPS)
    ordered = dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))
    return GraphStats(
        nodes=len(graph.node),
        ops=ordered,
        params=params,
        const_bytes=const_bytes,
        inputs=inputs,
        outputs=outputs,
        optional_inputs=optional,
    )


def tensor_shape(tensor: TensorProto) -> tuple[int, ...] | None:
    if tensor.tensor_shape.unknown_rank:
        return None
    return tuple(d.size for d in tensor.tensor_shape.dim)


def tensor_size(tensor: TensorProto) -> tuple[int, int]:
    """(elements, bytes) a TensorProto stands for, whether packed, splatted or stripped."""
    shape = tensor_shape(tensor) or ()
    elements = prod(d for d in shape if d >= 0) if shape else 1
    width = DTYPE_BYTES.get(tensor.dtype)
    if tensor.tensor_content:
        nbytes = len(tensor.tensor_content)
    elif width is not None:
        nbytes = elements * width
    elif tensor.string_val:
        nbytes = sum(len(s) for s in tensor.string_val)
    else:
        nbytes = 0
    return elements, nbytes


def dtype_name(value: int) -> str:
    """``1`` -> ``"DT_FLOAT"``; a number that is no DataType (a damaged file) -> ``"DT_INVALID_ENUM_99"``."""
    try:
        return DataType.Name(value)
    except ValueError:
        return f"DT_INVALID_ENUM_{value}"


def placeholder_spec(node: NodeDef) -> TensorSpec:
    dtype = dtype_name(node.attr["dtype"].type) if "dtype" in node.attr else "?"
    shape: tuple[int, ...] | None = None
    if "shape" in node.attr:
        proto = node.attr["shape"].shape
        shape = None if proto.unknown_rank else tuple(d.size for d in proto.dim)
    elif "_output_shapes" in node.attr and node.attr["_output_shapes"].list.shape:
        proto = node.attr["_output_shapes"].list.shape[0]
        shape = None if proto.unknown_rank else tuple(d.size for d in proto.dim)
    return TensorSpec(name=node.name, op=node.op, dtype=dtype.removeprefix("DT_").lower(), shape=shape)


def scope_of(name: str) -> str:
    """``a/b/c`` -> ``a/b``; a top-level name is its own scope's member, scope ``""``."""
    head, _, _ = name.rpartition("/")
    return head
