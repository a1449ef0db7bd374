"""Arithmetic clean-up: ops that change nothing go, nested concats flatten, activations hoist, constants dedupe."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np

from tensorboard.compat.proto.node_def_pb2 import NodeDef

from inspector.optimizer.passes import tfrun
from inspector.graph.refs import split_ref
from inspector.graph.workgraph import WorkGraph, attr_value, const_value
from inspector.optimizer.passes.context import Because, no_reasons

Info = dict[str, list[tuple[int, tfrun.Shape]]]
_RESHAPES = frozenset({"Reshape", "Squeeze", "ExpandDims"})
_PADS = frozenset({"Pad", "PadV2", "MirrorPad"})
# op -> (identity element, may the constant come first)
_NEUTRAL = {"Mul": (1, True), "Add": (0, True), "AddV2": (0, True), "BiasAdd": (0, False), "Sub": (0, False), "RealDiv": (1, False), "Div": (1, False)}


# Elementwise, so f(concat(a, b)) == concat(f(a), f(b)) exactly.
_ACTIVATIONS = frozenset({"Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Tanh", "Sigmoid", "Softplus", "Softsign"})
# Identical constants are shared up to this size; bigger ones are weights, never equal.
_DEDUPE_BYTES = 64 * 1024


def simplify(
    g: WorkGraph, *, keep: Sequence[str], hoist_activations: bool = True, because: Because = no_reasons
) -> list[str]:
    """Remove no-op ops and merge reshapes; flatten concats; hoist activations over concats; share equal constants.

    ``hoist_activations=False`` keeps each activation right after its convolution,
    where TFLite's converter fuses it into the convolution.
    """
    kept = set(keep)
    # Shapes come from importing the graph into TensorFlow: only when a node here asks for them.
    info = tfrun.shapes(g) if any(_asks_shapes(g, node) for node in g if node.name not in kept) else {}
    counts: Counter[str] = Counter()
    for node in g:
        if node.name not in g:
            continue
        source = None if node.name in kept else _passes_through(g, node, info)
        if source is not None:
            g.splice_out(node.name, to=source)
            because(node.name, f"no-op {node.op} (returns its input unchanged): readers now read {source}")
            counts[f"no-op {node.op}"] += 1
            continue
        if node.op == "Reshape":
            inner = g.producer(g.data_inputs(node)[0])
            if (
                inner is not None and inner.op in _RESHAPES and inner.name not in kept
                and g.only_reader(inner.name) is node
            ):
                # Reshape only looks at the element order, which the inner reshape kept.
                refs = list(node.input)
                refs[0] = g.data_inputs(inner)[0]
                g.set_inputs(node, refs + ["^" + c for c in g.control_inputs(inner)])
                g.remove(inner.name)
                because(inner.name, f"{inner.op} before the Reshape {node.name}, which only sees the element order it kept")
                because(node.name, f"reads {refs[0]} directly: the {inner.op} before it changed no element order")
                counts[f"{inner.op} before a Reshape"] += 1
    counts["nested ConcatV2 flattened"] += _flatten_concats(g, kept, because)
    if hoist_activations:
        counts["activations moved after a ConcatV2 of them"] += _hoist_activations(g, kept, because)
    counts["duplicate constants shared"] += _dedupe_constants(g, kept, because)
    g.prune(keep)
    return [f"{count} {what}" for what, count in sorted(counts.items()) if count]


def _axis(g: WorkGraph, concat: NodeDef) -> int | None:
    value = const_value(g.producer(g.data_inputs(concat)[-1]))
    return int(value) if value is not None and value.size == 1 else None


def _flatten_concats(g: WorkGraph, kept: set[str], because: Because) -> int:
    """ConcatV2(a, ConcatV2(b, c), d) on one axis -> ConcatV2(a, b, c, d)."""
    flattened = 0
    for node in g:
        if node.name not in g or node.op != "ConcatV2":
            continue
        axis = _axis(g, node)
        if axis is None:
            continue
        changed = True
        while changed:
            changed = False
            data = g.data_inputs(node)
            values, axis_ref = data[:-1], data[-1]
            for index, ref in enumerate(values):
                inner = g.producer(ref)
                if (
                    inner is None or inner.op != "ConcatV2" or inner.name in kept or split_ref(ref)[1] != 0
                    or _axis(g, inner) != axis or g.only_reader(inner.name) is not node
                ):
                    continue
                merged = values[:index] + g.data_inputs(inner)[:-1] + values[index + 1:]
                g.set_inputs(node, merged + [axis_ref] + ["^" + c for c in g.control_inputs(node) + g.control_inputs(inner)])
                node.attr["N"].i = len(merged)
                g.remove(inner.name)
                because(inner.name, f"nested ConcatV2 flattened into {node.name} (same axis)")
                because(node.name, f"takes the inputs of the ConcatV2 {inner.name} it read")
                flattened += 1
                changed = True
                break
    return flattened


def _hoist_activations(g: WorkGraph, kept: set[str], because: Because) -> int:
    """ConcatV2(f(a), f(b), ...) -> f(ConcatV2(a, b, ...)) for one elementwise activation f: one op instead of n."""
    hoisted = 0
    for node in g:
        if node.name not in g or node.op != "ConcatV2" or node.name in kept:
            continue
        data = g.data_inputs(node)
        values, axis_ref = data[:-1], data[-1]
        producers = [g.producer(ref) for ref in values]
        if len(values) < 2 or any(p is None for p in producers):
            continue
        first = producers[0]
        if first.op not in _ACTIVATIONS:
            continue
        same = all(
            p.op == first.op and _attrs(p) == _attrs(first) and p.name not in kept
            and split_ref(ref)[1] == 0 and g.only_reader(p.name) is node
            for p, ref in zip(producers, values)
        )
        if not same or len({p.name for p in producers}) != len(producers):
            continue
        controls = [c for p in producers for c in g.control_inputs(p)] + g.control_inputs(node)
        g.set_inputs(node, [g.data_inputs(p)[0] for p in producers] + [axis_ref] + ["^" + c for c in controls])
        for p in producers:
            g.remove(p.name)
        activation = NodeDef(name=g.unique_name(f"{node.name}/{first.op}"), op=first.op, device=first.device)
        for key, value in _attrs(first).items():
            activation.attr[key].CopyFrom(value)
        g.rewire(node.name, activation.name)
        g.add(activation)
        g.set_inputs(activation, [node.name])
        because([p.name for p in producers], f"{first.op} moved after the ConcatV2 {node.name}: one {activation.name} does all {len(producers)}")
        because(activation.name, f"one {first.op} after {node.name} instead of one on each of its {len(producers)} inputs")
        because(node.name, f"concatenates the inputs of the {first.op}s it read; {activation.name} applies the {first.op} after it")
        hoisted += len(producers) - 1
    return hoisted


def _attrs(node: NodeDef) -> dict:
    # "_output_shapes" and "_class" describe one node, not what it computes.
    return {key: value for key, value in node.attr.items() if not key.startswith("_")}


def _dedupe_constants(g: WorkGraph, kept: set[str], because: Because) -> int:
    """Equal small constants (concat axes, reshape shapes, reduction indices) become one."""
    first: dict[tuple, str] = {}
    shared = 0
    for node in g:
        if node.op != "Const" or node.input or attr_value(node, "value").tensor.ByteSize() > _DEDUPE_BYTES:
            continue
        value = const_value(node)
        if value is None or value.dtype == object:
            continue
        key = (node.device, attr_value(node, "dtype").type, value.shape, value.tobytes())
        if key not in first:
            first[key] = node.name
        elif node.name not in kept:
            g.splice_out(node.name, to=first[key])
            because(node.name, f"same value as the Const {first[key]}: readers now read it")
            shared += 1
    return shared


def _passes_through(g: WorkGraph, node: NodeDef, info: Info) -> str | None:
    """The data input ``node`` returns unchanged, or None.

    Shapes are read for reshapes and for an op with its neutral constant only:
    :func:`_asks_shapes` says which nodes those are, and a new reader of ``info``
    here must be one of them, or simplify would judge it without shapes.
    """
    data = g.data_inputs(node)
    if not data:
        return None
    if node.op in _RESHAPES:
        out = _shape(info, node.name, 0)
        return data[0] if _known(out) and _shape(info, *split_ref(data[0])) == out else None
    if node.op == "Cast":
        return data[0] if attr_value(node, "SrcT").type == attr_value(node, "DstT").type else None
    if node.op in _PADS and len(data) >= 2:
        paddings = const_value(g.producer(data[1]))
        return data[0] if paddings is not None and not np.any(paddings) else None
    if node.op == "Transpose" and len(data) == 2:
        perm = const_value(g.producer(data[1]))
        return data[0] if perm is not None and np.array_equal(perm.reshape(-1), np.arange(perm.size)) else None
    if node.op == "Tile" and len(data) == 2:
        multiples = const_value(g.producer(data[1]))
        return data[0] if multiples is not None and np.all(multiples == 1) else None
    for x, value in _neutral_operands(g, node, data):
        # The constant must not broadcast x to a bigger shape or another dtype.
        out = _shape(info, node.name, 0)
        same_shape = value.ndim == 0 or (_known(out) and _shape(info, *split_ref(x)) == out)
        if same_shape and _output(info, *split_ref(x))[0] == _output(info, node.name)[0]:
            return x
    return None


def _neutral_operands(g: WorkGraph, node: NodeDef, data: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """(x, the constant) for each way ``node`` is x with its op's identity element (x + 0, x * 1, ...)."""
    if node.op not in _NEUTRAL or len(data) != 2:
        return
    neutral, either = _NEUTRAL[node.op]
    for x_index in ((0, 1) if either else (0,)):
        x, c = data[x_index], data[1 - x_index]
        value = const_value(g.producer(c))
        if value is not None and np.all(value == neutral):
            yield x, value


def _asks_shapes(g: WorkGraph, node: NodeDef) -> bool:
    """Whether :func:`_passes_through` needs static shapes to judge ``node``."""
    if node.op in _RESHAPES:
        return True
    data = g.data_inputs(node)
    return any(True for _ in _neutral_operands(g, node, data))


def _output(info: Info, name: str, port: int = 0) -> tuple[int | None, tfrun.Shape]:
    outputs = info.get(name)
    if outputs is None or port < 0 or port >= len(outputs):
        return None, None
    return outputs[port]


def _shape(info: Info, name: str, port: int = 0) -> tfrun.Shape:
    return _output(info, name, port)[1]


def _known(shape: tfrun.Shape) -> bool:
    return shape is not None and all(d is not None and d >= 0 for d in shape)
