"""check and export agree: check's verdict, ops and .tflite size are what export writes, on every fixture and quantize mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from conftest import REAL_GRAPHS, fixture_path
from inspector.cli import main
from inspector.errors import CheckFailed
from inspector.graph import tfcompat
from inspector.graph.io import LoadedGraph, load_graph
from inspector.tflite.check import FLEX, check
from inspector.tflite.export import export

pytestmark = pytest.mark.slow

QUANTIZED = "mobilenet_v1_0.25_128/quantized_graph.pb"
# The one fixture whose input declares no shape: retrain.py trained it at 128.
SIZES = {"poets_pair/optimized_graph.pb": {"input_height": 128, "input_width": 128}}
CASES = [(r[0], "none") for r in REAL_GRAPHS] + [(QUANTIZED, "dynamic"), (QUANTIZED, "float16")]


@pytest.mark.parametrize("relative,quantize", CASES, ids=[f"{r}-{q}" for r, q in CASES])
def test_check_reports_what_export_writes(relative: str, quantize: str, tmp_path: Path) -> None:
    loaded = load_graph(fixture_path(relative))
    size = SIZES.get(relative, {})
    verdict = check(loaded, quantize=quantize, **size)
    out = tmp_path / "model.tflite"
    report = export(loaded, out, quantize=quantize, random_inputs=1, latency_runs=0, **size)
    # Every fixture loads with builtin ops only, the 8-bit-weight one included, and both say so.
    assert verdict.ok, verdict.message
    assert report.select_ops == () and "Flex" not in "".join(report.tflite_ops)
    # The size check reports is the file export wrote, byte for byte in length, with the same ops.
    assert verdict.tflite_bytes == report.tflite_bytes == out.stat().st_size
    assert verdict.tflite_ops == report.tflite_ops
    assert verdict.folded == report.folded
    assert verdict.input_shapes == (report.input_shape,) and verdict.quantize == report.quantize == quantize
    assert json.loads(json.dumps(verdict.to_json()))["tflite_bytes"] == out.stat().st_size


def test_quantized_weights_check_passes_and_says_how_the_weights_are_stored() -> None:
    loaded = load_graph(fixture_path(QUANTIZED))
    verdict = check(loaded)
    assert verdict.ok and verdict.builtin_only and verdict.flex_ops == ()
    (issue,) = verdict.issues
    assert (issue.op, issue.status, issue.constant, issue.count) == ("Dequantize", FLEX, True, 2)
    assert verdict.folded == issue.nodes
    assert verdict.message.startswith("converts to TensorFlow Lite builtin ops only (31 ops, 1.81 MiB) once export "
                                      "computes its 2 constant Dequantize node(s) in TensorFlow: loads in any")
    assert verdict.notes == ("the .tflite holds the 8-bit weights of 2 Dequantize node(s) dequantized, as float32; "
                             "--quantize dynamic stores them in 8 bits again",)
    assert issue.why == ("Dequantize has no TensorFlow Lite builtin, but it computes from constants only: export computes "
                         "it in TensorFlow and stores the result, so the .tflite needs no Select op; these are 8-bit "
                         "weights from TF1's quantize_graph")
    dynamic = check(loaded, quantize="dynamic")
    assert dynamic.ok and dynamic.tflite_bytes is not None and verdict.tflite_bytes is not None
    # 8 bits per weight again: under a third of the float32 file.
    assert dynamic.tflite_bytes < verdict.tflite_bytes * 0.35
    assert dynamic.notes == ("the .tflite holds the 8-bit weights of 2 Dequantize node(s) dequantized, then in 8 bits "
                             "again (--quantize dynamic)",)
    half = check(loaded, quantize="float16")
    assert half.notes == ("the .tflite holds the 8-bit weights of 2 Dequantize node(s) dequantized, then as float16 "
                          "(--quantize float16); --quantize dynamic stores 8 bits",)


def test_quantized_weights_check_exits_0_on_the_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's cells on one line each
    graph = fixture_path(QUANTIZED)
    assert main(["check", str(graph)]) == 0
    captured = capsys.readouterr()
    assert "error:" not in captured.out + captured.err
    out = " ".join(captured.out.split())
    assert "ok: converts to TensorFlow Lite builtin ops only (31 ops, 1.81 MiB)" in out
    assert "nothing: export stores its value" in out and "Select ops (Flex)" not in out
    assert "note: the .tflite holds the 8-bit weights of 2 Dequantize node(s) dequantized, as float32" in out
    assert main(["check", str(graph), "--quantize", "dynamic", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["quantize"] == "dynamic" and data["tflite_bytes"] < 700_000
    assert len(data["folded"]) == 2 and data["flex_ops"] == []


def _erf_graph() -> GraphDef:
    # Erf has no TensorFlow Lite builtin: only the Flex delegate runs it.
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="pixels")
        weights = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32))
        features = tf.math.erf(tf.nn.conv2d(image, weights, 1, "SAME"), name="features/erf")
        tf.nn.softmax(tf.reduce_mean(features, axis=[1, 2]), name="scores")
    return tfcompat.from_tf(graph.as_graph_def())


def _saved(tmp_path: Path, graph: GraphDef) -> LoadedGraph:
    path = tmp_path / "graph.pb"
    path.write_bytes(graph.SerializeToString())
    return load_graph(path)


def test_check_of_a_select_ops_graph_sizes_what_export_select_tf_ops_writes(tmp_path: Path) -> None:
    loaded = _saved(tmp_path, _erf_graph())
    verdict = check(loaded)
    assert not verdict.ok and verdict.flex_ops == ("Erf",) and verdict.folded == ()
    with pytest.raises(CheckFailed, match="no builtin for Erf"):
        export(loaded, tmp_path / "plain.tflite", latency_runs=0)
    report = export(loaded, tmp_path / "flex.tflite", select_tf_ops=True, latency_runs=0)
    assert verdict.tflite_bytes == report.tflite_bytes == (tmp_path / "flex.tflite").stat().st_size
    assert verdict.tflite_ops == report.tflite_ops and verdict.tflite_ops["FlexErf"] == 1
    assert verdict.message == (f"needs TensorFlow Select ops for Erf (features/erf): the app must link "
                               f"tensorflow-lite-select-tf-ops (export --select_tf_ops writes {verdict.tflite_bytes / 1024:.0f} KiB)")


@pytest.mark.parametrize("options", [
    {"channels": 1, "size": 32},
    {"channels": 6, "size": 16, "label": True},
    {"channels": 3, "size": 16, "training_flag": True, "label": True},
    {"channels": 3, "size": 16, "dropout": "rate"},
], ids=["gray-keep_prob", "six-label", "flag", "rate"])
def test_check_and_export_agree_on_custom_cnns(options: dict, tmp_path: Path) -> None:
    from inspector.graph.customcnn import custom_cnn

    loaded = _saved(tmp_path, custom_cnn(**options))
    verdict = check(loaded)
    out = tmp_path / "model.tflite"
    report = export(loaded, out, random_inputs=2, latency_runs=0)
    assert verdict.ok and report.ok, (verdict.message, report.message)
    assert verdict.tflite_bytes == report.tflite_bytes == out.stat().st_size
    assert verdict.tflite_ops == report.tflite_ops and verdict.input_shapes == (report.input_shape,)
    # The settings stored at their inference values are said once, by both.
    assert set(verdict.notes) <= set(report.notes) and verdict.notes
