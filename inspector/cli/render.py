"""Rich renderables for reports: the before/after op table, scope summaries, messages. Pure: nothing printed here.

Every name, label, path and run name in them is data: each reaches rich
through inspector.cli.safe (plain, styled, lines), never inside markup.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from inspector.analysis.diff import GraphDiff, OpTable
from inspector.cli.safe import ADDED_STYLE, REMOVED_STYLE, lines, plain, styled
from inspector.cli.stories import story_lines



def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    step = 1024.0
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < step or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    return f"{n} B"  # pragma: no cover


def human_count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def _delta_text(before: float, after: float, fmt=str) -> Text:
    delta = after - before
    if delta == 0:
        return plain("")
    sign = "+" if delta > 0 else "-"
    pct = f" ({delta / before:+.0%})" if before else ""
    return plain(f"{sign}{fmt(abs(delta))}{pct}", ADDED_STYLE if delta > 0 else REMOVED_STYLE)


def diff_table(diff: GraphDiff | OpTable, *, max_rows: int | None = None) -> Table:
    """One row per op type, biggest change first, a totals row, then sizes and parameters."""
    a, b = diff.a, diff.b
    table = Table(title=plain(f"{a.label} -> {b.label}"), title_style="bold", show_footer=False)
    table.add_column("Op type")
    table.add_column(plain(a.label), justify="right")
    table.add_column(plain(b.label), justify="right")
    table.add_column("Change", justify="right")
    rows = diff.rows
    hidden = 0
    if max_rows is not None and len(rows) > max_rows:
        # Unchanged rows go first when the table must be cut.
        changed_rows = [r for r in rows if r.delta]
        keep = changed_rows[:max_rows] if len(changed_rows) >= max_rows else list(rows[:max_rows])
        hidden = len(rows) - len(keep)
        rows = tuple(keep)
    for row in rows:
        style = None
        if row.delta < 0:
            style = REMOVED_STYLE
        elif row.delta > 0:
            style = ADDED_STYLE
        table.add_row(plain(row.op, style or ""), str(row.before), str(row.after), _delta_text(row.before, row.after))
    if hidden:
        table.add_row(plain(f"... {hidden} more op types (--all-ops or --json)", "dim"), "", "", "")
    table.add_section()
    table.add_row(plain("Total nodes", "bold"), str(a.stats.nodes), str(b.stats.nodes),
                  _delta_text(a.stats.nodes, b.stats.nodes))
    table.add_row("Parameters", human_count(a.stats.params), human_count(b.stats.params),
                  _delta_text(a.stats.params, b.stats.params, human_count))
    table.add_row("Constants", human_bytes(a.stats.const_bytes), human_bytes(b.stats.const_bytes),
                  _delta_text(a.stats.const_bytes, b.stats.const_bytes, human_bytes))
    if a.size_bytes is not None and b.size_bytes is not None:
        table.add_row("File size", human_bytes(a.size_bytes), human_bytes(b.size_bytes),
                      _delta_text(a.size_bytes, b.size_bytes, human_bytes))
    return table


def diff_report(diff: GraphDiff, *, max_rows: int | None = 10, every_node: bool = False) -> RenderableType:
    """The op table's top rows, then what changed as stories (every node of each with ``every_node``)."""
    return Group(diff_table(diff, max_rows=max_rows), plain(""), story_lines(diff, every_node=every_node))


def message(kind: str, text: str) -> Text:
    styles = {"ok": "bold green", "note": "cyan", "warning": "bold yellow", "error": "bold red"}
    return styled((f"{kind}: ", styles.get(kind, "bold")), text)


def _top(preds) -> str:
    return ", ".join(f"{p.label} {p.score:.5f}" for p in preds)


