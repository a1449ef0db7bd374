"""Tests for inspector.tflite (check, export) and TFLiteRunner: TensorFlow Lite conversion, Select-op verdicts, export checked against the graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

from builders import retrained_like
from conftest import REAL_GRAPHS, fixture_path
from inspector.errors import CheckFailed, InspectorError
from inspector.graph.io import LoadedGraph, load_graph
from inspector.tflite.check import FLEX, UNSUPPORTED, check
from inspector.tflite.export import export
from inspector.run.images import random_batch
from inspector.run.runners import GraphRunner, TFLiteRunner
from inspector.analysis.summary import summarize
from inspector.run.verify import verify_runners
from tf_helpers import tf1_graph

pytestmark = pytest.mark.slow

DAISY_PHOTO = "flower_photos/daisy/3475870145_685a19116d.jpg"
SAMPLE_IMAGES = "poets_tf2/sample_images"
# The one fixture whose input declares no shape: retrain.py trained it at 128.
NO_SHAPE = {"poets_pair/optimized_graph.pb": {"input_height": 128, "input_width": 128}}
QUANTIZED_WEIGHTS = "mobilenet_v1_0.25_128/quantized_graph.pb"
DROPOUT = "dropout_active/retrained_graph.pb"
IDS = [r[0] for r in REAL_GRAPHS]


# --- graphs the tests build --------------------------------------------------------------


def _flex_graph(tf, image) -> None:
    # Erf has no TensorFlow Lite builtin (GELU's is fused and does not count): only the Flex delegate runs it.
    features = tf.math.erf(image, name="features/erf")
    pooled = tf.reduce_mean(features, axis=[1, 2])
    tf.nn.softmax(pooled, name="final_result")


def _unsupported_graph(tf, image) -> None:
    # A PyFunc calls back into Python: not a builtin and not among the Select ops.
    out = tf.compat.v1.py_func(lambda x: x, [image], tf.float32, name="python/call")
    out.set_shape([1, 8, 8, 3])
    tf.nn.softmax(tf.reduce_mean(out, axis=[1, 2]), name="final_result")


def _constant_dequantize_graph(tf, image) -> None:
    # TF1's quantize_graph stored weights as quint8 + Dequantize. Big enough that the
    # converter's own constant folding (which has a size limit) leaves it alone.
    rng = np.random.default_rng(0)
    weights = tf.constant(rng.integers(0, 256, (1, 1, 3, 20000)).astype(np.uint8), dtype=tf.quint8)
    real = tf.raw_ops.Dequantize(
        input=weights, min_range=tf.constant(-0.05), max_range=tf.constant(0.05), mode="MIN_FIRST", name="weights/dequantize"
    )
    logits = tf.reduce_mean(tf.nn.conv2d(image, real, 1, "SAME"), axis=[1, 2])
    tf.nn.softmax(logits, name="final_result")


def _save(tmp_path: Path, graph: GraphDef, name: str = "graph.pb") -> LoadedGraph:
    path = tmp_path / name
    path.write_bytes(graph.SerializeToString())
    return load_graph(path)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> LoadedGraph:
    """A small retrain.py-shaped MobileNet graph: the never-skipping stand-in for the fixtures."""
    from inspector.graph.samples import retrain_shaped_mobilenet

    return _save(tmp_path_factory.mktemp("generated"), retrain_shaped_mobilenet(blocks=2), "retrained_graph.pb")


def _real(relative: str) -> LoadedGraph:
    return load_graph(fixture_path(relative))


# --- check -------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative,input_name,output_name,nodes", REAL_GRAPHS, ids=IDS)
def test_check_every_fixture(relative: str, input_name: str, output_name: str, nodes: int) -> None:
    verdict = check(_real(relative), **NO_SHAPE.get(relative, {}))
    assert verdict.input_names == (input_name,) and verdict.output_names == (output_name,)
    assert len(verdict.input_shapes) == 1 and verdict.input_shapes[0][0] == 1
    if relative == QUANTIZED_WEIGHTS:
        # TF1's Dequantize has no builtin, but computes from constants: export stores its result, and check says so.
        assert verdict.ok and verdict.select_converts is True
        (issue,) = verdict.issues
        assert (issue.op, issue.status, issue.count, issue.constant) == ("Dequantize", FLEX, 2, True)
        assert issue.nodes == verdict.folded == (
            "MobilenetV1/Conv2d_13_pointwise/weights/read/_4__cf__4",
            "MobilenetV1/Logits/Conv2d_1c_1x1/weights/read/_1__cf__1",
        )
        assert verdict.flex_ops == () and "FlexDequantize" not in verdict.tflite_ops
        assert "once export computes its 2 constant Dequantize node(s) in TensorFlow" in verdict.message
        assert "export computes it in TensorFlow and stores the result" in issue.why
    else:
        assert verdict.ok, verdict.message
        assert verdict.issues == () and verdict.select_converts is None and verdict.error is None
        assert verdict.tflite_ops["CONV_2D"] >= 8 and verdict.tflite_bytes > 1_000_000
        assert verdict.message.startswith("converts to TensorFlow Lite builtin ops only")
    data = json.loads(json.dumps(verdict.to_json()))
    assert data["ok"] is verdict.ok and data["input_names"] == [input_name]


def test_check_dropout_graph_loads_but_carries_training_ops() -> None:
    verdict = check(_real(DROPOUT))
    assert verdict.ok  # TensorFlow Lite has a RANDOM_UNIFORM builtin, so it converts
    assert verdict.tflite_ops.get("RANDOM_UNIFORM") == 1
    (flag,) = verdict.not_needed
    assert flag.kind == "dropout" and flag.nodes == ("final_training_ops/drop/dropout/random_uniform/RandomUniform",)
    assert "RandomUniform (dropout)" in verdict.message
    assert verdict.to_json()["not_needed"][0]["op"] == "RandomUniform"


def test_check_shapeless_input_needs_a_size() -> None:
    loaded = _real("poets_pair/optimized_graph.pb")
    with pytest.raises(InspectorError, match="declares no image size.*--input_height and --input_width") as info:
        check(loaded)
    assert info.value.exit_code == 2
    with pytest.raises(InspectorError, match="takes 128x128 images, not 224x224"):
        check(_real("poets_pair/retrained_graph.pb"), input_height=224, input_width=224)


def test_check_generated_graph(generated: LoadedGraph) -> None:
    verdict = check(generated)
    assert verdict.ok, verdict.message
    assert verdict.input_names == ("input",) and verdict.input_shapes == ((1, 128, 128, 3),)
    assert verdict.output_names == ("final_result",)
    assert verdict.not_needed == () and verdict.flags == ()
    assert set(verdict.tflite_ops) >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"}


def test_check_names_an_op_that_needs_flex(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    verdict = check(_save(tmp_path, tf1_graph(_flex_graph, input_name="input")))
    assert not verdict.ok and not verdict.builtin_only
    assert verdict.select_converts is True
    (issue,) = verdict.issues
    assert (issue.op, issue.status, issue.nodes, issue.count, issue.constant) == ("Erf", FLEX, ("features/erf",), 1, False)
    assert verdict.flex_ops == ("Erf",) and verdict.unsupported_ops == ()
    assert verdict.message.startswith("needs TensorFlow Select ops for Erf (features/erf)")
    assert "tensorflow-lite-select-tf-ops" in issue.why
    assert verdict.tflite_ops.get("FlexErf") == 1
    # The converter's MLIR diagnostics went nowhere near the user's terminal.
    assert capfd.readouterr().err == ""


def test_check_names_an_op_nothing_can_run(tmp_path: Path) -> None:
    # A PyFunc runs Python: the op policy refuses it unless the graph is trusted (tests/test_policy.py).
    verdict = check(_save(tmp_path, tf1_graph(_unsupported_graph, input_name="input")), allow_unsafe_ops=True)
    assert not verdict.ok and verdict.select_converts is False
    (issue,) = verdict.issues
    assert (issue.op, issue.status, issue.nodes) == ("PyFunc", UNSUPPORTED, ("python/call",))
    assert verdict.message.startswith("cannot convert: PyFunc (python/call) is neither")
    assert "custom op" in issue.why


def test_check_given_names(generated: LoadedGraph) -> None:
    verdict = check(generated, input_names="import/input:0", output_names=["final_result:0"])
    assert verdict.input_names == ("input",) and verdict.output_names == ("final_result",)
    with pytest.raises(InspectorError, match="no node named 'logits'"):
        check(generated, output_names="logits")


# --- export -----------------------------------------------------------------------------------


def test_export_generated_graph(generated: LoadedGraph, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.tflite"
    seen: list[tuple[int, int]] = []
    report = export(generated, out, latency_runs=5, progress=lambda done, total: seen.append((done, total)))
    assert report.ok, report.message
    data = out.read_bytes()
    assert data[4:8] == b"TFL3" and len(data) == report.tflite_bytes
    assert 0 < report.gzip_bytes < report.tflite_bytes
    assert report.graph_bytes == generated.size_bytes and 0 < report.graph_gzip_bytes < report.graph_bytes
    assert report.verify is not None and report.verify.random_inputs and len(report.verify.inputs) == 3
    assert report.max_abs_diff < 0.5e-5 and report.top1_agreement == 1.0
    assert report.verify.b.path == out and report.verify.a.path == generated.path
    assert report.latency is not None and report.latency.runs == 5
    assert report.latency.a.median_ms > 0 and report.latency.b.median_ms > 0
    assert seen[:3] == [(1, 3), (2, 3), (3, 3)] and seen[-1] == (5, 5)
    assert report.input_shape == (1, 128, 128, 3) and report.folded == () and report.select_ops == ()
    assert "agrees with the graph within float32 rounding on 3 random inputs" in report.message
    data = json.loads(json.dumps(report.to_json()))
    assert data["ok"] is True and data["quantize"] == "none" and data["top1_agreement"] == 1.0
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("quantize", ["dynamic", "float16"])
def test_export_generated_graph_quantized(generated: LoadedGraph, tmp_path: Path, quantize: str) -> None:
    plain = export(generated, tmp_path / "plain.tflite", latency_runs=0)
    report = export(generated, tmp_path / f"{quantize}.tflite", quantize=quantize, latency_runs=0)
    # Figures, not a verdict on agreement: quantized weights move the probabilities.
    assert report.ok, report.message
    assert report.tflite_bytes < plain.tflite_bytes * (0.4 if quantize == "dynamic" else 0.6)
    assert report.max_abs_diff is not None and report.top1_agreement is not None
    assert "not expected to agree within float32 rounding" in report.message
    assert report.latency is None


@pytest.mark.parametrize("relative,input_name,output_name,nodes", REAL_GRAPHS, ids=IDS)
def test_export_every_fixture(relative: str, input_name: str, output_name: str, nodes: int, tmp_path: Path) -> None:
    loaded = _real(relative)
    daisy, samples = fixture_path(DAISY_PHOTO), fixture_path(SAMPLE_IMAGES)
    out = tmp_path / "model.tflite"
    report = export(loaded, out, images=[daisy], image_dirs=[samples], latency_runs=3, **NO_SHAPE.get(relative, {}))
    assert out.is_file() and report.verify is not None
    assert [c.source for c in report.verify.inputs][0] == str(daisy) and len(report.verify.inputs) == 4
    assert (report.input_name, report.output_name) == (input_name, output_name)
    if relative == DROPOUT:
        # Neither side gives the same answer twice: the export cannot be checked, and the report says why.
        assert not report.ok
        assert "cannot verify it" in report.message and "dropout" in report.message
        return
    # The label the phone shows is the label the graph gives, on every photo.
    for compared in report.verify.inputs:
        assert compared.same_top1, compared
    assert report.top1_agreement == 1.0
    if relative == QUANTIZED_WEIGHTS:
        # Its Dequantize was computed in TensorFlow first; float32 noise, seen at 6e-6, sits at the 5-decimal bound.
        assert len(report.folded) == 2 and report.max_abs_diff < 2e-5
        assert any("Dequantize" in note for note in report.notes)
    else:
        assert report.ok, report.message
        assert report.max_abs_diff < 0.5e-5


@pytest.mark.parametrize("quantize", ["dynamic", "float16"])
@pytest.mark.parametrize("relative,input_name,output_name,nodes", REAL_GRAPHS, ids=IDS)
def test_export_every_fixture_quantized(
    relative: str, input_name: str, output_name: str, nodes: int, quantize: str, tmp_path: Path
) -> None:
    loaded = _real(relative)
    report = export(
        loaded, tmp_path / "model.tflite", quantize=quantize, images=[fixture_path(DAISY_PHOTO)],
        image_dirs=[fixture_path(SAMPLE_IMAGES)], latency_runs=0, **NO_SHAPE.get(relative, {}),
    )
    # About 1 byte (dynamic) or 2 bytes (float16) per weight, where float32 takes 4.
    float_bytes = 4 * summarize(loaded).params
    assert report.tflite_bytes < float_bytes * (0.35 if quantize == "dynamic" else 0.55)
    assert report.max_abs_diff is not None and report.max_abs_diff > 0
    assert report.top1_agreement is not None and 0.0 <= report.top1_agreement <= 1.0
    assert report.ok is (relative != DROPOUT), report.message


def test_export_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    loaded = _save(tmp_path, retrained_like())
    before = loaded.path.read_bytes()
    with pytest.raises(InspectorError, match="refusing to overwrite the input"):
        export(loaded, loaded.path, latency_runs=0)
    assert loaded.path.read_bytes() == before


def test_export_of_a_flex_graph(tmp_path: Path) -> None:
    loaded = _save(tmp_path, tf1_graph(_flex_graph, input_name="input"))
    out = tmp_path / "model.tflite"
    with pytest.raises(CheckFailed, match=r"no builtin for Erf \(features/erf\); pass --select_tf_ops") as info:
        export(loaded, out)
    assert info.value.exit_code == 1 and not out.exists()
    report = export(loaded, out, select_tf_ops=True)
    # Written for an app that links the Flex delegate; this interpreter cannot run it, so it is not verified.
    assert out.is_file() and report.select_ops == ("Erf",)
    assert report.verify is None and report.latency is None and not report.ok
    assert "not verified" in report.message and report.to_json()["verify"] is None


def test_export_of_an_unsupported_op(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match=r"PyFunc \(python/call\) is neither a builtin nor a Select op"):
        export(_save(tmp_path, tf1_graph(_unsupported_graph, input_name="input")), tmp_path / "model.tflite", select_tf_ops=True,
               allow_unsafe_ops=True)


def test_export_folds_constant_dequantize(tmp_path: Path) -> None:
    loaded = _save(tmp_path, tf1_graph(_constant_dequantize_graph, input_name="input"))
    verdict = check(loaded)
    assert verdict.ok and verdict.issues[0].op == "Dequantize" and verdict.issues[0].constant
    report = export(loaded, tmp_path / "model.tflite", latency_runs=0)
    assert report.folded == verdict.folded == ("weights/dequantize",) and report.select_ops == ()
    assert report.tflite_bytes == verdict.tflite_bytes
    assert report.ok, report.message
    assert "FlexDequantize" not in report.tflite_ops


def test_export_of_a_shapeless_input_needs_the_size(tmp_path: Path) -> None:
    graph = retrained_like()
    graph.node[0].attr["shape"].shape.CopyFrom(TensorShapeProto(unknown_rank=True))
    loaded = _save(tmp_path, graph, "optimized_graph.pb")
    with pytest.raises(InspectorError, match="declares no image size"):
        export(loaded, tmp_path / "model.tflite", latency_runs=0)
    report = export(loaded, tmp_path / "model.tflite", input_height=16, input_width=16, latency_runs=0)
    assert report.ok, report.message
    assert report.input_shape == (1, 16, 16, 3) and report.verify is not None
    assert report.verify.input_size == (16, 16)


def test_export_rejects_bad_options(generated: LoadedGraph, tmp_path: Path) -> None:
    with pytest.raises(InspectorError, match="quantize must be one of none, dynamic, float16"):
        export(generated, tmp_path / "m.tflite", quantize="int8")  # type: ignore[arg-type]
    with pytest.raises(InspectorError, match="nothing to compare"):
        export(generated, tmp_path / "m.tflite", random_inputs=0)
    with pytest.raises(InspectorError, match="no such image"):
        export(generated, tmp_path / "m.tflite", images=[tmp_path / "missing.jpg"])
    assert not (tmp_path / "m.tflite").exists()


# --- TFLiteRunner and verify_runners ------------------------------------------------------------


@pytest.fixture(scope="module")
def tflite_file(generated: LoadedGraph, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tflite") / "retrained.tflite"
    export(generated, out, latency_runs=0)
    return out


def test_tflite_runner_runs_like_the_graph(generated: LoadedGraph, tflite_file: Path) -> None:
    batch = random_batch((128, 128), rng=np.random.default_rng(1), mean=127.5, std=127.5)
    with TFLiteRunner(tflite_file, threads=1) as lite, GraphRunner(generated) as graph:
        assert (lite.input_name, lite.output_name) == ("input", "final_result")
        assert lite.detected == {"input": "input", "output": "final_result"}
        assert lite.input_size == (128, 128) and lite.classes == 5 and lite.path == tflite_file
        scores, seconds = lite.timed_run(batch)
        assert scores.shape == (5,) and seconds >= 0
        assert np.max(np.abs(scores - graph.run(batch))) < 0.5e-5
        report = verify_runners(graph, lite, random_inputs=2)
    assert report.ok, report.message
    assert report.b.path == tflite_file and report.b.output_name == "final_result"


def test_tflite_runner_errors(generated: LoadedGraph, tflite_file: Path, tmp_path: Path) -> None:
    with pytest.raises(InspectorError, match="not a TensorFlow Lite model"):
        TFLiteRunner(generated.path)
    with pytest.raises(InspectorError, match="no such file"):
        TFLiteRunner(tmp_path / "missing.tflite")
    with pytest.raises(InspectorError, match=r"no output tensor named 'logits' \(the model's outputs: final_result\)"):
        TFLiteRunner(tflite_file, output_name="logits")
    # The codelab's import/ prefix and a :0 suffix name the same tensor.
    with TFLiteRunner(tflite_file.read_bytes(), input_name="import/input:0") as lite:
        assert lite.input_name == "input" and lite.path is None
        with pytest.raises(InspectorError, match="cannot run the model fed input \\[1,64,64,3\\]"):
            lite.run(np.zeros((1, 64, 64, 3), dtype=np.float32))
