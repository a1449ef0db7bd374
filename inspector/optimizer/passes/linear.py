"""Two linear layers in a row become one: a 1x1 conv on a 1x1 map (+ bias, squeeze, reshape) then a MatMul."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from inspector.optimizer.passes import tfrun
from inspector.graph.ops import LINEAR_BETWEEN_OPS
from inspector.graph.refs import split_ref
from inspector.graph.workgraph import WorkGraph, attr_value, const_value, make_const
from inspector.optimizer.passes.context import Because, no_reasons

# Ops that may sit between the conv and the MatMul without breaking linearity or reordering elements.
_BETWEEN = LINEAR_BETWEEN_OPS


def merge_linear(g: WorkGraph, *, keep: Sequence[str], because: Because = no_reasons) -> list[str]:
    """retrain.py's new layer reads the base model's logits (a 1x1 conv); nothing non-linear sits between, so one MatMul does both."""
    info = tfrun.shapes_later(g)  # most graphs have no conv-MatMul pair: no import for them
    kept = set(keep)
    notes = []
    for matmul in g:
        if matmul.name not in g or matmul.op != "MatMul" or attr_value(matmul, "transpose_a").b:
            continue
        merged = _merge(g, matmul, info, kept, because)
        if merged:
            notes.append(merged)
    g.prune(keep)
    return notes


def _merge(g: WorkGraph, matmul: NodeDef, info: Callable[[], tfrun.StaticOutputs], kept: set[str], because: Because) -> str | None:
    x_ref, w_ref = g.data_inputs(matmul)[:2]
    second = const_value(g.producer(w_ref))
    if second is None or second.ndim != 2:
        return None
    chain: list[NodeDef] = []
    reader, ref = matmul, x_ref
    node = g.producer(ref)
    while node is not None and node.op in _BETWEEN and split_ref(ref)[1] == 0 and node.name not in kept and g.only_reader(node.name) is reader:
        chain.append(node)
        reader, ref = node, g.data_inputs(node)[0]
        node = g.producer(ref)
    conv = node
    if (
        conv is None or conv.op != "Conv2D" or not chain or conv.name in kept or split_ref(ref)[1] != 0
        or g.only_reader(conv.name) is not reader or attr_value(conv, "data_format").s not in (b"NHWC", b"")
        or attr_value(conv, "padding").s == b"EXPLICIT"
    ):
        return None
    first = const_value(g.producer(g.data_inputs(conv)[1]))
    if first is None or first.shape[:2] != (1, 1):
        return None
    channels_in, channels = first.shape[2], first.shape[3]
    x_in = g.data_inputs(conv)[0]
    in_shape = _shape(info(), x_in)
    mid_shape = _shape(info(), x_ref)
    # A 1x1 conv on a 1x1 map is a MatMul per image; the reshapes must only drop the 1x1.
    if in_shape is None or len(in_shape) != 4 or in_shape[1:] != (1, 1, channels_in):
        return None
    if mid_shape is None or len(mid_shape) != 2 or mid_shape[1] != channels or mid_shape[0] != in_shape[0]:
        return None
    bias = np.zeros(channels, np.float64)
    for node in chain:
        if node.op != "BiasAdd":
            continue
        value = const_value(g.producer(g.data_inputs(node)[1]))
        if value is None or value.shape != (channels,) or attr_value(node, "data_format").s not in (b"NHWC", b""):
            return None
        bias += value.astype(np.float64)
    transposed = attr_value(matmul, "transpose_b").b
    second64 = (second.T if transposed else second).astype(np.float64)
    if second64.shape[0] != channels:
        return None
    weights = first.reshape(channels_in, channels).astype(np.float64) @ second64
    shift = bias @ second64

    after = g.only_reader(matmul.name, kept)
    after_bias = None
    if after is not None and after.op == "BiasAdd" and attr_value(after, "data_format").s in (b"NHWC", b""):
        after_bias = const_value(g.producer(g.data_inputs(after)[1]))
    if after_bias is None and np.any(shift) and matmul.name in kept:
        return None

    squeeze = NodeDef(name=g.unique_name(f"{conv.name}/Squeeze"), op="Squeeze", device=conv.device, attr={
        "T": AttrValue(type=attr_value(conv, "T").type), "squeeze_dims": AttrValue(list=AttrValue.ListValue(i=[1, 2])),
    })
    g.add(squeeze)
    g.set_inputs(squeeze, [x_in] + ["^" + c for node in [conv, *chain] for c in g.control_inputs(node)])
    new_weights = g.add(make_const(g.unique_name(f"{matmul.name}/merged_weights"), weights.astype(second.dtype), like=matmul))
    g.set_inputs(matmul, [squeeze.name, new_weights.name] + ["^" + c for c in g.control_inputs(matmul)])
    matmul.attr["transpose_b"].b = False
    merged_note = (
        f"{conv.name} ({channels_in}->{channels}) and {matmul.name} ({channels}->{second64.shape[1]}) "
        f"are one {channels_in}->{second64.shape[1]} MatMul"
    )
    because(conv.name, f"merged into the MatMul {matmul.name}: nothing non-linear sits between them")
    because([node.name for node in chain], f"between {conv.name} and {matmul.name}, merged away with them")
    because(matmul.name, f"does the work of {conv.name} too: {merged_note}")
    because(squeeze.name, f"drops the 1x1 of {conv.name}'s input, so the merged MatMul reads it")
    because(new_weights.name, f"the weights of {conv.name} times those of {matmul.name}")
    old_weights = [g.producer(g.data_inputs(conv)[1]).name, g.producer(w_ref).name]
    because(old_weights, f"replaced by {new_weights.name}, the merged weights")
    biases = [g.producer(g.data_inputs(node)[1]).name for node in chain if node.op == "BiasAdd"]
    because(biases, f"a bias between {conv.name} and {matmul.name}, now part of the bias after the merged MatMul")
    if after_bias is not None:
        old_bias = g.producer(g.data_inputs(after)[1]).name
        merged = g.add(make_const(g.unique_name(f"{after.name}/merged_bias"), (after_bias.astype(np.float64) + shift).astype(after_bias.dtype), like=after))
        g.set_inputs(after, [matmul.name, merged.name] + ["^" + c for c in g.control_inputs(after)])
        because(after.name, f"its bias now includes the biases between {conv.name} and {matmul.name}")
        because(old_bias, f"replaced by {merged.name}, the merged bias")
        because(merged.name, f"the bias of {after.name} plus the biases between {conv.name} and {matmul.name}, through its weights")
    elif np.any(shift):
        bias_add = NodeDef(name=g.unique_name(f"{matmul.name}/merged_bias_add"), op="BiasAdd", device=matmul.device, attr={
            "T": AttrValue(type=attr_value(matmul, "T").type), "data_format": AttrValue(s=b"NHWC"),
        })
        g.rewire(matmul.name, bias_add.name)
        g.add(bias_add)
        bias_const = g.add(make_const(g.unique_name(f"{matmul.name}/merged_bias"), shift.astype(second.dtype), like=matmul))
        g.set_inputs(bias_add, [matmul.name, bias_const.name])
        because([bias_add.name, bias_const.name], f"the biases between {conv.name} and {matmul.name}, after the merged MatMul")
    return merged_note


def _shape(info: dict, ref: str) -> tfrun.Shape:
    name, port = split_ref(ref)
    outputs = info.get(name)
    if outputs is None or port >= len(outputs) or outputs[port][1] is None:
        return None
    return tuple(outputs[port][1])
