"""The working graph the passes edit: nodes by name, who reads whom, rewiring, pruning, constants."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from typing import TypeVar

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType
from tensorboard.util import tensor_util

from inspector.graph.ops import DTYPE_BYTES, LOOP_BACK_OPS
from inspector.graph.refs import CONTROL, data_ref, node_of, reach, split_ref

T = TypeVar("T")


class GraphEditError(RuntimeError):
    """An edit the working graph cannot make: a bug in the pass that asked, never the user's input.

    The optimizer checks a graph (unique names, every input present, imports into
    TensorFlow) before any pass edits it, so no graph a user gives can lead here;
    like any other bug it keeps its traceback instead of becoming an InspectorError.
    """


State = tuple[str, tuple[str, ...]] | None  # (op, inputs) of a node; None: no such node


class WorkGraph:
    """A mutable copy of a GraphDef that keeps a reverse index (who reads each node) up to date.

    Every edit goes through its methods, so it also knows what changed: a
    version that any edit bumps (for results cached until the next edit,
    :meth:`cached`) and each touched node's state before the edits since the
    last :meth:`take_changes`, so a pass's report costs what the pass touched,
    not a walk of the graph.
    """

    def __init__(self, graph: GraphDef) -> None:
        self._nodes: dict[str, NodeDef] = {}
        self._users: dict[str, dict[str, None]] = {}
        self._version = 0
        self._before: dict[str, State] = {}
        self._cache: dict[str, tuple[int, object]] = {}
        self._versions = graph.versions
        # Since the last prune: the nodes that lost a reader, or came new (the only ones a prune may find dead);
        # and what that prune kept, and whether the graph may hold a cycle (which only a walk from the outputs sees dead).
        self._lost: dict[str, None] = {}
        self._pruned: frozenset[str] | None = None
        self._looped = True
        self._library = graph.library
        # Each node's inputs as a tuple, kept as edits set them: protobuf makes a new string for every
        # reference each time a node's inputs are read, and the passes read every node's again and again.
        self._inputs: dict[str, tuple[str, ...]] = {}
        for source in graph.node:
            node = NodeDef()
            node.CopyFrom(source)
            self._nodes[node.name] = node
            self._inputs[node.name] = tuple(node.input)
            self._users.setdefault(node.name, {})
        for name, refs in self._inputs.items():
            for ref in refs:
                self._users.setdefault(node_of(ref), {})[name] = None

    # --- reading -------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __iter__(self) -> Iterator[NodeDef]:
        # A snapshot, so passes may edit the graph while they walk it.
        return iter(list(self._nodes.values()))

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, name: str) -> NodeDef:
        return self._nodes[name]

    def inputs(self, name: str) -> tuple[str, ...]:
        """The input references of node ``name`` (as ``node.input``, read without protobuf)."""
        return self._inputs[name]

    def _refs(self, node: NodeDef) -> tuple[str, ...] | Iterable[str]:
        # A node of this graph is read from the tuples; any other (a copy, one not added yet) from itself.
        return self._inputs[node.name] if self._nodes.get(node.name) is node else node.input

    def has_functions(self) -> bool:
        """Whether the graph's library defines functions (which TensorFlow checks at every import of it)."""
        return len(self._library.function) > 0

    def get(self, name: str) -> NodeDef | None:
        return self._nodes.get(name)

    def producer(self, ref: str) -> NodeDef | None:
        return self._nodes.get(node_of(ref))

    def users(self, name: str) -> list[NodeDef]:
        """Nodes that read ``name`` through a data or a control edge."""
        return [self._nodes[u] for u in self._users.get(name, {}) if u in self._nodes]

    def data_users(self, name: str) -> list[tuple[NodeDef, int, int]]:
        """(reader, input index, port read) for every data edge out of ``name``."""
        found = []
        for user in self.users(name):
            for index, ref in enumerate(self._inputs[user.name]):
                if ref[:1] == "^" or not ref.startswith(name):
                    continue  # a control edge, or another node's tensor
                source, port = (ref, 0) if ":" not in ref else split_ref(ref)
                if source == name:
                    found.append((user, index, port))
        return found

    def only_reader(self, name: str, protected: Iterable[str] = ()) -> NodeDef | None:
        """The single node reading ``name`` (once, at port 0, no control edges), or None."""
        if name in set(protected):
            return None
        readers = self.users(name)
        if len(readers) != 1:
            return None
        reads = [ref for ref in self._inputs[readers[0].name] if node_of(ref) == name]
        if len(reads) != 1 or split_ref(reads[0])[1] != 0:
            return None
        return readers[0]

    def data_inputs(self, node: NodeDef) -> list[str]:
        return [ref for ref in self._refs(node) if not ref.startswith("^")]

    def control_inputs(self, node: NodeDef) -> list[str]:
        return [ref[1:] for ref in self._refs(node) if ref.startswith("^")]

    # --- editing -------------------------------------------------------------

    # --- what changed ---------------------------------------------------------

    def _touch(self, name: str) -> None:
        self._version += 1
        if self._cache:  # what was worked out from the graph before goes at its first edit (a helper's import too)
            self._cache.clear()
        if name not in self._before:
            node = self._nodes.get(name)
            self._before[name] = None if node is None else (node.op, self._inputs[name])

    def take_changes(self) -> dict[str, tuple[State, State]]:
        """Each node edited since the last call: (state before, state now), in the order first touched; then forgets them."""
        changes = {}
        for name, before in self._before.items():
            node = self._nodes.get(name)
            now = None if node is None else (node.op, self._inputs[name])
            if now != before:
                changes[name] = (before, now)
        self._before = {}
        return changes

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``, remembered under ``key`` until the graph is next edited."""
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self._version:
            return hit[1]  # type: ignore[return-value]
        value = compute()
        self._cache[key] = (self._version, value)
        return value

    # --- editing --------------------------------------------------------------

    def add(self, node: NodeDef) -> NodeDef:
        if node.name in self._nodes:
            raise GraphEditError(f"node {node.name!r} already exists")
        self._touch(node.name)
        self._nodes[node.name] = node
        refs = self._inputs[node.name] = tuple(node.input)
        self._users.setdefault(node.name, {})
        self._lost[node.name] = None
        for ref in refs:
            self._users.setdefault(node_of(ref), {})[node.name] = None
        return node

    def replace(self, node: NodeDef) -> NodeDef:
        """Put ``node`` in place of the node of the same name (its readers keep reading that name)."""
        self._touch(node.name)
        self._unindex(self._nodes[node.name])
        self._nodes[node.name] = node
        refs = self._inputs[node.name] = tuple(node.input)
        for ref in refs:
            self._users.setdefault(node_of(ref), {})[node.name] = None
        return node

    def remove(self, name: str) -> None:
        self._touch(name)
        self._unindex(self._nodes[name])
        del self._nodes[name], self._inputs[name]

    def set_inputs(self, node: NodeDef, inputs: Iterable[str]) -> None:
        """Data inputs in order, then control inputs without duplicates or ones a data edge implies."""
        name = node.name
        data: list[str] = []
        control: list[str] = []
        for ref in inputs:
            if ref[:1] == "^":
                source = ref[1:]
                if source != name and source not in control:
                    control.append(source)
            elif ":" in ref:  # "a:0" is written "a"
                data.append(data_ref(*split_ref(ref)))
            else:  # the common case, a bare name, as it is: every pass rewires through here
                data.append(ref)
        if control:
            fed = {node_of(ref) for ref in data}
            data.extend("^" + c for c in control if c not in fed)
        self._touch(name)
        self._unindex(node)
        if self._nodes.get(name) is node:
            self._inputs[name] = tuple(data)
        del node.input[:]
        node.input.extend(data)
        users = self._users
        for ref in data:
            users.setdefault(node_of(ref), {})[name] = None

    def rewire(self, old: str, new: str) -> int:
        """Every data edge that reads tensor ``old`` reads ``new`` instead; returns how many."""
        source, port = split_ref(old)
        count = 0
        for user in self.users(source):
            changed = False
            refs = list(self._inputs[user.name])
            for index, ref in enumerate(refs):
                if split_ref(ref) == (source, port):
                    refs[index] = new
                    changed = True
                    count += 1
            if changed:
                self.set_inputs(user, refs)
        return count

    def splice_out(self, name: str, *, to: str) -> None:
        """Remove an identity-like node: readers of its output read ``to``; its own control inputs move to its readers."""
        node = self._nodes[name]
        carried = ["^" + c for c in self.control_inputs(node)]
        target = node_of(to)
        # Every reader's new inputs first: a reader of a second output refuses the edit before anything changed.
        rewired = []
        for user in self.users(name):
            refs = []
            for ref in self._inputs[user.name]:
                source, port = (ref, 0) if ":" not in ref and ref[:1] != "^" else split_ref(ref)
                if source != name:
                    refs.append(ref)
                elif port == CONTROL:
                    refs.append("^" + target)
                elif port == 0:
                    refs.append(to)
                else:
                    raise GraphEditError(f"{user.name} reads a second output of {name}, which has only one to forward")
            rewired.append((user, refs))
        for user, refs in rewired:
            self.set_inputs(user, refs + carried)
        self.remove(name)

    def unique_name(self, base: str) -> str:
        if base not in self._nodes:
            return base
        index = 1
        while f"{base}_{index}" in self._nodes:
            index += 1
        return f"{base}_{index}"

    def prune(self, keep: Iterable[str]) -> int:
        """Remove every node that ``keep`` does not reach through data or control edges.

        After a first prune the graph holds only what ``keep`` reaches, so a
        node dies only by losing readers: the next prune with the same ``keep``
        looks from the nodes that lost one (:meth:`_unread`), not at the whole
        graph, unless a loop's back edge could make a dead cycle, whose nodes
        keep each other read.
        """
        keep = frozenset(keep)
        if keep == self._pruned and not self._looped:
            dead = self._unread(keep)
        else:
            seen = reach(self._nodes, keep)
            dead = {name for name in self._nodes if name not in seen}
            self._looped = any(node.op in LOOP_BACK_OPS for node in self._nodes.values())
        # Removed in graph order, whichever way they were found: the pass's report lists them so.
        ordered = [name for name in self._nodes if name in dead] if dead else []
        for name in ordered:
            self.remove(name)
        self._pruned, self._lost = keep, {}
        return len(ordered)

    def _unread(self, keep: frozenset[str]) -> set[str]:
        """The nodes that lost readers since the last prune and now have none, and what then only they read."""
        dead: set[str] = set()
        stack = list(self._lost)
        while stack:
            name = stack.pop()
            node = self._nodes.get(name)
            if node is None or name in dead or name in keep:
                continue
            if any(user in self._nodes and user not in dead for user in self._users.get(name, ())):
                continue
            dead.add(name)
            stack.extend(node_of(ref) for ref in self._inputs[name])
        return dead

    def drop_idle_controls(self) -> int:
        """Drop control edges from nodes that do nothing when run: input-less Const and NoOp.

        In a frozen inference graph such an edge orders nothing; keeping it would
        keep dead NoOps and constants alive.
        """
        dropped = 0
        # Only nodes with a control input can lose one (none is added here), so later rounds look at those alone.
        pending = [self._nodes[name] for name, refs in self._inputs.items() if any(ref[:1] == "^" for ref in refs)]
        changed = True
        while changed:
            changed = False
            for node in pending:
                idle = [c for c in self.control_inputs(node) if self._is_idle(c)]
                if idle:
                    self.set_inputs(node, [ref for ref in self._inputs[node.name] if ref[1:] not in idle or not ref.startswith("^")])
                    dropped += len(idle)
                    changed = True
        return dropped

    def _is_idle(self, name: str) -> bool:
        node = self._nodes.get(name)
        return node is not None and node.op in ("Const", "NoOp") and not self._inputs[name]

    def _unindex(self, node: NodeDef) -> None:
        lost, index, name = self._lost, self._users, node.name
        for ref in self._refs(node):
            source = ref if ref[:1] != "^" and ":" not in ref else node_of(ref)
            users = index.get(source)
            if users is not None:
                users.pop(name, None)
                lost[source] = None

    # --- output --------------------------------------------------------------

    def to_graphdef(self) -> GraphDef:
        """Nodes in a stable topological order (producers first), versions and library kept."""
        graph = GraphDef()
        graph.versions.CopyFrom(self._versions)
        graph.library.CopyFrom(self._library)
        for name in self._order():
            node = graph.node.add()
            node.CopyFrom(self._nodes[name])
            if "_class" in node.attr:
                drop_dangling_colocation(node, self._nodes)
        return graph

    def _order(self) -> Iterable[str]:
        """The nodes producers first: as they stand when they stand so (the walk below then gives the same order)."""
        nodes, inputs = self._nodes, self._inputs
        seen: set[str] = set()
        for name in nodes:
            for ref in inputs[name]:
                source = ref if ref[:1] != "^" and ":" not in ref else node_of(ref)
                if source not in seen and source in nodes:
                    return self._walked_order()
            seen.add(name)
        return nodes

    def _walked_order(self) -> list[str]:
        # Depth first from each node in turn, each emitted after its inputs: a node already after its inputs stays put.
        order: list[str] = []
        state: dict[str, int] = {}
        for root in self._nodes:
            if root in state:
                continue
            stack: list[tuple[str, bool]] = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if name in state:
                    continue
                state[name] = 1
                stack.append((name, True))
                for ref in reversed(self._inputs[name]):
                    source = node_of(ref)
                    if source in self._nodes and source not in state:
                        stack.append((source, False))
        return order


def drop_dangling_colocation(node: NodeDef, names: Container[str]) -> None:
    """``node``'s colocation (its ``_class``) with nodes not in ``names`` dropped: TensorFlow refuses to import it."""
    wanted = node.attr["_class"].list.s
    kept = [s for s in wanted if not s.startswith(b"loc:@") or s[5:].decode("utf-8", "replace") in names]
    if len(kept) == len(wanted):
        return
    if kept:
        del wanted[:]
        wanted.extend(kept)
    else:
        del node.attr["_class"]


