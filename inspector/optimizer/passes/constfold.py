"""Constant folding: evaluate subgraphs fed only by constants (and shapes known statically) into Const nodes."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from math import prod

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.optimizer.passes import inferred, tfrun
from inspector.graph.refs import data_ref, node_of, split_ref
from inspector.files import size_text
from inspector.graph.workgraph import (
    CONST_VALUE_LIMIT, WorkGraph, attr_value, const_from_proto, const_value, make_const, unexpanded_bytes,
)
from inspector.optimizer.passes.context import Because, no_reasons
from inspector.graph.ops import (
    CONST_OPS, CONTROL_FLOW_OPS, DTYPE_BYTES, FEED_OPS, FUNCTION_ARG_OPS, VARIABLE_OPS, VARIABLE_READ_OPS, dtype_name, is_random,
    UnsafeNode, unsafe_nodes,
)

# Feeds, sources and ops whose value is not theirs to fold.
NEVER_FOLD = FEED_OPS | CONST_OPS | FUNCTION_ARG_OPS | CONTROL_FLOW_OPS | VARIABLE_OPS | VARIABLE_READ_OPS | frozenset({"NoOp"})
# The shape ops whose value this pass computes from a static shape.
_MATERIALISED = frozenset({"Shape", "Size", "Rank"})
_UNFOLDABLE_DTYPES = frozenset({DataType.DT_RESOURCE, DataType.DT_VARIANT})
# Folding may make one constant bigger than the constants it came from (Fill,
# BroadcastTo, Tile, a Dequantize of 8-bit weights); up to this size that is
# harmless, beyond it the graph file would grow, so the op stays.
SMALL_BYTES = 64 * 1024


def fold_constants(g: WorkGraph, *, keep: Sequence[str], because: Because = no_reasons) -> list[str]:
    """Replace every constant-valued node that a non-constant node reads by a Const holding its value."""
    splats = _splats(g)
    notes = [_splat_note(node) for node in splats]
    unexpanded = frozenset(node.name for node in splats)
    # The op policy's unsafe nodes are never evaluated, whatever the options: their value
    # is a file's bytes or a Python call's result, and so is the value of all they feed.
    # One GraphDef of the working graph for everything that reads it whole (each conversion copies every node).
    graph = _graphdef(g)
    known: dict[str, np.ndarray] = {}  # values of constants, by name
    found = _unsafe(g, graph)
    unsafe = frozenset(u.node for u in found)
    notes += _unsafe_notes(found)
    if _materialises(graph):
        info = tfrun.shapes(g, graph=graph)
        shapes = _materialise_shapes(g, info, because)
        if shapes:
            notes.append(f"{shapes} Shape/Size/Rank of statically known shapes became constants")
            graph = g.to_graphdef()
            info = tfrun.shapes(g, graph=graph)
    else:
        later = _constant_outputs_later(g)
        known = _read_constants(g, constant_names(g))  # while TensorFlow (a helper process) answers
        info = later()

    order = [node.name for node in graph.node]
    blocked: dict[str, str] = {}
    while True:
        constant = _constant_nodes(g, order, info, blocked, unsafe, unexpanded)
        frontier = _frontier(g, order, constant, keep)
        if info is not None:  # the sizes below, asked of a helper process at once
            info.read_ahead(frontier)
        too_big = {}
        for name, ports in frontier.items():
            sizes = [_static_bytes(info[name][port]) for port in ports]
            size = sum(s for s in sizes if s is not None)
            if size > SMALL_BYTES:
                leaves = _leaf_bytes(g, name, constant)
                if size > leaves:
                    too_big[name] = f"{name}: {size / 2**20:.1f} MiB from {leaves / 2**10:.0f} KiB of constants"
        if not too_big:
            break
        blocked.update(too_big)
    for reason in blocked.values():
        notes.append(f"kept {reason} (folding would grow the file)")

    if frontier:
        fetches = [(name, port) for name, ports in frontier.items() for port in sorted(ports)]
        values = _evaluate(g, graph, order, frontier, constant, fetches, known)
        folded = 0
        # What the pruning at the end removes is the constant subgraph behind a folded value.
        claimed: set[str] = set(frontier)  # a folded node is no part of another's subgraph
        for name, ports in frontier.items():
            results = {port: np.asarray(values[name, port]) for port in sorted(ports)}
            size = sum(value.nbytes for value in results.values())
            # Shapes unknown until run time get the same size check here; a node is folded whole or not at all.
            if size > SMALL_BYTES and size > _leaf_bytes(g, name, constant):
                notes.append(f"kept {name}: {size / 2**20:.1f} MiB (folding would grow the file)")
                continue
            device = g.node(name).device
            inner = sorted(_ancestors(g, {name: ports}, constant) - claimed)
            claimed.update(inner)
            because(inner, f"part of the constant subgraph folded at {name}")
            op = g.node(name).op
            for port, value in results.items():
                proto = tfrun.tensor_proto(value)
                if port == 0:
                    const = const_from_proto(name, proto)
                    const.device = device
                    g.replace(const)
                    because(name, f"{op} folded into Const: its value depends on constants only")
                else:
                    const = const_from_proto(g.unique_name(f"{name}/output_{port}"), proto)
                    const.device = device
                    g.add(const)
                    g.rewire(data_ref(name, port), const.name)
                    because(const.name, f"output {port} of {name} ({op}), evaluated ahead of time")
                folded += 1
            if 0 not in results and name in g:
                # Only other outputs were read: the node itself is now unread.
                because(name, f"{op} whose outputs read were folded into Const nodes")
                for user in g.users(name):
                    g.set_inputs(user, [ref for ref in user.input if ref != "^" + name])
        if folded:
            notes.append(f"{folded} constant subgraph outputs evaluated into Const")
    # A control edge into a constant computation orders nothing at inference.
    for node in g:
        if node.name in constant:
            continue
        stale = [c for c in g.control_inputs(node) if c in constant and c in g and g.node(c).op != "Const"]
        if stale:
            g.set_inputs(node, [ref for ref in g.inputs(node.name) if not (ref.startswith("^") and ref[1:] in stale)])
            because(node.name, f"control edges from constant computations ({', '.join(stale)}) dropped: they order nothing at inference")
    g.drop_idle_controls()
    g.prune(keep)
    return notes


# Ops NumPy computes bit for bit as TensorFlow's CPU kernels do, on float32 and float64: correctly
# rounded IEEE-754 arithmetic, broadcast as TensorFlow broadcasts (max/min are not: NaN differs).
_EXACT = {
    "Identity": lambda x: x, "Neg": np.negative, "Sqrt": np.sqrt, "Square": np.square,
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply, "RealDiv": np.divide,
}
_EXACT_DTYPES = {DataType.DT_FLOAT: np.dtype(np.float32), DataType.DT_DOUBLE: np.dtype(np.float64)}
_BITWISE = frozenset({"Identity", "Neg"})  # no arithmetic, so no denormal flushing
# Alternations of NumPy and TensorFlow before what is left goes to TensorFlow whole.
_TF_ROUNDS = 8


def _evaluate(
    g: WorkGraph, graph: GraphDef, order: list[str], frontier: dict[str, set[int]], constant: set[str],
    fetches: list[tuple[str, int]], known: dict[str, np.ndarray],
) -> dict[tuple[str, int], np.ndarray]:
    """The value of each fetch: plain arithmetic on constants in NumPy, every other op by TensorFlow, each node once.

    TensorFlow runs only what NumPy cannot give the same bits for (an Rsqrt,
    TensorFlow's own approximation), fed the values NumPy computed: each such
    node eagerly, by itself (~25 µs a node; a graph session sets up each node
    it runs, ~250 µs), and what cannot run that way in one session run per
    level of such ops. ``known``: values read already, by name; what is computed is added to it.
    """
    ancestors = _ancestors(g, frontier, constant)
    needed = [name for name in order if name in ancestors]
    for _ in range(_TF_ROUNDS):
        _numpy_values(g, needed, known)
        ready = [name for name in needed if name not in known and _fed_by(g, name, known)]
        if not ready:
            break
        inputs = [[known[node_of(ref)] for ref in g.data_inputs(g.node(name))] for name in ready]
        each = tfrun.evaluate_each([g.node(name) for name in ready], inputs)
        known.update((name, value) for name, value in zip(ready, each) if value is not None)
        ready = [name for name, value in zip(ready, each) if value is None]
        if not ready:
            continue
        sources = dict.fromkeys(node_of(ref) for name in ready for ref in g.data_inputs(g.node(name)))
        sub = _subgraph(graph, [make_const(source, known[source]) for source in sources])
        for name in ready:
            copy = sub.node.add()
            copy.CopyFrom(g.node(name))
            copy.ClearField("input")
            copy.input.extend(g.data_inputs(g.node(name)))
        known.update(zip(ready, tfrun.evaluate(sub, [f"{name}:0" for name in ready])))
    values = {(name, port): known[name] for name, port in fetches if port == 0 and name in known}
    rest = [f for f in fetches if f not in values]
    if rest:  # outputs past the first, and what reads them: TensorFlow computes those from the constants
        wanted = _ancestors(g, {name: {port} for name, port in rest}, constant)
        sub = _subgraph(graph, [g.node(name) for name in order if name in wanted])
        values.update(zip(rest, tfrun.evaluate(sub, [f"{name}:{port}" for name, port in rest])))
    return values


def _subgraph(graph: GraphDef, nodes: list[NodeDef]) -> GraphDef:
    """A GraphDef of copies of ``nodes``, with ``graph``'s versions, for TensorFlow to evaluate."""
    sub = GraphDef()
    sub.versions.CopyFrom(graph.versions)
    sub.node.extend(nodes)
    return sub


def _read_constants(g: WorkGraph, constant: frozenset[str]) -> dict[str, np.ndarray]:
    """The values of the Consts that a computed constant reads: where evaluation starts, read before it is known which.

    Only decoding, bounded by the file's own bytes (a splat too big to expand is no candidate): nothing computed ahead.
    """
    values: dict[str, np.ndarray] = {}
    for name in constant:
        if g.node(name).op == "Const":
            continue
        for ref in g.inputs(name):
            source = node_of(ref)
            if source not in values and source in constant:
                value = const_value(g.node(source))
                if value is not None:
                    values[source] = value
    return values


def _fed_by(g: WorkGraph, name: str, known: Container[str]) -> bool:
    """Whether every data input of ``name`` is output 0 of a node in ``known`` (and it has one at least)."""
    refs = g.data_inputs(g.node(name))
    return bool(refs) and all(split_ref(ref)[1] == 0 and node_of(ref) in known for ref in refs)


def _numpy_values(g: WorkGraph, order: list[str], values: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Output 0 of each node in ``order`` (producers first) that is a Const or an _EXACT op of known values, added to ``values``.

    Computed a wave at a time (a node's wave comes after its inputs'): the nodes of a wave with the same op,
    dtype and input shapes go through NumPy as one stacked array, not one call each. Each element of an
    elementwise IEEE-754 op is its own computation, so each node's bits are those it gets alone.
    """
    values = {} if values is None else values
    waves: list[list[tuple[str, list[str]]]] = []
    wave_of: dict[str, int] = {}  # a node that may get a value -> its wave (0: a value known already)
    for name in order:
        if name in values:
            wave_of[name] = 0
            continue
        node = g.node(name)
        if node.op == "Const":
            value = const_value(node)
            if value is not None:
                values[name] = value
                wave_of[name] = 0
            continue
        refs = g.data_inputs(node)
        if node.op not in _EXACT or _EXACT_DTYPES.get(attr_value(node, "T").type) is None or not _fed_by(g, name, wave_of):
            continue
        sources = [node_of(ref) for ref in refs]
        wave = 1 + max(wave_of[source] for source in sources)
        wave_of[name] = wave
        if wave > len(waves):
            waves.append([])
        waves[wave - 1].append((name, sources))
    for wave in waves:
        groups: dict[tuple, list[tuple[str, list[np.ndarray]]]] = {}
        for name, sources in wave:
            if not all(source in values for source in sources):
                continue  # an input NumPy could not compute: TensorFlow computes both
            node = g.node(name)
            dtype = _EXACT_DTYPES[attr_value(node, "T").type]
            args = [values[source] for source in sources]
            if any(a.dtype != dtype for a in args):
                continue
            groups.setdefault((node.op, dtype, *(a.shape for a in args)), []).append((name, args))
        for (op, dtype, *_), members in groups.items():
            for name, result in _computed(op, dtype, members):
                values[name] = result
    return values


def _computed(op: str, dtype: np.dtype, members: list[tuple[str, list[np.ndarray]]]) -> list[tuple[str, np.ndarray]]:
    """(name, value) of each of ``members`` (names and arguments, all of one op, dtype and shapes) that NumPy computes."""
    compute = _EXACT[op]
    if len(members) == 1:
        stacked = members[0][1]
    else:
        # Node by node along a new first axis; lower-rank arguments get ones after it, to broadcast as they would alone.
        rank = max(a.ndim for a in members[0][1])
        stacked = [np.stack([args[i] for _, args in members]).reshape((len(members),) + (1,) * (rank - a.ndim) + a.shape)
                   for i, a in enumerate(members[0][1])]
    try:
        with np.errstate(all="ignore"):
            if op in _BITWISE:
                result = np.asarray(compute(*stacked), dtype=dtype)
            else:
                result = _flushed(np.asarray(compute(*(_flushed(a) for a in stacked)), dtype=dtype))
    except (TypeError, ValueError):  # shapes that do not broadcast: TensorFlow says why
        return []
    if len(members) == 1:
        return [(members[0][0], result)]
    return [(name, result[index, ...]) for index, (name, _) in enumerate(members)]


def _flushed(value: np.ndarray) -> np.ndarray:
    """Subnormal floats as signed zeros: TensorFlow's CPU kernels run with denormals flushed (in and out)."""
    tiny = np.finfo(value.dtype).tiny
    small = np.abs(value) < tiny
    return np.where(small, np.copysign(0, value).astype(value.dtype), value) if small.any() else value


def constant_names(g: WorkGraph) -> frozenset[str]:
    """Nodes whose value depends on constants only (no feeds, variables, randomness or control flow).

    Found without asking TensorFlow for dtypes (fold_constants narrows them by
    dtype), and again only after an edit: finding batch norms asks first.
    """

    def find() -> frozenset[str]:
        graph = _graphdef(g)
        order = [node.name for node in graph.node]
        unexpanded = frozenset(node.name for node in _splats(g))
        return frozenset(_constant_nodes(g, order, None, {}, frozenset(u.node for u in _unsafe(g, graph)), unexpanded))

    return g.cached("constant_candidates", find)


def ask_ahead(g: WorkGraph) -> None:
    """Ask TensorFlow now what :func:`fold_constants` will ask it of ``g`` as it is: a helper process answers meanwhile."""
    if not _materialises(_graphdef(g)):
        _constant_outputs_later(g)


def _materialises(graph: GraphDef) -> bool:
    return any(node.op in _MATERIALISED for node in graph.node)


def _constant_outputs_later(g: WorkGraph) -> Callable[[], tfrun.StaticOutputs | None]:
    """The static outputs of the constant candidates (which read only each other), imported alone; None when all are Consts.

    Only their dtypes and shapes are read, so they import without the rest of the graph. Asked once
    per state of ``g``: :func:`ask_ahead` begins it, fold_constants waits for the answer.
    """

    def ask() -> Callable[[], tfrun.StaticOutputs | None]:
        graph, constant = _graphdef(g), constant_names(g)
        if all(node.op == "Const" for node in graph.node if node.name in constant):
            return lambda: None  # nothing computed: no dtype to check, no value to size
        known = inferred.static_outputs(g, (node.name for node in graph.node if node.name in constant))
        if known is not None:  # plain arithmetic: TensorFlow would say what is known here
            return lambda: known
        return tfrun.static_outputs_later(tfrun.closed_subgraph(graph, constant))

    return g.cached("constant_outputs", ask)


def _graphdef(g: WorkGraph) -> GraphDef:
    """The working graph as a GraphDef, only read here, made again only after an edit (finding batch norms asks first)."""
    return g.cached("graphdef", g.to_graphdef)


def _splats(g: WorkGraph) -> tuple[NodeDef, ...]:
    """The Consts too big to expand (:func:`_splat`), found again only after an edit (finding batch norms asks first)."""
    return g.cached("splats", lambda: tuple(node for node in g if _splat(node)))


def _unsafe(g: WorkGraph, graph: GraphDef) -> tuple[UnsafeNode, ...]:
    """The working graph's unsafe nodes (``graph`` is it as a GraphDef), found again only after an edit."""
    return g.cached("unsafe_nodes", lambda: unsafe_nodes(graph))


def _unsafe_notes(found: Sequence[UnsafeNode]) -> list[str]:
    counts: dict[tuple[str, str], int] = {}
    for u in found:
        counts[u.op, u.why] = counts.get((u.op, u.why), 0) + 1
    return [f"kept {count} {op} ({why}): never evaluated" for (op, why), count in counts.items()]


def _materialise_shapes(g: WorkGraph, info: dict[str, list[tuple[int, tfrun.Shape]]], because: Because) -> int:
    count = 0
    for node in g:
        if node.op not in _MATERIALISED or not node.input:
            continue
        source, port = split_ref(node.input[0])
        outputs = info.get(source)
        if outputs is None or port >= len(outputs):
            continue
        shape = outputs[port][1]
        if shape is None or any(d is None or d < 0 for d in shape):
            continue
        out_type = node.attr["out_type"].type if "out_type" in node.attr else DataType.DT_INT32
        np_type = np.int64 if out_type == DataType.DT_INT64 else np.int32
        if node.op == "Size" and prod(shape) > np.iinfo(np_type).max:
            continue  # TensorFlow would fail at run time too; the op stays to say so
        if node.op == "Shape":
            value = np.array(shape, dtype=np_type)
        elif node.op == "Size":
            value = np.array(prod(shape), dtype=np_type)
        else:
            value = np.array(len(shape), dtype=np.int32)
        g.replace(make_const(node.name, value, like=node))
        because(node.name, f"{node.op} of a statically known shape {list(shape)} folded into Const")
        count += 1
    return count


_SAFE_CACHE: dict[str, bool] = {}


def _safe(op: str) -> bool:
    if op not in _SAFE_CACHE:
        _SAFE_CACHE[op] = tfrun.op_info(op)[1]
    return _SAFE_CACHE[op]


def _constant_nodes(
    g: WorkGraph,
    order: list[str],
    info: tfrun.StaticOutputs | None,
    blocked: dict[str, str],
    unsafe: frozenset[str],
    unexpanded: frozenset[str],
) -> set[str]:
    """Nodes whose value depends on constants only; ``unexpanded``: the Consts too big to expand (:func:`_splat`)."""
    constant: set[str] = set()
    for name in order:
        node = g.node(name)
        # Most nodes read something computed at run time: that is settled first, the dtypes (read from TensorFlow) last.
        refs = g.inputs(name)
        if not all(node_of(ref) in constant for ref in refs):
            continue
        if node.op == "Const":
            # A Const with a control edge from a cond branch lives in that branch.
            # A splat too big to expand is no constant this pass could compute with.
            if name not in unexpanded:
                constant.add(name)
            continue
        # Random ops stay random, even stateless ones: folding would bake one draw into the graph.
        if name in blocked or name in unsafe or node.op in NEVER_FOLD or not refs or is_random(node.op) or not _safe(node.op):
            continue
        if info is not None:
            dtypes = info.dtypes(name)
            if not dtypes or any(dtype in _UNFOLDABLE_DTYPES or dtype >= 100 for dtype in dtypes):
                continue
        constant.add(name)
    return constant


def _frontier(g: WorkGraph, order: list[str], constant: set[str], keep: Sequence[str]) -> dict[str, set[int]]:
    """Constant nodes that something non-constant reads, with the ports it reads, in graph order."""
    frontier: dict[str, set[int]] = {}
    kept = set(keep)
    for name in order:
        if name not in constant or g.node(name).op == "Const":
            continue
        ports: set[int] = {0} if name in kept else set()
        for user, _, port in g.data_users(name):
            if user.name not in constant:
                ports.add(port)
        if ports:
            frontier[name] = ports
    return frontier


def _ancestors(g: WorkGraph, roots: dict[str, set[int]], constant: set[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(node_of(ref) for ref in g.inputs(name) if node_of(ref) in constant)
    return seen


def _leaf_bytes(g: WorkGraph, name: str, constant: set[str]) -> int:
    total = 0
    for source in _ancestors(g, {name: {0}}, constant):
        node = g.node(source)
        if node.op == "Const":
            total += attr_value(node, "value").tensor.ByteSize()
    return total




def _splat(node: NodeDef) -> int:
    """Bytes a Const's value would expand to when too big to expand (workgraph.unexpanded_bytes), else 0."""
    return unexpanded_bytes(node.attr["value"].tensor) if node.op == "Const" and "value" in node.attr else 0


def _splat_note(node: NodeDef) -> str:
    tensor = attr_value(node, "value").tensor
    dims = "x".join(str(d.size) for d in tensor.tensor_shape.dim)
    return (
        f"kept {node.name} unevaluated: its {tensor.ByteSize():,}-byte value claims a {dims} {dtype_name(tensor.dtype)} tensor, "
        f"{size_text(_splat(node))} as an array, over the {size_text(CONST_VALUE_LIMIT)} limit for a constant "
        "the optimizer expands; nothing it feeds is folded"
    )


def _static_bytes(output: tuple[int, tfrun.Shape]) -> int | None:
    dtype, shape = output
    if shape is None or any(d is None or d < 0 for d in shape):
        return None
    return prod(shape) * DTYPE_BYTES.get(dtype, 8)
