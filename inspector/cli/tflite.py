"""`inspector check` and `export`: will the graph load on the phone, and is the .tflite right."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.cli.options import AddCommand, force_option, names
from inspector.cli.output import Output
from inspector.cli.run import labels_beside, note_found_labels, run_options
from inspector.flags import unsafe_ops_option


def add_check(add: AddCommand) -> None:
    p = add("check", cmd_check, "Will it load on the phone? Convert with TensorFlow Lite's converter and name each op in the way (exit 1 if not builtin ops only).")
    p.add_argument("graph", type=Path, metavar="GRAPH.pb")
    quantize_option(p, what="the .tflite checked and sized: export's option of the same name")
    p.add_argument("--json", action="store_true")
    unsafe_ops_option(p)
    run_options(p, plural=True)


def quantize_option(p: argparse.ArgumentParser, *, what: str) -> None:
    from inspector.tflite import QUANTIZE_MODES

    p.add_argument("--quantize", choices=QUANTIZE_MODES, default="none",
                   help=f"weights: float32 (default), 8-bit dynamic range, or float16 ({what})")


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.cli.render import mobile_verdict
    from inspector.errors import CheckFailed

    with out.status("Converting with TensorFlow Lite's converter ..."):
        verdict = inspector.check(args.graph, input_names=names(args.input_names), output_names=names(args.output_names),
                                  input_height=args.input_height, input_width=args.input_width,
                                  quantize=args.quantize, inputs=args.inputs, feeds=args.feeds,
                                  allow_unsafe_ops=args.allow_unsafe_ops)
    if args.json:
        out.json(verdict.to_json())
    else:
        out.print(mobile_verdict(verdict))
    if not verdict.ok:
        raise CheckFailed(f"check: {verdict.message}")
    return 0


def add_export(add: AddCommand) -> None:
    p = add("export", cmd_export, "Write a .tflite and verify it against the graph on the same inputs: sizes, agreement, latency (exit 1 if it disagrees).")
    p.add_argument("graph", type=Path, metavar="GRAPH.pb")
    # --output as optimize spells it, --output_file as tflite_convert does.
    p.add_argument("--tflite", "--output", "--output_file", dest="tflite", type=Path, metavar="OUT.tflite",
                   help="the .tflite to write (default: GRAPH with .tflite)")
    quantize_option(p, what="the .tflite written")
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
    force_option(p, what="--tflite")
    unsafe_ops_option(p)
    run_options(p, plural=True)


def cmd_export(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.cli.render import export_report
    from inspector.errors import CheckFailed

    labels = labels_beside(args.labels, args.graph)
    with out.progress("Converting, then running the graph and the .tflite") as progress:
        report = inspector.export(
            args.graph, args.tflite, quantize=args.quantize, select_tf_ops=args.select_tf_ops,
            images=args.image, image_dirs=args.images, random_inputs=args.random, seed=args.seed,
            input_names=names(args.input_names), output_names=names(args.output_names), inputs=args.inputs, feeds=args.feeds,
            input_height=args.input_height, input_width=args.input_width,
            input_mean=args.input_mean, input_std=args.input_std, labels=labels, top_k=args.top_k,
            latency_runs=args.runs, threads=args.threads, progress=progress, force=args.force,
            allow_unsafe_ops=args.allow_unsafe_ops,
        )
    note_found_labels(out, args.labels, labels)
    if args.json:
        out.json(report.to_json())
    else:
        out.print(export_report(report))
    if not report.ok:
        raise CheckFailed(f"export: {report.message}")
    return 0