# --- constants ------------------------------------------------------------------


# A Const's value becomes a NumPy array only up to this size, unless the file
# spells every element out. A few bytes of proto can claim a huge shape filled
# from one value (a "splat": one float_val, shape [25000, 40000]) or from none;
# expanding it would take memory the file never held, so such a Const counts as
# not constant: no pass reads its value and constant folding leaves it.
CONST_VALUE_LIMIT = 64 * 2**20
# The repeated fields a TensorProto holds its values in (float_val, int_val, ...).
_VALUE_FIELDS = tuple(f.name for f in TensorProto.DESCRIPTOR.fields if f.name.endswith("_val"))


_NO_ATTR = AttrValue()


def attr_value(node: NodeDef, key: str) -> AttrValue:
    """``node.attr[key]`` for reading: an absent attribute reads as empty instead of being added.

    Indexing the attr map adds the key with no value, and a graph with a valueless
    attribute fails TensorFlow's C++ loader (and the TFLite converter).
    """
    return node.attr[key] if key in node.attr else _NO_ATTR


# The native-order NumPy dtypes of TensorFlow types whose values a TensorProto can hold as raw bytes
# (``tensor_content``), as make_ndarray reads them and make_tensor_proto writes them.
CONTENT_DTYPES: dict[np.dtype, int] = {
    np.dtype(np.float16): DataType.DT_HALF, np.dtype(np.float32): DataType.DT_FLOAT,
    np.dtype(np.float64): DataType.DT_DOUBLE, np.dtype(np.int32): DataType.DT_INT32,
    np.dtype(np.uint8): DataType.DT_UINT8, np.dtype(np.int16): DataType.DT_INT16,
    np.dtype(np.int8): DataType.DT_INT8, np.dtype(np.int64): DataType.DT_INT64,
}
_CONTENT_NUMPY = {dtype: numpy for numpy, dtype in CONTENT_DTYPES.items()}


