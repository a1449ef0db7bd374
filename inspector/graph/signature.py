"""A graph's signature, decided here for every command: its inputs, which placeholders are auxiliary, and its outputs (graph/names.py resolves names a user gives against it).

Everything is read from the GraphDef's structure (no TensorFlow, no node
names): which placeholders the outputs are computed from, which ones only feed
a loss, which sinks are training leftovers, losses, metrics or side branches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.ops import (
    CONST_OPS, DECODE_OPS, DEFAULT_PLACEHOLDER_OPS, ELEMENTWISE_ARITHMETIC_OPS, FEED_OPS, IDENTITY_OPS, LOSS_OPS,
    NOT_OUTPUT_OPS, PLACEHOLDER_OPS, RESIZE_OPS, dtype_name,
)
from inspector.graph.refs import split_ref
from inspector.graph.losses import (
    TRAINING_FIX, for_loss, for_loss_reason, logits_of_losses, loss_use, training_reason, training_side,
)
from inspector.graph.settings import DROPOUT_RATE, KEEP_PROB, TRAINING_FLAG, Setting, classify
from inspector.graph.table import NodeTable

# InputSpec.role: what a placeholder is for (InputSpec.purpose says which setting a SCALAR is).
MODEL = "model"        # data the outputs are computed from: an image, or another tensor
SCALAR = "scalar"      # one number or flag: a dropout keep probability or rate, a training flag, a learning rate
LABEL = "label"        # reaches only the labels of a loss: training data, never fed at inference
ENCODED = "encoded"    # image bytes decoded inside the graph; the decoded float image is the model input
OPTIONAL = "optional"  # a PlaceholderWithDefault: fed only to bypass what computes its default

# A side branch: a sink with at most this many ops of its own (constants and identities aside) and no weights.
SIDE_BRANCH_MAX_OPS = 4

_FLOAT_DTYPES = frozenset({DataType.DT_FLOAT, DataType.DT_HALF, DataType.DT_DOUBLE, DataType.DT_BFLOAT16})
# Constants of these types hold shapes, axes and flags; any other constant with more than one element is weights.
_INDEX_DTYPES = frozenset({DataType.DT_INT32, DataType.DT_INT64, DataType.DT_BOOL, DataType.DT_STRING})


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """A placeholder (or the float image a graph decodes from bytes) and what it is for."""

    name: str
    op: str
    dtype: str                        # "float", "int32", "string", ...
    shape: tuple[int, ...] | None     # None: unknown rank; -1: unknown dimension
    role: str = MODEL
    channels: int | None = None       # an image's last dimension, when known
    decoded_from: str | None = None   # the ENCODED placeholder this image is decoded from
    needed: bool = True               # an output depends on it (an auxiliary one must then be fed a value)
    why: str = ""                     # how an auxiliary or optional input was told from a model input
    value: float | bool | None = None  # what an auxiliary input takes at inference (keep probability 1.0, ...); None: unknown
    purpose: str = ""                 # KEEP_PROB, DROPOUT_RATE, TRAINING_FLAG (graph/settings.py), or ""

    @property
    def is_float(self) -> bool:
        return self.dtype in ("float", "half", "double", "bfloat16")

    def to_json(self) -> dict:
        return {
            "name": self.name, "op": self.op, "dtype": self.dtype,
            "shape": list(self.shape) if self.shape is not None else None,
            "role": self.role, "channels": self.channels, "decoded_from": self.decoded_from,
            "needed": self.needed, "why": self.why, "value": self.value, "purpose": self.purpose,
        }


@dataclass(frozen=True)
class OutputSpec:
    """An output: a node nothing at inference reads that is neither a constant nor a no-op nor a training leftover."""

    name: str
    op: str

    def to_json(self) -> dict:
        return {"name": self.name, "op": self.op}


@dataclass(frozen=True)
class LeftOut:
    """A sink or placeholder that is not an output or model input, and why."""

    name: str
    op: str
    reason: str

    def to_json(self) -> dict:
        return {"name": self.name, "op": self.op, "reason": self.reason}


@dataclass(frozen=True)
class Signature:
    """What a graph takes and gives. Several ``outputs`` means the graph is ambiguous: commands ask for names."""

    inputs: tuple[InputSpec, ...]      # model inputs, in graph order
    auxiliary: tuple[InputSpec, ...]   # scalars, labels and encoded bytes (see role)
    optional: tuple[InputSpec, ...]    # PlaceholderWithDefault
    outputs: tuple[OutputSpec, ...]
    left_out: tuple[LeftOut, ...]      # sinks and placeholders that are neither, with the reason

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    @property
    def ambiguous(self) -> bool:
        return len(self.outputs) > 1

    @property
    def inference_values(self) -> dict[str, float | bool]:
        """Needed auxiliary inputs whose inference value the graph tells, name -> value: what every runner feeds."""
        return {s.name: s.value for s in self.auxiliary if s.needed and s.value is not None}

    @property
    def unfed(self) -> tuple[InputSpec, ...]:
        """Needed auxiliary inputs whose inference value the graph does not tell: the user must feed them."""
        return tuple(s for s in self.auxiliary if s.needed and s.value is None)

    def spec(self, name: str) -> InputSpec | None:
        """The input, auxiliary or optional input called ``name``, if it is one."""
        return next((s for s in self.inputs + self.auxiliary + self.optional if s.name == name), None)

    def to_json(self) -> dict:
        return {
            "inputs": [s.to_json() for s in self.inputs],
            "auxiliary": [s.to_json() for s in self.auxiliary],
            "optional": [s.to_json() for s in self.optional],
            "outputs": [o.to_json() for o in self.outputs],
            "left_out": [x.to_json() for x in self.left_out],
            "inference_values": self.inference_values,
            "unfed": [s.name for s in self.unfed],
        }


# --- inputs -----------------------------------------------------------------------------


def _declared_shape(node: NodeDef) -> tuple[int, ...] | None:
    if "shape" in node.attr:
        proto = node.attr["shape"].shape
    elif "_output_shapes" in node.attr and node.attr["_output_shapes"].list.shape:
        proto = node.attr["_output_shapes"].list.shape[0]
    else:
        return None
    return None if proto.unknown_rank else tuple(d.size for d in proto.dim)


def _dtype_text(value: int) -> str:
    return dtype_name(value).removeprefix("DT_").lower()


def _channels(shape: tuple[int, ...] | None) -> int | None:
    return shape[3] if shape is not None and len(shape) == 4 and shape[3] > 0 else None


def placeholder_spec(node: NodeDef, *, role: str = MODEL, needed: bool = True, why: str = "",
                     setting: Setting | None = None) -> InputSpec:
    """A placeholder's name, dtype and declared shape (its ``shape`` attr, else ``_output_shapes``); ``setting`` what it sets."""
    dtype = _dtype_text(node.attr["dtype"].type) if "dtype" in node.attr else "?"
    shape = _declared_shape(node)
    value = setting.value if setting is not None else None
    if isinstance(value, float) and dtype == "bool":
        value = bool(value)
    return InputSpec(name=node.name, op=node.op, dtype=dtype, shape=shape, role=role, channels=_channels(shape),
                     needed=needed, why=setting.why if setting is not None else why, value=value,
                     purpose=setting.purpose if setting is not None else "")


