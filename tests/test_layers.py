"""verify --layers: every layer two models compute, against its own noise floor, and where the outputs part."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

import inspector
from conftest import fixture_path
from inspector.cli import main
from inspector.graph.io import LoadedGraph, load_graph
from inspector.run.layers import layers
from tf_helpers import tf1_graph

pytestmark = pytest.mark.slow


def cnn(tf, image) -> None:
    """Three conv layers with biases and ReLUs, then a dense softmax head: a custom CNN, written TF1-style."""
    rng = np.random.default_rng(1)
    x = image
    for i, width in enumerate((4, 8, 8)):
        channels = int(x.shape[-1])
        w = tf.constant(rng.normal(scale=0.5, size=(3, 3, channels, width)).astype(np.float32), name=f"conv{i}/weights")
        b = tf.constant(rng.normal(scale=0.1, size=width).astype(np.float32), name=f"conv{i}/bias")
        x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, strides=1, padding="SAME", name=f"conv{i}/conv"), b,
                                      name=f"conv{i}/add"), name=f"conv{i}/relu")
    x = tf.reshape(tf.reduce_mean(x, axis=[1, 2], name="pool"), [1, 8], name="flat")
    w = tf.constant(rng.normal(size=(8, 3)).astype(np.float32), name="head/weights")
    tf.nn.softmax(tf.matmul(x, w, name="head/matmul"), name="probs")


def loaded(graph: GraphDef, path: Path) -> LoadedGraph:
    path.write_bytes(graph.SerializeToString())
    return load_graph(path)


def perturbed(graph: GraphDef, const: str, factor: float) -> GraphDef:
    from inspector.graph.workgraph import const_value, make_const

    out = GraphDef()
    out.CopyFrom(graph)
    node = next(n for n in out.node if n.name == const)
    node.CopyFrom(make_const(const, const_value(node) * np.float32(factor), like=node))
    return out


def test_a_perturbed_middle_layer_is_where_the_outputs_part(tmp_path: Path):
    graph = tf1_graph(cnn, input_name="pixels")
    a = loaded(graph, tmp_path / "a.pb")
    b = loaded(perturbed(graph, "conv1/weights", 1.01), tmp_path / "b.pb")
    report = layers(a, b, random_inputs=3)
    names = [layer.a for layer in report.layers]
    # Every compute layer, in dataflow order; the first layer is untouched and inside the noise.
    assert names.index("conv0/relu") < names.index("conv1/conv") < names.index("conv2/relu") < names.index("probs")
    by_name = {layer.a: layer for layer in report.layers}
    assert by_name["conv0/relu"].within and by_name["conv0/conv"].within
    assert not report.ok and report.first_out.a == "conv1/conv", report.message
    assert by_name["conv1/conv"].ratio > 100 and by_name["conv1/conv"].growth == pytest.approx(by_name["conv1/conv"].ratio - by_name["conv0/relu"].ratio)
    assert report.grows_most[0].a == "conv1/conv"
    assert "the outputs part at conv1/conv (Conv2D)" in report.message


def test_an_inspector_optimized_graph_keeps_every_layer_within_the_noise(tmp_path: Path):
    a = load_graph(fixture_path("poets_pair/retrained_graph.pb"))
    b = loaded(inspector.optimize(a).graph, tmp_path / "optimized.pb")
    report = layers(a, b, random_inputs=2)
    assert report.ok, report.message
    names = {layer.a for layer in report.layers}
    # A folded batch norm is compared at its output (its last Add, now a BiasAdd), not at the convolution whose
    # weights were rescaled; the merged head at the bias the merge rewrote, and the softmax.
    assert "MobilenetV1/MobilenetV1/Conv2d_0/BatchNorm/batchnorm/add_1" in names
    assert "MobilenetV1/MobilenetV1/Conv2d_0/convolution" not in names
    assert {"final_training_ops/Wx_plus_b/add", "final_result"} <= names
    assert len(report.layers) > 50 and report.unmatched > 0


@pytest.fixture(scope="module")
def poets_tflite(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tflite")
    out = {}
    for quantize in ("none", "dynamic"):
        out[quantize] = folder / f"poets_{quantize}.tflite"
        assert main(["export", str(fixture_path("poets_pair/retrained_graph.pb")), "--tflite", str(out[quantize]),
                     "--quantize", quantize, "--json"]) in (0, 1)
    return out


def test_a_graph_and_its_unquantized_tflite_match_layer_by_layer(poets_tflite):
    a = load_graph(fixture_path("poets_pair/retrained_graph.pb"))
    report = layers(a, poets_tflite["none"], random_inputs=2)
    assert report.ok, report.message
    names = [layer.a for layer in report.layers]
    # The converter fuses conv, bias and ReLU6 into one op: its output is compared at the ReLU6.
    assert "MobilenetV1/MobilenetV1/Conv2d_0/Relu6" in names and names[-1] == "final_result"
    assert len(names) > 25


def test_dynamic_quantization_is_found_where_it_starts(poets_tflite, tmp_path: Path, capsys):
    a = fixture_path("poets_pair/retrained_graph.pb")
    logdir = tmp_path / "logs"
    capsys.readouterr()
    code = main(["verify", str(a), str(poets_tflite["dynamic"]), "--layers", "--json", "--logdir", str(logdir)])
    body = json.loads(capsys.readouterr().out)
    assert code == 1 and body["schema"] == 2 and not body["ok"]
    first = body["first_out"]
    layers_by = {layer["a"]: layer for layer in body["layers"]}
    # Dynamic range quantization leaves small weights in float: the first layers are untouched.
    assert layers_by["MobilenetV1/MobilenetV1/Conv2d_0/Relu6"]["within"]
    assert not layers_by[first]["within"] and first != "MobilenetV1/MobilenetV1/Conv2d_0/Relu6"
    assert all(layer["within"] for layer in body["layers"][: [x["a"] for x in body["layers"]].index(first)])
    drift = json.loads((logdir / ".inspector" / "drift.json").read_text())
    assert drift["a"] == "retrained" and drift["first_out"] == first and len(drift["layers"]) == len(body["layers"])

    # The terminal: the table around where it starts, and the error line naming the layer.
    assert main(["verify", str(a), str(poets_tflite["dynamic"]), "--layers"]) == 1
    captured = capsys.readouterr()
    assert f"drift: starts at layer" in captured.out and first in captured.out
    assert f"error: verify --layers: the outputs part at {first}" in captured.err


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--logdir", "x"], "--logdir goes with --layers: inspector verify"),
        (["--all"], "--all goes with --layers: inspector verify"),
        (["--layers", "--decimals", "5"], "--decimals does not go with --layers: each layer is judged against its own "
                                          "noise floor (optimize --strip-dropout first)"),
        (["--layers", "--strip-dropout"], "--strip-dropout does not go with --layers"),
    ],
)
def test_layers_options_out_of_place_are_usage_errors(extra: list[str], fragment: str, capsys):
    a = fixture_path("poets_pair/retrained_graph.pb")
    assert main(["verify", str(a), str(a), *extra]) == 2
    assert fragment in capsys.readouterr().err


def test_the_drift_recorded_reaches_the_graph_diff_tab(poets_tflite, tmp_path: Path, capsys):
    from test_plugin import get_json, plugin_client

    a = fixture_path("poets_pair/retrained_graph.pb")
    b = fixture_path("poets_pair/optimized_graph.pb")
    logdir = tmp_path / "logs"
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--no-board", "--no-check", "--json"]) == 0
    capsys.readouterr()
    _, client = plugin_client(logdir)
    status, body = get_json(client, "/drift?a=retrained&b=optimized")
    assert status == 200 and body == {"found": False}
    assert main(["verify", str(a), str(poets_tflite["dynamic"]), "--layers", "--logdir", str(logdir), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    status, body = get_json(client, "/drift?a=retrained&b=optimized")
    assert status == 200 and body["found"] and body["first_out"] == report["first_out"]
    plugin = plugin_client(logdir)[0]
    drawing = plugin.drawing("retrained", "optimized")[0]
    ratios = dict(map(tuple, body["items"]["a"]))
    first = drawing.side("a").nodes[report["first_out"]]
    assert ratios[first] > 1
    # A scope holds the largest drift of what it holds: the top MobilenetV1 scope has the worst of its layers.
    top = drawing.side("a").scopes["MobilenetV1"]
    assert ratios[top] == max(layer["ratio"] for layer in report["layers"] if layer["a"].startswith("MobilenetV1/"))
    # The optimized run's nodes get the drift of their partners in the retrained run.
    assert body["items"]["b"]
    status, node = get_json(client, "/node?" + "&".join(["a=retrained", "b=optimized", "side=a", f"name={report['first_out']}"]))
    assert status == 200 and node["drift"]["a"]["ratio"] > 1 and node["drift"]["b"]["ratio"] == node["drift"]["a"]["ratio"]
    # A drift of another run's layers is not this pair's.
    status, body = get_json(client, "/drift?a=optimized&b=retrained")
    assert body == {"found": False}


def test_a_quantized_export_names_the_layer_its_drift_starts_at(tmp_path: Path, capsys):
    graph = fixture_path("poets_pair/retrained_graph.pb")
    out = tmp_path / "dynamic.tflite"
    assert main(["export", str(graph), "--tflite", str(out), "--quantize", "dynamic", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    # The probabilities moved by more than a point, so the export traced the layers.
    assert body["max_abs_diff"] > 0.01 and body["drift"]["first_out"]
    first = body["drift"]["first_out"]
    assert f"the layers leave the noise at {first} (Relu6" in body["message"]
    assert f"inspector verify {graph} {out} --layers lists them" in body["message"]
    # Unquantized, nothing to trace.
    assert main(["export", str(graph), "--tflite", str(tmp_path / "float.tflite"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["drift"] is None


def branches(tf, image) -> None:
    """Two conv branches, each with a ReLU, concatenated, then a conv: an Inception block in small."""
    rng = np.random.default_rng(2)
    outs = []
    for i in range(2):
        w = tf.constant(rng.normal(scale=0.5, size=(1, 1, 3, 4)).astype(np.float32), name=f"b{i}/weights")
        outs.append(tf.nn.relu(tf.nn.conv2d(image, w, strides=1, padding="SAME"), name=f"b{i}/relu"))
    x = tf.concat(outs, axis=3, name="mixed/concat")
    w = tf.constant(rng.normal(scale=0.5, size=(1, 1, 8, 2)).astype(np.float32), name="head/weights")
    tf.identity(tf.nn.conv2d(x, w, strides=1, padding="SAME"), name="out")


def test_a_rewrite_that_moves_values_compares_only_what_still_holds_them(tmp_path: Path):
    graph = tf1_graph(branches, input_name="pixels")
    a = loaded(graph, tmp_path / "a.pb")
    b = loaded(inspector.optimize(a).graph, tmp_path / "b.pb")
    report = layers(a, b, random_inputs=2)
    assert report.ok, report.message
    assert report.layers and all(layer.a != "mixed/concat" or layer.within for layer in report.layers)


def test_models_without_a_layer_in_common_or_drawing_random_values_are_refused(tmp_path: Path):
    graph = tf1_graph(cnn, input_name="pixels")
    # The same input and output names, nothing computed alike (the softmax is over 192 values, not 3).
    other = tf1_graph(lambda tf, image: tf.nn.softmax(tf.reshape(tf.negative(image), [1, 192]), name="probs"),
                      input_name="pixels")
    a, b = loaded(graph, tmp_path / "a.pb"), loaded(other, tmp_path / "b.pb")
    with pytest.raises(inspector.InspectorError) as caught:
        layers(a, b, random_inputs=1, output_names="probs")
    assert caught.value.message == (f"b ({b.path}): no layer of a ({a.path}) has a counterpart to compare; "
                                    "compare a graph with its optimized graph or its .tflite")
    dropout = load_graph(fixture_path("dropout_active/retrained_graph.pb"))
    with pytest.raises(inspector.InspectorError) as caught:
        layers(dropout, dropout, random_inputs=1)
    assert caught.value.message == (
        f"a ({dropout.path}) draws random values (final_training_ops/drop/dropout/random_uniform/RandomUniform), so its "
        "layers' rounding cannot be told from them; pass --strip-dropout to optimize, then compare that graph")
