"""Graph files as TensorBoard runs: every file read before any run is written, each run named after its file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.graph.io import LoadedGraph
    from inspector.tb.events import RunWritten


def write_runs(
    graphs: Sequence[Path | str | LoadedGraph],
    *,
    logdir: Path | str,
    run: str | None = None,
    keep_weights: bool = False,
) -> tuple[RunWritten, ...]:
    """Write each graph as a run under ``logdir``: ``run``, or the file name without ``_graph.pb``."""
    from inspector.graph.io import LoadedGraph, default_stem, load_graph
    from inspector.tb.events import write_run

    if run and len(graphs) > 1:
        raise InspectorError("--run names one run, but several graphs were given; leave --run out to name each run after its file")
    # Every graph is loaded before any run is written: a bad file later on the
    # command line must not leave the earlier runs half-done in the logdir.
    loaded = [g if isinstance(g, LoadedGraph) else load_graph(g) for g in graphs]
    return tuple(
        write_run(g.graph, Path(logdir), run or default_stem(g.path), keep_weights=keep_weights) for g in loaded
    )