def _node_dtype(node: NodeDef) -> int | None:
    for key in ("DstT", "T", "dtype", "out_type"):
        if key in node.attr and node.attr[key].type:
            return node.attr[key].type
    return None


def _const_ints(node: NodeDef | None) -> list[int] | None:
    if node is None or node.op not in CONST_OPS or "value" not in node.attr:
        return None
    tensor = node.attr["value"].tensor
    if tensor.int_val:
        return list(tensor.int_val)
    if tensor.tensor_content and tensor.dtype == DataType.DT_INT32:
        return [int(v) for v in np.frombuffer(tensor.tensor_content, dtype="<i4")]
    return None


def _decoded_image(view: NodeTable, placeholder: NodeDef) -> InputSpec | None:
    """The float [N, H, W, C] image a chain decode -> cast/expand/resize -> (x - a) / b makes of image bytes.

    The chain is followed while each step has one reader and every other operand
    is constant; the image is where it ends (the network reads it there), if by
    then it is float and four-dimensional.
    """
    decoders = [r for r, _, _ in view.data_readers(placeholder.name) if r.op in DECODE_OPS]
    if len(decoders) != 1 or len(view.data_readers(placeholder.name)) != 1:
        return None
    decode = decoders[0]
    channels = decode.attr["channels"].i if "channels" in decode.attr else 0
    rank: int | None = 4 if decode.op == "DecodeGif" else 3
    dtype = _node_dtype(decode) or DataType.DT_UINT8
    batch, height, width = -1, -1, -1
    chain = {placeholder.name, decode.name}
    node = decode
    while True:
        readers = view.data_readers(node.name)
        if len(readers) != 1:
            break
        reader, slot, _ = readers[0]
        others = [split_ref(raw)[0] for i, raw in enumerate(reader.input) if i != slot and not raw.startswith("^")]
        if any(_reads_data(view, other, chain) for other in others):
            break
        if reader.op == "Cast" and slot == 0:
            dtype = reader.attr["DstT"].type
        elif reader.op == "ExpandDims" and slot == 0 and rank is not None:
            axis = _const_ints(view.nodes.get(others[0])) if others else None
            batch = 1 if axis == [0] else batch
            rank += 1
        elif reader.op in RESIZE_OPS and slot == 0 and rank in (4, None):
            size = _const_ints(view.nodes.get(others[0])) if others else None
            if size is not None and len(size) == 2:
                height, width = size
            rank = 4
            if reader.op != "ResizeNearestNeighbor":
                dtype = DataType.DT_FLOAT
        elif reader.op in ELEMENTWISE_ARITHMETIC_OPS:
            dtype = _node_dtype(reader) or dtype
        else:
            break
        chain.add(reader.name)
        node = reader
    if rank != 4 or dtype not in _FLOAT_DTYPES or node is decode:
        return None
    shape = _declared_shape(node) if "_output_shapes" in node.attr else (batch, height, width, channels if channels > 0 else -1)
    return InputSpec(
        name=node.name, op=node.op, dtype=_dtype_text(dtype), shape=shape, role=MODEL,
        channels=_channels(shape) or (channels if channels > 0 else None), decoded_from=placeholder.name,
        why=f"the float image {decode.op} makes of {placeholder.name}'s bytes (after its resize and normalisation)",
    )


