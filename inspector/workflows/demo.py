"""`inspector demo`: a graph the project builds itself, ready to optimize and compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspector.graph.io import save_graph


@dataclass(frozen=True)
class DemoGraph:
    retrained: Path
    nodes: int


def prepare(folder: Path) -> DemoGraph:
    """Write ``retrained_graph.pb``, a retrain.py-shaped MobileNet, into ``folder``.

    The demo keeps to its own folder so it never touches a user's own
    ``tf_files/retrained_graph.pb`` from the codelab.
    """
    from inspector.graph.samples import retrain_shaped_mobilenet

    graph = retrain_shaped_mobilenet()
    path = save_graph(graph, folder / "retrained_graph.pb")
    return DemoGraph(retrained=path, nodes=len(graph.node))
