"""Optimize a graph file into another: the default output path, options, verify-before-write, and the atomic write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from inspector.errors import InspectorError

if TYPE_CHECKING:
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    from inspector.analysis.diff import GraphDiff, OpTable
    from inspector.graph.io import LoadedGraph
    from inspector.optimizer.pipeline import OptimizeResult

# progress(step, done, total): ``step`` says what runs now, for a person; ``done`` and
# ``total`` count its items when it has any (None: a wait with nothing to count).
Progress = Callable[[str, int | None, int | None], None]

T = TypeVar("T")


def no_progress(step: str, done: int | None = None, total: int | None = None) -> None:
    """The ``progress`` of a caller that shows none."""


@dataclass(frozen=True)
class OptimizerOptions:
    """What optimize() is told, with TensorFlow's optimize_for_inference meanings; names left None are detected."""

    input_names: tuple[str, ...] | None = None
    output_names: tuple[str, ...] | None = None
    skip: tuple[str, ...] = ()  # passes left out, by name
    placeholder_type_enum: int = 1  # DT_FLOAT
    toco_compatible: bool = False
    frozen_graph: bool = True
    strip_dropout: bool = False

    @classmethod
    def of(
        cls,
        *,
        input_names: Sequence[str] | str | None = None,
        output_names: Sequence[str] | str | None = None,
        skip: Sequence[str] = (),
        placeholder_type_enum: int = 1,
        toco_compatible: bool = False,
        frozen_graph: bool = True,
        strip_dropout: bool = False,
    ) -> OptimizerOptions:
        return cls(
            input_names=_tuple(input_names),
            output_names=_tuple(output_names),
            skip=tuple([skip] if isinstance(skip, str) else skip),
            placeholder_type_enum=int(placeholder_type_enum),
            toco_compatible=bool(toco_compatible),
            frozen_graph=bool(frozen_graph),
            strip_dropout=bool(strip_dropout),
        )


