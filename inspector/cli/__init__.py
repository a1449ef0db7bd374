"""The `inspector` command line: the top parser, one module per command group, and the exit codes.

Each command is parse -> one library call -> render. Exit codes: 0 done (also
when the reader closed the pipe), 1 a check said "no", 2 bad input or usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence

from inspector import __version__
from inspector.cli import board, compare, graphs, optimize, run, tflite
from inspector.cli.options import Parser
from inspector.cli.output import Output
from inspector.errors import InspectorError
from inspector.text import error_text, visible

__all__ = ["main", "build_parser", "Output"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="inspector", description="See what the inference optimizer did to a frozen TensorFlow graph.")
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def add(name: str, func: Callable[..., int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    # In the order `inspector --help` lists them: the workflow first, then its parts.
    graphs.add_diff(add)
    graphs.add_tb(add)
    optimize.add_optimize(add)
    compare.add_compare(add)
    run.add_label(add)
    run.add_verify(add)
    run.add_bench(add)
    graphs.add_summarize(add)
    tflite.add_check(add)
    tflite.add_export(add)
    compare.add_demo(add)
    board.add_board(sub)
    return parser


# The commands that make one pass over graphs they read whole (see main).
ONE_PASS = frozenset({"diff", "summarize", "tb", "optimize", "compare"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; ``argv`` None means this is the program (the console script, ``python -m inspector``)."""
    parser = build_parser()
    process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    # Known before parsing, so a usage error is JSON too.
    json_mode = "--json" in argv
    out: Output | None = None
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        out = Output(json_mode=getattr(args, "json", False))
        # Whether the command's process ends with it: then optimize may leave TensorFlow to a helper process.
        args.program = process
        if args.command not in ONE_PASS:
            return int(args.func(args, out) or 0)
        # These read a graph once, write and end. The cycle collector's passes over millions of node records
        # find little to free and cost a tenth of a big run, more the bigger the heap, so they run without it;
        # the process that ends with the command does not turn it back on to walk the heap once more.
        was = gc.isenabled()
        gc.disable()
        try:
            return int(args.func(args, out) or 0)
        finally:
            if was and not process:
                gc.enable()
    except InspectorError as exc:
        # Messages carry paths, names and TensorFlow's words: shown, never obeyed by the terminal.
        sys.stderr.write(f"error: {error_text(exc.message)}\n")
        for line in exc.details:
            sys.stderr.write(f"    {visible(line)}\n")
        if json_mode and not (out is not None and out.wrote_json):
            # A script reading stdout gets the error as data (the raw message: JSON escapes it); a check
            # that ran and failed printed its report already, which says so.
            Output(json_mode=True).json({"ok": False, "error": exc.message, "details": list(exc.details),
                                         "exit_code": exc.exit_code})
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except BrokenPipeError:
        # `inspector diff ... | head` closed the pipe: not an error worth a traceback.
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