def verify_report(report) -> RenderableType:
    """Per input: each graph's top labels, the largest difference and the noise floor it is judged against; then the verdict."""
    from inspector.run.noise import FACTOR

    table = Table(title=lines(f"a = {report.a.path}", f"b = {report.b.path}"), title_style="")
    table.add_column("Input")
    table.add_column("Top (a)")
    table.add_column("Top (b)")
    table.add_column("Max |a-b|", justify="right")
    noise = report.noise_floor is not None
    if noise:
        table.add_column("Noise floor", justify="right")
    table.add_column(f"{report.decimals} dec.", justify="center")
    table.add_column("", justify="center")
    for row in report.inputs:
        mark = plain("ok", REMOVED_STYLE) if row.agree else plain("DIFF", "bold red")
        view = plain("same", "dim") if row.codelab_equal else plain("differ", "yellow")
        cells = [plain(row.source), plain(_top(row.top_a)), plain(_top(row.top_b)), f"{row.max_abs_diff:.2g}"]
        if noise:
            cells.append(f"{row.noise_floor:.2g}" if row.noise_floor is not None else "")
        table.add_row(*cells, view, mark)
    parts: list[RenderableType] = [table]
    if noise:
        parts.append(plain(f"{report.decimals} dec.: label_image's {report.decimals}-decimal scores of both graphs "
                           "(the codelab's check); the verdict is float32 rounding: a difference within the noise floor, "
                           f"{FACTOR:g} times the rounding error of {report.reference} measured against its float64 twin, "
                           "is no change", "dim"))
    for note in report.notes:
        parts.append(message("note", note))
    if report.ok:
        # A failed verdict is the CLI's error line instead, so it is said once.
        parts.append(message("ok", report.message))
    return Group(*parts)


def bench_report(report) -> RenderableType:
    table = Table(title=plain(f"Latency, {report.runs} interleaved runs after {report.warmup} warm-up, input {report.input}"))
    table.add_column("Graph")
    table.add_column("Median ms", justify="right")
    table.add_column("Q1-Q3 ms", justify="right")
    table.add_column("Min ms", justify="right")
    for name, timing in (("a", report.a), ("b", report.b)):
        table.add_row(plain(f"{name}: {Path(timing.path).name}"), f"{timing.median_ms:.2f}", f"{timing.q1_ms:.2f}-{timing.q3_ms:.2f}", f"{timing.min_ms:.2f}")
    parts: list[RenderableType] = [table]
    for note in report.notes:
        parts.append(message("note", note))
    parts.append(plain(report.message, "bold"))
    return Group(*parts)


def optimize_report(result) -> RenderableType:
    """Per pass, nodes removed and added; then what was left undone and why."""
    table = Table(title=f"Optimized for inference: {result.nodes_before} -> {result.nodes_after} nodes")
    table.add_column("Pass")
    table.add_column("Removed", justify="right")
    table.add_column("Added", justify="right")
    table.add_column("Notes")
    for p in result.passes:
        idle = not p.removed and not p.added
        notes = "; ".join(p.notes) if p.notes else ("did nothing" if idle else "")
        table.add_row(
            plain(p.name, "dim" if idle else ""),
            plain(p.removed, REMOVED_STYLE if p.removed else "dim"),
            plain(p.added, ADDED_STYLE if p.added else "dim"),
            plain(f"skipped: {p.skipped}", "dim") if p.skipped else plain(notes),
        )
    parts: list[RenderableType] = [table]
    for item in result.unfolded:
        parts.append(message("note", f"batch norm left unfolded at {item.node}: {item.reason}"))
    if result.fed:
        from inspector.run.feeds import value_text

        fed = ", ".join(f"{name} = {value_text(value)}" for name, value in result.fed.items())
        parts.append(message("note", f"stored at their inference values, no longer inputs: {fed}"))
    if result.dropout_off:
        parts.append(message("note", "dropout cut out, the identity at those values: " + ", ".join(result.dropout_off)))
    if result.dropout:
        where = ", ".join(result.dropout)
        if result.dropout_stripped:
            parts.append(message("note", f"training dropout replaced by the identity it is at inference: {where}"))
        else:
            parts.append(message("warning", f"training dropout is still active at {where}: outputs are random; "
                                            "--strip-dropout replaces it by the identity it is at inference"))
    return Group(*parts)


