"""Benchmark: what `inspector export` makes of every fixture graph, per quantize mode.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_export.py             # table + the README's markdown
    .venv/bin/python bench/bench_export.py --json      # machine-readable
    .venv/bin/python bench/bench_export.py --only poets_224 --runs 50

For every frozen graph under ``../shared/fixtures/graphs/`` and each of
``--quantize none|dynamic|float16``, ``inspector.tflite.export.export`` converts the
graph and runs the .tflite against it on the codelab's daisy photo and the
three photos in ``poets_tf2/sample_images/`` (each resized to the graph's
input). Reported per graph and mode: the .tflite's size and gzip size (what
the app download grows by) against the graph's, the share of photos whose
top-1 label the .tflite keeps, the largest probability difference, and the
median latency of the graph and the .tflite (one thread each, interleaved, as
``inspector export`` times them). A graph that does not give the same answer
twice (dropout_active) is reported as such. Exit code 0; 2 if a graph fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a file, so the project root is not on sys.path by itself.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIXTURES = ROOT.parent / "shared" / "fixtures"
DAISY = FIXTURES / "flower_photos" / "daisy" / "3475870145_685a19116d.jpg"
SAMPLES = FIXTURES / "graphs" / "poets_tf2" / "sample_images"
MODES = ("none", "dynamic", "float16")
# Graphs whose input placeholder has no shape: the size their own retrain.py used.
NO_SHAPE = {"poets_pair/optimized_graph": 128}


def run(graph: Path, mode: str, *, runs: int, folder: Path) -> dict:
    from inspector.errors import InspectorError
    from inspector.graph.io import load_graph
    from inspector.tflite.export import export

    name = f"{graph.parent.relative_to(FIXTURES / 'graphs')}/{graph.stem}"
    size = NO_SHAPE.get(name)
    try:
        report = export(
            load_graph(graph), folder / f"{name.replace('/', '_')}_{mode}.tflite", quantize=mode,
            images=[DAISY], image_dirs=[SAMPLES], latency_runs=runs,
            input_height=size, input_width=size,
        )
    except InspectorError as exc:
        return {"graph": name, "quantize": mode, "error": exc.message}
    verify = report.verify
    steady = verify is not None and verify.self_consistent_a and verify.self_consistent_b
    return {
        "graph": name,
        "quantize": mode,
        "graph_bytes": report.graph_bytes,
        "graph_gzip_bytes": report.graph_gzip_bytes,
        "tflite_bytes": report.tflite_bytes,
        "gzip_bytes": report.gzip_bytes,
        "photos": len(verify.inputs) if verify else 0,
        "top1_kept": report.top1_agreeing,
        "max_abs_diff": report.max_abs_diff if steady else None,
        "steady": steady,
        "graph_ms": report.latency.a.median_ms if report.latency else None,
        "tflite_ms": report.latency.b.median_ms if report.latency else None,
        "ok": report.ok,
    }


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| graph | quantize | graph MB (gzip) | .tflite MB (gzip) | top-1 kept | max prob. diff | graph ms | .tflite ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['graph']} | {r['quantize']} | error: {r['error']} | | | | | |")
            continue
        diff = f"{r['max_abs_diff']:.2g}" if r["max_abs_diff"] is not None else "unsteady (dropout)"
        ms = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
        lines.append(
            f"| {r['graph']} | {r['quantize']} | {_mb(r['graph_bytes'])} ({_mb(r['graph_gzip_bytes'])}) "
            f"| {_mb(r['tflite_bytes'])} ({_mb(r['gzip_bytes'])}) | {r['top1_kept']}/{r['photos']} | {diff} "
            f"| {ms(r['graph_ms'])} | {ms(r['tflite_ms'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only graphs whose name contains NAME")
    parser.add_argument("--runs", type=int, default=30, help="timed runs of the graph and the .tflite each (default 30; 0: no timing)")
    args = parser.parse_args(argv)
    if not DAISY.exists() or not SAMPLES.is_dir():
        print(f"error: {FIXTURES}: the fixture photos are missing; this benchmark needs ../shared/fixtures", file=sys.stderr)
        return 2
    graphs = sorted((FIXTURES / "graphs").rglob("*.pb"))
    if args.only:
        graphs = [g for g in graphs if any(part in str(g) for part in args.only)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for graph in graphs:
            for mode in MODES:
                row = run(graph, mode, runs=args.runs, folder=Path(tmp))
                rows.append(row)
                if not args.json:
                    print(f"{row['graph']} [{mode}]: " + (row.get("error") or
                          f"{_mb(row['tflite_bytes'])} MB, top-1 {row['top1_kept']}/{row['photos']}"), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(markdown(rows))
    return 2 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
