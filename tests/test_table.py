"""Tests for inspector.graph.table: the one parse of a graph's structure that the signature, matching, stories and scopes share."""

from __future__ import annotations

import gc
import random

import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import op, placeholder, retrained_like
from inspector.graph.losses import training_reason, training_side
from inspector.graph.ops import LOSS_OPS, is_training_step
from inspector.graph.refs import CONTROL, upstream
from inspector.graph.table import NodeTable, gc_paused


def _graph(*nodes) -> GraphDef:
    graph = GraphDef()
    graph.node.extend(nodes)
    return graph


def test_inputs_are_parsed_once_with_ports_control_edges_and_names_with_colons():
    graph = _graph(
        placeholder("x", [1, 2]),
        op("split", "Split", "x"),
        op("odd:name", "Identity", "x"),
        op("y", "AddV2", "split:1", "^x", "odd:name", "missing"),
    )
    table = NodeTable(graph)
    assert table.inputs["y"] == [("split", 1), ("x", CONTROL), ("odd:name", 0), ("missing", 0)]
    assert table.data_inputs("y") == [("split", 1), ("odd:name", 0)]  # a missing node is no input
    assert table.op("y") == "AddV2" and table.order == {"x": 0, "split": 1, "odd:name": 2, "y": 3}
    assert [(r.name, slot, port) for r, slot, port in table.readers["x"]] == [
        ("split", 0, 0), ("odd:name", 0, 0), ("y", 1, CONTROL)]
    assert [(r.name, slot) for r, slot, _ in table.data_readers("x")] == [("split", 0), ("odd:name", 0)]
    assert [r.name for r, _, _ in table.readers["missing"]] == ["y"]  # what reads a dangling name is still known


def test_a_later_node_of_a_name_already_seen_is_left_out_everywhere():
    graph = _graph(placeholder("x", [1]), op("y", "Relu", "x"), op("y", "Tanh", "x"), op("z", "Neg", "y"))
    table = NodeTable(graph)
    assert len(table) == 3 and table.op("y") == "Relu"
    assert [r.name for r, _, _ in table.readers["x"]] == ["y"]  # the second y's edge is not counted


def test_a_table_is_built_from_nodes_as_well_as_from_a_graph():
    graph = retrained_like()
    assert NodeTable(list(graph.node)).inputs == NodeTable(graph).inputs


def test_upstream_and_downstream_walk_data_and_control_edges_within_bounds():
    graph = _graph(
        placeholder("x", [1]), op("a", "Relu", "x"), op("b", "Neg", "a"), op("c", "NoOp", "^b"), op("d", "Tanh", "b"),
    )
    table = NodeTable(graph)
    assert table.upstream(["c"]) == {"c", "b", "a", "x"}
    assert table.upstream(["c"], stop={"b"}) == {"c", "b"}
    assert table.upstream(["d"], within={"d", "b", "x"}) == {"d", "b"}
    assert table.upstream(["nowhere"]) == set()
    assert table.downstream(["a"]) == {"a", "b", "c", "d"}
    assert table.downstream(["a"], within={"a", "b", "d"}) == {"a", "b", "d"}
    assert table.upstream(["d"]) == upstream(graph, ["d"])  # the same answer as refs.upstream, from parsed inputs


def test_a_cycle_is_walked_once():
    graph = _graph(op("a", "Merge", "b"), op("b", "NextIteration", "a"))
    table = NodeTable(graph)
    assert table.upstream(["a"]) == {"a", "b"} and table.downstream(["a"]) == {"a", "b"}


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collector_as_it_found_it_even_on_error(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with pytest.raises(ValueError), gc_paused():
            assert not gc.isenabled()
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner pause does not turn it on under the outer one
            raise ValueError
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def _random_graph(rng: random.Random, size: int) -> GraphDef:
    """A random DAG (with control edges) of inference ops, training ops, savers and gradients scopes."""
    ops = ["Relu", "AddV2", "MatMul", "Identity", "CheckNumerics", "VariableV2", "ApplyGradientDescent", "ReluGrad",
           "SoftmaxCrossEntropyWithLogits", "Mean", "NoOp", "SaveV2"]
    nodes = [placeholder("input", [1, 4])]
    for i in range(size):
        kind = rng.choice(ops)
        scope = rng.choice(["net", "net", "gradients", "save", "loss"])
        sources = [rng.choice(nodes).name for _ in range(rng.randint(0, 3))]
        refs = [f"^{s}" if rng.random() < 0.2 else s for s in sources]
        nodes.append(op(f"{scope}/n{i}", kind, *refs))
    return _graph(*nodes)


@pytest.mark.parametrize("seed", range(40))
def test_the_training_side_walk_kept_on_the_side_gives_what_walking_all_of_inference_gave(seed):
    # The old rule, written out: the side minus everything upstream of any node off the side.
    graph = _random_graph(random.Random(seed), 60)
    table = NodeTable(graph)
    side = training_side(table)
    before = {n for n, node in table.nodes.items() if training_reason(node) is not None}
    before |= table.downstream([n for n, node in table.nodes.items() if is_training_step(node.op) or node.op in LOSS_OPS])
    live = set(table.nodes) - before
    assert side == before - table.upstream(live)
