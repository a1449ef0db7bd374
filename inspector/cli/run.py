"""`inspector label`, `verify` and `bench`: running graphs on images or random inputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.cli.options import AddCommand
from inspector.cli.output import Output
from inspector.errors import InspectorError
from inspector.flags import feed_options, strip_dropout_option, unsafe_ops_option


def run_options(p: argparse.ArgumentParser, *, plural: bool) -> None:
    names = "comma-separated names" if plural else "name"
    p.add_argument("--input_names" if plural else "--input_layer", dest="input_names" if plural else "input_layer",
                   help=f"input placeholder {names} (default: read from the graph)")
    p.add_argument("--output_names" if plural else "--output_layer", dest="output_names" if plural else "output_layer",
                   help=f"output node {names} (default: read from the graph)")
    p.add_argument("--input_height", type=int, help="image input height (default: from the graph's input shape)")
    p.add_argument("--input_width", type=int, help="image input width (default: from the graph's input shape)")
    feed_options(p)


def labels_beside(given: Path | None, *graphs: Path) -> Path | None:
    """--labels, else the labels file beside one of ``graphs``; the caller notes a found one once it is used."""
    from inspector.run.labels import find_labels

    if given is not None:
        return given
    for graph in graphs:
        found = find_labels(graph)
        if found is not None:
            return found
    return None


def note_found_labels(out: Output, given: Path | None, used: Path | None) -> None:
    if used is not None and given is None:
        out.note(f"using labels {used} (found beside the graph; --labels picks another)")


def add_label(add: AddCommand) -> None:
    p = add("label", cmd_label, "Classify one image with a frozen graph, like the codelab's label_image.")
    p.add_argument("--graph", type=Path, required=True, help="the frozen graph, e.g. tf_files/retrained_graph.pb")
    p.add_argument("--image", type=Path, required=True, help="the image to classify")
    p.add_argument("--labels", type=Path, help="labels file, one per line (default: the one beside the graph)")
    p.add_argument("--input_mean", type=float, help="input mean (default 127.5; 128 for Inception's Mul input)")
    p.add_argument("--input_std", type=float, help="input std (default 127.5; 128 for Inception's Mul input)")
    p.add_argument("--top_k", type=int, default=5, help="how many labels to show (default 5)")
    p.add_argument("--json", action="store_true")
    unsafe_ops_option(p)
    run_options(p, plural=False)


def cmd_label(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.codelab import label_image as script

    result = inspector.label(
        args.graph, args.image, labels=args.labels, top_k=args.top_k,
        input_name=args.input_layer, output_name=args.output_layer, inputs=args.inputs, feeds=args.feeds,
        input_height=args.input_height, input_width=args.input_width,
        input_mean=args.input_mean, input_std=args.input_std, allow_unsafe_ops=args.allow_unsafe_ops,
    )
    if args.json:
        out.json(result.to_json())
        return 0
    for note in script.detected_notes(result):
        out.note(note.removeprefix("note: "))
    for line in script.result_lines(result):
        out.print(line)
    return 0


def add_verify(add: AddCommand) -> None:
    p = add("verify", cmd_verify, "Run two graphs on the same inputs and check their outputs agree within float32 rounding (exit 1 if not).")
    p.add_argument("a", type=Path, metavar="A.pb")
    p.add_argument("b", type=Path, metavar="B.pb")
    p.add_argument("--image", type=Path, action="append", default=[], help="an image to run (repeatable)")
    p.add_argument("--images", type=Path, action="append", default=[], help="a folder searched recursively for images (repeatable)")
    p.add_argument("--decimals", type=int,
                   help="judge the outputs to this many decimals instead of against float32 rounding noise "
                        "(default: A also runs as its float64 twin and as float32 siblings with each weight rounded "
                        "again; a difference within 16 times the largest rounding error seen there, the noise floor, "
                        "passes; label_image's 5-decimal scores and top-k agreement are shown either way)")
    p.add_argument("--labels", type=Path, help="labels file, for label names in the report")
    p.add_argument("--top_k", type=int, default=3)
    p.add_argument("--random", type=int, default=3, help="random inputs (fixed seed) when no image is given (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input_mean", type=float, default=127.5)
    p.add_argument("--input_std", type=float, default=127.5)
    p.add_argument("--layers", action="store_true",
                   help="compare every layer both models compute, in dataflow order, each against its own noise floor, "
                        "and name the first layer where they part (B may then be a .tflite)")
    p.add_argument("--all", action="store_true", help="with --layers: list every layer, not only those around the drift")
    p.add_argument("--logdir", type=Path,
                   help="with --layers: record the drift in this logdir, for the Graph diff tab to colour the nodes by")
    p.add_argument("--json", action="store_true")
    strip_dropout_option(p, help="run both graphs with training dropout cut out, as they compute at inference "
                                 "(what optimize --strip-dropout writes); without it, a graph whose dropout is "
                                 "still active fails as random")
    unsafe_ops_option(p)
    run_options(p, plural=True)


def cmd_verify(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.cli.render import verify_report
    from inspector.errors import CheckFailed

    if args.layers:
        return _verify_layers(args, out)
    if args.logdir is not None or args.all:
        raise InspectorError(f"{'--logdir' if args.logdir is not None else '--all'} goes with --layers: "
                             f"inspector verify {args.a} {args.b} --layers {'--logdir DIR' if args.logdir else '--all'}")
    labels = labels_beside(args.labels, args.a, args.b)
    with out.progress("Running both graphs") as progress:
        report = inspector.verify(
            args.a, args.b, images=args.image, image_dirs=args.images, decimals=args.decimals, labels=labels,
            top_k=args.top_k, random_inputs=args.random, seed=args.seed,
            input_names=args.input_names, output_names=args.output_names, inputs=args.inputs, feeds=args.feeds,
            input_height=args.input_height, input_width=args.input_width,
            input_mean=args.input_mean, input_std=args.input_std, progress=progress,
            allow_unsafe_ops=args.allow_unsafe_ops, strip_dropout=args.strip_dropout,
        )
    note_found_labels(out, args.labels, labels)
    if args.json:
        out.json(report.to_json())
    else:
        out.print(verify_report(report))
    if not report.ok:
        # The table shows the evidence; the verdict is the error line, said once.
        raise CheckFailed(f"verify: {report.message}")
    return 0


def _verify_layers(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.cli.layers import layers_report
    from inspector.errors import CheckFailed

    if args.decimals is not None or args.strip_dropout:
        raise InspectorError(f"{'--decimals' if args.decimals is not None else '--strip-dropout'} does not go with --layers: "
                             "each layer is judged against its own noise floor (optimize --strip-dropout first)")
    with out.progress("Comparing every layer") as progress:
        report = inspector.layers(
            args.a, args.b, images=args.image, image_dirs=args.images, random_inputs=args.random, seed=args.seed,
            input_names=args.input_names, output_names=args.output_names, inputs=args.inputs, feeds=args.feeds,
            input_height=args.input_height, input_width=args.input_width, input_mean=args.input_mean,
            input_std=args.input_std, progress=progress, allow_unsafe_ops=args.allow_unsafe_ops, logdir=args.logdir,
        )
    if args.json:
        out.json(report.to_json())
    else:
        out.print(layers_report(report, all_rows=args.all))
    if not report.ok:
        raise CheckFailed(f"verify --layers: {report.message}")
    return 0


def add_bench(add: AddCommand) -> None:
    p = add("bench", cmd_bench, "Median inference latency of two graphs on the same input, interleaved.")
    p.add_argument("a", type=Path, metavar="A.pb")
    p.add_argument("b", type=Path, metavar="B.pb")
    p.add_argument("--runs", type=int, default=50, help="timed runs of each graph (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--image", type=Path, help="an image as the input (default: random, fixed seed)")
    p.add_argument("--threads", type=int, default=1, help="TensorFlow threads per graph (default 1: steadier, closer to a phone)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    unsafe_ops_option(p)
    run_options(p, plural=True)


def cmd_bench(args: argparse.Namespace, out: Output) -> int:
    import inspector
    from inspector.cli.render import bench_report

    with out.progress("Timing both graphs") as progress:
        report = inspector.bench(
            args.a, args.b, runs=args.runs, warmup=args.warmup, seed=args.seed, image=args.image, threads=args.threads,
            input_names=args.input_names, output_names=args.output_names, inputs=args.inputs, feeds=args.feeds,
            input_height=args.input_height, input_width=args.input_width,
            progress=progress, allow_unsafe_ops=args.allow_unsafe_ops,
        )
    if args.json:
        out.json(report.to_json())
    else:
        out.print(bench_report(report))
    return 0
