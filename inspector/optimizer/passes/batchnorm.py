"""Batch norm folding: per-channel scales into convolution/MatMul weights, per-channel shifts into one BiasAdd."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.ops import FUSED_BATCH_NORM_OPS
from inspector.graph.refs import split_ref
from inspector.graph.workgraph import WorkGraph, attr_value, const_value, make_const
from inspector.optimizer.passes.context import Because, no_reasons

# Op -> index of its weights input and rank of its output.
WEIGHTED_OPS = {"Conv2D": (1, 4), "DepthwiseConv2dNative": (1, 4), "Conv2DBackpropInput": (1, 4), "MatMul": (1, 2)}
_ADD_OPS = frozenset({"Add", "AddV2", "Sub", "BiasAdd"})
_NAMES = "Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput or MatMul"


def find_batch_norms(g: WorkGraph, constant: set[str]) -> tuple[str, ...]:
    """Batch norms as they are before any folding: fused ops, and the Mul that applies Rsqrt(var + eps)."""
    found: list[str] = []
    for node in g:
        if node.op in FUSED_BATCH_NORM_OPS:
            found.append(node.name)
        elif node.op == "Rsqrt" and node.name in constant:
            # Follow the constant scale (Rsqrt, times gamma, maybe reshaped) to the Mul that applies it to data.
            stack, seen = [node.name], set()
            while stack:
                name = stack.pop()
                if name in seen:
                    continue
                seen.add(name)
                for user in g.users(name):
                    if user.name in constant:
                        stack.append(user.name)
                    elif user.op == "Mul" and user.name not in found:
                        found.append(user.name)
    return tuple(found)


def fold_batch_norms(
    g: WorkGraph, *, keep: Sequence[str], candidates: Sequence[str], because: Because = no_reasons
) -> tuple[list[str], list[tuple[str, str]]]:
    """Fold what can be folded; return notes and (batch norm, why it stayed) for the rest."""
    keep_set = set(keep)
    reasons: dict[str, str] = {}
    alias: dict[str, str] = {}
    counts = {"fused": 0, "scale": 0, "shift": 0, "merged": 0}

    for node in g:
        if node.op in FUSED_BATCH_NORM_OPS:
            outcome = _decompose_fused(g, node, because)
            if isinstance(outcome, str):
                reasons[node.name] = outcome
            else:
                alias[node.name] = outcome[0]
                counts["fused"] += 1
    origin = {mul: bn for bn, mul in alias.items()}

    changed = True
    while changed:
        changed = False
        for node in g:
            if node.name not in g:
                continue
            if node.op == "Mul":
                # Reasons name a fused batch norm, not the Mul it became a moment ago.
                outcome = _fold_scale(g, node, keep_set, because, label=origin.get(node.name, node.name))
                kind = "scale"
            elif node.op in _ADD_OPS:
                outcome = _fold_shift(g, node, because)
                kind = "shift"
            else:
                continue
            if outcome is True:
                changed = True
                counts[kind] += 1
            elif outcome == "merged":
                changed = True
                counts["merged"] += 1
            elif isinstance(outcome, str):
                reasons[node.name] = outcome

    g.drop_idle_controls()
    g.prune(keep)
    unfolded = []
    for name in candidates:
        applied = alias.get(name, name)
        if applied in g and g.node(applied).op in FUSED_BATCH_NORM_OPS | {"Mul"}:
            unfolded.append((name, reasons.get(applied) or reasons.get(name) or "not a pattern the optimizer folds"))
    notes = []
    if counts["fused"]:
        notes.append(f"{counts['fused']} fused batch norms (inference mode) split into scale and shift")
    if counts["scale"]:
        notes.append(f"{counts['scale']} per-channel Mul folded into weights")
    if counts["shift"]:
        notes.append(f"{counts['shift']} per-channel Add/Sub became BiasAdd")
    if counts["merged"]:
        notes.append(f"{counts['merged']} consecutive bias adds merged")
    return notes, unfolded


# --- fused batch norm -------------------------------------------------------------


def _decompose_fused(g: WorkGraph, node: NodeDef, because: Because) -> str | tuple[str]:
    """FusedBatchNorm* (inference) -> Mul(x, scale) then BiasAdd(offset), the BiasAdd keeping the name."""
    if node.op == "BatchNormWithGlobalNormalization":
        x, mean_ref, var_ref, beta_ref, gamma_ref = list(g.data_inputs(node))[:5]
        eps = attr_value(node, "variance_epsilon").f
        scaled = attr_value(node, "scale_after_normalization").b
        training = False
        layout = "NHWC"
    else:
        x, gamma_ref, beta_ref, mean_ref, var_ref = list(g.data_inputs(node))[:5]
        eps = node.attr["epsilon"].f if "epsilon" in node.attr else 1e-4
        scaled = True
        training = node.attr["is_training"].b if "is_training" in node.attr else True
        layout = node.attr["data_format"].s.decode() if "data_format" in node.attr else "NHWC"
    if training:
        return "is_training=true: it normalises with each batch's own statistics, not constants"
    if layout != "NHWC":
        return f"data_format {layout}: only NHWC is folded"
    readers = [user.name for user, _, port in g.data_users(node.name) if port != 0]
    if readers:
        return f"its batch statistics are read by {readers[0]}"
    values = {}
    for label, ref in (("mean", mean_ref), ("variance", var_ref), ("beta (offset)", beta_ref), ("gamma (scale)", gamma_ref)):
        source = g.producer(ref)
        value = const_value(source) if split_ref(ref)[1] == 0 else None
        if value is None:
            return f"its {label} is not constant ({_describe(g, source)})"
        values[label] = value.astype(np.float64)
    shapes = {v.shape for v in values.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        return f"its parameters have shapes {sorted(shapes)}, not one vector"
    scale = 1.0 / np.sqrt(values["variance"] + eps)
    if scaled:
        scale = scale * values["gamma (scale)"]
    offset = values["beta (offset)"] - values["mean"] * scale
    dtype = _np_dtype(node)
    scale_const = g.add(make_const(g.unique_name(f"{node.name}/scale"), scale.astype(dtype), like=node))
    offset_const = g.add(make_const(g.unique_name(f"{node.name}/offset"), offset.astype(dtype), like=node))
    mul = NodeDef(name=g.unique_name(f"{node.name}/mul"), op="Mul", device=node.device, attr={"T": AttrValue(type=_t(node))})
    g.add(mul)
    g.set_inputs(mul, [x, scale_const.name] + ["^" + c for c in g.control_inputs(node)])
    bias = _bias_add(node.name, _t(node), device=node.device)
    g.replace(bias)
    g.set_inputs(bias, [mul.name, offset_const.name])
    because(node.name, f"inference-mode {node.op} split into a Mul by its scale and this BiasAdd of its offset")
    because(mul.name, f"the scale of the batch norm {node.name}")
    because(scale_const.name, f"the per-channel scale of the batch norm {node.name}: gamma / sqrt(variance + epsilon)")
    because(offset_const.name, f"the per-channel offset of the batch norm {node.name}: beta - mean * scale")
    return (mul.name,)


# --- scale (Mul) ------------------------------------------------------------------


def _fold_scale(g: WorkGraph, node: NodeDef, keep: set[str], because: Because, *, label: str) -> bool | str | None:
    """Mul(conv [+ bias], c) -> conv with weights * c [+ bias * c]. True, a reason it cannot, or None if n/a."""
    split = _const_operand(g, node, either_side=True)
    if split is None:
        return None
    x_ref, scale = split
    if node.name in keep:
        return "it is an output of the graph"
    producer = g.producer(x_ref)
    if producer is None or split_ref(x_ref)[1] != 0:
        return None
    bias_node = None
    layer = producer
    if producer.op == "BiasAdd":
        bias_node, layer = producer, g.producer(g.data_inputs(producer)[0])
        if layer is None:
            return None
    if layer.op not in WEIGHTED_OPS:
        shown = f"{producer.op} after a {layer.op}" if bias_node is not None else producer.op
        return f"its input is a {shown}, not {_NAMES}"
    problem = _layer_problem(g, layer)
    if problem:
        return problem
    chain = [layer] + ([bias_node] if bias_node is not None else [])
    for first, second in zip(chain, chain[1:] + [node]):
        if g.only_reader(first.name, keep) is not second:
            others = [u.name for u in g.users(first.name) if u is not second]
            return f"{first.name} is also read by {others[0] if others else 'the outputs'}"
    weights_ref = g.data_inputs(layer)[WEIGHTED_OPS[layer.op][0]]
    weights_node = g.producer(weights_ref)
    weights = const_value(weights_node)
    if weights is None:
        return f"the weights of {layer.name} are not constant ({_describe(g, weights_node)})"
    channels = _channels(layer, weights)
    per_channel = _per_channel(scale, channels, WEIGHTED_OPS[layer.op][1])
    if per_channel is None:
        return f"its constant has shape {tuple(scale.shape)}, not one value per output channel ({channels})"
    bias = None
    if bias_node is not None:
        bias = const_value(g.producer(g.data_inputs(bias_node)[1]))
        if bias is None or _bias_problem(bias_node):
            return f"the bias of {bias_node.name} is not a constant vector (NHWC)"
    made = _set_weights(g, layer, _scaled_weights(layer, weights, per_channel).astype(weights.dtype))
    because(made, f"the weights of {layer.name} times the batch norm scale of {label}")
    because(layer.name, f"its weights now include the batch norm scale of {label}")
    if weights_node.name != made:
        because(weights_node.name, f"replaced by {made}, with the batch norm scale of {label} folded in")
    if bias_node is not None:
        made = _set_bias(g, bias_node, (bias.astype(np.float64) * per_channel).astype(bias.dtype))
        because(made, f"the bias of {bias_node.name} times the batch norm scale of {label}")
        because(bias_node.name, f"its bias now includes the batch norm scale of {label}")
    scale_refs = [ref for ref in g.data_inputs(node) if ref != x_ref]
    g.splice_out(node.name, to=x_ref)
    because(node.name, f"batch norm scale folded into the weights of {layer.name}")
    because([split_ref(ref)[0] for ref in scale_refs], f"the batch norm scale of {label}, now in the weights of {layer.name}")
    return True


def _layer_problem(g: WorkGraph, layer: NodeDef) -> str | None:
    if layer.op != "MatMul" and "data_format" in layer.attr and layer.attr["data_format"].s not in (b"NHWC", b""):
        return f"{layer.name} uses data_format {layer.attr['data_format'].s.decode()}; only NHWC is folded"
    return None


def _channels(layer: NodeDef, weights: np.ndarray) -> int:
    if layer.op == "Conv2D":
        return weights.shape[3]
    if layer.op == "DepthwiseConv2dNative":
        return weights.shape[2] * weights.shape[3]
    if layer.op == "Conv2DBackpropInput":
        return weights.shape[2]
    transposed = layer.attr["transpose_b"].b if "transpose_b" in layer.attr else False
    return weights.shape[0] if transposed else weights.shape[1]


def _per_channel(value: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """``value`` as one float64 per output channel, if it broadcasts along the last axis only."""
    shape = tuple(value.shape)
    if len(shape) > rank or any(d != 1 for d in shape[:-1]):
        return None
    if shape and shape[-1] not in (1, channels):
        return None
    return np.broadcast_to(value.astype(np.float64).reshape(-1), (channels,)).copy()


def _scaled_weights(layer: NodeDef, weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    w = weights.astype(np.float64)
    if layer.op == "Conv2D":
        return w * scale
    if layer.op == "DepthwiseConv2dNative":
        return w * scale.reshape(w.shape[2], w.shape[3])
    if layer.op == "Conv2DBackpropInput":
        return w * scale[:, None]
    transposed = layer.attr["transpose_b"].b if "transpose_b" in layer.attr else False
    return w * scale[:, None] if transposed else w * scale


def _set_weights(g: WorkGraph, layer: NodeDef, value: np.ndarray) -> str:
    """Point ``layer`` at new constant weights; returns the name of their Const."""
    index = WEIGHTED_OPS[layer.op][0]
    refs = list(layer.input)
    data_positions = [i for i, ref in enumerate(refs) if not ref.startswith("^")]
    old = g.producer(refs[data_positions[index]])
    refs[data_positions[index]] = _fresh_const(g, f"{layer.name}/folded_weights", value, old=old, reader=layer).name
    g.set_inputs(layer, refs)
    return refs[data_positions[index]]


def _set_bias(g: WorkGraph, bias_node: NodeDef, value: np.ndarray) -> str:
    refs = list(bias_node.input)
    old = g.producer(refs[1])
    refs[1] = _fresh_const(g, f"{bias_node.name}/folded_bias", value, old=old, reader=bias_node).name
    g.set_inputs(bias_node, refs)
    return refs[1]


def _fresh_const(g: WorkGraph, name: str, value: np.ndarray, *, old: NodeDef | None, reader: NodeDef) -> NodeDef:
    # Folding twice into one layer rewrites the constant made the first time instead of adding another.
    if old is not None and old.name == name and [u.name for u in g.users(name)] == [reader.name]:
        return g.replace(make_const(name, value, like=old))
    return g.add(make_const(g.unique_name(name), value, like=old))


# --- shift (Add/Sub/BiasAdd) ------------------------------------------------------


def _fold_shift(g: WorkGraph, node: NodeDef, because: Because) -> bool | str | None:
    """Add/Sub of a per-channel constant after a conv -> BiasAdd; two bias adds in a row -> one."""
    split = _const_operand(g, node, either_side=node.op in ("Add", "AddV2"))
    if split is None:
        return None
    x_ref, shift = split
    if node.op == "BiasAdd" and _bias_problem(node):
        return None
    if node.op == "Sub":
        shift = -shift.astype(np.float64)
    producer = g.producer(x_ref)
    if producer is None or split_ref(x_ref)[1] != 0:
        return None
    if producer.op == "BiasAdd" and not _bias_problem(producer) and g.only_reader(producer.name) is node:
        first = const_value(g.producer(g.data_inputs(producer)[1]))
        if first is None or first.ndim != 1:
            return None
        below = g.producer(g.data_inputs(producer)[0])
        rank = WEIGHTED_OPS[below.op][1] if below is not None and below.op in WEIGHTED_OPS else 1
        per_channel = _per_channel(shift, first.shape[0], rank)
        if per_channel is None:
            return None
        merged = (first.astype(np.float64) + per_channel).astype(first.dtype)
        old_op = node.op
        made = _replace_with_bias_add(g, node, g.data_inputs(producer)[0], merged, extra=g.control_inputs(producer))
        because(producer.name, f"bias add merged into the {old_op} {node.name} after it")
        because(node.name, f"{old_op} merged with the bias add {producer.name} before it into one BiasAdd")
        because(made, f"the biases of {producer.name} and {node.name} added up")
        return "merged"
    if node.op == "BiasAdd" or producer.op not in WEIGHTED_OPS or _layer_problem(g, producer):
        return None
    if g.only_reader(producer.name) is not node:
        return None
    weights = _weights_value_or_shape(g, producer)
    if weights is None:
        return None
    channels = _channels(producer, weights)
    per_channel = _per_channel(shift, channels, WEIGHTED_OPS[producer.op][1])
    if per_channel is None:
        return None
    old_op = node.op
    shift_refs = [ref for ref in g.data_inputs(node) if ref != x_ref]
    made = _replace_with_bias_add(g, node, x_ref, per_channel.astype(_np_dtype(node)), extra=[])
    because([split_ref(ref)[0] for ref in shift_refs], f"the per-channel shift of {node.name}, now its bias {made}")
    because(node.name, f"per-channel {old_op} after {producer.name} became a BiasAdd (the batch norm shift)")
    because(made, f"the per-channel shift of the {old_op} {node.name} as a bias")
    return True


def _weights_value_or_shape(g: WorkGraph, layer: NodeDef) -> np.ndarray | None:
    """The layer's constant weights, or for 8-bit weights dequantized at run time an array of their shape.

    A bias only needs the channel count, which the quantized constant's shape gives.
    """
    source = g.producer(g.data_inputs(layer)[WEIGHTED_OPS[layer.op][0]])
    value = const_value(source)
    if value is None and source is not None and source.op == "Dequantize":
        quantized = const_value(g.producer(g.data_inputs(source)[0]))
        if quantized is not None:
            return np.empty(quantized.shape, dtype=np.float32)
    return value


def _replace_with_bias_add(g: WorkGraph, node: NodeDef, x_ref: str, bias: np.ndarray, *, extra: list[str]) -> str:
    """``node`` becomes BiasAdd(x_ref, bias) under its own name; returns the name of the bias Const."""
    t = _t(node)
    bias_const = g.add(make_const(g.unique_name(f"{node.name}/folded_bias"), bias, like=node))
    controls = ["^" + c for c in g.control_inputs(node) + extra]
    new = _bias_add(node.name, t, device=node.device)
    g.replace(new)
    g.set_inputs(new, [x_ref, bias_const.name] + controls)
    return bias_const.name


# --- helpers ----------------------------------------------------------------------


def _const_operand(g: WorkGraph, node: NodeDef, *, either_side: bool) -> tuple[str, np.ndarray] | None:
    """(data input, constant value) of a binary op with one Const operand."""
    data = g.data_inputs(node)
    if len(data) != 2:
        return None
    sides = [(0, 1), (1, 0)] if either_side else [(0, 1)]
    for x_index, c_index in sides:
        if split_ref(data[c_index])[1] != 0:
            continue
        value = const_value(g.producer(data[c_index]))
        if value is not None and const_value(g.producer(data[x_index])) is None:
            if value.dtype.kind not in "fc":
                return None
            return data[x_index], value
    return None


def _describe(g: WorkGraph, node: NodeDef | None) -> str:
    """What feeds a value that should have been a constant, looking through Identity."""
    seen = 0
    while node is not None and node.op == "Identity" and g.data_inputs(node) and seen < 16:
        node, seen = g.producer(g.data_inputs(node)[0]), seen + 1
    if node is None:
        return "missing"
    if node.op in ("VariableV2", "Variable", "VarHandleOp", "ReadVariableOp"):
        return f"a {node.op}: the graph is not frozen"
    if node.op == "Dequantize":
        return "a Dequantize of 8-bit weights, kept 8-bit"
    return f"a {node.op}"


def _bias_problem(node: NodeDef) -> bool:
    return "data_format" in node.attr and node.attr["data_format"].s not in (b"NHWC", b"")


def _bias_add(name: str, t: int, *, device: str) -> NodeDef:
    return NodeDef(name=name, op="BiasAdd", device=device, attr={"T": AttrValue(type=t), "data_format": AttrValue(s=b"NHWC")})


def _t(node: NodeDef) -> int:
    return attr_value(node, "T").type


def _np_dtype(node: NodeDef) -> np.dtype:
    return {DataType.DT_HALF: np.dtype(np.float16), DataType.DT_DOUBLE: np.dtype(np.float64)}.get(_t(node), np.dtype(np.float32))
