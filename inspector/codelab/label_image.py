"""The codelab's `python -m scripts.label_image`: classify one image with a frozen graph, same flags and output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inspector.errors import InspectorError
from inspector.flags import feed_options, unsafe_ops_option
from inspector.run.label import LabelResult, label_image
from inspector.run.labels import score_line
from inspector.text import error_text, visible

# The codelab's defaults for the files, relative to its project folder.
DEFAULT_GRAPH = Path("tf_files/retrained_graph.pb")
DEFAULT_IMAGE = Path("tf_files/flower_photos/daisy/3475870145_685a19116d.jpg")
DEFAULT_LABELS = Path("tf_files/retrained_labels.txt")
TOP_K = 5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.label_image",
        description=(
            "Classify an image with a frozen graph, as the TensorFlow for Poets codelab does. "
            "Flags left out are read from the graph (input and output layer, input size) "
            "instead of the codelab's fixed defaults."
        ),
    )
    parser.add_argument("--image", type=Path, help=f"image to be processed (default: {DEFAULT_IMAGE})")
    parser.add_argument("--graph", type=Path, help=f"graph/model to be executed (default: {DEFAULT_GRAPH})")
    parser.add_argument(
        "--labels",
        type=Path,
        help=f"name of file containing labels (default: {DEFAULT_LABELS}, or the labels file beside the graph)",
    )
    parser.add_argument("--input_height", type=int, help="input height (default: from the graph's input shape)")
    parser.add_argument("--input_width", type=int, help="input width (default: from the graph's input shape)")
    parser.add_argument("--input_mean", type=float, help="input mean (default: 127.5 as retrain.py's MobileNet; 128 for Inception's Mul)")
    parser.add_argument("--input_std", type=float, help="input std (default: 127.5 as retrain.py's MobileNet; 128 for Inception's Mul)")
    parser.add_argument("--input_layer", help="name of input layer (default: the graph's image placeholder)")
    parser.add_argument("--output_layer", help="name of output layer (default: final_result, or the graph's one output)")
    feed_options(parser)
    unsafe_ops_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # argparse has printed usage (or --help); hand back its code instead of exiting.
        return exc.code if isinstance(exc.code, int) else 2
    graph = args.graph if args.graph is not None else DEFAULT_GRAPH
    image = args.image if args.image is not None else DEFAULT_IMAGE
    labels = args.labels
    if labels is None and args.graph is None and DEFAULT_LABELS.is_file():
        labels = DEFAULT_LABELS
    try:
        result = label_image(
            graph,
            image,
            labels=labels,
            top_k=TOP_K,
            input_name=args.input_layer,
            output_name=args.output_layer,
            input_height=args.input_height,
            input_width=args.input_width,
            input_mean=args.input_mean,
            input_std=args.input_std,
            inputs=args.inputs,
            feeds=args.feeds,
            allow_unsafe_ops=args.allow_unsafe_ops,
        )
    except InspectorError as exc:
        print(f"error: {error_text(exc)}", file=sys.stderr)
        return exc.exit_code
    # Labels and layer names come from the files: shown, never obeyed by the terminal.
    for note in detected_notes(result):
        print(visible(note), file=sys.stderr)
    print(format_result(result))
    return 0


def detected_notes(result: LabelResult) -> list[str]:
    """stderr lines naming, as flags to pass, every setting that was not given."""
    found = dict(result.detected)
    notes = []
    from_graph = [name for name in ("input_layer", "output_layer", "input_height", "input_width") if name in found]
    if from_graph:
        line = "note: read from the graph: " + _flags(found, from_graph)
        if "input_layer" in found or "input_height" in found:
            # People pass the codelab's Inception defaults to MobileNet graphs and get a crash.
            line += " (the codelab's defaults Mul and 299 only fit Inception v3)"
        notes.append(line)
    defaults = [name for name in ("input_mean", "input_std") if name in found]
    if defaults:
        kind = "Inception v3" if result.input_name == "Mul" else "MobileNet"
        notes.append(f"note: using {_flags(found, defaults)} (retrain.py's values for {kind})")
    if "labels" in found:
        notes.append(f"note: using {_flags(found, ['labels'])} (found beside the graph)")
    notes += [f"note: {note}" for note in result.notes]
    return notes


def _flags(found: dict[str, str], names: list[str]) -> str:
    return " ".join(f"--{name}={_quote(found[name])}" for name in names)


def result_lines(result: LabelResult) -> list[str]:
    """The codelab's output: a blank line, the time, a blank line, then `label (score=0.12345)` per class."""
    lines = ["", f"Evaluation time (1-image): {result.seconds:.3f}s", ""]
    lines += [score_line(p) for p in result.top]
    return lines


def format_result(result: LabelResult) -> str:
    """``result_lines`` as one printable string, each line's control characters escaped."""
    return "\n".join(visible(line) for line in result_lines(result))


def _quote(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) else value


if __name__ == "__main__":
    sys.exit(main())
