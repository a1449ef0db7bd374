"""The `inspector` command line: parses arguments, calls the library, prints, and picks exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from inspector import __version__
from inspector.errors import InspectorError

DEFAULT_LOGDIR = Path("tf_files/training_summaries")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors become InspectorError so every error prints the same way."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InspectorError(f"{self.prog}: {message} (see {self.prog} --help)")


class Output:
    """Where a command writes: rich on stdout, one-line errors and notes on stderr."""

    def __init__(self, *, json_mode: bool = False) -> None:
        from rich.console import Console

        self.json_mode = json_mode
        self.console = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def print(self, *renderables: Any) -> None:
        if not self.json_mode:
            self.console.print(*renderables)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        """Side information: on stderr, so --json output stays parseable."""
        from inspector.cli.render import message

        self.err.print(message("note", text))

    def warn(self, text: str) -> None:
        from inspector.cli.render import message

        self.err.print(message("warning", text))

    def status(self, text: str):
        """A spinner for long waits; silent when stderr is not a terminal."""
        return self.err.status(text)

    @contextlib.contextmanager
    def progress(self, text: str) -> Iterator[Callable[[int, int], None]]:
        """A progress bar on stderr, yielding the ``progress(done, total)`` callback the library takes."""
        from rich.progress import Progress

        # Off for pipes and --json: a non-terminal gets no bar and no stray blank line.
        quiet = self.json_mode or not self.err.is_terminal
        with Progress(console=self.err, transient=True, disable=quiet) as bar:
            task = bar.add_task(text, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)


# --- commands ---------------------------------------------------------------


def cmd_diff(args: argparse.Namespace, out: Output) -> int:
    from inspector.analysis.diff import diff_loaded
    from inspector.graph.io import load_graph
    from inspector.cli.render import diff_report

    a, b = load_graph(args.a), load_graph(args.b)
    diff = diff_loaded(a, b, labels=_labels(args, a.path, b.path))
    if args.json:
        out.json(diff.to_json())
    else:
        out.print(diff_report(diff, max_rows=None if args.all_ops else 25))
    return 0


def _labels(args: argparse.Namespace, a: Path, b: Path) -> tuple[str, str]:
    from inspector.analysis.diff import run_names

    if getattr(args, "names", None):
        return tuple(args.names)  # type: ignore[return-value]
    return run_names(a, b)


def cmd_tb(args: argparse.Namespace, out: Output) -> int:
    from inspector.graph.io import default_stem, load_graph
    from inspector.tb.events import write_run

    if args.run and len(args.graphs) > 1:
        raise InspectorError("--run names one run, but several graphs were given; leave --run out to name each run after its file")
    # Every graph is loaded before any run is written: a bad file later on the
    # command line must not leave the earlier runs half-done in the logdir.
    graphs = [load_graph(path) for path in args.graphs]
    written = []
    for loaded in graphs:
        run = args.run or default_stem(loaded.path)
        written.append(write_run(loaded.graph, args.logdir, run, keep_weights=args.keep_weights))
    if args.json:
        out.json([_run_json(w) for w in written])
        return 0
    for w in written:
        out.print(_run_line(w))
    out.print(f"View: tensorboard --logdir {args.logdir}   (or: inspector board start {args.logdir})")
    return 0


def _run_json(w: Any) -> dict:
    return {
        "run": w.run,
        "run_dir": str(w.run_dir),
        "event_file": str(w.event_file),
        "nodes": w.nodes,
        "bytes_written": w.bytes_written,
        "consts_stripped": w.consts_stripped,
        "bytes_stripped": w.bytes_stripped,
        "replaced": [str(p) for p in w.replaced],
    }


def _run_line(w: Any) -> str:
    from inspector.cli.render import human_bytes

    line = f"run [bold]{w.run}[/] -> {w.run_dir}: {w.nodes} nodes, {human_bytes(w.bytes_written)}"
    if w.consts_stripped:
        line += f" (weights left out: {human_bytes(w.bytes_stripped)} in {w.consts_stripped} Consts)"
    if w.replaced:
        line += f"; replaced {len(w.replaced)} earlier graph file{'s' if len(w.replaced) > 1 else ''}"
    return line


def _bool_flag(value: str) -> bool:
    """TensorFlow's tools take --flag, --flag=True and --flag=false alike."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "t", "y"):
        return True
    if lowered in ("0", "false", "no", "f", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {value!r}")


def _names(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    return names or None


def _placeholder_type(value: str) -> int:
    kinds = {int(v) for v in value.split(",") if v.strip()}
    if len(kinds) != 1:
        raise InspectorError(f"--placeholder_type_enum {value}: give one type for every placeholder (e.g. 1 for float32)")
    return kinds.pop()


def default_optimized_path(source: Path) -> Path:
    """``retrained_graph.pb`` -> ``optimized_graph.pb`` beside it, as the codelab names it; else ``X_optimized.pb``."""
    from inspector.graph.io import default_stem

    if default_stem(source) == "retrained":
        return source.with_name("optimized_graph.pb")
    return source.with_name(f"{source.stem}_optimized.pb")


def _optimize_file(args: argparse.Namespace, source: Path, target: Path, out: Output, *,
                   before_write: Callable[[Any, Any], Any] | None = None):
    """Load, optimize, write atomically; returns (loaded input, OptimizeResult, loaded output, checked).

    ``before_write(loaded, optimized)`` runs on the graph in memory before it is
    written (its result is ``checked``), so an error it raises leaves no file.
    """
    from inspector.atomic import same_file
    from inspector.graph.io import LoadedGraph, load_graph, save_graph
    from inspector.optimizer.pipeline import optimize

    if same_file(source, target):
        raise InspectorError(f"{target}: --output is the input graph; write the optimized graph to another file")
    loaded = load_graph(source)
    with out.status(f"Optimizing {source} (imports TensorFlow) ..."):
        result = optimize(
            loaded.graph,
            input_names=_names(getattr(args, "input_names", None)),
            output_names=_names(getattr(args, "output_names", None)),
            placeholder_type_enum=_placeholder_type(getattr(args, "placeholder_type_enum", "1")),
            toco_compatible=getattr(args, "toco_compatible", False),
            frozen_graph=getattr(args, "frozen_graph", True),
            strip_dropout=getattr(args, "strip_dropout", False),
            what=str(source),
        )
    if result.detected:
        out.note(f"detected --input_names={','.join(result.input_names)} --output_names={','.join(result.output_names)}")
    checked = None
    if before_write is not None:
        pending = LoadedGraph(path=target, graph=result.graph, size_bytes=result.graph.ByteSize(), format="pb")
        checked = before_write(loaded, pending)
    save_graph(result.graph, target, refuse=(source,))
    written = LoadedGraph(path=target, graph=result.graph, size_bytes=target.stat().st_size, format="pb")
    return loaded, result, written, checked


def cmd_optimize(args: argparse.Namespace, out: Output) -> int:
    from inspector.analysis.diff import diff_loaded
    from inspector.cli.render import diff_table, optimize_report

    source = args.input or args.graph
    if source is None:
        raise InspectorError("optimize: name the graph to optimize (--input tf_files/retrained_graph.pb)")
    if args.input and args.graph and args.input != args.graph:
        raise InspectorError(f"optimize: two inputs given ({args.graph} and --input {args.input}); give one")
    target = args.output or default_optimized_path(source)
    loaded, result, written, _ = _optimize_file(args, source, target, out)
    diff = diff_loaded(loaded, written, labels=(source.name, target.name))
    if args.json:
        out.json({"input": str(source), "output": str(target), "optimize": result.to_json(), "diff": diff.to_json()})
        return 0
    out.print(optimize_report(result))
    out.print(diff_table(diff, max_rows=10))
    out.print(f"Wrote {target} ({result.nodes_before} -> {result.nodes_after} nodes)")
    return 0


def cmd_compare(args: argparse.Namespace, out: Output) -> int:
    from inspector.analysis.diff import diff_loaded
    from inspector.graph.io import load_graph
    from inspector.cli.render import diff_report
    from inspector.tb.events import write_run

    verified = None
    if args.b is None:
        # One graph: optimize it first, check nothing changed, then compare the two.
        target = args.output or Path("tf_files/optimized_graph.pb")
        # Verified before it is written: a bad --image or name leaves no optimized graph behind.
        a, result, b, verified = _optimize_file(args, args.a, target, out,
                                                before_write=lambda a, b: _verify_pair(args, a, b, out))
        if not args.json:
            from inspector.cli.render import optimize_report, verify_report

            out.print(optimize_report(result))
            out.print(f"Wrote {target}")
            out.print(verify_report(verified))
    else:
        if args.output is not None:
            raise InspectorError("--output is where one graph gets optimized to; with two graphs there is nothing to write")
        a, b = load_graph(args.a), load_graph(args.b)
    names = _labels(args, a.path, b.path)
    if names[0] == names[1]:
        raise InspectorError(f"--names gives both runs the name {names[0]!r}; pick two different names")
    from inspector.tb.plugin import record_pair
    from inspector.tb.textsummary import write_text_summary

    runs = [write_run(g.graph, args.logdir, name, keep_weights=args.keep_weights) for g, name in zip((a, b), names)]
    diff = diff_loaded(a, b, labels=names)
    # The Graph diff tab opens on this pair; the Text tab shows the table where the plugin is not installed.
    record_pair(args.logdir, *names)
    text = write_text_summary(args.logdir, diff)
    result: dict[str, Any] = {
        "runs": [_run_json(w) for w in runs],
        "diff": diff.to_json(),
        "text_summary": {"run": text.run, "tag": text.tag, "event_file": str(text.event_file)},
        "board": None,
    }
    if verified is not None:
        result["verify"] = verified.to_json()
    if not args.json:
        out.print(diff_report(diff, max_rows=None if args.all_ops else 25))
    if not args.no_check:
        result["check"] = _check_pair(a, b, names, out)
    if not args.json:
        out.print("")
        for w in runs:
            out.print(_run_line(w))
    if not args.no_board:
        started = _start_board(args, out)
        from inspector.tb.board import graph_url
        from inspector.tb.plugin import diff_tab_url

        info = started.info
        diff_url = diff_tab_url(info.url, *names)
        result["board"] = _board_json(info) | {"reused": started.reused, "graph_url": graph_url(info), "diff_url": diff_url}
        if not args.json:
            verb = "Reusing" if started.reused else "Started"
            out.print(f"{verb} TensorBoard (pid {info.pid}) on {info.url} for {info.logdir}")
            out.print(f"  Graph diff tab, both side by side: {diff_url}")
            # TensorBoard 2.x's Graph tab ignores a run in the URL, so say where to pick it.
            out.print(f"  Graph tab: {graph_url(info)}  (pick [bold]{names[0]}[/] or [bold]{names[1]}[/] in its Run menu)")
            out.print("Stop it with: inspector board stop")
        if args.open:
            import webbrowser

            if not webbrowser.open(diff_url):
                out.warn(f"could not open a browser here; open {diff_url} yourself")
    elif not args.json:
        out.print(f"TensorBoard not started (--no-board). View with: inspector board start {args.logdir}")
    if args.json:
        out.json(result)
    if verified is not None and not verified.ok:
        from inspector.errors import CheckFailed

        raise CheckFailed(f"verify: {verified.message}")
    return 0


def _verify_pair(args: argparse.Namespace, a, b, out: Output):
    """verify() on the compare's pair; the caller prints it and decides the exit code."""
    from inspector.run.labels import find_labels
    from inspector.run.verify import verify

    with out.progress("Verifying the optimized graph") as progress:
        report = verify(a, b, images=args.image, labels=find_labels(a.path), progress=progress,
                        input_names=_names(args.input_names), output_names=_names(args.output_names))
    return report


def _start_board(args: argparse.Namespace, out: Output):
    from inspector.tb import board

    with out.status(f"Starting TensorBoard on {args.logdir} ..."):
        started = board.start(
            Path(args.logdir),
            port=args.port,
            bind_all=args.bind_all,
            timeout=args.timeout,
        )
    for note in started.notes:
        out.note(note)
    for warning in started.warnings:
        out.warn(warning)
    return started


def _board_json(info: Any) -> dict:
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


def cmd_board_start(args: argparse.Namespace, out: Output) -> int:
    from inspector.tb.board import graph_url

    started = _start_board(args, out)
    info = started.info
    if args.json:
        out.json(_board_json(info) | {"reused": started.reused, "notes": list(started.notes), "warnings": list(started.warnings)})
        return 0
    verb = "Reusing" if started.reused else "Started"
    out.print(f"{verb} TensorBoard (pid {info.pid}) on {info.url} for {info.logdir}")
    out.print(f"  Graph tab: {graph_url(info)}")
    out.print("Stop it with: inspector board stop" + (f" --port {info.port}" if info.port != 6006 else ""))
    return 0


def cmd_board_status(args: argparse.Namespace, out: Output) -> int:
    import time

    from inspector.tb import board

    infos = board.status()
    if args.json:
        out.json([_board_json(i) for i in infos])
        return 0
    if not infos:
        out.print("No TensorBoard started by inspector is running.")
        return 0
    from rich.table import Table

    table = Table(title="TensorBoards started by inspector")
    for col in ("pid", "url", "logdir", "up"):
        table.add_column(col)
    for info in infos:
        up = int(time.time() - info.start_time)
        table.add_row(str(info.pid), info.url, info.logdir, f"{up // 3600}h{up % 3600 // 60:02d}m{up % 60:02d}s")
    out.print(table)
    return 0


def cmd_board_stop(args: argparse.Namespace, out: Output) -> int:
    from inspector.tb import board

    result = board.stop(port=args.port, logdir=Path(args.logdir) if args.logdir else None, all=args.all)
    if args.json:
        out.json({"stopped": [_board_json(i) for i in result.stopped], "stale_removed": [_board_json(i) for i in result.stale_removed]})
        return 0
    for info in result.stopped:
        out.print(f"Stopped TensorBoard pid {info.pid} on {info.url} ({info.logdir})")
    if result.stale_removed:
        out.print(f"Removed {len(result.stale_removed)} stale record(s) of TensorBoards that had already exited.")
    if not result.stopped:
        out.print("No TensorBoard started by inspector is running; nothing to stop.")
    return 0


def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    from inspector.workflows import demo

    folder = Path(args.dir)
    with out.status("Building a retrain.py-shaped MobileNet graph (imports TensorFlow) ..."):
        made = demo.prepare(folder)
    out.print(f"Wrote {made.retrained} ({made.nodes} nodes), a graph shaped like retrain.py's")
    compare_args = argparse.Namespace(
        a=made.retrained, b=None, output=folder / "optimized_graph.pb", image=[],
        input_names=None, output_names=None, placeholder_type_enum="1", toco_compatible=False,
        frozen_graph=True, strip_dropout=False,
        logdir=folder / "training_summaries", names=None, keep_weights=False, no_board=args.no_board, open=False, no_check=False,
        port=args.port, bind_all=False, timeout=args.timeout, json=args.json, all_ops=False,
    )
    return cmd_compare(compare_args, out)


def cmd_label(args: argparse.Namespace, out: Output) -> int:
    from inspector.codelab import label_image as script

    from inspector.run.label import label_image

    result = label_image(
        args.graph, args.image, labels=args.labels, top_k=args.top_k,
        input_name=args.input_layer, output_name=args.output_layer,
        input_height=args.input_height, input_width=args.input_width,
        input_mean=args.input_mean, input_std=args.input_std,
    )
    if args.json:
        out.json(result.to_json())
        return 0
    for note in script.detected_notes(result):
        out.note(note.removeprefix("note: "))
    out.print(script.format_result(result))
    return 0


def cmd_verify(args: argparse.Namespace, out: Output) -> int:
    from inspector.errors import CheckFailed
    from inspector.graph.io import load_graph
    from inspector.cli.render import verify_report
    from inspector.run.verify import verify

    from inspector.run.labels import find_labels

    a, b = load_graph(args.a), load_graph(args.b)
    labels = args.labels or find_labels(a.path) or find_labels(b.path)
    if labels and not args.labels:
        out.note(f"using labels {labels} (found beside the graph; --labels picks another)")
    with out.progress("Running both graphs") as progress:
        report = verify(
            a, b, images=args.image, image_dirs=args.images, decimals=args.decimals, labels=labels,
            top_k=args.top_k, random_inputs=args.random, seed=args.seed,
            input_names=args.input_names, output_names=args.output_names,
            input_height=args.input_height, input_width=args.input_width,
            input_mean=args.input_mean, input_std=args.input_std, progress=progress,
        )
    if args.json:
        out.json(report.to_json())
    else:
        out.print(verify_report(report))
    if not report.ok:
        # The table shows the evidence; the verdict is the error line, said once.
        raise CheckFailed(f"verify: {report.message}")
    return 0


def cmd_bench(args: argparse.Namespace, out: Output) -> int:
    from inspector.graph.io import load_graph
    from inspector.run.latency import bench
    from inspector.cli.render import bench_report

    a, b = load_graph(args.a), load_graph(args.b)
    with out.progress("Timing both graphs") as progress:
        report = bench(
            a, b, runs=args.runs, warmup=args.warmup, seed=args.seed, image=args.image, threads=args.threads,
            input_names=args.input_names, output_names=args.output_names,
            input_height=args.input_height, input_width=args.input_width,
            progress=progress,
        )
    if args.json:
        out.json(report.to_json())
    else:
        out.print(bench_report(report))
    return 0


def cmd_summarize(args: argparse.Namespace, out: Output) -> int:
    from inspector.graph.io import load_graph
    from inspector.cli.render import summary_report
    from inspector.analysis.summary import summarize

    summary = summarize(load_graph(args.graph))
    if args.json:
        out.json(summary.to_json())
    else:
        out.print(summary_report(summary, max_ops=None if args.all_ops else 15))
    return 0


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    from inspector.errors import CheckFailed
    from inspector.graph.io import load_graph
    from inspector.tflite.check import check
    from inspector.cli.render import mobile_verdict

    loaded = load_graph(args.graph)
    with out.status("Converting with TensorFlow Lite's converter ..."):
        verdict = check(loaded, input_names=_names(args.input_names), output_names=_names(args.output_names),
                        input_height=args.input_height, input_width=args.input_width)
    if args.json:
        out.json(verdict.to_json())
    else:
        out.print(mobile_verdict(verdict))
    if not verdict.ok:
        raise CheckFailed(f"check: {verdict.message}")
    return 0


def cmd_export(args: argparse.Namespace, out: Output) -> int:
    from inspector.errors import CheckFailed
    from inspector.graph.io import load_graph
    from inspector.tflite.export import export
    from inspector.cli.render import export_report
    from inspector.run.labels import find_labels

    loaded = load_graph(args.graph)
    target = args.tflite or loaded.path.with_suffix(".tflite")
    labels = args.labels or find_labels(loaded.path)
    if labels and not args.labels:
        out.note(f"using labels {labels} (found beside the graph; --labels picks another)")
    with out.progress("Converting, then running the graph and the .tflite") as progress:
        report = export(loaded, target, quantize=args.quantize, select_tf_ops=args.select_tf_ops,
                        images=args.image, image_dirs=args.images, random_inputs=args.random, seed=args.seed,
                        input_names=_names(args.input_names), output_names=_names(args.output_names),
                        input_height=args.input_height, input_width=args.input_width,
                        input_mean=args.input_mean, input_std=args.input_std, labels=labels, top_k=args.top_k,
                        latency_runs=args.runs, threads=args.threads, progress=progress)
    if args.json:
        out.json(report.to_json())
    else:
        out.print(export_report(report))
    if not report.ok:
        raise CheckFailed(f"export: {report.message}")
    return 0


def _check_pair(a, b, names: tuple[str, str], out: Output) -> dict | None:
    """TensorFlow Lite verdicts for both graphs, side by side; None when the converter cannot be run here."""
    from inspector.tflite.check import check
    from inspector.cli.render import mobile_pair

    try:
        with out.status("Checking both graphs with TensorFlow Lite's converter ..."):
            verdicts = (check(a), check(b))
    except InspectorError as exc:
        # compare's job is the diff; a graph the converter cannot take is reported, not fatal.
        out.note(f"TensorFlow Lite check skipped: {exc.message}")
        return None
    out.print(mobile_pair(*verdicts, names))
    return {name: v.to_json() for name, v in zip(names, verdicts)}


# --- parser -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="inspector", description="See what the inference optimizer did to a frozen TensorFlow graph.")
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    def board_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", type=int, default=6006, help="port to serve on (default 6006; the next free one if taken)")
        p.add_argument("--bind-all", action="store_true", help="serve on all network interfaces (0.0.0.0), not just 127.0.0.1: anyone on the network can see your graphs")
        p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for TensorBoard to answer (default 90)")

    p = add("diff", cmd_diff, "Compare two graphs by op type, node and name scope (no TensorFlow needed).")
    p.add_argument("a", type=Path, metavar="A.pb")
    p.add_argument("b", type=Path, metavar="B.pb")
    p.add_argument("--names", nargs=2, metavar=("A", "B"), help="labels for the two graphs (default: from the file names)")
    p.add_argument("--all-ops", action="store_true", help="show every op type, not the top 25")
    p.add_argument("--json", action="store_true", help="print the diff as JSON")

    p = add("tb", cmd_tb, "Write graphs as TensorBoard runs (no TensorFlow needed).")
    p.add_argument("graphs", type=Path, nargs="+", metavar="GRAPH.pb")
    p.add_argument("--logdir", type=Path, default=DEFAULT_LOGDIR, help=f"TensorBoard log folder (default {DEFAULT_LOGDIR})")
    p.add_argument("--run", help="run name (default: the file name without _graph.pb)")
    p.add_argument("--keep-weights", action="store_true", help="keep Const payloads in the log (default: left out, dtype and shape kept)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")

    def optimizer_options(p: argparse.ArgumentParser) -> None:
        # TensorFlow's optimize_for_inference spellings, so the codelab's command line works as it is.
        p.add_argument("--input_names", help="input placeholder names, comma-separated (default: detected)")
        p.add_argument("--output_names", help="output node names, comma-separated (default: detected)")
        p.add_argument("--placeholder_type_enum", default="1", help="DataType enum of the input placeholders (default 1: float32)")
        p.add_argument("--toco_compatible", nargs="?", const=True, default=False, type=_bool_flag,
                       help="only make ops TensorFlow Lite's converter takes (no fused resize/pad+conv)")
        p.add_argument("--frozen_graph", nargs="?", const=True, default=True, type=_bool_flag,
                       help="the input is a frozen graph (default true); false lets variables through unfolded")
        p.add_argument("--strip-dropout", "--strip_dropout", dest="strip_dropout", action="store_true",
                       help="replace training dropout left in the graph by the identity it is at inference")

    p = add("optimize", cmd_optimize, "Optimize a frozen graph for inference (TensorFlow's optimize_for_inference flags work as they are).")
    p.add_argument("graph", type=Path, nargs="?", metavar="GRAPH.pb", help="the graph (or --input)")
    p.add_argument("--input", type=Path, help="the graph to optimize, e.g. tf_files/retrained_graph.pb")
    p.add_argument("--output", type=Path, help="where to write (default: optimized_graph.pb beside a retrained_graph.pb, else X_optimized.pb)")
    p.add_argument("--json", action="store_true", help="print the passes and the diff as JSON")
    optimizer_options(p)

    p = add("compare", cmd_compare, "Write both graphs as TensorBoard runs, print the diff, and start or reuse TensorBoard. "
            "With one graph, optimize and verify it first.")
    p.add_argument("a", type=Path, metavar="A.pb", help="the graph before, e.g. tf_files/retrained_graph.pb")
    p.add_argument("b", type=Path, metavar="B.pb", nargs="?", help="the graph after, e.g. tf_files/optimized_graph.pb "
                   "(left out: A is optimized into --output first)")
    p.add_argument("--output", type=Path, help="with one graph: where the optimized graph goes (default tf_files/optimized_graph.pb)")
    p.add_argument("--image", type=Path, action="append", default=[], help="with one graph: an image to verify on (repeatable; default random inputs)")
    optimizer_options(p)
    p.add_argument("--logdir", type=Path, default=DEFAULT_LOGDIR, help=f"TensorBoard log folder (default {DEFAULT_LOGDIR})")
    p.add_argument("--names", nargs=2, metavar=("A", "B"), help="run names (default: retrained, optimized from the file names)")
    p.add_argument("--keep-weights", action="store_true", help="keep Const payloads in the logs")
    p.add_argument("--no-board", action="store_true", help="write the runs and print the diff, but start no TensorBoard")
    p.add_argument("--open", action="store_true", help="open the Graph diff tab in your web browser")
    p.add_argument("--no-check", action="store_true", help="skip the TensorFlow Lite check of both graphs")
    p.add_argument("--all-ops", action="store_true", help="show every op type, not the top 25")
    p.add_argument("--json", action="store_true", help="print runs, diff and board as JSON")
    board_options(p)

    def run_options(p: argparse.ArgumentParser, *, plural: bool) -> None:
        names = "comma-separated names" if plural else "name"
        p.add_argument("--input_names" if plural else "--input_layer", dest="input_names" if plural else "input_layer",
                       help=f"input placeholder {names} (default: read from the graph)")
        p.add_argument("--output_names" if plural else "--output_layer", dest="output_names" if plural else "output_layer",
                       help=f"output node {names} (default: read from the graph)")
        p.add_argument("--input_height", type=int, help="input height (default: from the graph's input shape)")
        p.add_argument("--input_width", type=int, help="input width (default: from the graph's input shape)")

    p = add("label", cmd_label, "Classify one image with a frozen graph, like the codelab's label_image.")
    p.add_argument("--graph", type=Path, required=True, help="the frozen graph, e.g. tf_files/retrained_graph.pb")
    p.add_argument("--image", type=Path, required=True, help="the image to classify")
    p.add_argument("--labels", type=Path, help="labels file, one per line (default: the one beside the graph)")
    p.add_argument("--input_mean", type=float, help="input mean (default 127.5; 128 for Inception's Mul input)")
    p.add_argument("--input_std", type=float, help="input std (default 127.5; 128 for Inception's Mul input)")
    p.add_argument("--top_k", type=int, default=5, help="how many labels to show (default 5)")
    p.add_argument("--json", action="store_true")
    run_options(p, plural=False)

    p = add("verify", cmd_verify, "Run two graphs on the same inputs and check their outputs agree (exit 1 if not).")
    p.add_argument("a", type=Path, metavar="A.pb")
    p.add_argument("b", type=Path, metavar="B.pb")
    p.add_argument("--image", type=Path, action="append", default=[], help="an image to run (repeatable)")
    p.add_argument("--images", type=Path, action="append", default=[], help="a folder searched recursively for images (repeatable)")
    p.add_argument("--decimals", type=int, default=5, help="outputs must agree to this many decimals (default 5, as the codelab)")
    p.add_argument("--labels", type=Path, help="labels file, for label names in the report")
    p.add_argument("--top_k", type=int, default=3)
    p.add_argument("--random", type=int, default=3, help="random inputs (fixed seed) when no image is given (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input_mean", type=float, default=127.5)
    p.add_argument("--input_std", type=float, default=127.5)
    p.add_argument("--json", action="store_true")
    run_options(p, plural=True)

    p = add("bench", cmd_bench, "Median inference latency of two graphs on the same input, interleaved.")
    p.add_argument("a", type=Path, metavar="A.pb")
    p.add_argument("b", type=Path, metavar="B.pb")
    p.add_argument("--runs", type=int, default=50, help="timed runs of each graph (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--image", type=Path, help="an image as the input (default: random, fixed seed)")
    p.add_argument("--threads", type=int, default=1, help="TensorFlow threads per graph (default 1: steadier, closer to a phone)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    run_options(p, plural=True)

    p = add("summarize", cmd_summarize, "Inputs, outputs, sizes and ops of a graph, and what does not belong in an inference graph (no TensorFlow needed).")
    p.add_argument("graph", type=Path, metavar="GRAPH.pb")
    p.add_argument("--all-ops", action="store_true", help="show every op type, not the top 15")
    p.add_argument("--json", action="store_true")

    p = add("check", cmd_check, "Will it load on the phone? Convert with TensorFlow Lite's converter and name each op in the way (exit 1 if not builtin ops only).")
    p.add_argument("graph", type=Path, metavar="GRAPH.pb")
    p.add_argument("--json", action="store_true")
    run_options(p, plural=True)

    p = add("export", cmd_export, "Write a .tflite and verify it against the graph on the same inputs: sizes, agreement, latency (exit 1 if it disagrees).")
    p.add_argument("graph", type=Path, metavar="GRAPH.pb")
    p.add_argument("--tflite", type=Path, metavar="OUT.tflite", help="the .tflite to write (default: GRAPH with .tflite)")
    p.add_argument("--quantize", choices=("none", "dynamic", "float16"), default="none", help="weights: float32 (default), 8-bit dynamic range, or float16")
    p.add_argument("--select_tf_ops", action="store_true", help="keep ops without a builtin as TensorFlow Select ops (the app must link them; not verifiable here)")
    p.add_argument("--image", type=Path, action="append", default=[], help="an image to compare on (repeatable)")
    p.add_argument("--images", type=Path, action="append", default=[], help="a folder searched recursively for images (repeatable)")
    p.add_argument("--labels", type=Path, help="labels file (default: the one beside the graph)")
    p.add_argument("--top_k", type=int, default=3)
    p.add_argument("--random", type=int, default=3, help="random inputs (fixed seed) when no image is given (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input_mean", type=float, default=127.5)
    p.add_argument("--input_std", type=float, default=127.5)
    p.add_argument("--runs", type=int, default=20, help="timed runs of each, interleaved (default 20; 0: no timing)")
    p.add_argument("--threads", type=int, default=1, help="threads for the graph and the interpreter (default 1, closer to a phone)")
    p.add_argument("--json", action="store_true")
    run_options(p, plural=True)

    p = add("demo", cmd_demo, "Build a small retrain.py-shaped graph, optimize and verify it, and compare the two.")
    p.add_argument("--dir", type=Path, default=Path("tf_files/demo"), help="where to write the demo graphs and logs (default tf_files/demo)")
    p.add_argument("--no-board", action="store_true", help="start no TensorBoard")
    p.add_argument("--json", action="store_true")
    board_options(p)

    board_p = sub.add_parser("board", help="Start, list and stop background TensorBoards.", description="Start, list and stop background TensorBoards.")
    board_sub = board_p.add_subparsers(dest="board_command", metavar="ACTION", parser_class=_Parser)
    board_p.set_defaults(func=lambda args, out: _missing_action(board_p))

    p = board_sub.add_parser("start", help="Start TensorBoard in the background on LOGDIR, or reuse the one already serving it.")
    p.set_defaults(func=cmd_board_start)
    p.add_argument("logdir", type=Path, nargs="?", default=DEFAULT_LOGDIR, metavar="LOGDIR")
    p.add_argument("--json", action="store_true")
    board_options(p)

    p = board_sub.add_parser("status", help="List the TensorBoards inspector started that are still running.")
    p.set_defaults(func=cmd_board_status)
    p.add_argument("--json", action="store_true")

    p = board_sub.add_parser("stop", help="Stop a TensorBoard inspector started (never one started by hand).")
    p.set_defaults(func=cmd_board_stop)
    p.add_argument("--port", type=int, help="stop the board on this port")
    p.add_argument("--logdir", type=Path, help="stop the board serving this folder")
    p.add_argument("--all", action="store_true", help="stop every board inspector started")
    p.add_argument("--json", action="store_true")
    return parser


def _missing_action(parser: argparse.ArgumentParser) -> int:
    raise InspectorError(f"{parser.prog}: name an action: start, status or stop (see {parser.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        out = Output(json_mode=getattr(args, "json", False))
        return int(args.func(args, out) or 0)
    except InspectorError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        for line in exc.details:
            sys.stderr.write(f"    {line}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except BrokenPipeError:
        # `inspector diff ... | head` closed the pipe: not an error worth a traceback.
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