def _spec(s) -> str:
    from inspector.run.feeds import shape_text

    return f"{s.name}  {s.dtype} {shape_text(s.shape)}"


# Left-out sinks and placeholders listed before "... N more".
_LEFT_OUT_SHOWN = 6


def _auxiliary(s) -> str:
    from inspector.graph.settings import PURPOSE_WORDS
    from inspector.run.feeds import value_text

    if s.purpose in PURPOSE_WORDS:
        value = f"{value_text(s.value)} at inference" if s.value is not None else "no inference value known: --feed it"
        return f"{_spec(s)}  ({PURPOSE_WORDS[s.purpose]}; {value})"
    if not s.needed:
        return f"{_spec(s)}  ({s.why})"
    return f"{_spec(s)}  ({s.role}: {s.why}; --feed it)"


def summary_report(summary, *, max_ops: int | None = 15) -> RenderableType:
    """summarize_graph's answer: inputs, outputs, sizes, op histogram, then each flag with its fix."""
    table = Table(title=plain(f"{summary.path}  ({human_bytes(summary.size_bytes)}, {summary.nodes} nodes)"), title_style="", show_header=False)
    table.add_column("What")
    table.add_column("Value")
    for s in summary.inputs:
        table.add_row("input", plain(_spec(s)))
    for s in summary.auxiliary_inputs:
        table.add_row(plain("setting" if s.role == "scalar" else s.role), plain(_auxiliary(s)))
    for s in summary.optional_inputs:
        table.add_row(plain("optional input", "dim"), plain(_spec(s) + "  (PlaceholderWithDefault: has a default)", "dim"))
    for o in summary.outputs:
        table.add_row("output", plain(f"{o.name}  ({o.op})"))
    for x in summary.left_out[:_LEFT_OUT_SHOWN]:
        table.add_row(plain("left out", "dim"), plain(f"{x.name}  ({x.op}): {x.reason}", "dim"))
    if len(summary.left_out) > _LEFT_OUT_SHOWN:
        table.add_row(plain("left out", "dim"), plain(f"... {len(summary.left_out) - _LEFT_OUT_SHOWN} more (--json lists them)", "dim"))
    table.add_row("parameters", f"{human_count(summary.params)} in constants, {human_bytes(summary.const_bytes)}")
    ops = list(summary.ops.items())
    shown = ops if max_ops is None else ops[:max_ops]
    more = f"  ... {len(ops) - len(shown)} more (--all-ops)" if len(shown) < len(ops) else ""
    table.add_row("ops", plain(", ".join(f"{op} {n}" for op, n in shown) + more))
    parts: list[RenderableType] = [table]
    for flag in summary.flags:
        parts.append(message("warning" if flag.training_only or flag.unsafe else "note", _flag_text(flag)))
    if summary.inference_ready:
        parts.append(message("ok", "no training-only ops: an inference graph"))
    return Group(*parts)


def _flag_text(flag) -> str:
    names = ", ".join(flag.nodes) + (f" (+{flag.count - len(flag.nodes)} more)" if flag.count > len(flag.nodes) else "")
    return f"{flag.kind}: {flag.op} x{flag.count} ({names}): {flag.why}"


