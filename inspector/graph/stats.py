"""Facts about one GraphDef read from the protobuf alone: op histogram, sizes, and its signature's inputs and outputs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from math import prod

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto

# dtype_name lives with the op vocabulary; it is imported from here too (tfcompat, the optimizer).
from inspector.graph.ops import CONST_OPS, DTYPE_BYTES, dtype_name
from inspector.graph.signature import InputSpec, Signature, signature


@dataclass(frozen=True)
class GraphStats:
    nodes: int
    ops: dict[str, int]
    params: int                      # elements held in Const tensors
    const_bytes: int                 # bytes held in Const tensors
    # From graph/signature.py, the one place that decides them.
    inputs: tuple[InputSpec, ...]    # model inputs
    outputs: tuple[str, ...]         # several: ambiguous
    optional_inputs: tuple[InputSpec, ...] = field(default=())  # PlaceholderWithDefault

    def to_json(self) -> dict:
        return {
            "nodes": self.nodes,
            "ops": dict(self.ops),
            "params": self.params,
            "const_bytes": self.const_bytes,
            "inputs": [s.to_json() for s in self.inputs],
            "optional_inputs": [s.to_json() for s in self.optional_inputs],
            "outputs": list(self.outputs),
        }


def graph_stats(graph: GraphDef, *, sig: Signature | None = None) -> GraphStats:
    """Counts and sizes; ``sig`` is the graph's signature when the caller has it already."""
    ops: Counter[str] = Counter()
    params = 0
    const_bytes = 0
    for node in graph.node:
        ops[node.op] += 1
        if node.op in CONST_OPS and "value" in node.attr:
            elements, nbytes = tensor_size(node.attr["value"].tensor)
            params += elements
            const_bytes += nbytes
    sig = sig if sig is not None else signature(graph)
    ordered = dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))
    return GraphStats(
        nodes=len(graph.node),
        ops=ordered,
        params=params,
        const_bytes=const_bytes,
        inputs=sig.inputs,
        outputs=sig.output_names,
        optional_inputs=sig.optional,
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


def scope_of(name: str) -> str:
    """``a/b/c`` -> ``a/b``; a top-level name is its own scope's member, scope ``""``."""
    head, _, _ = name.rpartition("/")
    return head


__all__ = ["GraphStats", "graph_stats", "tensor_shape", "tensor_size", "dtype_name", "scope_of"]
