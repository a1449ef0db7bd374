"""`inspector diff`, `tb` and `summarize`: graph files read, compared and logged without TensorFlow."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.cli.options import DEFAULT_LOGDIR, AddCommand, all_options
from inspector.cli.output import Output


def add_diff(add: AddCommand) -> None:
    p = add("diff", cmd_diff, "Compare two graphs by op type, node and name scope (no TensorFlow needed).")
    p.add_argument("a", type=Path, metavar="A.pb")
    p.add_argument("b", type=Path, metavar="B.pb")
    p.add_argument("--names", nargs=2, metavar=("A", "B"), help="labels for the two graphs (default: from the file names)")
    all_options(p)
    p.add_argument("--json", action="store_true", help="print the diff as JSON")


def cmd_diff(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.analysis.diff import MORE_NODES_FIRST, likely_before
    from inspector.cli.render import diff_report

    diff = inspector.diff(args.a, args.b, names=args.names)
    if not likely_before(diff.a.stats.nodes, diff.b.stats.nodes):
        out.note(f"{args.b} has more nodes than {args.a}: by the rule {MORE_NODES_FIRST} it is the graph before; "
                 "shown in the order given (swap the two files for before -> after)")
    if args.json:
        out.json(diff.to_json())
    else:
        out.print(diff_report(diff, max_rows=None if args.all_ops or args.all else 10, every_node=args.all))
    return 0


def add_tb(add: AddCommand) -> None:
    p = add("tb", cmd_tb, "Write graphs as TensorBoard runs (no TensorFlow needed).")
    p.add_argument("graphs", type=Path, nargs="+", metavar="GRAPH.pb")
    p.add_argument("--logdir", type=Path, default=DEFAULT_LOGDIR, help=f"TensorBoard log folder (default {DEFAULT_LOGDIR})")
    p.add_argument("--run", help="run name (default: the file name without _graph.pb)")
    p.add_argument("--keep-weights", action="store_true", help="keep Const payloads in the log (default: left out, dtype and shape kept)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


def cmd_tb(args: argparse.Namespace, out: Output) -> int:
    from inspector.cli.render import run_line
    from inspector.workflows.runs import write_runs

    done = write_runs(args.graphs, logdir=args.logdir, run=args.run, keep_weights=args.keep_weights)
    for note in done.notes:
        out.note(note)
    written = done.runs
    if args.json:
        out.json([w.to_json() for w in written], key="runs")
        return 0
    for w in written:
        out.print(run_line(w))
    out.print(f"View: tensorboard --logdir {args.logdir}   (or: inspector board start {args.logdir})")
    return 0


def add_summarize(add: AddCommand) -> None:
    p = add("summarize", cmd_summarize, "Inputs, outputs, sizes and ops of a graph, and what does not belong in an inference graph (no TensorFlow needed).")
    p.add_argument("graph", type=Path, metavar="GRAPH.pb")
    p.add_argument("--all-ops", action="store_true", help="show every op type, not the top 15")
    p.add_argument("--json", action="store_true")


def cmd_summarize(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.cli.render import summary_report

    summary = inspector.summarize(args.graph)
    if args.json:
        out.json(summary.to_json())
    else:
        out.print(summary_report(summary, max_ops=None if args.all_ops else 15))
    return 0
