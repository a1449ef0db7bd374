"""Tests for inspector.graph.samples: every builder's graph imports into TensorFlow and runs."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.graph import samples

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "graphs"


def _run(graph: GraphDef, *, output: str, times: int = 1) -> list[np.ndarray]:
    """Import ``graph`` into a fresh TF graph and run it ``times`` times in one session on one input."""
    from inspector.graph.tfcompat import tf, to_tf

    tensorflow = tf()
    (placeholder,) = [node for node in graph.node if node.op == "Placeholder"]
    shape = [dim.size for dim in placeholder.attr["shape"].shape.dim]
    image = np.random.RandomState(7).uniform(-1.0, 1.0, shape).astype(np.float32)
    with tensorflow.Graph().as_default() as tf_graph:
        tensorflow.graph_util.import_graph_def(to_tf(graph), name="")
        with tensorflow.compat.v1.Session(graph=tf_graph) as session:
            return [session.run(f"{output}:0", {f"{placeholder.name}:0": image}) for _ in range(times)]


def _assert_probabilities(result: np.ndarray, classes: int) -> None:
    assert result.shape == (1, classes)
    assert np.isfinite(result).all()
    assert (result >= 0).all()
    assert result.sum() == pytest.approx(1.0, abs=1e-5)


def _const_values(graph: GraphDef, name: str) -> np.ndarray:
    (node,) = [node for node in graph.node if node.name == name]
    return np.frombuffer(node.attr["value"].tensor.tensor_content, dtype=np.float32)


@pytest.fixture(scope="module")
def retrained() -> GraphDef:
    return samples.retrain_shaped_mobilenet()


@pytest.fixture(scope="module")
def with_dropout() -> GraphDef:
    return samples.retrain_shaped_mobilenet(dropout=True)


@pytest.fixture(scope="module")
def conv_bn() -> GraphDef:
    return samples.keras_conv_bn()


def test_importing_samples_does_not_import_tensorflow() -> None:
    code = "import sys, inspector.graph.samples; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_retrain_shaped_mobilenet_runs_and_outputs_probabilities(retrained: GraphDef) -> None:
    (result,) = _run(retrained, output="final_result")
    _assert_probabilities(result, 5)


def test_retrain_shaped_mobilenet_has_retrain_py_layout(retrained: GraphDef) -> None:
    by_name = {node.name: node for node in retrained.node}
    assert by_name["input"].op == "Placeholder"
    assert [dim.size for dim in by_name["input"].attr["shape"].shape.dim] == [1, 128, 128, 3]
    assert by_name["input_1/BottleneckInputPlaceholder"].op == "PlaceholderWithDefault"
    assert by_name["final_result"].op == "Softmax"
    assert by_name["final_training_ops/Wx_plus_b/add"].op == "Add"
    assert by_name["MobilenetV1/Conv2d_3_pointwise/weights/read"].input == [
        "MobilenetV1/Conv2d_3_pointwise/weights"
    ]
    ops = Counter(node.op for node in retrained.node)
    # Conv2d_0 plus 3 depthwise + 3 pointwise blocks, each with slim's unfused batch norm.
    assert ops["Rsqrt"] == 7
    assert ops["Relu6"] == 7
    assert ops["DepthwiseConv2dNative"] == 3
    assert ops["Conv2D"] == 5  # 4 in the blocks, 1 for the ImageNet logits
    # Every variable is a Const read through an Identity.
    assert ops["Identity"] == sum(1 for n in retrained.node if n.name.endswith("/read")) + 1
    assert len(retrained.SerializeToString()) < 400_000


def test_retrain_shaped_mobilenet_batch_norm_statistics_are_not_trivial(retrained: GraphDef) -> None:
    variance = _const_values(retrained, "MobilenetV1/Conv2d_1_depthwise/BatchNorm/moving_variance")
    mean = _const_values(retrained, "MobilenetV1/Conv2d_1_depthwise/BatchNorm/moving_mean")
    assert (variance > 0).all()
    assert not np.allclose(variance, 1.0)
    assert not np.allclose(mean, 0.0)


@pytest.mark.skipif(not (FIXTURES / "poets_pair").is_dir(), reason="shared fixtures not present")
def test_retrain_shaped_mobilenet_names_match_a_real_retrained_graph(retrained: GraphDef) -> None:
    real = GraphDef.FromString((FIXTURES / "poets_pair" / "retrained_graph.pb").read_bytes())
    real_nodes = {node.name: node for node in real.node}
    ours = {node.name for node in retrained.node}
    assert ours <= set(real_nodes)
    for node in retrained.node:
        assert node.op == real_nodes[node.name].op, node.name
        if node.name != "MobilenetV1/Logits/AvgPool_1a/AvgPool":  # the real one pools block 13
            assert list(node.input) == list(real_nodes[node.name].input), node.name


def test_dropout_makes_two_runs_differ(with_dropout: GraphDef, retrained: GraphDef) -> None:
    ops = {node.op for node in with_dropout.node}
    assert "RandomUniform" in ops
    first, second = _run(with_dropout, output="final_result", times=2)
    _assert_probabilities(first, 5)
    _assert_probabilities(second, 5)
    assert not np.allclose(first, second)

    plain_first, plain_second = _run(retrained, output="final_result", times=2)
    np.testing.assert_array_equal(plain_first, plain_second)
    assert "RandomUniform" not in {node.op for node in retrained.node}


def test_retrain_shaped_mobilenet_is_deterministic(retrained: GraphDef) -> None:
    again = samples.retrain_shaped_mobilenet()
    assert again.SerializeToString() == retrained.SerializeToString()
    other_seed = samples.retrain_shaped_mobilenet(seed=1)
    assert [n.name for n in other_seed.node] == [n.name for n in retrained.node]
    assert other_seed.SerializeToString() != retrained.SerializeToString()


def test_retrain_shaped_mobilenet_options() -> None:
    graph = samples.retrain_shaped_mobilenet(size=64, blocks=1, classes=3, depth_multiplier=0.5)
    names = {node.name for node in graph.node}
    assert "MobilenetV1/MobilenetV1/Conv2d_1_pointwise/Relu6" in names
    assert not any(name.startswith("MobilenetV1/Conv2d_2_") for name in names)
    (result,) = _run(graph, output="final_result")
    _assert_probabilities(result, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"blocks": 0}, "retrain_shaped_mobilenet: blocks=0, but MobileNet v1 has 1 to 13 separable blocks; "
                        "pass a number in that range"),
        ({"blocks": 14}, "retrain_shaped_mobilenet: blocks=14, but MobileNet v1 has 1 to 13 separable blocks; "
                         "pass a number in that range"),
        ({"size": 16}, "retrain_shaped_mobilenet: size=16 is too small; pass 32 pixels or more (the stem and pooling need them)"),
        ({"classes": 1}, "retrain_shaped_mobilenet: classes=1, but a classifier needs two or more; pass classes=2 or more"),
        ({"depth_multiplier": 0.0}, "retrain_shaped_mobilenet: depth_multiplier=0.0 makes no layers; pass a positive one "
                                    "(retrain.py's MobileNets use 0.25, 0.5, 0.75 or 1.0)"),
        ({"depth_multiplier": float("nan")}, "retrain_shaped_mobilenet: depth_multiplier=nan makes no layers; pass a positive "
                                             "one (retrain.py's MobileNets use 0.25, 0.5, 0.75 or 1.0)"),
    ],
)
def test_retrain_shaped_mobilenet_rejects_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(InspectorError) as caught:
        samples.retrain_shaped_mobilenet(**kwargs)
    assert caught.value.message == message


def test_keras_conv_bn_freezes_to_unfused_batch_norm(conv_bn: GraphDef) -> None:
    ops = Counter(node.op for node in conv_bn.node)
    for op in ("Conv2D", "BiasAdd", "Rsqrt", "Mul", "Sub", "AddV2", "Relu", "Softmax"):
        assert ops[op] >= 1, op
    assert "FusedBatchNormV3" not in ops
    assert not any(node.op in {"VarHandleOp", "ReadVariableOp", "VariableV2"} for node in conv_bn.node)
    (result,) = _run(conv_bn, output="Identity")
    _assert_probabilities(result, 5)


def test_keras_conv_bn_is_deterministic(conv_bn: GraphDef) -> None:
    assert samples.keras_conv_bn().SerializeToString() == conv_bn.SerializeToString()


def test_keras_frozen_mobilenet_small_input() -> None:
    graph = samples.keras_frozen("MobileNet", input_size=96)
    (placeholder,) = [node for node in graph.node if node.op == "Placeholder"]
    assert placeholder.name == "input"
    assert [dim.size for dim in placeholder.attr["shape"].shape.dim] == [1, 96, 96, 3]
    ops = Counter(node.op for node in graph.node)
    assert ops["DepthwiseConv2dNative"] == 13
    assert ops["Rsqrt"] == 27  # inference mode: every batch norm uses its moving statistics
    (result,) = _run(graph, output="Identity")
    _assert_probabilities(result, 1000)

    # Keras numbers auto-named layers per session; a second build must not shift them.
    again = samples.keras_frozen("MobileNet", input_size=96)
    assert [node.name for node in again.node] == [node.name for node in graph.node]


@pytest.mark.parametrize(
    ("name", "size", "message"),
    [
        ("ResNet50", None, "keras_frozen: no Keras model 'ResNet50' here; pick one of MobileNet, MobileNetV2, InceptionV3"),
        ("MobileNet", 16, "keras_frozen: MobileNet needs an input of at least 32 pixels, not 16; pass a bigger input_size"),
        ("InceptionV3", 64, "keras_frozen: InceptionV3 needs an input of at least 75 pixels, not 64; pass a bigger input_size"),
    ],
)
def test_keras_frozen_rejects_unknown_models_and_tiny_inputs(name: str, size: int | None, message: str) -> None:
    with pytest.raises(InspectorError) as caught:
        samples.keras_frozen(name, input_size=size)
    assert caught.value.message == message


def test_write_graph_round_trips(tmp_path: Path, conv_bn: GraphDef) -> None:
    path = samples.write_graph(conv_bn, tmp_path / "sub" / "conv_bn.pb")
    assert path == tmp_path / "sub" / "conv_bn.pb"
    assert GraphDef.FromString(path.read_bytes()) == conv_bn
    first = path.read_bytes()
    samples.write_graph(conv_bn, path)
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == ["conv_bn.pb"]
