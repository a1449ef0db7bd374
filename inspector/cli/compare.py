"""`inspector compare` and `demo`: the whole workflow in one command, rendered; exit 1 when verify says no."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.cli.board import board_options, note_board
from inspector.cli.optimize import note_detected, optimizer_kwargs, optimizer_options
from inspector.cli.options import DEFAULT_LOGDIR, AddCommand, all_options, force_option
from inspector.cli.output import Output
from inspector.flags import feed_options, unsafe_ops_option

if TYPE_CHECKING:
    from inspector.workflows.compare import CompareResult


def add_compare(add: AddCommand) -> None:
    p = add("compare", cmd_compare, "Write both graphs as TensorBoard runs, print the diff, and start or reuse TensorBoard. "
            "With one graph, optimize and verify it first.")
    p.add_argument("a", type=Path, metavar="A.pb", help="the graph before, e.g. tf_files/retrained_graph.pb")
    p.add_argument("b", type=Path, metavar="B.pb", nargs="?", help="the graph after, e.g. tf_files/optimized_graph.pb "
                   "(left out: A is optimized into --output first)")
    p.add_argument("--output", type=Path, help="with one graph: where the optimized graph goes (default: beside A, as optimize "
                   "writes it: optimized_graph.pb for a retrained_graph.pb, else A_optimized.pb)")
    force_option(p, what="--output")
    p.add_argument("--image", type=Path, action="append", default=[], help="with one graph: an image to verify on (repeatable; default random inputs)")
    optimizer_options(p, skip_help="with one graph: leave out the optimizer pass NAME (repeatable; inspector optimize --help lists them)")
    feed_options(p)
    p.add_argument("--logdir", type=Path, default=DEFAULT_LOGDIR, help=f"TensorBoard log folder (default {DEFAULT_LOGDIR})")
    p.add_argument("--names", nargs=2, metavar=("A", "B"), help="run names (default: retrained, optimized from the file names)")
    p.add_argument("--keep-weights", action="store_true", help="keep Const payloads in the logs")
    p.add_argument("--no-board", action="store_true", help="write the runs and print the diff, but start no TensorBoard")
    p.add_argument("--open", action="store_true", help="open the Graph diff tab in your web browser")
    p.add_argument("--no-check", action="store_true", help="skip the TensorFlow Lite check of both graphs")
    all_options(p)
    p.add_argument("--json", action="store_true", help="print runs, diff and board as JSON")
    unsafe_ops_option(p)
    board_options(p)


def cmd_compare(args: argparse.Namespace, out: Output) -> int:
    from inspector.workflows.compare import compare

    with out.steps() as progress:
        result = compare(
            args.a, args.b, logdir=args.logdir, names=args.names, output=args.output, images=args.image,
            board=not args.no_board, check=not args.no_check, keep_weights=args.keep_weights,
            port=args.port, bind_all=args.bind_all, timeout=args.timeout, progress=progress, force=args.force,
            allow_unsafe_ops=args.allow_unsafe_ops, inputs=args.inputs, feeds=args.feeds, **optimizer_kwargs(args),
        )
    return show_compare(result, out, all_ops=args.all_ops, every_node=args.all, open_browser=args.open,
                        given=(args.input_names, args.output_names))


def show_compare(result: CompareResult, out: Output, *, all_ops: bool = False, every_node: bool = False, open_browser: bool = False,
                 given: tuple[str | None, str | None] = (None, None)) -> int:
    """compare's page (or JSON), then its exit: the board's error if it did not start, 1 if verify said no."""
    from inspector.cli.render import compare_report
    from inspector.errors import CheckFailed

    if result.optimized is not None:
        note_detected(out, result.optimized, given_inputs=given[0], given_outputs=given[1])
    if result.check_note:
        out.note(result.check_note)
    if result.board is not None:
        note_board(out, result.board)
    if result.board_error is not None and out.json_mode:
        raise result.board_error
    if out.json_mode:
        out.json(result.to_json())
    else:
        out.print(compare_report(result, max_rows=None if all_ops or every_node else 10, every_node=every_node))
    if result.board_error is not None:
        raise result.board_error
    if open_browser and result.diff_url:
        import webbrowser

        if not webbrowser.open(result.diff_url):
            out.warn(f"could not open a browser here; open {result.diff_url} yourself")
    if not result.ok:
        raise CheckFailed(f"verify: {result.message}")
    return 0


def add_demo(add: AddCommand) -> None:
    p = add("demo", cmd_demo, "Build a small retrain.py-shaped graph, optimize and verify it, and compare the two.")
    p.add_argument("--dir", type=Path, default=Path("tf_files/demo"), help="where to write the demo graphs and logs (default tf_files/demo)")
    p.add_argument("--no-board", action="store_true", help="start no TensorBoard")
    p.add_argument("--json", action="store_true")
    force_option(p, what="the graphs in --dir")
    board_options(p)


def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    from inspector.workflows.demo import demo

    with out.steps() as progress:
        made = demo(args.dir, board=not args.no_board, port=args.port, bind_all=args.bind_all, timeout=args.timeout,
                    progress=progress, force=args.force)
    out.print(f"Wrote {made.retrained} ({made.nodes} nodes), a graph shaped like retrain.py's")
    return show_compare(made.compare, out)