def _reads_data(view: NodeTable, name: str, chain: set[str]) -> bool:
    """``name`` is computed from a placeholder or from the chain itself (not a constant operand)."""
    return any(n in chain or view.nodes[n].op in FEED_OPS for n in view.upstream([name]))


# --- outputs ------------------------------------------------------------------------------


def _light(view: NodeTable, own: set[str]) -> int | None:
    """The op count of a computation that has few ops and no weights (nor a feed) of its own, else None."""
    ops = 0
    for name in own:
        node = view.nodes[name]
        if node.op in FEED_OPS:
            return None
        if node.op in CONST_OPS:
            tensor = node.attr["value"].tensor if "value" in node.attr else None
            if tensor is not None and tensor.dtype not in _INDEX_DTYPES and _elements(tensor) > 1:
                return None
        elif node.op not in IDENTITY_OPS:
            ops += 1
    return ops if ops <= SIDE_BRANCH_MAX_OPS else None


def _elements(tensor) -> int:
    dims = [d.size for d in tensor.tensor_shape.dim]
    return int(np.prod([d for d in dims if d >= 0])) if dims else 1


def _side_branches(view: NodeTable, names: list[str], ups: dict[str, set[str]]) -> dict[str, tuple[str, int]]:
    """Sinks that only re-present a value another sink's computation has: name -> (that sink, own op count).

    A retrained MobileNet can keep the base model's Predictions softmax beside the new
    head: its own computation is a Softmax and a Reshape off the logits the head reads,
    while the head has weights of its own. Two light sinks (Softmax and ArgMax of the
    same logits) stay: which one is wanted is for the user to say.
    """
    if len(names) < 2:
        return {}
    count = Counter(n for name in names for n in ups[name])
    light = {name: _light(view, {n for n in ups[name] if count[n] == 1}) for name in names}
    # For each computing node, the first heavy sink (in ``names`` order) whose computation has it:
    # one pass over the upstream sets, not a comparison of every pair of sinks.
    first_heavy: dict[str, int] = {}
    for i, name in enumerate(names):
        if light[name] is None:
            for n in ups[name]:
                first_heavy.setdefault(n, i)
    found: dict[str, tuple[str, int]] = {}
    for name in names:
        size = light[name]
        if size is None:
            continue
        shared = [first_heavy[n] for n in ups[name] if n in first_heavy and view.nodes[n].op not in CONST_OPS]
        if shared:
            found[name] = (names[min(shared)], size)
    return found


