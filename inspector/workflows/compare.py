"""compare(): two graphs (or one, optimized and verified first) as TensorBoard runs, their diff, TFLite verdicts and a board."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.errors import InspectorError
from inspector.workflows.optimize import OptimizerOptions, Progress, default_optimized_path, no_progress, optimize_into

if TYPE_CHECKING:
    from inspector.analysis.diff import GraphDiff
    from inspector.graph.io import LoadedGraph
    from inspector.optimizer.pipeline import OptimizeResult
    from inspector.run.verify import VerifyReport
    from inspector.tb.board import StartResult
    from inspector.tb.events import RunWritten
    from inspector.tb.textsummary import TextWritten
    from inspector.tflite.check import MobileVerdict

@dataclass(frozen=True)
class CompareResult:
    """What compare() wrote and found.

    ``ok`` is False when the optimized graph (one-graph mode) does not compute
    what the input computes; everything else was still written. ``check`` is
    None when the TensorFlow Lite check was not asked for, or could not run
    here (``check_note`` says why). ``board`` is None without a board, or when
    TensorBoard did not start (``board_error``: the error, the runs are written).
    """

    logdir: Path
    names: tuple[str, str]
    runs: tuple[RunWritten, RunWritten]
    diff: GraphDiff
    text_summary: TextWritten
    optimized: OptimizeResult | None = None  # one graph: what the optimizer did
    output: Path | None = None                # one graph: where the optimized graph was written
    verify: VerifyReport | None = None        # one graph: the optimized graph against its input
    check: tuple[MobileVerdict, MobileVerdict] | None = None
    check_note: str | None = None
    board: StartResult | None = None
    board_error: InspectorError | None = None
    graph_url: str | None = None  # TensorBoard's Graph tab (pick a run in its menu)
    diff_url: str | None = None   # the Graph diff tab, opened on this pair

    @property
    def ok(self) -> bool:
        return self.verify is None or self.verify.ok

    @property
    def message(self) -> str:
        """The verdict in one line: the verify's when there was one."""
        if self.verify is not None:
            return self.verify.message
        return f"wrote runs {self.names[0]} and {self.names[1]} under {self.logdir}"

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "runs": [run.to_json() for run in self.runs],
            "diff": self.diff.to_json(),
            "text_summary": {
                "run": self.text_summary.run,
                "tag": self.text_summary.tag,
                "event_file": str(self.text_summary.event_file),
            },
            "board": None,
        }
        if self.board is not None:
            data["board"] = board_json(self.board.info) | {
                "reused": self.board.reused, "graph_url": self.graph_url, "diff_url": self.diff_url,
            }
        if self.verify is not None:
            data["verify"] = self.verify.to_json()
        if self.check is not None or self.check_note is not None:
            data["check"] = None if self.check is None else {
                name: verdict.to_json() for name, verdict in zip(self.names, self.check)
            }
        return data


def board_json(info: Any) -> dict:
    """A BoardInfo as JSON (``board start --json``, ``board status --json`` and compare's ``board``)."""
    return {
        "pid": info.pid,
        "port": info.port,
        "host": info.host,
        "logdir": info.logdir,
        "url": info.url,
        "start_time": info.start_time,
        "log_path": info.log_path,
        "version": info.version,
    }


