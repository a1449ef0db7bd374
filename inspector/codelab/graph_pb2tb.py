"""The codelab's `python -m scripts.graph_pb2tb LOGDIR GRAPH.pb`: show a frozen graph in TensorBoard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inspector.errors import InspectorError
from inspector.graph.io import load_graph
from inspector.tb.events import RunWritten, write_run
from inspector.text import error_text, visible


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.graph_pb2tb",
        description=(
            "Write a frozen graph as a TensorBoard run at exactly LOGDIR, replacing the graph an "
            "earlier run of this script wrote there (training summaries stay). "
            "Then: tensorboard --logdir <the folder above LOGDIR>"
        ),
    )
    parser.add_argument("logdir", metavar="LOGDIR", type=Path, help="the run folder, e.g. tf_files/training_summaries/retrained")
    parser.add_argument("graph", metavar="GRAPH", type=Path, help="the frozen graph, e.g. tf_files/retrained_graph.pb")
    parser.add_argument(
        "--keep-weights",
        action="store_true",
        help="keep Const payloads in the log (by default large ones are left out; the Graph tab still shows dtype and shape)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # argparse has printed usage (or --help); hand back its code instead of exiting.
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.logdir.is_file():
            # The likeliest cause is the two arguments swapped.
            raise InspectorError(
                f"{args.logdir}: is a file, not a log folder; the order is LOGDIR GRAPH.pb "
                "(e.g. tf_files/training_summaries/retrained tf_files/retrained_graph.pb)"
            )
        loaded = load_graph(args.graph)
        # The run is LOGDIR itself, as in the codelab; TensorBoard runs on its parent.
        written = write_run(loaded.graph, args.logdir, ".", keep_weights=args.keep_weights)
    except InspectorError as exc:
        # Paths and TensorFlow's words: shown, never obeyed by the terminal.
        print(f"error: {error_text(exc)}", file=sys.stderr)
        return exc.exit_code
    print(visible(_summary(written, keep_weights=args.keep_weights)))
    return 0


def _summary(written: RunWritten, *, keep_weights: bool) -> str:
    line = f"wrote {written.event_file}: {written.nodes} nodes, {_size(written.bytes_written)}"
    if keep_weights:
        line += " (weights kept)"
    elif written.consts_stripped:
        consts = "Const" if written.consts_stripped == 1 else "Consts"
        line += (
            f" (weights left out: {written.consts_stripped} {consts}, {_size(written.bytes_stripped)}; "
            "--keep-weights keeps them)"
        )
    if written.replaced:
        files = "file" if len(written.replaced) == 1 else "files"
        line += f"; replaced {len(written.replaced)} earlier graph {files}"
    return line


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.0f} KB"
    if n < 1_000_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e9:.1f} GB"


if __name__ == "__main__":
    sys.exit(main())
