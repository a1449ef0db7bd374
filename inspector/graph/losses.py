"""What in a graph serves training only: leftovers, losses and what reads them, labels, what only a loss or a metric computes, and the logits a loss reads.

graph/signature.py decides a graph's signature with these; like it they read the
GraphDef's structure only (the op vocabulary of graph/ops.py; of names, only the
``save/`` and ``gradients`` scopes TensorFlow itself gives its savers and backward passes).
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from inspector.graph.ops import (
    CHECKPOINT_OPS, CONST_OPS, DEBUG_OPS, FEED_OPS, IDENTITY_OPS, LOSS_LABEL_INPUT, LOSS_OPS, OPTIMIZER_PREFIXES,
    SHAPE_OPS, VARIABLE_ACCESS_OPS, is_training_step,
)
from inspector.graph.refs import split_ref
from inspector.graph.table import NodeTable

TRAINING_FIX = "export the inference graph (retrain.py writes it frozen, without training ops), or strip it with inspector's optimizer"

# What a loss does to its logits before it reads them; the fallback output steps back over these.
_RESHAPE_OPS = IDENTITY_OPS | frozenset({"Reshape", "Squeeze", "ExpandDims"})


def training_reason(node: NodeDef) -> str | None:
    """Why ``node`` belongs to training only (with the fix), or None: the one rule for training leftovers."""
    op = node.op
    if not _op_trains(op) and "save/" not in node.name and "gradients" not in node.name:
        return None  # nearly every node: one cached lookup, not eight tests
    if op in VARIABLE_ACCESS_OPS:
        return ("a variable (the graph is not frozen): the phone has no checkpoint to fill it from; "
                "freeze the graph (retrain.py's output graph, or freeze_graph) so weights become constants")
    if op in CHECKPOINT_OPS or node.name.startswith("save/"):
        return f"checkpoint saving/restoring, used only while training; {TRAINING_FIX}"
    if op in DEBUG_OPS:
        return f"a training-time check ({op}) that costs time on every run and is not a TensorFlow Lite op; {TRAINING_FIX}"
    if op.startswith(OPTIMIZER_PREFIXES):
        return f"an optimizer update step, used only while training; {TRAINING_FIX}"
    if op in LOSS_LABEL_INPUT:
        return f"a loss, computed only while training (it reads the labels, which inference has none of); {TRAINING_FIX}"
    if is_training_step(op) or _in_gradients_scope(node.name):
        return f"part of the backward pass (gradients), used only while training; {TRAINING_FIX}"
    return None


@lru_cache(maxsize=4096)
def _op_trains(op: str) -> bool:
    return (op in VARIABLE_ACCESS_OPS or op in CHECKPOINT_OPS or op in DEBUG_OPS or op.startswith(OPTIMIZER_PREFIXES)
            or op in LOSS_LABEL_INPUT or is_training_step(op))


@lru_cache(maxsize=4096)
def _op_steps(op: str) -> bool:
    return is_training_step(op) or op in LOSS_OPS


def _in_gradients_scope(name: str) -> bool:
    # tf.gradients names its scope "gradients", then "gradients_1", ... on later calls.
    return any(p == "gradients" or p.startswith("gradients_") for p in name.split("/")[:-1])


def training_side(view: NodeTable) -> set[str]:
    """Training leftovers, losses and what reads them, except what the inference computation still reads."""
    leftovers = {name for name, node in view.nodes.items() if training_reason(node) is not None}
    steps = [name for name, op in view.ops.items() if _op_steps(op)]
    side = leftovers | view.downstream(steps)
    # A variable behind its /read Identity, or a CheckNumerics in the forward chain, is still computed at inference.
    # Whatever of the side an inference node reads is reached through side nodes from one an inference node reads
    # directly, so the walk stays on the side (it used to walk all of inference upstream).
    read = [name for name in side if any(r.name not in side for r, _, _ in view.readers.get(name, ()))]
    return side - view.upstream(read, within=side)


def loss_use(view: NodeTable, name: str, training: set[str]) -> tuple[set[str], str | None]:
    """Which operands of a loss ("labels", "logits") ``name`` reaches, and one loss node it reaches as labels."""
    if LOSS_LABEL_INPUT.keys().isdisjoint(view.ops.values()):
        return set(), None  # no loss to reach: no walk over everything downstream of ``name``
    inference = set(view.nodes) - training
    kinds: set[str] = set()
    loss: str | None = None
    for reached in view.downstream([name], within=inference | {name}):
        for reader, slot, _ in view.data_readers(reached):
            if reader.op in LOSS_LABEL_INPUT:
                if slot == LOSS_LABEL_INPUT[reader.op]:
                    kinds.add("labels")
                    loss = loss or reader.name
                else:
                    kinds.add("logits")
    return kinds, loss


def for_loss(view: NodeTable, loss_side: set[str], neutral: set[str]) -> set[str]:
    """Nodes that only ``loss_side`` (and ``neutral`` nodes) read, directly or not: a loss's reshape of the logits, a metric's ArgMax.

    The gradients read the whole forward pass, so what they read says nothing:
    they are ``neutral``, and a node only they read is still an output.
    """
    if not loss_side:
        return set()
    counted = loss_side | neutral
    # Per node, its readers' edges still to be found on the loss side; at zero it joins (linear in the edges).
    remaining = {name: sum(1 for r, _, _ in view.readers.get(name, ()) if r.name not in counted) for name in view.nodes}
    queue = deque(name for name in view.nodes if name not in counted and not remaining[name]
                  and any(r.name in loss_side for r, _, _ in view.readers.get(name, ())))
    found: set[str] = set()
    while queue:
        name = queue.popleft()
        if name in found or view.nodes[name].op in FEED_OPS:
            continue
        found.add(name)
        for source, _ in view.inputs[name]:
            if source in view.nodes and source not in counted and source not in found:
                remaining[source] -= 1
                if not remaining[source]:
                    queue.append(source)
    return found


def for_loss_reason(view: NodeTable, node: NodeDef, training: set[str], label_side: set[str], for_loss: set[str],
                     labels: dict[str, set[str]]) -> str | None:
    """Why a node computed only for a loss or metric is no output, for the first such node off the inference computation."""
    readers = [r for r, _, _ in view.readers.get(node.name, ())]
    if node.op in CONST_OPS or node.op in SHAPE_OPS or any(r.name in for_loss for r in readers):
        return None
    reads_inference = any(
        source in view.nodes and source not in training and source not in label_side and source not in for_loss
        and view.nodes[source].op not in CONST_OPS
        for source in (split_ref(raw)[0] for raw in node.input if not raw.startswith("^"))
    )
    if not reads_inference:
        return None
    loss = next((r for r in readers if r.op in LOSS_OPS), None)
    if loss is not None:
        return f"computed only for the loss {loss.name} ({loss.op}), which inference does not compute"
    label = next((name for name, down in labels.items() if any(r.name in down for r in readers)), None)
    if label is not None:
        return f"computed only for a loss or a metric on the label {label}, which inference cannot compute"
    return "computed only for a loss or the training step"


def logits_of_losses(view: NodeTable, for_loss: set[str]) -> list[tuple[NodeDef, NodeDef, list[NodeDef]]]:
    """The logits each loss reads, before its own reshapes: the output when everything else was a loss or a metric.

    Each is (logits, the loss, the reshapes stepped back over).
    """
    found: list[tuple[NodeDef, NodeDef, list[NodeDef]]] = []
    for loss in view.nodes.values():
        if loss.op not in LOSS_LABEL_INPUT or not loss.input:
            continue
        node = view.nodes.get(split_ref(loss.input[0])[0])
        steps: list[NodeDef] = []
        while node is not None and node.name in for_loss and node.op in _RESHAPE_OPS and node not in steps:
            steps.append(node)
            node = view.nodes.get(split_ref(node.input[0])[0]) if node.input else None
        if node is not None and node.op not in FEED_OPS and node.op not in CONST_OPS and all(node is not f[0] for f in found):
            found.append((node, loss, steps))
    return found


__all__ = ["training_reason", "training_side", "loss_use", "for_loss", "for_loss_reason", "logits_of_losses", "TRAINING_FIX"]
