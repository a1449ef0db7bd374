"""The working graph: a prune after edits removes exactly what the outputs no longer reach, loops included."""

from __future__ import annotations

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import op
from inspector.graph.refs import reach
from inspector.graph.workgraph import WorkGraph


def _chain_graph(seed: int, size: int = 60) -> GraphDef:
    """A random DAG: node i reads one to three of the nodes before it, by data or control edges."""
    rng = np.random.default_rng(seed)
    graph = GraphDef()
    graph.node.append(op("n0", "Placeholder"))
    for index in range(1, size):
        reads = sorted({int(r) for r in rng.integers(0, index, size=rng.integers(1, 4))})
        graph.node.append(op(f"n{index}", "AddN", *[("^" if rng.random() < 0.2 else "") + f"n{r}" for r in reads]))
    return graph


@pytest.mark.parametrize("seed", range(12))
def test_a_prune_after_edits_removes_exactly_what_the_outputs_no_longer_reach(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    g = WorkGraph(_chain_graph(seed))
    keep = ["n0", "n59", "n40"]
    g.prune(keep)
    for _ in range(4):  # rounds of edits, each followed by a prune that looks only where readers were lost
        names = [node.name for node in g if node.name not in keep]
        for name in rng.choice(names, size=min(5, len(names)), replace=False):
            node = g.get(str(name))
            if node is None:
                continue
            if rng.random() < 0.5 and node.input:
                g.set_inputs(node, list(node.input)[1:])  # drops an edge: what it read may die
            else:
                users = g.users(node.name)
                for user in users:
                    g.set_inputs(user, [ref for ref in user.input if ref.lstrip("^") != node.name] or ["n0"])
        expected = reach({node.name: node for node in g}, keep)
        before = {node.name for node in g}
        removed = g.prune(keep)
        assert {node.name for node in g} == expected
        assert removed == len(before - expected)


def test_a_prune_finds_a_loop_cut_off_from_the_outputs_dead() -> None:
    graph = GraphDef()
    graph.node.extend([
        op("x", "Placeholder"), op("enter", "Enter", "x"), op("merge", "Merge", "enter", "next"),
        op("body", "Identity", "merge"), op("next", "NextIteration", "body"), op("exit", "Exit", "merge"),
        op("out", "Identity", "exit"),
    ])
    g = WorkGraph(graph)
    assert g.prune(["out", "x"]) == 0
    g.set_inputs(g.node("out"), ["x"])  # the loop's nodes still read each other, but nothing kept reads them
    assert g.prune(["out", "x"]) == 5
    assert sorted(node.name for node in g) == ["out", "x"]


@pytest.mark.parametrize("seed", range(6))
def test_a_graph_already_in_order_is_written_in_the_order_the_walk_gives(seed: int) -> None:
    # Nodes already after their inputs are taken as they stand, without the walk: the same order either way.
    rng = np.random.default_rng(2000 + seed)
    graph = _chain_graph(seed)
    nodes = list(graph.node)
    if seed % 2:  # out of order: some producers after their readers, and an output port and a cycle
        rng.shuffle(nodes)
        nodes.append(op("late", "AddN", f"{nodes[0].name}:1", "late"))
    shuffled = GraphDef()
    shuffled.node.extend(nodes)
    g = WorkGraph(shuffled)
    for name in rng.choice(sorted(n.name for n in nodes), size=5, replace=False):
        if name in g and g.users(name):
            g.remove(name)  # edits leave references to nodes that are gone
    walked = g._walked_order()  # noqa: SLF001
    order = g._order()  # noqa: SLF001
    assert isinstance(order, list) == bool(seed % 2)  # the walk only for the graph out of order
    assert list(order) == walked
    assert [node.name for node in g.to_graphdef().node] == walked
    position = {name: index for index, name in enumerate(walked)}
    for name in walked:
        for ref in g.inputs(name):
            source = ref.lstrip("^").split(":")[0]
            if source in position and source != name and seed % 2 == 0:
                assert position[source] < position[name]