def mobile_verdict(verdict) -> RenderableType:
    """The converter's answer: each op that stops a builtin-only model, its status and nodes; then what is not needed."""
    shapes = ", ".join(f"{n} [{','.join(map(str, s))}]" for n, s in zip(verdict.input_names, verdict.input_shapes))
    weights = f" (quantize: {verdict.quantize})" if verdict.quantize != "none" else ""
    parts: list[RenderableType] = [plain(f"{verdict.path}: {shapes} -> {', '.join(verdict.output_names)}{weights}", "dim")]
    if verdict.issues:
        table = Table(title="Ops without a TensorFlow Lite builtin", title_style="")
        for name, justify in (("Op", "left"), ("Needs", "left"), ("Nodes", "right"), ("e.g.", "left")):
            table.add_column(name, justify=justify)
        for issue in verdict.issues:
            if issue.constant and verdict.ok:
                needs = styled(("nothing: export stores its value", REMOVED_STYLE))
            else:
                needs = styled(("Select ops (Flex)", ADDED_STYLE) if issue.status == "flex" else ("a custom op", "bold red"),
                               ("; constant" if issue.constant else ""))
            table.add_row(plain(issue.op), needs, str(issue.count), plain(", ".join(issue.nodes[:2])))
        parts.append(table)
        parts.extend(message("note", issue.why) for issue in verdict.issues)
    parts.extend(message("note", note) for note in verdict.notes)
    for flag in verdict.not_needed:
        parts.append(message("warning", f"not needed at inference: {_flag_text(flag)}"))
    if verdict.tflite_ops:
        parts.append(plain("TensorFlow Lite ops: " + ", ".join(f"{op} {n}" for op, n in list(verdict.tflite_ops.items())[:8]), "dim"))
    if verdict.ok:  # a "no" is the CLI's error line instead, so it is said once
        parts.append(message("ok", verdict.message))
    return Group(*parts)


def mobile_pair(a, b, labels: tuple[str, str]) -> Table:
    """Two check verdicts side by side, as compare shows them for the graph before and after optimizing."""
    table = Table(title="Will it load on the phone? (TensorFlow Lite, builtin ops)")
    table.add_column("")
    table.add_column(plain(labels[0]))
    table.add_column(plain(labels[1]))

    def verdict(v) -> Text:
        return plain("yes", REMOVED_STYLE) if v.ok else plain("no", "bold red")

    def ops(v) -> Text:
        return plain(", ".join(f"{i.op} ({i.status})" for i in v.issues) or "-")

    def extra(v) -> Text:
        return plain(", ".join(f"{f.op} ({f.kind})" for f in v.not_needed) or "-")

    table.add_row("builtin ops only", verdict(a), verdict(b))
    table.add_row("ops in the way", ops(a), ops(b))
    table.add_row("not needed at inference", extra(a), extra(b))
    table.add_row(".tflite size", human_bytes(a.tflite_bytes), human_bytes(b.tflite_bytes))
    return table


def export_report(report) -> RenderableType:
    """Sizes, agreement per input, latency, then the verdict (when it is a yes)."""
    parts: list[RenderableType] = [plain(f"{report.graph} -> {report.tflite} (quantize: {report.quantize})", "dim")]
    sizes = Table()
    for name in ("", "File", "gzip -9", "Median ms"):
        sizes.add_column(name, justify="right" if name else "left")
    lat = report.latency
    sizes.add_row("graph", human_bytes(report.graph_bytes), human_bytes(report.graph_gzip_bytes), f"{lat.a.median_ms:.2f}" if lat else "-")
    sizes.add_row(".tflite", human_bytes(report.tflite_bytes), human_bytes(report.gzip_bytes), f"{lat.b.median_ms:.2f}" if lat else "-")
    parts.append(sizes)
    if report.verify is not None:
        table = Table()
        for name, justify in (("Input", "left"), ("Top (graph)", "left"), ("Top (.tflite)", "left"), ("Max |diff|", "right"), ("Top-1", "center")):
            table.add_column(name, justify=justify)
        for row in report.verify.inputs:
            source = row.source
            mark = plain("same", REMOVED_STYLE) if row.same_top1 else plain("CHANGED", "bold red")
            table.add_row(plain(source), plain(_top(row.top_a)), plain(_top(row.top_b)), f"{row.max_abs_diff:.2g}", mark)
        parts.append(table)
    if lat is not None:
        parts.append(plain(f"latency ({lat.runs} interleaved runs, {lat.threads or 'default'} thread(s)): the .tflite runs at "
                           f"{lat.ratio:.2f}x the graph's speed (95% interval {lat.ratio_ci[0]:.2f}-{lat.ratio_ci[1]:.2f})", "dim"))
    parts.extend(message("note", note) for note in report.notes)
    parts.extend(message("warning", f"the .tflite still has {f.op} ({f.kind}): {f.why}") for f in report.flags)
    if report.ok:
        parts.append(message("ok", report.message))
    return Group(*parts)


