"""Tests for the dtypes and shapes constant folding works out without TensorFlow: TensorFlow's answers, or none at all."""

from __future__ import annotations

import random

import numpy as np
import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.function_pb2 import FunctionDef
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType
from tensorboard.util import tensor_util

from builders import const, op, placeholder, retrained_like, shape_proto
from conftest import fixture_path
from inspector.graph import samples
from inspector.graph.io import load_graph
from inspector.graph.ops import ELEMENTWISE_ARITHMETIC_OPS, ELEMENTWISE_UNARY_OPS
from inspector.graph.workgraph import WorkGraph
from inspector.optimizer.passes import constfold, inferred, tfrun
from inspector.optimizer.pipeline import optimize

FLOATS = [DataType.DT_FLOAT, DataType.DT_DOUBLE, DataType.DT_HALF, DataType.DT_BFLOAT16]
# Shapes of ranks 0 to 4 that broadcast with each other in pairs.
SHAPES = {"a": (2, 1, 3), "b": (3,), "s": (), "d": (5, 1, 1, 1), "one": (1,)}


def typed_const(name: str, dtype: int, shape: tuple[int, ...]) -> NodeDef:
    """A Const of ``dtype`` and ``shape`` (its values do not count: only dtypes and shapes are inferred)."""
    value = TensorProto(dtype=dtype, tensor_shape=shape_proto(shape))
    return NodeDef(name=name, op="Const", attr={"dtype": AttrValue(type=dtype), "value": AttrValue(tensor=value)})


def typed(name: str, kind: str, dtype: int, *inputs: str, **attrs: AttrValue) -> NodeDef:
    return op(name, kind, *inputs, T=AttrValue(type=dtype), **attrs)


def every_plain_op(*, shuffled: bool = False) -> GraphDef:
    """Every op the module knows, on every float dtype, over broadcasts of ranks 0 to 4, producers first unless ``shuffled``."""
    nodes = []
    for dtype in FLOATS:
        p = DataType.Name(dtype)
        nodes += [typed_const(f"{p}/{key}", dtype, shape) for key, shape in SHAPES.items()]
        for kind in sorted(ELEMENTWISE_ARITHMETIC_OPS):
            for x, y in [("a", "b"), ("b", "a"), ("a", "s"), ("s", "s"), ("a", "d"), ("d", "a"), ("one", "b"), ("a", "a")]:
                nodes.append(typed(f"{p}/{kind}/{x}_{y}", kind, dtype, f"{p}/{x}", f"{p}/{y}"))
        for kind in sorted(ELEMENTWISE_UNARY_OPS | {"Identity"}):
            nodes.append(typed(f"{p}/{kind}", kind, dtype, f"{p}/Mul/a_d"))
            nodes.append(typed(f"{p}/{kind}/chained", kind, dtype, f"{p}/{kind}"))
        # A control edge orders and feeds nothing; an attribute for the runtime ("_class") is no attribute of the op's.
        nodes.append(typed(f"{p}/controlled", "AddV2", dtype, f"{p}/b", f"{p}/one", f"^{p}/s",
                           _class=AttrValue(list=AttrValue.ListValue(s=[f"loc:@{p}/b".encode()]))))
    if shuffled:
        random.Random(0).shuffle(nodes)
    graph = GraphDef()
    graph.node.extend(nodes)
    return graph


def tensorflows(graph: GraphDef, names: list[str]) -> dict[str, list]:
    found = tfrun.static_outputs(tfrun.closed_subgraph(graph, frozenset(names)))
    return {name: found[name] for name in names}


def ours(graph: GraphDef, names: list[str]) -> dict[str, list] | None:
    found = inferred.static_outputs(WorkGraph(graph), names)
    return None if found is None else {name: found[name] for name in names}


def test_every_plain_op_gets_the_dtypes_and_shapes_tensorflow_infers() -> None:
    graph = every_plain_op()
    names = [node.name for node in graph.node]
    found = ours(graph, names)
    assert found is not None
    assert found == tensorflows(graph, names)
    # Broadcasting is worked out, not copied from an input: rank 3 with rank 4 is rank 4.
    assert found["DT_HALF/Sub/a_d"] == [(DataType.DT_HALF, (5, 2, 1, 3))]
    assert found["DT_DOUBLE/controlled"] == [(DataType.DT_DOUBLE, (3,))]


