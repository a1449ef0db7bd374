"""`inspector demo`: a graph the project builds itself, optimized, ready to compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspector.graphio import save_graph


@dataclass(frozen=True)
class DemoGraphs:
    retrained: Path
    optimized: Path
    retrained_nodes: int
    optimized_nodes: int


def prepare(folder: Path) -> DemoGraphs:
    """Write ``retrained_graph.pb`` (a retrain.py-shaped MobileNet) and its optimized form into ``folder``.

    The demo keeps to its own folder so it never touches a user's own
    ``tf_files/retrained_graph.pb`` from the codelab.
    """
    from inspector.optimize import detect_names, optimize_graph
    from inspector.samples import retrain_shaped_mobilenet

    retrained = retrain_shaped_mobilenet()
    names = detect_names(retrained, what="the demo graph")
    optimized = optimize_graph(retrained, input_names=names.inputs, output_names=names.outputs)
    a = save_graph(retrained, folder / "retrained_graph.pb")
    b = save_graph(optimized, folder / "optimized_graph.pb")
    return DemoGraphs(retrained=a, optimized=b, retrained_nodes=len(retrained.node), optimized_nodes=len(optimized.node))