def const_value(node: NodeDef | None) -> np.ndarray | None:
    """The value of a Const node as a NumPy array, or None for anything else (or a splat too big to expand)."""
    if node is None or node.op != "Const" or "value" not in node.attr:
        return None
    tensor = node.attr["value"].tensor
    if unexpanded_bytes(tensor):
        return None
    numpy = _CONTENT_NUMPY.get(tensor.dtype) if tensor.tensor_content else None
    if numpy is not None:
        # make_ndarray's own reading of raw bytes, without its ~10 µs of dtype lookups a call (passes read every Const).
        try:
            return np.frombuffer(tensor.tensor_content, dtype=numpy).copy().reshape([d.size for d in tensor.tensor_shape.dim])
        except ValueError:
            return None
    try:
        return tensor_util.make_ndarray(tensor)
    except (TypeError, ValueError):
        return None


def unexpanded_bytes(tensor: TensorProto) -> int:
    """Bytes ``tensor``'s value would take as an array when that is over CONST_VALUE_LIMIT and the file does not hold them; else 0."""
    elements = 1
    for dim in tensor.tensor_shape.dim:
        elements *= max(dim.size, 0)
    width = DTYPE_BYTES.get(tensor.dtype, 8)  # strings: one object pointer each
    if elements * width <= CONST_VALUE_LIMIT:
        return 0
    if tensor.tensor_content:
        held = len(tensor.tensor_content) // width
    else:
        held = max(len(getattr(tensor, field)) for field in _VALUE_FIELDS)
    # A value written out in full costs about what the file already did.
    return 0 if held >= elements else elements * width


