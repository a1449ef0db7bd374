"""`inspector optimize`: TensorFlow's optimize_for_inference command line, its pass list in --help, and --skip-pass."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from inspector.cli.options import AddCommand, bool_flag, force_option, names, placeholder_type
from inspector.cli.output import Output
from inspector.errors import InspectorError
from inspector.flags import strip_dropout_option


def optimizer_options(p: argparse.ArgumentParser, *, skip_help: str) -> None:
    # TensorFlow's optimize_for_inference spellings, so the codelab's command line works as it is.
    p.add_argument("--input_names", help="input placeholder names, comma-separated (default: detected)")
    p.add_argument("--output_names", help="output node names, comma-separated (default: detected)")
    p.add_argument("--placeholder_type_enum", default="1", help="DataType enum of the input placeholders (default 1: float32)")
    p.add_argument("--toco_compatible", nargs="?", const=True, default=False, type=bool_flag,
                   help="only make ops TensorFlow Lite's converter takes (no fused resize/pad+conv)")
    p.add_argument("--frozen_graph", nargs="?", const=True, default=True, type=bool_flag,
                   help="the input is a frozen graph (default true); false lets variables through unfolded")
    strip_dropout_option(p, help="replace training dropout left in the graph by the identity it is at inference")
    p.add_argument("--skip-pass", dest="skip_pass", action="append", default=[], metavar="NAME", help=skip_help)


def optimizer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The optimizer options of ``args`` as the library takes them."""
    return {
        "input_names": names(args.input_names),
        "output_names": names(args.output_names),
        "skip": tuple(args.skip_pass),
        "placeholder_type_enum": placeholder_type(args.placeholder_type_enum),
        "toco_compatible": args.toco_compatible,
        "frozen_graph": args.frozen_graph,
        "strip_dropout": args.strip_dropout,
    }


def pass_list() -> str:
    """The optimizer's passes, in the order they run, one line each (optimize --help)."""
    import shutil
    import textwrap

    from inspector.optimizer.passes import PASSES

    width = max(shutil.get_terminal_size().columns - 2, 40)
    column = max(len(p.name) for p in PASSES) + 4
    lines = ["passes, in the order they run (--skip-pass NAME leaves one out):"]
    for p in PASSES:
        wrapped = textwrap.wrap(p.summary, width=max(width - column, 20)) or [""]
        lines.append(f"  {p.name:<{column - 2}}{wrapped[0]}")
        lines += [" " * column + more for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


def add_optimize(add: AddCommand) -> None:
    p = add("optimize", cmd_optimize, "Optimize a frozen graph for inference (TensorFlow's optimize_for_inference flags work as they are).")
    p.epilog_factory = pass_list  # type: ignore[attr-defined]
    p.add_argument("graph", type=Path, nargs="?", metavar="GRAPH.pb", help="the graph (or --input)")
    p.add_argument("--input", type=Path, help="the graph to optimize, e.g. tf_files/retrained_graph.pb")
    p.add_argument("--output", type=Path, help="where to write (default: optimized_graph.pb beside a retrained_graph.pb, else X_optimized.pb)")
    p.add_argument("--json", action="store_true", help="print the passes and the diff as JSON")
    force_option(p, what="--output")
    optimizer_options(p, skip_help="leave out the pass NAME (repeatable; the passes are listed below)")


def cmd_optimize(args: argparse.Namespace, out: Output) -> int:
    from inspector.cli.render import diff_table, optimize_report
    from inspector.workflows.optimize import optimize_file

    source = args.input or args.graph
    if source is None:
        raise InspectorError("optimize: name the graph to optimize (--input tf_files/retrained_graph.pb)")
    if args.input and args.graph and args.input != args.graph:
        raise InspectorError(f"optimize: two inputs given ({args.graph} and --input {args.input}); give one")
    options = optimizer_kwargs(args)
    with out.steps() as progress:
        # The terminal shows the op table only: the node-level diff is made for --json alone.
        done = optimize_file(source, args.output, progress=progress, force=args.force, diff=args.json,
                             helper=getattr(args, "program", False), **options)
    result = done.result
    note_detected(out, result, given_inputs=args.input_names, given_outputs=args.output_names)
    if args.json:
        out.json(done.to_json())
        return 0
    out.print(optimize_report(result))
    out.print(diff_table(done.ops, max_rows=10))
    out.print(f"Wrote {done.written.path} ({result.nodes_before} -> {result.nodes_after} nodes)")
    return 0


def note_detected(out: Output, result: Any, *, given_inputs: str | None = None, given_outputs: str | None = None) -> None:
    """Say which input and output names were detected, as the flags that would give them; names the user gave are not."""
    if not result.detected:
        return
    found = [f"{flag}={','.join(value)}" for flag, value, given in (
        ("--input_names", result.input_names, given_inputs), ("--output_names", result.output_names, given_outputs),
    ) if given is None]
    if found:
        out.note("detected " + " ".join(found))