def compare(
    a: Path | str | LoadedGraph,
    b: Path | str | LoadedGraph | None = None,
    *,
    logdir: Path | str,
    names: Sequence[str] | None = None,
    output: Path | str | None = None,
    images: Sequence[Path | str] = (),
    board: bool = True,
    check: bool = True,
    keep_weights: bool = False,
    port: int = 6006,
    bind_all: bool = False,
    timeout: float = 90.0,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    inputs: Sequence[str] = (),
    feeds: Sequence[str] = (),
    skip: Sequence[str] = (),
    placeholder_type_enum: int = 1,
    toco_compatible: bool = False,
    frozen_graph: bool = True,
    strip_dropout: bool = False,
    progress: Progress | None = None,
    force: bool = False,
    allow_unsafe_ops: bool = False,
) -> CompareResult:
    """Write ``a`` and ``b`` as TensorBoard runs under ``logdir``, diff them, check both for TFLite, start a board.

    With ``b`` left out, ``a`` is optimized into ``output`` (default: beside
    ``a``, as optimize writes it: ``optimized_graph.pb`` for a
    ``retrained_graph.pb``, else ``X_optimized.pb``; the optimizer options as
    for optimize, ``skip`` naming passes to leave out) and verified against it
    on ``images`` (default: seeded random inputs) before anything is written,
    so a bad input leaves no file; a verify that says "no" is the result's
    ``ok``, not an error; ``inputs`` and ``feeds`` say what the verify feeds
    (``NAME[:SHAPE[:DTYPE]]``, ``NAME=VALUE|FILE.npy``, as run/feeds.py reads them). An existing ``output`` that inspector did not write
    is refused unless ``force``. Run names are ``names`` (two that are one run
    once normalised are refused), else taken from the file names (retrained,
    optimized). Running a graph (the verify, the TensorFlow Lite check) that
    holds ops which read or write files or run code is refused unless
    ``allow_unsafe_ops``. The Graph diff tab is told to open on this pair, and the diff
    is also written as a text summary. ``board``: start a TensorBoard on
    ``logdir`` in the background (or reuse the one serving it), on ``port`` or
    the next free one, on all interfaces with ``bind_all``. ``progress(step,
    done, total)`` hears what runs now.
    """
    from inspector.analysis.diff import diff_loaded, run_names
    from inspector.graph.io import LoadedGraph, load_graph
    from inspector.tb.events import write_run
    from inspector.tb.plugin import record_pair
    from inspector.tb.plugin.payload import diff_record
    from inspector.workflows.outputs import changes_between
    from inspector.tb.textsummary import write_text_summary

    step = progress or no_progress
    logdir = Path(logdir)
    given = _checked_names(names)
    optimized = verified = None
    target: Path | None = None
    if b is None:
        source = a.path if isinstance(a, LoadedGraph) else Path(a)
        target = Path(output) if output is not None else default_optimized_path(source)
        options = OptimizerOptions.of(
            input_names=input_names, output_names=output_names, skip=skip, placeholder_type_enum=placeholder_type_enum,
            toco_compatible=toco_compatible, frozen_graph=frozen_graph, strip_dropout=strip_dropout,
        )

        def verify_first(loaded: LoadedGraph, pending: LoadedGraph) -> VerifyReport:
            return _verify_pair(loaded, pending, images=images, options=options, inputs=inputs, feeds=feeds,
                                progress=step, allow_unsafe_ops=allow_unsafe_ops)

        # Verified before it is written: a bad image or name leaves no optimized graph behind.
        a, optimized, b, verified = optimize_into(a, target, options, before_write=verify_first, progress=step, force=force)
    else:
        if output is not None:
            raise InspectorError("--output is where one graph gets optimized to; with two graphs there is nothing to write")
        if skip:
            raise InspectorError("--skip-pass leaves out a pass when one graph gets optimized; with two graphs nothing is optimized")
        if inputs or feeds:
            raise InspectorError("--input and --feed say what the verify of one optimized graph feeds; "
                                 "with two graphs nothing is run: use inspector verify A B --feed ...")
        a = a if isinstance(a, LoadedGraph) else load_graph(a)
        b = b if isinstance(b, LoadedGraph) else load_graph(b)
    pair = given or run_names(a.path, b.path)

    step(f"Writing runs {pair[0]} and {pair[1]} to {logdir}", None, None)
    runs = (write_run(a.graph, logdir, pair[0], keep_weights=keep_weights),
            write_run(b.graph, logdir, pair[1], keep_weights=keep_weights))
    changes = changes_between(a.path, b.path)
    diff = diff_loaded(a, b, labels=pair, changes=changes, signatures=(optimized.signature if optimized else None, None))
    # The Graph diff tab opens on this pair (and names the passes, while the runs hold these graphs);
    # the Text tab shows the table where the plugin is not installed.
    record_pair(logdir, *pair, changes=changes, event_files=(runs[0].event_file.name, runs[1].event_file.name),
                diff=diff_record(diff, a.graph, b.graph))
    text = write_text_summary(logdir, diff)
    verdicts, note = _check_pair(a, b, progress=step, allow_unsafe_ops=allow_unsafe_ops) if check else (None, None)
    result = CompareResult(
        logdir=logdir, names=pair, runs=runs, diff=diff, text_summary=text, optimized=optimized, output=target,
        verify=verified, check=verdicts, check_note=note,
    )
    if not board:
        return result
    return _with_board(result, port=port, bind_all=bind_all, timeout=timeout, progress=step)


