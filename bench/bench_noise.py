"""Benchmark: float32 rounding noise against the differences optimize, export and a real change make, per fixture graph.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_noise.py                  # table + the README's markdown
    .venv/bin/python bench/bench_noise.py --json           # machine-readable
    .venv/bin/python bench/bench_noise.py --only poets_224 --random 20 --no-tflite

For every steady frozen graph under ``../shared/fixtures/graphs/`` (dropout_active
gives a new answer each run and is left out), and for keras_frozen MobileNet and
InceptionV3, keras_conv_bn and a custom CNN: the graph ``a`` runs in float32, and its
reference (``inspector.run.noise.Reference``: the float64 twin and two float32 siblings) on the codelab's daisy photo and ``--random``
seeded random "photos" (seed 3, as the issue's failing ``verify --random 20 --seed 3``).
Against ``a`` it runs ``b`` = inspector's optimized graph, the .tflite of
``a`` (``--quantize none``), and ``a`` with the weights of its last MatMul/Conv2D
scaled by 1.001 (daisy only). Per pair: the largest noise |a - ref|, the
siblings' spread |sibling - ref|, difference |a - b| and b's own error |b - ref|,
the largest difference in units of the noise estimate max(noise, spread, ulp)
(what FACTOR must cover for rounding and stay under for a change), and how many
inputs are within the floor. ``--factor`` tries another FACTOR.
Also the twin's cost: building it, importing it, one run against the float32 run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Run as a file, so the project root (and tests/, for the helpers the tests share) is not on sys.path by itself.
for folder in (ROOT, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def cases(only: str | None):
    """(name, graph, input name, output name, input size) for each graph measured."""
    from conftest import GRAPHS
    from inspector.graph.customcnn import custom_cnn
    from inspector.graph.io import load_graph
    from inspector.graph.samples import keras_conv_bn, keras_frozen
    from test_noise import STEADY, size_of

    for path, input_name, output_name in STEADY:
        if only in (None, path.split("/")[0]):
            yield path, load_graph(GRAPHS / path).graph, input_name, output_name, size_of(path)
    if only in (None, "keras"):
        yield "keras_conv_bn", keras_conv_bn(), "input", "Identity", (32, 32)
        yield "keras MobileNet", keras_frozen("MobileNet"), "input", "Identity", (224, 224)
        yield "keras InceptionV3", keras_frozen("InceptionV3"), "input", "Identity", (299, 299)
    if only in (None, "custom"):
        yield "custom_cnn (3 channels, batch norm)", custom_cnn(channels=3, dropout="none", batch_norm=True), "Pholder0", "y_pred", (64, 64)


class Side:
    """The largest noise, difference and b error over the inputs, and the worst diff in units of the noise."""

    def __init__(self, factor: float) -> None:
        self.judgements: list = []
        self.factor = factor

    def add(self, judgement) -> None:
        self.judgements.append(judgement)

    def to_json(self) -> dict:
        js, factor = self.judgements, self.factor
        return {
            "inputs": len(js),
            "noise": max(j.noise for j in js),
            "spread": max(j.spread for j in js),
            "diff": max(j.max_abs_diff for j in js),
            "b_error": max(j.b_error for j in js),
            # The difference in units of the noise estimate (the floor before FACTOR): what FACTOR must cover.
            "diff_over_noise": max(j.ratio * factor for j in js),
            "diff_over_floor": max(j.ratio for j in js),
            "floor_at_worst": max(js, key=lambda j: j.ratio).floor,
            "within": sum(j.within for j in js),
        }


def measure(name, graph, input_name, output_name, size, *, random: int, seed: int, factor: float, tflite: bool) -> dict:
    import inspector
    from inspector.run.images import random_batch
    from inspector.run.noise import Reference, float64_twin, judge
    from test_noise import Float32, daisy, last_weights, scaled

    start = time.perf_counter()
    float64_twin(graph, what=name)
    twin_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = Reference(graph, what=name)
    reference_seconds = time.perf_counter() - start
    a = Float32(graph)
    others = {"optimized": Float32(inspector.optimize(graph, output_names=output_name).graph)}
    others["scaled 1.001"] = Float32(scaled(graph, last_weights(graph, output_name), 1.001))
    notes = []
    if tflite:
        lite = tflite_runner(graph, name, input_name, output_name, size, notes)
        if lite is not None:
            others["tflite"] = lite
    sides = {key: Side(factor) for key in others}
    rng = np.random.default_rng(seed)
    batches = [("daisy", daisy(size))] + [(f"random #{i}", random_batch(size, rng=rng, mean=127.5, std=127.5))
                                          for i in range(1, random + 1)]
    run32 = run_ref = 0.0
    for source, batch in batches:
        feeds = {input_name: batch}
        start = time.perf_counter()
        out_a = a.run(feeds, output_name)
        run32 += time.perf_counter() - start
        start = time.perf_counter()
        out_ref = reference.outputs(feeds, output_name)
        run_ref += time.perf_counter() - start
        for key, runner in others.items():
            if key == "scaled 1.001" and source != "daisy":
                continue
            sides[key].add(judge(out_a, runner.run(feeds, output_name), out_ref, factor=factor))
    reference.close()
    return {
        "graph": name,
        "nodes": len(graph.node),
        "float32_nodes": list(reference.float32_nodes),
        "twin_seconds": twin_seconds,
        "reference_seconds": reference_seconds,
        "run32_ms": 1000 * run32 / len(batches),
        "reference_ms": 1000 * run_ref / len(batches),
        "pairs": {key: side.to_json() for key, side in sides.items()},
        "notes": notes,
    }


class _Lite:
    """The .tflite in TensorFlow Lite's interpreter, one float input and output (runners.TFLiteRunner is being reworked)."""

    def __init__(self, model: bytes, input_name: str) -> None:
        from inspector.graph import tfcompat

        tf = tfcompat.tf()
        self._interpreter = tf.lite.Interpreter(model_content=model)
        self._interpreter.allocate_tensors()
        (self._input,) = self._interpreter.get_input_details()
        (self._output,) = self._interpreter.get_output_details()

    def run(self, feeds, output_name: str) -> np.ndarray:
        (batch,) = feeds.values()
        self._interpreter.set_tensor(self._input["index"], np.asarray(batch, dtype=np.float32))
        self._interpreter.invoke()
        return np.asarray(self._interpreter.get_tensor(self._output["index"]), dtype=np.float64).reshape(-1)


