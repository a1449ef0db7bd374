"""demo(): a graph the project builds itself, optimized, verified and compared, all inside one folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.graph.io import save_graph
from inspector.workflows.optimize import Progress, no_progress

if TYPE_CHECKING:
    from inspector.workflows.compare import CompareResult

DEFAULT_FOLDER = Path("tf_files/demo")


@dataclass(frozen=True)
class DemoGraph:
    retrained: Path
    nodes: int


@dataclass(frozen=True)
class DemoResult:
    """The graph demo() built, and what compare() made of it."""

    retrained: Path
    nodes: int
    compare: CompareResult

    @property
    def ok(self) -> bool:
        return self.compare.ok

    def to_json(self) -> dict:
        # The same document as `inspector compare --json`: the demo is a compare on a graph of its own.
        return self.compare.to_json()


def prepare(folder: Path, *, force: bool = False) -> DemoGraph:
    """Write ``retrained_graph.pb``, a retrain.py-shaped MobileNet, into ``folder``.

    The demo keeps to its own folder so it never touches a user's own
    ``tf_files/retrained_graph.pb`` from the codelab; a ``retrained_graph.pb``
    there that inspector did not write is refused unless ``force``.
    """
    from inspector.graph.samples import retrain_shaped_mobilenet
    from inspector.workflows.outputs import owned_output

    target = Path(folder) / "retrained_graph.pb"
    with owned_output(target, force=force, flag="--dir"):
        graph = retrain_shaped_mobilenet()
        path = save_graph(graph, target)
    return DemoGraph(retrained=path, nodes=len(graph.node))


def demo(
    folder: Path | str = DEFAULT_FOLDER,
    *,
    board: bool = True,
    port: int = 6006,
    bind_all: bool = False,
    timeout: float = 90.0,
    progress: Progress | None = None,
    force: bool = False,
) -> DemoResult:
    """Build a retrain.py-shaped graph in ``folder``, then compare() it with its optimized self (logs beside it).

    Graphs already in ``folder`` that inspector did not write are refused unless ``force``.
    """
    from inspector.workflows.compare import compare
    from inspector.workflows.outputs import check_replaceable

    folder = Path(folder)
    step = progress or no_progress
    step("Building a retrain.py-shaped MobileNet graph (imports TensorFlow)", None, None)
    # Both outputs are checked before either is written: a refused optimized graph leaves no new retrained one.
    check_replaceable(folder / "optimized_graph.pb", force=force, flag="--dir")
    made = prepare(folder, force=force)
    result = compare(
        made.retrained, output=folder / "optimized_graph.pb", logdir=folder / "training_summaries",
        board=board, port=port, bind_all=bind_all, timeout=timeout, progress=step, force=force,
    )
    return DemoResult(retrained=made.retrained, nodes=made.nodes, compare=result)