def content_tensor(value: np.ndarray, *, half: bool) -> TensorProto | None:
    """``value`` as make_tensor_proto stores an array of two or more plain numbers (raw bytes), or None for any other value.

    Built directly, without make_tensor_proto's ~70 µs of checks a call. ``half``: float16 too, as
    TensorFlow's make_tensor_proto does; TensorBoard's copy of it stores float16 in ``half_val``.
    """
    dtype = CONTENT_DTYPES.get(value.dtype)
    if dtype is None or value.size <= 1 or value.nbytes >= 2**31 or (dtype == DataType.DT_HALF and not half):
        return None
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=size) for size in value.shape])
    return TensorProto(dtype=dtype, tensor_shape=shape, tensor_content=value.tobytes())


def make_const(name: str, value: np.ndarray, *, like: NodeDef | None = None) -> NodeDef:
    """A Const node holding ``value`` (its TensorProto as TensorBoard's make_tensor_proto makes it); ``like`` lends its device."""
    value = np.asarray(value)
    tensor = content_tensor(value, half=False) or tensor_util.make_tensor_proto(value)
    node = const_from_proto(name, tensor)
    if like is not None and like.device:
        node.device = like.device
    return node


def const_from_proto(name: str, tensor: TensorProto) -> NodeDef:
    return NodeDef(
        name=name, op="Const",
        attr={"dtype": AttrValue(type=tensor.dtype), "value": AttrValue(tensor=tensor)},
    )