def tflite_runner(graph, name, input_name, output_name, size, notes):
    """``inspector export --quantize none`` of the graph, run in TensorFlow Lite's interpreter."""
    from inspector.errors import InspectorError
    from inspector.graph.io import load_graph, save_graph
    from inspector.tflite.export import export

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "graph.pb"
        save_graph(graph, source)
        out = Path(folder) / "graph.tflite"
        try:
            export(load_graph(source), out, quantize="none", random_inputs=1, latency_runs=0,
                   input_names=input_name, output_names=output_name, input_height=size[0], input_width=size[1])
        except InspectorError as exc:
            if not out.exists():
                notes.append(f"no .tflite: {exc}")
                return None
        return _Lite(out.read_bytes(), input_name)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| graph | pair | inputs | noise \\|a-ref\\| | spread \\|siblings-ref\\| | diff \\|a-b\\| | b error \\|b-ref\\| "
        "| worst diff / noise estimate | worst diff / floor | within |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for key, side in row["pairs"].items():
            lines.append(
                f"| {row['graph']} | {key} | {side['inputs']} | {side['noise']:.3g} | {side['spread']:.3g} | {side['diff']:.3g} | "
                f"{side['b_error']:.3g} | {side['diff_over_noise']:.2f} | {side['diff_over_floor']:.2f} | "
                f"{side['within']}/{side['inputs']} |"
            )
    lines += ["", "| graph | nodes | twin built | Reference() | float32 run | reference run (twin + siblings) | left in float32 |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['graph']} | {row['nodes']} | {row['twin_seconds']:.2f} s | {row['reference_seconds']:.2f} s | "
            f"{row['run32_ms']:.0f} ms | {row['reference_ms']:.0f} ms | {len(row['float32_nodes'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="a fixture folder (poets_224), keras or custom")
    parser.add_argument("--random", type=int, default=100, help="random inputs besides the daisy (default 100)")
    parser.add_argument("--seed", type=int, default=3, help="seed of the random inputs (default 3)")
    parser.add_argument("--factor", type=float, default=None, help="the FACTOR to judge with (default noise.FACTOR)")
    parser.add_argument("--no-tflite", action="store_true", help="skip the .tflite pairs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from inspector.run.noise import FACTOR

    factor = FACTOR if args.factor is None else args.factor
    rows = []
    for case in cases(args.only):
        row = measure(*case, random=args.random, seed=args.seed, factor=factor, tflite=not args.no_tflite)
        rows.append(row)
        if not args.json:
            print(markdown([row]).split("\n\n")[0].split("\n", 2)[2], flush=True)
    if args.json:
        print(json.dumps({"factor": factor, "rows": rows}, indent=1))
    else:
        print(f"\nFACTOR {factor}\n")
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
