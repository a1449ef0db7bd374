"""How much float32 rounding a graph's output carries: its float64 twin, run as a reference, and the noise floor two graphs' outputs are judged against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.errors import InspectorError
from inspector.graph import tfcompat
from inspector.graph.io import LoadedGraph
from inspector.graph.ops import CONST_OPS
from inspector.graph.trust import refuse_to_run

_FLOAT, _DOUBLE = DataType.DT_FLOAT, DataType.DT_DOUBLE
# A ref dtype is its value dtype plus 100 (DT_FLOAT_REF = 101); a ref output reads as its value.
_REF_OFFSET = 100
FLOAT32_EPS = float(np.finfo(np.float32).eps)

# The floor. Two float32 graphs computing one function each carry a rounding error against the exact
# result (the float64 twin: its own error is ~1e-16 relative), so |a - b| <= |e_a| + |e_b|, with e_b of
# a's kind but not a's size. One sample of it is a poor yardstick, its size varies 100-fold from input to
# input: on 301 inputs |a - tflite| reached 30x |a - twin| (poets_pair). So the noise is the largest of
# 1 + SIBLINGS samples: a's own, and those of siblings, the graph with its weights rounded again.
# bench/bench_noise.py, daisy + 300 random inputs, 11 graphs (every fixture, Keras MobileNet, InceptionV3,
# conv-bn, a custom CNN) against their optimized graph and .tflite: |a - b| stayed under 6.8x that noise
# (15x with no sibling but 2 float64 ones, 30x with none), and the last weight matrix scaled by 1.001
# was 97x it or more on the daisy. FACTOR 16 leaves 2.3x above the worst rounding seen, 6x under the change.
FACTOR = 16.0
SIBLINGS = 2


def float64_twin(graph: GraphDef, *, what: str) -> GraphDef:
    """The same computation in float64, node names kept: every float32 type attr, Const and placeholder made double.

    An op with no double CPU kernel (the kernel registry decides: FusedBatchNormV3,
    Dequantize) stays float32 between Casts: to float32 on its float inputs, back to
    float64 on each float output something reads. Non-float attrs (int shapes,
    strings, bools, quantized types) stay. ``what`` names the graph in errors.
    """
    return _twin(graph, what=what)[0]


def _twin(graph: GraphDef, *, what: str) -> tuple[GraphDef, tuple[str, ...]]:
    """The twin, and the nodes it left in float32 (no double kernel), sorted."""
    tfcompat.tf()
    from tensorflow.python.framework import kernels

    twin = GraphDef()
    twin.CopyFrom(graph)
    op_defs = {node.op: _op_def(node, what=what) for node in twin.node}
    # One registry read per op type: it costs about a millisecond, and InceptionV3 has 2000 nodes.
    cpu_kernels: dict[str, list[Any]] = {}
    kept: list[str] = []
    for node in twin.node:
        attrs = _effective_attrs(node, op_defs[node.op])
        wide = _widened(attrs)
        if not wide:
            continue
        if node.op not in cpu_kernels:
            cpu_kernels[node.op] = [
                kernel for kernel in kernels.get_registered_kernels_for_op(node.op).kernel
                # A labelled kernel runs only for nodes that ask for it by a _kernel attr.
                if kernel.device_type in ("CPU", "DEFAULT") and not kernel.label
            ]
        if not _runs_as({**attrs, **wide}, op_defs[node.op], cpu_kernels[node.op]):
            kept.append(node.name)
            continue
        for key, value in wide.items():
            node.attr[key].CopyFrom(value)
        if node.op in CONST_OPS and "value" in node.attr and node.attr["value"].tensor.dtype == _FLOAT:
            _widen_tensor(node.attr["value"].tensor, node=node.name, what=what)
    _insert_casts(twin, op_defs, what=what)
    return twin, tuple(sorted(kept))


def _op_def(node: NodeDef, *, what: str) -> Any:
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(node.op)
    if op_def is None:
        raise InspectorError(
            f"{what}: node {node.name!r} runs op {node.op!r}, which TensorFlow {tfcompat.tf().__version__} does not know "
            "(a custom op or a function); the float64 reference needs built-in ops, so compare without it"
        )
    return op_def


def _effective_attrs(node: NodeDef, op_def: Any) -> dict[str, AttrValue]:
    """The node's attrs with the op's defaults for those it leaves out (an old graph omits ``dtype``: float)."""
    attrs: dict[str, AttrValue] = {}
    for attr_def in op_def.attr:
        if attr_def.HasField("default_value"):
            attrs[attr_def.name] = AttrValue.FromString(attr_def.default_value.SerializeToString())
    attrs.update((key, value) for key, value in node.attr.items())
    return attrs


def _widened(attrs: Mapping[str, AttrValue]) -> dict[str, AttrValue]:
    """The type attrs that say float32, said in float64 instead."""
    wide: dict[str, AttrValue] = {}
    for key, value in attrs.items():
        kind = value.WhichOneof("value")
        if kind == "type" and value.type == _FLOAT:
            wide[key] = AttrValue(type=_DOUBLE)
        elif kind == "list" and _FLOAT in value.list.type:
            wide[key] = AttrValue(list=AttrValue.ListValue(type=[_DOUBLE if t == _FLOAT else t for t in value.list.type]))
    return wide


def _runs_as(attrs: Mapping[str, AttrValue], op_def: Any, cpu_kernels: list[Any]) -> bool:
    """Does the op accept these attrs, and has one of its CPU kernels a type constraint they meet?"""
    for attr_def in op_def.attr:
        allowed = set(attr_def.allowed_values.list.type)
        if allowed and attr_def.name in attrs and not set(_types(attrs[attr_def.name])) <= allowed:
            return False
    for kernel in cpu_kernels:
        if all(c.name not in attrs or set(_types(attrs[c.name])) <= set(c.allowed_values.list.type) for c in kernel.constraint):
            return True
    return False


def _types(value: AttrValue) -> list[int]:
    return [value.type] if value.WhichOneof("value") == "type" else list(value.list.type)


def _widen_tensor(tensor: TensorProto, *, node: str, what: str) -> None:
    if tensor.tensor_content:
        if len(tensor.tensor_content) % 4:
            raise InspectorError(
                f"{what}: node {node!r}: its float32 value holds {len(tensor.tensor_content)} bytes, not a whole "
                "number of 4-byte floats (a damaged file?); export the graph again"
            )
        tensor.tensor_content = np.frombuffer(tensor.tensor_content, dtype="<f4").astype("<f8").tobytes()
    else:
        # float_val may hold fewer values than the shape (the last one repeats); double_val means the same.
        tensor.double_val.extend(tensor.float_val)
        del tensor.float_val[:]
    tensor.dtype = _DOUBLE


def _arg_dtypes(args: Any, attrs: Mapping[str, AttrValue]) -> list[int]:
    """One dtype per input (or output) port, expanding ``N * T`` and type-list args."""
    dtypes: list[int] = []
    for arg in args:
        if arg.type_list_attr:
            dtypes += list(attrs[arg.type_list_attr].list.type)
            continue
        dtype = arg.type or attrs[arg.type_attr].type
        count = attrs[arg.number_attr].i if arg.number_attr else 1
        dtypes += [dtype] * count
    return dtypes


def _insert_casts(twin: GraphDef, op_defs: Mapping[str, Any], *, what: str) -> None:
    """A Cast on every edge where a float64 producer meets a float32 reader, or the other way round."""
    inputs: dict[str, list[int]] = {}
    outputs: dict[str, list[int]] = {}
    for node in twin.node:
        attrs = _effective_attrs(node, op_defs[node.op])
        try:
            inputs[node.name] = [t % _REF_OFFSET for t in _arg_dtypes(op_defs[node.op].input_arg, attrs)]
            outputs[node.name] = [t % _REF_OFFSET for t in _arg_dtypes(op_defs[node.op].output_arg, attrs)]
        except (KeyError, IndexError):
            raise InspectorError(
                f"{what}: node {node.name!r} ({node.op}) lacks the type attrs its op needs (a damaged file?); "
                "export the graph again"
            ) from None
    names = {node.name for node in twin.node}
    casts: dict[tuple[str, int], str] = {}
    added: list[NodeDef] = []
    for node in twin.node:
        ports = [i for i, source in enumerate(node.input) if not source.startswith("^")]
        for port, wanted in zip(ports, inputs[node.name]):
            producer, _, index_text = node.input[port].partition(":")
            index = int(index_text) if index_text.isdigit() else 0
            given = outputs.get(producer, [])
            if index >= len(given) or {given[index], wanted} != {_FLOAT, _DOUBLE}:
                continue
            key = (node.input[port], wanted)
            if key not in casts:
                casts[key] = _unique(f"{producer}/float64_twin_{index}_to_{'float' if wanted == _FLOAT else 'double'}", names)
                added.append(NodeDef(name=casts[key], op="Cast", input=[node.input[port]], attr={
                    "SrcT": AttrValue(type=given[index]), "DstT": AttrValue(type=wanted), "Truncate": AttrValue(b=False),
                }))
            node.input[port] = casts[key]
    twin.node.extend(added)


def _unique(name: str, names: set[str]) -> str:
    candidate, count = name, 1
    while candidate in names:
        count += 1
        candidate = f"{name}_{count}"
    names.add(candidate)
    return candidate


def sibling(graph: GraphDef, *, seed: int) -> GraphDef:
    """The float32 graph with every float32 weight rounded again: to the float32 nearest w * (1 + d), d seeded in +-eps/2.

    A sibling computes the same function as the graph, with weights as another
    float32 computation of them (a folded batch norm, a converter's arithmetic)
    could have stored them, so its activations round at other places too: how
    far it lands from the float64 twin is one more sample of the graph's noise.
    """
    rng = np.random.default_rng(seed)
    out = GraphDef()
    out.CopyFrom(graph)
    for node in out.node:
        tensor = node.attr["value"].tensor if node.op in CONST_OPS and "value" in node.attr else None
        if tensor is None or tensor.dtype != _FLOAT:
            continue
        if tensor.tensor_content and len(tensor.tensor_content) % 4 == 0:
            values = np.frombuffer(tensor.tensor_content, dtype="<f4").astype(np.float64)
            tensor.tensor_content = _moved(values, rng).astype("<f4").tobytes()
        elif tensor.float_val:
            moved = _moved(np.asarray(tensor.float_val, dtype=np.float64), rng).astype(np.float32)
            del tensor.float_val[:]
            tensor.float_val.extend(moved.tolist())
    return out


def _moved(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return values * (1 + rng.uniform(-0.5, 0.5, values.shape) * FLOAT32_EPS)


@dataclass(frozen=True)
class ReferenceOutput:
    """One output of the reference: the float64 twin's, and each float32 sibling's."""

    exact: np.ndarray
    siblings: tuple[np.ndarray, ...] = ()


class Reference:
    """A graph's float64 twin and ``siblings`` float32 siblings (seeds 0, 1, ...), imported once into one tf.Graph and CPU Session.

    ``what`` names the graph in errors; an op the op policy refuses (graph/trust.py)
    is an InspectorError before TensorFlow sees it, unless ``allow_unsafe_ops``.
    ``float32_nodes``: the nodes the twin left in float32. Every copy gets the
    same feeds (in its own float width); all run in one step.
    """

    def __init__(
        self,
        graph: LoadedGraph | GraphDef,
        *,
        what: str | None = None,
        threads: int | None = None,
        siblings: int = SIBLINGS,
        allow_unsafe_ops: bool = False,
    ) -> None:
        graph_def = graph.graph if isinstance(graph, LoadedGraph) else graph
        path = graph.path if isinstance(graph, LoadedGraph) else None
        self.what = what or (str(path) if path is not None else "the graph")
        refuse_to_run(graph_def, what=self.what, allow_unsafe_ops=allow_unsafe_ops)
        self.twin, self.float32_nodes = _twin(graph_def, what=self.what)
        tf = tfcompat.tf()
        self._graph = tf.Graph()
        # Each sibling's scope: a name no node of the graph has, so no name of the graph is shadowed.
        roots = {n.name.split("/")[0] for n in self.twin.node}
        self._prefixes = tuple(_unique("float32_sibling", roots) for _ in range(siblings))
        try:
            with self._graph.as_default():
                tf.compat.v1.import_graph_def(tfcompat.to_tf(self.twin), name="")
                for seed, prefix in enumerate(self._prefixes):
                    # Not joined by input_map: a PlaceholderWithDefault (retrain.py's bottleneck input) would
                    # then take the twin's value, and the sibling's body would not count.
                    tf.compat.v1.import_graph_def(tfcompat.to_tf(sibling(graph_def, seed=seed)), name=prefix)
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise InspectorError(
                f"{self.what}: TensorFlow {tf.__version__} cannot import the graph's float64 reference "
                f"({tfcompat.error_line(exc)}); compare without it"
            ) from None
        # GPU off, as GraphRunner: the reference answers for the CPU kernels the graph runs on.
        config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
        if threads is not None:
            config.intra_op_parallelism_threads = threads
            config.inter_op_parallelism_threads = threads
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)

    def run(self, feeds: Mapping[str, np.ndarray], output: str) -> np.ndarray:
        """``output`` (a node name, or ``name:N``) of the twin, in float64, flattened; feeds keyed by placeholder name."""
        return self._run(feeds, output, copies=()).exact

    def outputs(self, feeds: Mapping[str, np.ndarray], output: str) -> ReferenceOutput:
        """``output`` of the twin and of each sibling, from one run: what :func:`judge` takes."""
        return self._run(feeds, output, copies=self._prefixes)

    def outputs_of(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> list[ReferenceOutput]:
        """:meth:`outputs` of several tensors (every layer of a chunk, layers.py), from one run."""
        return self._many(feeds, list(names), copies=self._prefixes)

    def _run(self, feeds: Mapping[str, np.ndarray], output: str, *, copies: tuple[str, ...]) -> ReferenceOutput:
        return self._many(feeds, [output], copies=copies)[0]

    def _many(self, feeds: Mapping[str, np.ndarray], outputs: list[str], *, copies: tuple[str, ...]) -> list[ReferenceOutput]:
        feed_dict = {}
        for name, value in feeds.items():
            tensor = self._tensor(name)
            for target in [tensor] + [self._copy(prefix, tensor) for prefix in copies]:
                array = np.asarray(value)
                # Float feeds take the copy's own width: float64 for the twin, the graph's for a sibling.
                feed_dict[target] = array.astype(target.dtype.as_numpy_dtype) if array.dtype.kind == "f" else array
        width = 1 + len(copies)
        fetches = [t for output in outputs
                   for t in [self._tensor(output)] + [self._copy(prefix, self._tensor(output)) for prefix in copies]]
        tf = tfcompat.tf()
        try:
            out = self._session.run(fetches, feed_dict)
        except (tf.errors.OpError, ValueError) as exc:
            raise InspectorError(
                f"{self.what}: TensorFlow cannot run the graph's float64 reference ({tfcompat.error_line(exc)}); "
                "check the fed inputs and the output name"
            ) from None
        flat = [np.asarray(value, dtype=np.float64).reshape(-1) for value in out]
        return [ReferenceOutput(exact=flat[i], siblings=tuple(flat[i + 1:i + width])) for i in range(0, len(flat), width)]

    def _tensor(self, name: str) -> Any:
        tensor_name = name if ":" in name else f"{name}:0"
        try:
            return self._graph.get_tensor_by_name(tensor_name)
        except (KeyError, ValueError):
            raise InspectorError(
                f"{self.what}: the graph has no tensor {tensor_name!r} to feed or read; pass a node name of the graph"
            ) from None

    def _copy(self, prefix: str, tensor: Any) -> Any:
        return self._graph.get_tensor_by_name(f"{prefix}/{tensor.name}")

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Judgement:
    """Two float32 outputs for one input, against the reference of the first: a rounding difference, or a change?

    ``noise`` is a's own rounding error (|a - twin|), ``spread`` the largest
    sibling's (0 without siblings), ``b_error`` b's (|b - twin|). ``floor`` is
    FACTOR * max(noise, spread, FLOAT32_EPS * max|twin|): the ULP term keeps it
    above a float32 step where all happen to round exactly. ``within``:
    ``max_abs_diff`` (|a - b|) is no more than the floor.
    """

    max_abs_diff: float
    noise: float
    spread: float
    b_error: float
    floor: float
    within: bool

    @property
    def ratio(self) -> float:
        """The difference in units of the floor (over 1: not rounding)."""
        if self.floor > 0:
            return self.max_abs_diff / self.floor
        return 0.0 if self.max_abs_diff == 0 else float("inf")

    def to_json(self) -> dict:
        return {
            "max_abs_diff": self.max_abs_diff, "noise": self.noise, "spread": self.spread, "b_error": self.b_error,
            "floor": self.floor, "within": self.within,
        }


def judge(
    out_a: np.ndarray, out_b: np.ndarray, out_ref: np.ndarray | ReferenceOutput, *, factor: float = FACTOR
) -> Judgement:
    """Is a vs b within the rounding noise a's computation carries? ``out_ref``: a's twin output, or Reference.outputs'."""
    exact, copies = (out_ref.exact, out_ref.siblings) if isinstance(out_ref, ReferenceOutput) else (out_ref, ())
    a, b, ref = (np.asarray(x, dtype=np.float64).reshape(-1) for x in (out_a, out_b, exact))
    if a.shape != ref.shape or any(copy.shape != ref.shape for copy in copies):
        raise ValueError(f"the reference has {ref.size} values where the graph has {a.size}")
    noise = _max_abs(a - ref)
    spread = float(np.max([_max_abs(copy - ref) for copy in copies])) if copies else 0.0
    # np.max, not max: a NaN anywhere makes the floor NaN, and nothing is within a NaN floor.
    floor = factor * float(np.max([noise, spread, FLOAT32_EPS * _max_abs(ref)]))
    if a.shape != b.shape:
        return Judgement(max_abs_diff=float("inf"), noise=noise, spread=spread, b_error=float("inf"), floor=floor, within=False)
    diff = _max_abs(a - b)
    return Judgement(
        max_abs_diff=diff, noise=noise, spread=spread, b_error=_max_abs(b - ref), floor=floor, within=bool(diff <= floor)
    )


def _max_abs(x: np.ndarray) -> float:
    if not x.size:
        return 0.0
    return float("nan") if np.isnan(x).any() else float(np.max(np.abs(x)))


__all__ = ["float64_twin", "sibling", "Reference", "ReferenceOutput", "Judgement", "judge", "FACTOR", "SIBLINGS", "FLOAT32_EPS"]