def signature(graph: GraphDef, *, table: NodeTable | None = None) -> Signature:
    """The graph's inputs, auxiliary and optional placeholders, outputs, and what was left out; protobuf only.

    Outputs are sinks no inference node reads, that are not constants, no-ops or
    training leftovers, not a loss or what reads one, not computed only for a loss
    or a metric, that read no label, depend on a model input, and are not a light
    side branch of another output's computation; with none left, the logits a loss
    reads. Model inputs are the placeholders those outputs are computed from that
    are neither settings (graph/settings.py: dropout keep probabilities and rates,
    training flags, other scalars) nor labels; a placeholder of image bytes decoded
    in the graph gives way to the float image it is decoded to.

    ``table``: the graph's NodeTable, when the caller has built it already.
    """
    view = table if table is not None else NodeTable(graph)
    training = training_side(view)
    left: list[LeftOut] = []

    placeholders = [n for n in view.nodes.values() if n.op in PLACEHOLDER_OPS and not n.input]
    scalars: list[tuple[NodeDef, Setting | None]] = []
    labels: dict[str, str] = {}
    data: list[NodeDef] = []
    for node in placeholders:
        setting = classify(view, node) if _may_be_setting(node) else None
        if setting is not None:
            scalars.append((node, setting))
            continue
        # A string scalar is data (the image bytes retrain.py's Inception v3 graphs decode), not a setting.
        if _declared_shape(node) == () and node.attr["dtype"].type != DataType.DT_STRING:
            scalars.append((node, None))
            continue
        kinds, loss = loss_use(view, node.name, training)
        if kinds == {"labels"} and loss is not None:
            labels[node.name] = loss
        else:
            data.append(node)
    label_down = {name: view.downstream([name]) for name in labels}
    label_side = set().union(*label_down.values()) - set(labels)
    losses = view.downstream(n.name for n in view.nodes.values() if n.op in LOSS_OPS) | label_side
    loss_only = for_loss(view, losses, training - losses)

    candidates: list[NodeDef] = []
    for node in view.nodes.values():
        if node.op in FEED_OPS:
            continue
        readers = view.readers.get(node.name, ())
        if node.name in training:
            if not readers and node.op not in CONST_OPS:
                reason = ("used only while training" if training_reason(node) is not None
                          else "part of a loss or the training step")
                left.append(LeftOut(node.name, node.op, reason))
            continue
        if node.name in loss_only:
            reason = for_loss_reason(view, node, training, label_side, loss_only, label_down)
            if reason is not None:
                left.append(LeftOut(node.name, node.op, reason))
            continue
        if any(r.name not in training for r, _, _ in readers):
            continue
        if node.op in NOT_OUTPUT_OPS:
            if node.op not in CONST_OPS:
                left.append(LeftOut(node.name, node.op, f"a {node.op}, never a model output"))
            continue
        candidates.append(node)
    if not any(n.name not in label_side for n in candidates):
        listed = {x.name for x in left}
        for logits, loss, steps in logits_of_losses(view, loss_only):
            candidates.append(logits)
            left += [LeftOut(step.name, step.op, f"computed only for the loss {loss.name} ({loss.op}), which inference "
                             "does not compute") for step in steps if step.name not in listed]
    optional_nodes = [n for n in view.nodes.values() if n.op in DEFAULT_PLACEHOLDER_OPS]
    required = {n.name for n in data} or {n.name for n in optional_nodes}

    kept: list[str] = []
    ups: dict[str, set[str]] = {}
    for node in candidates:
        up = view.upstream([node.name])
        read = sorted(up & set(labels), key=view.order.__getitem__)
        if read:
            left.append(LeftOut(node.name, node.op, f"reads the label {read[0]}: a loss or a metric, which inference cannot compute"))
            continue
        if required and not up & required:
            shown = ", ".join(sorted(required, key=view.order.__getitem__))
            left.append(LeftOut(node.name, node.op, f"computes nothing from the model's inputs ({shown})"))
            continue
        kept.append(node.name)
        ups[node.name] = up
    side = _side_branches(view, kept, ups)
    for name, (other, size) in side.items():
        left.append(LeftOut(name, view.nodes[name].op,
                            f"a side branch off {other}'s computation ({size} ops of its own, no weights)"))
    outputs = tuple(OutputSpec(name, view.nodes[name].op) for name in kept if name not in side)
    needed = set().union(*(ups[o.name] for o in outputs)) if outputs else None

    def is_needed(name: str) -> bool:
        return needed is None or name in needed

    inputs: list[InputSpec] = []
    auxiliary: list[tuple[int, InputSpec]] = []
    for node in data:
        if not is_needed(node.name):
            left.append(LeftOut(node.name, node.op, "a placeholder no output depends on"))
            continue
        spec = placeholder_spec(node)
        image = _decoded_image(view, node) if spec.dtype == "string" else None
        if image is None:
            inputs.append(spec)
            continue
        inputs.append(image)
        auxiliary.append((view.order[node.name], placeholder_spec(
            node, role=ENCODED, needed=False, why=f"image bytes decoded inside the graph; {image.name} is the image fed instead")))
    for node, setting in scalars:
        auxiliary.append((view.order[node.name], placeholder_spec(
            node, role=SCALAR, needed=is_needed(node.name) and needed is not None, setting=setting,
            why="a scalar (shape []): a setting such as a learning rate, not data; its value at inference is not in the graph")))
    for name, loss in labels.items():
        auxiliary.append((view.order[name], placeholder_spec(
            view.nodes[name], role=LABEL, needed=False,
            why=f"reaches only the labels of {loss} ({view.nodes[loss].op}): training data, not an inference input")))
    optional = tuple(
        placeholder_spec(n, role=OPTIONAL, needed=needed is not None and n.name in needed,
                         why="has a default (PlaceholderWithDefault): fed only to bypass what computes it")
        for n in optional_nodes
    )
    left.sort(key=lambda x: view.order.get(x.name, 0))
    return Signature(
        inputs=tuple(inputs),
        auxiliary=tuple(spec for _, spec in sorted(auxiliary, key=lambda pair: pair[0])),
        optional=optional,
        outputs=outputs,
        left_out=tuple(left),
    )


def _may_be_setting(node: NodeDef) -> bool:
    """Declared as one value (shape [], [1], [1, 1]) or without a shape: TF1's ``tf.placeholder(tf.float32)``."""
    shape = _declared_shape(node)
    return shape is None or all(d == 1 for d in shape)


__all__ = [
    "signature",
    "Signature",
    "InputSpec",
    "OutputSpec",
    "LeftOut",
    "placeholder_spec",
    "training_reason",
    "MODEL",
    "SCALAR",
    "LABEL",
    "ENCODED",
    "OPTIONAL",
    "TRAINING_FIX",
    "KEEP_PROB",
    "DROPOUT_RATE",
    "TRAINING_FLAG",
]