def _tuple(names: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    return (names,) if isinstance(names, str) else tuple(names)


def run_optimizer(graph: GraphDef, options: OptimizerOptions, *, what: str, checked: bool = False) -> OptimizeResult:
    """The optimizer on a graph in memory, with ``options`` (``checked``: load_graph checked it)."""
    from inspector.optimizer.pipeline import optimize

    return optimize(
        graph,
        input_names=options.input_names,
        output_names=options.output_names,
        placeholder_type_enum=options.placeholder_type_enum,
        toco_compatible=options.toco_compatible,
        frozen_graph=options.frozen_graph,
        strip_dropout=options.strip_dropout,
        skip=options.skip,
        what=what,
        checked=checked,
    )


def default_optimized_path(source: Path | str) -> Path:
    """``retrained_graph.pb`` -> ``optimized_graph.pb`` beside it, as the codelab names it; else ``X_optimized.pb``."""
    from inspector.graph.io import default_stem

    source = Path(source)
    if default_stem(source) == "retrained":
        return source.with_name("optimized_graph.pb")
    return source.with_name(f"{source.stem}_optimized.pb")


def change_record(result: OptimizeResult, *, source_sha256: str | None) -> dict:
    """The optimizer's change record: per pass, the nodes it removed, added and rewired and why, and the graph it read."""
    return {
        "source_sha256": source_sha256,
        "passes": [{"name": p.name, "removed": list(p.removed_nodes), "added": list(p.added_nodes),
                    "rewired": list(p.rewired_nodes), "reasons": dict(p.reasons)}
                   for p in result.passes if p.removed_nodes or p.added_nodes or p.rewired_nodes],
    }


def optimize_into(
    source: Path | str | LoadedGraph,
    target: Path | str,
    options: OptimizerOptions,
    *,
    before_write: Callable[[LoadedGraph, LoadedGraph], T] | None = None,
    progress: Progress = no_progress,
    force: bool = False,
    hint: str = "",
    helper: bool = False,
) -> tuple[LoadedGraph, OptimizeResult, LoadedGraph, T | None]:
    """Load, optimize, write ``target`` atomically; returns (input, result, output as written, checked).

    ``before_write(input, optimized)`` runs on the optimized graph in memory
    before anything is written (its answer is ``checked``), so an error it
    raises leaves no file behind. An existing ``target`` is replaced only when
    inspector wrote it, or with ``force`` (see :mod:`inspector.workflows.outputs`;
    ``hint`` goes into the refusal); that is checked before anything runs.
    ``helper``: TensorFlow runs in a helper process (tfrun.helping) while the
    passes that need none run here; for a process that ends with the command
    and needs no TensorFlow of its own (the CLI's optimize), not for one that
    would import it anyway or optimizes again and again.
    """
    from inspector.atomic import same_file
    from inspector.graph.io import LoadedGraph, load_graph, save_graph
    from inspector.optimizer.passes import tfrun
    from inspector.workflows.outputs import file_sha256, owned_output

    target = Path(target)
    source_path = source.path if isinstance(source, LoadedGraph) else Path(source)
    if same_file(source_path, target):
        raise InspectorError(f"{target}: --output is the input graph; write the optimized graph to another file")
    extra: dict = {}
    with owned_output(target, force=force, hint=hint, extra=extra):
        loaded = source if isinstance(source, LoadedGraph) else load_graph(source_path)
        # TensorFlow's import, in a helper process, overlaps the passes that need none (once the graph proved
        # readable: a file that is not a graph costs no TensorFlow import anywhere).
        with tfrun.helping() if helper else nullcontext():
            progress(f"Optimizing {source_path} (imports TensorFlow)", None, None)
            # A graph frozen from a SavedModel was not checked as a file read is.
            read_here = loaded is not source and loaded.format != "saved_model"
            result = run_optimizer(loaded.graph, options, what=str(source_path), checked=read_here)
        checked = None
        if before_write is not None:
            pending = LoadedGraph(path=target, graph=result.graph, size_bytes=result.graph.ByteSize(), format="pb")
            checked = before_write(loaded, pending)
        save_graph(result.graph, target, refuse=(source_path,))
        # What each pass did, beside the graph (the .pb stays a clean graph for the phone): the diff tells it.
        extra["changes"] = change_record(result, source_sha256=file_sha256(source_path))
    written = LoadedGraph(path=target, graph=result.graph, size_bytes=target.stat().st_size, format="pb")
    return loaded, result, written, checked


@dataclass(frozen=True)
class OptimizedFile:
    """A graph file optimized into another: both graphs, what each pass did, the op table and the diff between the files.

    ``diff`` is None when optimize_file was told ``diff=False``; ``ops`` is always there.
    """

    source: LoadedGraph
    written: LoadedGraph
    result: OptimizeResult
    diff: GraphDiff | None
    ops: OpTable

    def to_json(self) -> dict:
        return {
            "input": str(self.source.path),
            "output": str(self.written.path),
            "optimize": self.result.to_json(),
            "diff": self.diff.to_json() if self.diff is not None else None,
        }


def optimize_file(
    source: Path | str | LoadedGraph,
    output: Path | str | None = None,
    *,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    skip: Sequence[str] = (),
    placeholder_type_enum: int = 1,
    toco_compatible: bool = False,
    frozen_graph: bool = True,
    strip_dropout: bool = False,
    progress: Progress | None = None,
    force: bool = False,
    diff: bool = True,
    helper: bool = False,
) -> OptimizedFile:
    """Optimize the graph at ``source`` into ``output`` (default: :func:`default_optimized_path`), written atomically.

    An existing ``output`` that inspector did not write is refused unless ``force``.
    ``diff=False`` leaves out the node-level diff (matching, stories, scopes: seconds
    on a big graph) when only the op table is wanted. ``helper``: see :func:`optimize_into`.
    """
    from inspector.analysis.diff import diff_loaded, op_table_loaded
    from inspector.graph.io import LoadedGraph

    source_path = source.path if isinstance(source, LoadedGraph) else Path(source)
    target = Path(output) if output is not None else default_optimized_path(source_path)
    options = OptimizerOptions.of(
        input_names=input_names, output_names=output_names, skip=skip, placeholder_type_enum=placeholder_type_enum,
        toco_compatible=toco_compatible, frozen_graph=frozen_graph, strip_dropout=strip_dropout,
    )
    loaded, result, written, _ = optimize_into(source, target, options, progress=progress or no_progress, force=force, helper=helper,
                                               hint=" (are --input and --output swapped?)")
    labels, signatures = (source_path.name, target.name), (result.signature, result.result_signature)
    if not diff:
        ops = op_table_loaded(loaded, written, labels=labels, signatures=signatures, stats=result.stats or (None, None))
        return OptimizedFile(source=loaded, written=written, result=result, diff=None, ops=ops)
    found = diff_loaded(loaded, written, labels=labels, changes=change_record(result, source_sha256=None),
                        signatures=signatures)
    return OptimizedFile(source=loaded, written=written, result=result, diff=found, ops=found.ops)
