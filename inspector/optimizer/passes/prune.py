"""Passes that only cut: keep what the outputs need, splice out identity-like and debugging nodes."""

from __future__ import annotations

from collections.abc import Sequence

from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from inspector.graph.ops import ASSERT_OPS, IDENTITY_OPS, V1_CONTROL_FLOW_OPS, VARIABLE_OPS, VARIABLE_READ_OPS
from inspector.graph.workgraph import WorkGraph, attr_value
from inspector.optimizer.passes.context import Because, no_reasons

# An Identity right after a TF1 control-flow op is a pivot (tf.cond's switch_t/switch_f):
# other nodes hang control edges on it to pick a branch, so it must stay.


def strip_unused(
    g: WorkGraph, *, inputs: Sequence[str], outputs: Sequence[str], placeholder_types: Sequence[int],
    because: Because = no_reasons,
) -> list[str]:
    """Make each input a Placeholder (dtype given, shape kept), then drop what no output needs."""
    notes = []
    for name, dtype in zip(inputs, placeholder_types):
        old = g.node(name)
        if old.op == "Placeholder" and not old.input and attr_value(old, "dtype").type == dtype:
            continue
        new = NodeDef(name=name, op="Placeholder", device=old.device, attr={"dtype": AttrValue(type=dtype)})
        shape = declared_shape(old)
        if shape is not None:
            new.attr["shape"].CopyFrom(shape)
        if old.op != "Placeholder":
            notes.append(f"{name}: {old.op} made a Placeholder (the graph is fed here)")
            because(name, f"{old.op} made a Placeholder: the graph is fed here")
        g.replace(new)
    removed = g.prune(list(outputs) + list(inputs))
    if removed:
        notes.append(f"{removed} nodes do not feed the outputs")
    return notes


def declared_shape(node: NodeDef) -> AttrValue | None:
    if "shape" in node.attr:
        return node.attr["shape"]
    if "_output_shapes" in node.attr and node.attr["_output_shapes"].list.shape:
        return AttrValue(shape=attr_value(node, "_output_shapes").list.shape[0])
    return None


def remove_identities(
    g: WorkGraph, *, inputs: Sequence[str], outputs: Sequence[str], frozen: bool, because: Because = no_reasons
) -> list[str]:
    """Splice out identity-like nodes by rewiring their readers (data and control edges) to their input.

    PlaceholderWithDefault nodes that are not named inputs go too: unfed, they
    pass their default through (retrain.py's BottleneckInputPlaceholder).
    """
    protected = set(inputs) | set(outputs)
    spliced: dict[str, int] = {}
    kept_pivots = 0
    for node in g:
        if node.name in protected or node.name not in g:
            continue
        op = node.op
        if op in IDENTITY_OPS or op == "PlaceholderWithDefault":
            data = g.data_inputs(node)
            if not data:
                continue
            source = g.producer(data[0])
            if source is None:
                continue
            if source.op in V1_CONTROL_FLOW_OPS:
                kept_pivots += 1
                continue
            if not frozen and source.op in VARIABLE_OPS | VARIABLE_READ_OPS and op == "Identity":
                # Reading a ref variable directly skips the snapshot its /read Identity takes.
                continue
            g.splice_out(node.name, to=data[0])
            because(node.name, f"{op} spliced out: readers now read {data[0]}")
            spliced[op] = spliced.get(op, 0) + 1
        elif op in ASSERT_OPS and not g.data_users(node.name):
            for user in g.users(node.name):
                g.set_inputs(user, [ref for ref in user.input if ref != "^" + node.name])
            g.remove(node.name)
            because(node.name, f"{op} removed: nothing reads its data, and it checks nothing an inference needs")
            spliced[op] = spliced.get(op, 0) + 1
    idle = g.drop_idle_controls()
    dead = g.prune(list(outputs) + list(inputs))
    notes = [f"{count} {op}" for op, count in sorted(spliced.items())]
    if kept_pivots:
        notes.append(f"kept {kept_pivots} Identity after Switch/Merge (control-flow pivots)")
    if idle:
        notes.append(f"dropped {idle} control edges from constants and empty NoOps")
    if dead:
        notes.append(f"{dead} nodes left without readers")
    return notes