def run_line(w) -> Text:
    """One TensorBoard run written: its name, folder, size, and what was left out or replaced."""
    rest = f" -> {w.run_dir}: {w.nodes} nodes, {human_bytes(w.bytes_written)}"
    if w.consts_stripped:
        rest += f" (weights left out: {human_bytes(w.bytes_stripped)} in {w.consts_stripped} Consts)"
    if w.replaced:
        rest += f"; replaced {len(w.replaced)} earlier graph file{'s' if len(w.replaced) > 1 else ''}"
    return styled("run ", (w.run, "bold"), rest)


def _started_line(started) -> Text:
    info = started.info
    verb = "Reusing" if started.reused else "Started"
    return plain(f"{verb} TensorBoard (pid {info.pid}) on {info.url} for {info.logdir}")


def board_started(started, *, graph_url: str) -> RenderableType:
    """`board start`: which board, where its Graph tab is, how to stop it."""
    info = started.info
    stop = "Stop it with: inspector board stop" + (f" --port {info.port}" if info.port != 6006 else "")
    return Group(_started_line(started), plain(f"  Graph tab: {graph_url}"), plain(stop))


def board_table(boards, *, now: float) -> RenderableType:
    """`board status`: the boards inspector started that still run (BoardStatus), and whether each answers."""
    if not boards:
        return plain("No TensorBoard started by inspector is running.")
    table = Table(title="TensorBoards started by inspector")
    # The URL is what one clicks or copies: never cut short; a long logdir folds instead.
    table.add_column("pid", no_wrap=True)
    table.add_column("url", no_wrap=True, min_width=max(len(b.info.url) for b in boards))
    table.add_column("logdir", overflow="fold")
    table.add_column("up", no_wrap=True)
    table.add_column("health", no_wrap=True)
    for listed in boards:
        info = listed.info
        up = int(now - info.start_time)
        table.add_row(str(info.pid), plain(info.url), plain(info.logdir), f"{up // 3600}h{up % 3600 // 60:02d}m{up % 60:02d}s",
                      plain(listed.health))
    return table


def board_stopped(result) -> RenderableType:
    """`board stop`: what was stopped, and stale records cleaned up."""
    said: list[RenderableType] = [plain(f"Stopped TensorBoard pid {i.pid} on {i.url} ({i.logdir})") for i in result.stopped]
    if result.stale_removed:
        said.append(plain(f"Removed {len(result.stale_removed)} stale record(s) of TensorBoards that had already exited."))
    if not result.stopped:
        said.append(plain("No TensorBoard started by inspector is running; nothing to stop."))
    return Group(*said)


def compare_report(result, *, max_rows: int | None = 10, every_node: bool = False) -> RenderableType:
    """compare's terminal page: optimize and verify (one graph), the diff, both TFLite verdicts, the runs, the board."""
    parts: list[RenderableType] = []
    if result.optimized is not None:
        parts += [optimize_report(result.optimized), plain(f"Wrote {result.output}"), verify_report(result.verify)]
    parts.append(diff_report(result.diff, max_rows=max_rows, every_node=every_node))
    if result.check is not None:
        parts.append(mobile_pair(*result.check, result.names))
    parts.append(plain(""))
    parts += [run_line(w) for w in result.runs]
    if result.board is not None:
        first, second = result.names
        parts += [
            _started_line(result.board),
            plain(f"  Graph diff tab, both side by side: {result.diff_url}"),
            # TensorBoard 2.x's Graph tab ignores a run in the URL, so say where to pick it.
            styled(f"  Graph tab: {result.graph_url}  (pick ", (first, "bold"), " or ", (second, "bold"), " in its Run menu)"),
            plain("Stop it with: inspector board stop"),
        ]
    elif result.board_error is None:
        parts.append(plain(f"TensorBoard not started (--no-board). View with: inspector board start {result.logdir}"))
    return Group(*parts)