def two_names(names: Sequence[str] | None) -> tuple[str, str] | None:
    """``names`` for the graph before and the graph after, or None when not given."""
    if not names:
        return None
    if isinstance(names, str) or len(names) != 2:
        raise InspectorError(f"--names takes two names (the graph before, the graph after), not {names!r}")
    return names[0], names[1]


def _checked_names(names: Sequence[str] | None) -> tuple[str, str] | None:
    from inspector.tb.events import normalize_run_name

    pair = two_names(names)
    if pair is None:
        return None
    if pair[0] == pair[1]:
        raise InspectorError(f"--names gives both runs the name {pair[0]!r}; pick two different names")
    # "x" and "./x" (or "x/") are one run folder: the second would replace the first.
    first = normalize_run_name(pair[0])
    if first == normalize_run_name(pair[1]):
        raise InspectorError(f"--names {pair[0]!r} and {pair[1]!r} are one run ({first!r}) in the logdir; pick two different names")
    return pair


def _verify_pair(
    a: LoadedGraph, b: LoadedGraph, *, images: Sequence[Path | str], options: OptimizerOptions, inputs: Sequence[str],
    feeds: Sequence[str], progress: Progress, allow_unsafe_ops: bool,
) -> VerifyReport:
    from inspector.run.labels import find_labels
    from inspector.run.verify import verify

    text = "Verifying the optimized graph"
    progress(text, None, None)
    return verify(a, b, images=[Path(i) for i in images], labels=find_labels(a.path),
                  progress=lambda done, total: progress(text, done, total),
                  input_names=options.input_names, output_names=options.output_names, inputs=inputs, feeds=feeds,
                  allow_unsafe_ops=allow_unsafe_ops)


def _check_pair(
    a: LoadedGraph, b: LoadedGraph, *, progress: Progress, allow_unsafe_ops: bool
) -> tuple[tuple[MobileVerdict, MobileVerdict] | None, str | None]:
    """TensorFlow Lite verdicts for both graphs; (None, why) when the converter cannot be run here."""
    from inspector.tflite.check import check

    progress("Checking both graphs with TensorFlow Lite's converter", None, None)
    try:
        return (check(a, allow_unsafe_ops=allow_unsafe_ops), check(b, allow_unsafe_ops=allow_unsafe_ops)), None
    except InspectorError as exc:
        # compare's job is the diff; a graph the converter cannot take is reported, not fatal.
        return None, f"TensorFlow Lite check skipped: {exc.message}"


def _with_board(result: CompareResult, *, port: int, bind_all: bool, timeout: float, progress: Progress) -> CompareResult:
    from dataclasses import replace

    from inspector.tb import board
    from inspector.tb.plugin import diff_tab_url

    progress(f"Starting TensorBoard on {result.logdir}", None, None)
    try:
        started = board.start(result.logdir, port=port, bind_all=bind_all, timeout=timeout)
    except InspectorError as exc:
        # The runs and the diff are done; what is left to say is why there is no board.
        return replace(result, board_error=exc)
    info = started.info
    return replace(result, board=started, graph_url=board.graph_url(info), diff_url=diff_tab_url(info.url, *result.names))