def test_a_node_named_before_what_it_reads_gets_no_answer() -> None:
    # One pass over the names, producers first: a graph in another order is TensorFlow's to answer (it orders it itself).
    graph = every_plain_op(shuffled=True)
    names = [node.name for node in graph.node]
    assert ours(graph, names) is None
    assert len(tensorflows(graph, names)) == len(names)
    assert ours(graph, [node.name for node in every_plain_op().node]) is not None


def _constant_candidates(graph: GraphDef) -> tuple[WorkGraph, list[str]]:
    g = WorkGraph(graph)
    constant = constfold.constant_names(g)
    return g, [node.name for node in graph.node if node.name in constant]


@pytest.mark.parametrize("source", [
    "codelab_android/mobilenet_v3.pb", "dropout_active/retrained_graph.pb", "mobilenet_v1_0.25_128/frozen_graph.pb",
    "poets_224/retrained_graph.pb", "poets_pair/optimized_graph.pb", "poets_tf2/retrained_graph.pb",
    "generated retrain.py MobileNet", "generated slim-style blocks",
])
def test_the_constants_of_real_graphs_are_inferred_as_tensorflow_infers_them(source: str) -> None:
    if source == "generated retrain.py MobileNet":
        graph = samples.retrain_shaped_mobilenet()
    elif source == "generated slim-style blocks":
        graph = retrained_like(blocks=3)
    else:
        graph = load_graph(fixture_path(source)).graph
    g, names = _constant_candidates(graph)
    assert any(g.node(name).op != "Const" for name in names)  # something computed, not only Consts
    found = inferred.static_outputs(g, names)
    assert found is not None
    assert {name: found[name] for name in names} == tensorflows(graph, names)


def test_what_it_does_not_know_is_left_to_tensorflow() -> None:
    # Keras' frozen batch norm reads a Reshape of constants: a shape from a value, which only TensorFlow works out.
    g, names = _constant_candidates(samples.keras_conv_bn())
    assert "Reshape" in {g.node(name).op for name in names}
    assert inferred.static_outputs(g, names) is None
    # The 8-bit weights of a quantized graph go through Dequantize.
    g, names = _constant_candidates(load_graph(fixture_path("mobilenet_v1_0.25_128/quantized_graph.pb")).graph)
    assert inferred.static_outputs(g, names) is None


F = DataType.DT_FLOAT


def _graph(*nodes: NodeDef, library: bool = False) -> GraphDef:
    graph = GraphDef()
    graph.node.extend(nodes)
    if library:
        graph.library.function.append(FunctionDef())
        graph.library.function[0].signature.name = "unused_function"
    return graph


