"""`inspector board start|status|stop`: background TensorBoards inspector started, and only those."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from inspector.cli.options import DEFAULT_LOGDIR, Parser
from inspector.cli.output import Output
from inspector.errors import InspectorError

if TYPE_CHECKING:
    from inspector.tb.board import StartResult


def board_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=6006, help="port to serve on (default 6006; the next free one if taken)")
    p.add_argument("--bind-all", action="store_true", help="serve on all network interfaces (0.0.0.0), not just 127.0.0.1: anyone on the network can see your graphs")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for TensorBoard to answer (default 90)")


def note_board(out: Output, started: StartResult) -> None:
    """What start() had to say: a port moved, a board reused elsewhere, a board exposed to the network."""
    for note in started.notes:
        out.note(note)
    for warning in started.warnings:
        out.warn(warning)


def add_board(sub: argparse._SubParsersAction) -> None:
    help = "Start, list and stop background TensorBoards."
    board_p = sub.add_parser("board", help=help, description=help)
    board_sub = board_p.add_subparsers(dest="board_command", metavar="ACTION", parser_class=Parser)
    board_p.set_defaults(func=lambda args, out: _missing_action(board_p))

    def action(name: str, func: Callable[[argparse.Namespace, Output], int], help: str) -> argparse.ArgumentParser:
        p = board_sub.add_parser(name, help=help)
        p.set_defaults(func=func)
        return p

    p = action("start", cmd_board_start, "Start TensorBoard in the background on LOGDIR, or reuse the one already serving it.")
    p.add_argument("logdir", type=Path, nargs="?", default=DEFAULT_LOGDIR, metavar="LOGDIR")
    p.add_argument("--json", action="store_true")
    board_options(p)

    p = action("status", cmd_board_status, "List the TensorBoards inspector started that are still running, and whether each answers.")
    p.add_argument("--json", action="store_true")

    p = action("stop", cmd_board_stop, "Stop a TensorBoard inspector started (never one started by hand).")
    p.add_argument("--port", type=int, help="stop the board on this port")
    p.add_argument("--logdir", type=Path, help="stop the board serving this folder")
    p.add_argument("--all", action="store_true", help="stop every board inspector started")
    p.add_argument("--json", action="store_true")


def _missing_action(parser: argparse.ArgumentParser) -> int:
    raise InspectorError(f"{parser.prog}: name an action: start, status or stop (see {parser.prog} --help)")


def cmd_board_start(args: argparse.Namespace, out: Output) -> int:
    from inspector.cli.render import board_started
    from inspector.tb import board
    from inspector.workflows.compare import board_json

    with out.status(f"Starting TensorBoard on {args.logdir} ..."):
        started = board.start(args.logdir, port=args.port, bind_all=args.bind_all, timeout=args.timeout)
    note_board(out, started)
    if args.json:
        out.json(board_json(started.info) | {"reused": started.reused, "notes": list(started.notes), "warnings": list(started.warnings)})
        return 0
    out.print(board_started(started, graph_url=board.graph_url(started.info)))
    return 0


def cmd_board_status(args: argparse.Namespace, out: Output) -> int:
    import time

    from inspector.cli.render import board_table
    from inspector.tb import board
    from inspector.workflows.compare import board_json

    boards = board.status()
    if args.json:
        out.json([board_json(b.info) | {"health": b.health} for b in boards], key="boards")
        return 0
    out.print(board_table(boards, now=time.time()))
    return 0


def cmd_board_stop(args: argparse.Namespace, out: Output) -> int:
    from inspector.cli.render import board_stopped
    from inspector.tb import board
    from inspector.workflows.compare import board_json

    result = board.stop(port=args.port, logdir=args.logdir, all=args.all)
    if args.json:
        out.json({"stopped": [board_json(i) for i in result.stopped], "stale_removed": [board_json(i) for i in result.stale_removed]})
        return 0
    out.print(board_stopped(result))
    return 0
