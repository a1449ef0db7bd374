"""The graph at its inference values: auxiliary inputs fed as constants (keep probability 1, dropout rate 0, training flag false), and the tf.cond branches a constant predicate never takes cut out."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.ops import DEFAULT_PLACEHOLDER_OPS, LOOP_OPS, MERGE_OPS, PLACEHOLDER_OPS, SWITCH_OPS
from inspector.graph.refs import data_ref, split_ref
from inspector.graph.settings import PURPOSE_WORDS, value_range
from inspector.graph.signature import InputSpec
from inspector.graph.table import NodeTable
from inspector.graph.workgraph import WorkGraph, make_const
from inspector.optimizer.passes.context import Because, no_reasons

_NUMPY = {DataType.DT_FLOAT: np.float32, DataType.DT_HALF: np.float16, DataType.DT_DOUBLE: np.float64, DataType.DT_BOOL: np.bool_}
# Nodes a dead tf.cond branch may hold before the pass leaves that cond alone.
MAX_DEAD_NODES = 100_000


def feed_inference_values(
    g: WorkGraph, auxiliary: Sequence[InputSpec], *, keep: Sequence[str], because: Because = no_reasons
) -> list[str]:
    """Each needed auxiliary placeholder whose inference value the signature knows becomes a Const of it.

    Those are the values every runner feeds (InputSpec.value), so the graph
    computes what it computed fed with them; one without a known value stays a
    placeholder, and a note says it must be fed. ``keep`` (the named inputs and
    outputs) are left as they are.
    """
    notes: list[str] = []
    kept = set(keep)
    for spec in auxiliary:
        node = g.get(spec.name)
        if not spec.needed or node is None or node.op not in PLACEHOLDER_OPS:
            continue
        purpose = PURPOSE_WORDS.get(spec.purpose, f"{spec.role} input")
        if spec.name in kept:
            notes.append(f"{spec.name} ({purpose}): named as an input, so left a placeholder")
            continue
        if spec.value is None:
            shape = "unknown shape" if spec.shape is None else f"shape {list(spec.shape)}"
            notes.append(f"{spec.name} ({purpose}, {spec.dtype}, {shape}) stays a placeholder: its value at inference "
                         f"is not in the graph, so it must be fed (--feed {spec.name}=VALUE)")
            continue
        dtype = node.attr["dtype"].type if "dtype" in node.attr else DataType.DT_INVALID
        if dtype not in _NUMPY:
            notes.append(f"{spec.name} ({purpose}): a {spec.dtype} placeholder, left as it is")
            continue
        shape = spec.shape if spec.shape is not None and all(d >= 0 for d in spec.shape) else ()
        value = np.full(shape, spec.value, dtype=_NUMPY[dtype])
        g.replace(make_const(spec.name, value, like=node))
        shown = str(spec.value).lower() if isinstance(spec.value, bool) else f"{spec.value:g}"
        because(spec.name, f"the {purpose}, fed its inference value {shown} as a constant (as every runner feeds it)")
        notes.append(f"{spec.name} = {shown} ({purpose}), its inference value")
    return notes


def fold_cond(g: WorkGraph, *, keep: Sequence[str], because: Because = no_reasons) -> list[str]:
    """Each Switch whose predicate is a constant passes its data straight on; the branch it never takes goes, Merges with it.

    TF1's tf.cond is a Switch per value entering it and a Merge per value
    leaving it: with the predicate constant one output of each Switch is dead,
    and so is everything computed from it, up to the Merges, which then forward
    their one live input. A Switch of a while loop, or one whose dead branch
    reaches a kept node or a Merge with two live inputs, is left as it is.
    """
    notes: list[str] = []
    kept = set(keep)
    if not any(node.op in SWITCH_OPS for node in g):
        return notes  # no tf.cond: nothing to index
    while True:
        index = NodeTable(g)
        # Unfed, a PlaceholderWithDefault is its default (Keras' learning phase: false); remove_identity splices it later.
        defaults = {}
        for node in g:
            data = g.data_inputs(node)
            if node.op in DEFAULT_PLACEHOLDER_OPS and node.name not in kept and data:
                found = value_range(index, data[0])
                if found is not None:
                    defaults[node.name] = found
        done = None
        for node in g:
            if node.op not in SWITCH_OPS or len(g.data_inputs(node)) != 2 or node.name in kept:
                continue
            pred = value_range(index, g.data_inputs(node)[1], defaults)
            if pred is None or pred.exact is None or pred.noisy:
                continue
            done = _take_branch(g, node, bool(pred.exact), kept, because)
            if done is not None:
                notes.append(done)
                break
        if done is None:
            break
    if notes:
        g.prune(keep)
    return notes


def _take_branch(g: WorkGraph, switch: NodeDef, pred: bool, kept: set[str], because: Because) -> str | None:
    live, dead_port = (1, 0) if pred else (0, 1)
    if any(user.name != switch.name for user in g.users(switch.name) if "^" + switch.name in user.input):
        return None  # a control edge from a Switch: what TensorFlow makes of it is not read here
    dead: set[str] = set()
    merges: dict[str, NodeDef] = {}
    queue = deque(user for user, _, port in g.data_users(switch.name) if port == dead_port)
    while queue:
        while queue:
            node = queue.popleft()
            if node.name in dead:
                continue
            if node.op in MERGE_OPS and not all(_is_dead(r, switch.name, dead_port, dead) for r in g.data_inputs(node)):
                merges[node.name] = node  # looked at again once the queue is empty
                continue
            if node.name in kept or node.op in LOOP_OPS or len(dead) >= MAX_DEAD_NODES:
                return None
            dead.add(node.name)
            queue.extend(g.users(node.name))
        # A Merge whose last live input died after it was first seen is dead too.
        queue.extend(m for m in merges.values() if m.name not in dead
                     and all(_is_dead(r, switch.name, dead_port, dead) for r in g.data_inputs(m)))
    forwarded: list[tuple[NodeDef, str, int]] = []
    for merge in merges.values():
        if merge.name in dead:
            continue
        refs = g.data_inputs(merge)
        alive = [(i, ref) for i, ref in enumerate(refs) if not _is_dead(ref, switch.name, dead_port, dead)]
        if len(alive) != 1:
            return None
        forwarded.append((merge, alive[0][1], alive[0][0]))

    source = g.data_inputs(switch)[0]
    taken = data_ref(switch.name, live)
    for merge, ref, position in forwarded:
        if any(port == 1 for _, _, port in g.data_users(merge.name)):
            chosen = make_const(g.unique_name(f"{merge.name}/value_index"), np.array(position, dtype=np.int32), like=merge)
            g.add(chosen)
            g.rewire(data_ref(merge.name, 1), chosen.name)
            because(chosen.name, f"which input of {merge.name} arrives: always {position}, the branch taken")
        target = source if split_ref(ref)[0] == switch.name else ref
        g.splice_out(merge.name, to=target)
        because(merge.name, f"Merge of the tf.cond at {switch.name}: only the branch taken reaches it, readers now read {target}")
    for name in dead:
        for user in g.users(name):
            if user.name not in dead:
                g.set_inputs(user, [r for r in user.input if r != "^" + name])
    for name in sorted(dead):
        g.remove(name)
    because(sorted(dead), f"in the tf.cond branch {switch.name}'s constant predicate ({str(pred).lower()}) never takes")
    g.rewire(taken, source)
    g.remove(switch.name)
    because(switch.name, f"Switch on a constant predicate ({str(pred).lower()}): readers of the branch taken read {source}")
    return (f"{switch.name}: predicate always {str(pred).lower()}, {len(dead)} nodes of the branch never taken removed"
            + (f", {len(forwarded)} Merge forwarded" if forwarded else ""))


def _is_dead(ref: str, switch: str, dead_port: int, dead: set[str]) -> bool:
    name, port = split_ref(ref)
    return name in dead or (name == switch and port == dead_port)