REFUSED = {  # graphs TensorFlow refuses to import: no answer here either, so the user gets TensorFlow's refusal
    "shapes that do not broadcast": _graph(typed_const("x", F, (3,)), typed_const("y", F, (4,)), typed("z", "Add", F, "x", "y")),
    "an input of another dtype": _graph(typed_const("x", DataType.DT_DOUBLE, (3,)), typed("z", "Neg", F, "x")),
    "an input too many": _graph(typed_const("x", F, (3,)), typed("z", "Mul", F, "x", "x", "x")),
    "an input too few": _graph(typed_const("x", F, (3,)), typed("z", "Mul", F, "x")),
    "a type attribute that is no type": _graph(typed_const("x", F, (3,)), op("z", "Neg", "x", T=AttrValue(i=1))),
    "a Const with no value": _graph(NodeDef(name="x", op="Const", attr={"dtype": AttrValue(type=F)}), typed("z", "Neg", F, "x")),
}
UNSURE = {  # graphs TensorFlow may well import, of which this module does not know enough
    # TensorFlow ignores it with a warning (it may be from a newer TensorFlow, whose op may compute otherwise).
    "an attribute the op does not declare": _graph(typed_const("x", F, (3,)), typed("z", "Neg", F, "x", foo=AttrValue(i=1))),
    "an op it has no rule for": _graph(typed_const("x", F, (3,)), typed("z", "Pow", F, "x", "x")),
    "integer arithmetic": _graph(typed_const("x", DataType.DT_INT32, (3,)), typed("z", "Add", DataType.DT_INT32, "x", "x")),
    "a Const whose value is of another dtype": _graph(
        NodeDef(name="x", op="Const", attr={"dtype": AttrValue(type=F),
                                            "value": AttrValue(tensor=TensorProto(dtype=DataType.DT_DOUBLE))}),
        typed("z", "Neg", F, "x")),
    "a Const of unknown rank": _graph(
        NodeDef(name="x", op="Const", attr={"dtype": AttrValue(type=F), "value": AttrValue(
            tensor=TensorProto(dtype=F, tensor_shape=TensorShapeProto(unknown_rank=True)))}),
        typed("z", "Neg", F, "x")),
    "a second output read": _graph(typed_const("x", F, (3,)), typed("z", "Neg", F, "x:1")),
    "a function library": _graph(typed_const("x", F, (3,)), typed("z", "Neg", F, "x"), library=True),
    "a cycle": _graph(typed_const("x", F, (3,)), typed("y", "Add", F, "x", "z"), typed("z", "Add", F, "x", "y")),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_graph_tensorflow_refuses_gets_no_answer(case: str) -> None:
    graph = REFUSED[case]
    names = [node.name for node in graph.node]
    assert ours(graph, names) is None
    with pytest.raises(tfrun.ImportFailed):
        tensorflows(graph, names)


@pytest.mark.parametrize("case", sorted(UNSURE))
def test_what_it_is_not_sure_of_gets_no_answer(case: str) -> None:
    graph = UNSURE[case]
    assert ours(graph, [node.name for node in graph.node]) is None


def test_an_input_from_outside_the_names_gets_no_answer() -> None:
    graph = _graph(placeholder("p", (3,)), typed_const("x", F, (3,)), typed("z", "Add", F, "p", "x"))
    assert ours(graph, ["x", "z"]) is None
    assert ours(graph, ["x"]) == {"x": [(F, (3,))]}


def _folded(graph: GraphDef, monkeypatch: pytest.MonkeyPatch, *, infer: bool) -> tuple[bytes, list, int]:
    answered = []
    real = inferred.static_outputs

    def counted(g: WorkGraph, names):
        found = real(g, names) if infer else None
        answered.append(found is not None)
        return found

    monkeypatch.setattr(inferred, "static_outputs", counted)
    result = optimize(graph, what="graph.pb")
    monkeypatch.undo()
    notes = [(p.name, p.notes, p.removed_nodes, p.added_nodes) for p in result.passes]
    return result.graph.SerializeToString(deterministic=True), notes, sum(answered)


@pytest.mark.parametrize("source", ["generated", "mobilenet_v1_0.25_128/frozen_graph.pb"])
def test_folding_with_what_is_inferred_gives_the_graph_tensorflows_answers_give(
    source: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph = samples.retrain_shaped_mobilenet() if source == "generated" else load_graph(fixture_path(source)).graph
    inferred_graph, inferred_notes, used = _folded(graph, monkeypatch, infer=True)
    asked_graph, asked_notes, unused = _folded(graph, monkeypatch, infer=False)
    assert used >= 1 and unused == 0  # the first run used what was inferred, the second asked TensorFlow
    assert inferred_graph == asked_graph
    assert inferred_notes == asked_notes


@pytest.mark.parametrize("infer", [True, False])
def test_a_constant_colocated_with_a_node_it_does_not_read_folds(infer: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # TensorFlow refuses a node colocated with one that is not there: the constants alone import without that.
    weights = const("w", np.full(3, 4.0, np.float32))
    weights.attr["_class"].list.s.append(b"loc:@p")
    graph = _graph(placeholder("p", (3,)), weights, op("w/rsqrt", "Rsqrt", "w"), op("out", "Mul", "p", "w/rsqrt"))
    folded, notes, _ = _folded(graph, monkeypatch, infer=infer)
    result = GraphDef.FromString(folded)
    assert [node.op for node in result.node] == ["Placeholder", "Const", "Mul"]
    assert np.array_equal(tensor_util.make_ndarray(result.node[1].attr["value"].tensor), np.full(3, 0.5, np.float32))
