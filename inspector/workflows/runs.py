"""Graph files as TensorBoard runs: every file read before any run is written, each run named after its file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.graph.io import LoadedGraph
    from inspector.tb.events import RunWritten


@dataclass(frozen=True)
class RunsWritten:
    """The runs write_runs() wrote, and the notes a person should see (runs renamed so two do not become one)."""

    runs: tuple[RunWritten, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"runs": [run.to_json() for run in self.runs], "notes": list(self.notes)}


def write_runs(
    graphs: Sequence[Path | str | LoadedGraph],
    *,
    logdir: Path | str,
    run: str | None = None,
    keep_weights: bool = False,
) -> RunsWritten:
    """Write each graph as a run under ``logdir``: ``run``, or the file name without ``_graph.pb``.

    Two files with one name (``a/retrained_graph.pb``, ``b/retrained_graph.pb``)
    get the names compare gives such a pair (:func:`inspector.analysis.diff.run_names`:
    the folder's name first, else ``-a`` and ``-b``), with a note saying so, so
    the second never replaces the first.
    """
    from inspector.graph.io import LoadedGraph, load_graph

    if run and len(graphs) > 1:
        raise InspectorError("--run names one run, but several graphs were given; leave --run out to name each run after its file")
    # Every graph is loaded before any run is written: a bad file later on the
    # command line must not leave the earlier runs half-done in the logdir.
    from inspector.tb.events import read_stripped, write_run

    def read(g: Path | str | LoadedGraph) -> tuple[LoadedGraph, tuple[int, int] | None]:
        if isinstance(g, LoadedGraph):
            return g, None
        # Without weights, a file is read node by node, its weights left out as they stream by (never all in memory).
        return (load_graph(g), None) if keep_weights else read_stripped(g)

    loaded = [read(g) for g in graphs]
    names, notes = _run_names([g.path for g, _ in loaded]) if not run else ([run], [])
    runs = tuple(write_run(g.graph, Path(logdir), name, keep_weights=keep_weights, stripped=stripped)
                 for (g, stripped), name in zip(loaded, names))
    return RunsWritten(runs=runs, notes=tuple(notes))


def _run_names(paths: Sequence[Path]) -> tuple[list[str], list[str]]:
    """One run name per file, none two the same once normalised; a note for each pair renamed."""
    from inspector.analysis.diff import run_names
    from inspector.graph.io import default_stem
    from inspector.tb.events import normalize_run_name

    names = [default_stem(p) for p in paths]
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(normalize_run_name(name), []).append(i)
    notes = []
    for run, members in groups.items():
        if len(members) != 2:
            continue  # one is fine; three or more are refused below
        i, j = members
        names[i], names[j] = run_names(paths[i], paths[j])
        notes.append(f"{paths[i]} and {paths[j]} would both be run {run!r}; wrote them as runs "
                     f"{names[i]!r} and {names[j]!r} (tb --run NAME names a single graph's run)")
    final = [normalize_run_name(n) for n in names]
    for name in dict.fromkeys(final):
        if final.count(name) > 1:
            files = ", ".join(str(p) for p, n in zip(paths, final) if n == name)
            raise InspectorError(f"{files}: these graphs would all be run {name!r}; "
                                 "give the files different names, or write each with its own `tb --run NAME`")
    return names, notes
