"""TensorFlow's resize/mirror-pad + Conv2D fusion, only where the fused op computes the same thing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.workgraph import WorkGraph, attr_value, make_const
from inspector.optimizer.passes.context import Because, no_reasons


def fuse_resize_and_conv(g: WorkGraph, *, keep: Sequence[str], because: Because = no_reasons) -> list[str]:
    """ResizeBilinear and/or MirrorPad feeding a Conv2D -> FusedResizeAndPadConv2D / FusedPadConv2D."""
    kept = set(keep)
    fused = 0
    skipped_half_pixel = 0
    for conv in g:
        if conv.name not in g or conv.op != "Conv2D":
            continue
        if attr_value(conv, "data_format").s not in (b"NHWC", b"") or _dilated(conv) or attr_value(conv, "padding").s == b"EXPLICIT":
            continue
        x_ref, weights_ref = g.data_inputs(conv)[:2]
        pad = resize = None
        first = g.producer(x_ref)
        if first is not None and first.op == "MirrorPad" and _int32_paddings(first) and _single(g, first, conv, kept, x_ref):
            pad = first
            below = g.producer(g.data_inputs(pad)[0])
            if below is not None and below.op == "ResizeBilinear" and _single(g, below, pad, kept, g.data_inputs(pad)[0]):
                resize = below
        elif first is not None and first.op == "ResizeBilinear" and _single(g, first, conv, kept, x_ref):
            resize = first
        if resize is not None and attr_value(resize, "half_pixel_centers").b:
            # The fused kernel only knows the old corner-aligned sampling; fusing would change the output.
            skipped_half_pixel += 1
            if pad is None:
                continue
            resize = None
        if pad is None and resize is None:
            continue
        fused_op = NodeDef(name=conv.name, op="FusedResizeAndPadConv2D" if resize is not None else "FusedPadConv2D", device=conv.device)
        for attr in ("T", "strides", "padding"):
            fused_op.attr[attr].CopyFrom(conv.attr[attr])
        if pad is not None:
            paddings_ref = g.data_inputs(pad)[1]
            fused_op.attr["mode"].CopyFrom(pad.attr["mode"])
        else:
            zeros = g.add(make_const(g.unique_name(f"{conv.name}/no_paddings"), np.zeros((4, 2), np.int32), like=conv))
            paddings_ref = zeros.name
            fused_op.attr["mode"].CopyFrom(AttrValue(s=b"REFLECT"))
        controls = ["^" + c for node in (conv, pad, resize) if node is not None for c in g.control_inputs(node)]
        if resize is not None:
            fused_op.attr["resize_align_corners"].CopyFrom(AttrValue(b=resize.attr["align_corners"].b))
            inputs = [g.data_inputs(resize)[0], g.data_inputs(resize)[1], paddings_ref, weights_ref]
        else:
            inputs = [g.data_inputs(pad)[0], paddings_ref, weights_ref]
        g.replace(fused_op)
        g.set_inputs(fused_op, inputs + controls)
        before = " and ".join(f"the {n.op} {n.name}" for n in (resize, pad) if n is not None)
        because(conv.name, f"Conv2D fused with {before} into one {fused_op.op}")
        because([n.name for n in (resize, pad) if n is not None], f"fused into the {fused_op.op} {conv.name}")
        if pad is None:
            because(paddings_ref, f"zero paddings: {conv.name}'s {fused_op.op} pads nothing")
        fused += 1
    g.prune(keep)
    notes = [f"{fused} Conv2D fused with the resize/pad before it"] if fused else []
    if skipped_half_pixel:
        notes.append(f"{skipped_half_pixel} ResizeBilinear with half_pixel_centers=true left unfused (the fused op would sample differently)")
    return notes


def _single(g: WorkGraph, node: NodeDef, reader: NodeDef, kept: set[str], ref: str) -> bool:
    return node.name not in kept and ref == node.name and g.only_reader(node.name) is reader


def _int32_paddings(pad: NodeDef) -> bool:
    # The fused ops take int32 paddings only.
    return "Tpaddings" not in pad.attr or attr_value(pad, "Tpaddings").type == DataType.DT_INT32


def _dilated(conv: NodeDef) -> bool:
    return "dilations" in conv.attr and any(d != 1 for d in conv.attr["dilations"].list.i)
