"""Tests for inspector.optimizer.pipeline: fewer nodes than TensorFlow's tool and Grappler, same outputs, importable, honest reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.types_pb2 import DataType

from builders import retrained_like
from conftest import DAISY, REAL_GRAPHS, fixture_path
from inspector.graph import samples
from inspector.errors import InspectorError
from inspector.graph.io import load_graph
from inspector.optimizer.baselines import grappler_optimize, tensorflow_optimize
from inspector.optimizer.passes import PASSES
from inspector.optimizer.pipeline import OptimizeResult, detect_names, optimize, optimize_graph

# The bar for "same outputs": softmax probabilities agree to 5 decimals.
TOLERANCE = 5e-6
# poets_pair/optimized_graph.pb lost its input shape in the TF 1.x optimizer; the pair is 128 px.
_UNSHAPED_INPUT = (1, 128, 128, 3)
# dropout_active's dropout runs as the identity when keep_prob is fed as 1.
_KEEP_PROB = "final_training_ops/drop/dropout/keep_prob:0"


# --- graphs under test ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], GraphDef]
    input: str
    output: str
    reference_feeds: dict  # extra feeds that make the original deterministic
    slow: bool = False


def _real(relative: str) -> Callable[[], GraphDef]:
    return lambda: load_graph(fixture_path(relative)).graph


CASES = [
    Case(path, _real(path), inp, out, {_KEEP_PROB: 1.0} if path.startswith("dropout_active") else {})
    for path, inp, out, _ in REAL_GRAPHS
] + [
    Case("keras_mobilenet_96", lambda: samples.keras_frozen("MobileNet", input_size=96), "input", "Identity", {}),
    Case("keras_inception_v3", lambda: samples.keras_frozen("InceptionV3"), "input", "Identity", {}, slow=True),
    Case("keras_conv_bn", samples.keras_conv_bn, "input", "Identity", {}),
    Case("retrain_shaped_mobilenet", samples.retrain_shaped_mobilenet, "input", "final_result", {}),
]
CASE_PARAMS = [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]


@pytest.fixture(scope="module")
def built() -> dict[str, GraphDef]:
    """Graphs by case id, built once per module (Keras freezing takes seconds)."""
    return {}


@pytest.fixture(scope="module")
def optimized() -> dict[str, OptimizeResult]:
    return {}


def _graph(case: Case, built: dict[str, GraphDef]) -> GraphDef:
    if case.id not in built:
        built[case.id] = case.make()
    return built[case.id]


def _optimized(case: Case, built: dict[str, GraphDef], optimized: dict[str, OptimizeResult]) -> OptimizeResult:
    if case.id not in optimized:
        optimized[case.id] = optimize(_graph(case, built), strip_dropout=True, what=case.id)
    return optimized[case.id]


# --- running graphs ---------------------------------------------------------------


def _session_config():
    from tensorflow.core.protobuf import config_pb2

    # A Session runs Grappler (constant folding, remapper) on whatever it is given,
    # which would make the original graph compute what the optimized one does.
    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    config.graph_options.optimizer_options.opt_level = config_pb2.OptimizerOptions.L0
    config.graph_options.optimizer_options.do_constant_folding = False
    return config


def _run(graph: GraphDef, fetches: list[str], feeds: dict, *, times: int = 1) -> list[list[np.ndarray]]:
    from inspector.graph.tfcompat import tf, to_tf

    tensorflow = tf()
    with tensorflow.Graph().as_default() as tf_graph:
        tensorflow.graph_util.import_graph_def(to_tf(graph), name="")
        with tensorflow.compat.v1.Session(graph=tf_graph, config=_session_config()) as session:
            return [session.run(fetches, feeds) for _ in range(times)]


def _input_shape(graph: GraphDef, name: str) -> tuple[int, ...]:
    (node,) = [n for n in graph.node if n.name == name]
    if "shape" not in node.attr or node.attr["shape"].shape.unknown_rank or not node.attr["shape"].shape.dim:
        return _UNSHAPED_INPUT
    return tuple(d.size if d.size > 0 else 1 for d in node.attr["shape"].shape.dim)


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def _max_diff(original: GraphDef, result: OptimizeResult, *, reference_feeds: dict | None = None, image=None) -> float:
    (inp,), (out,) = result.input_names, result.output_names
    x = image if image is not None else _image(_input_shape(original, inp))
    (want,) = _run(original, [f"{out}:0"], {f"{inp}:0": x, **(reference_feeds or {})})[0]
    (got,) = _run(result.graph, [f"{out}:0"], {f"{inp}:0": x})[0]
    assert want.shape == got.shape
    return float(np.abs(want - got).max())


def _ops(graph: GraphDef) -> Counter[str]:
    return Counter(node.op for node in graph.node)


def _node(graph: GraphDef, name: str):
    (node,) = [n for n in graph.node if n.name == name]
    return node


# --- every graph ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_optimize_keeps_interface_and_outputs(case: Case, built, optimized) -> None:
    graph = _graph(case, built)
    result = _optimized(case, built, optimized)

    assert result.detected
    assert result.input_names == (case.input,) and result.output_names == (case.output,)
    assert [p.name for p in result.passes] == [p.name for p in PASSES]
    assert result.nodes_before == len(graph.node) and result.nodes_after == len(result.graph.node)
    assert result.nodes_after + sum(p.removed - p.added for p in result.passes) == result.nodes_before
    assert not [op for op in _ops(result.graph) if op.startswith("_")]

    before, after = _node(graph, case.input), _node(result.graph, case.input)
    assert after.op == "Placeholder" and after.attr["dtype"].type == DataType.DT_FLOAT
    if "shape" in before.attr:
        assert after.attr["shape"] == before.attr["shape"]
    assert _node(result.graph, case.output).op == _node(graph, case.output).op

    assert _max_diff(graph, result, reference_feeds=case.reference_feeds) < TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_fewer_nodes_than_tensorflow_and_grappler(case: Case, built, optimized) -> None:
    graph = _graph(case, built)
    names = detect_names(graph)
    result = _optimized(case, built, optimized)
    # The baselines leave dropout in, so the count to compare is without stripping it.
    ours = optimize(graph).nodes_after if result.dropout else result.nodes_after
    tf_tool = len(tensorflow_optimize(graph, input_names=names.inputs, output_names=names.outputs).node)
    grappler = len(grappler_optimize(graph, output_names=names.outputs).node)
    grappler_dep = len(grappler_optimize(graph, output_names=names.outputs, optimizers=("constfold", "arithmetic", "dependency")).node)
    print(f"{case.id}: original {len(graph.node)}, TF tool {tf_tool}, Grappler {grappler} ({grappler_dep} with dependency), inspector {ours}")
    assert ours <= tf_tool
    assert ours <= grappler
    assert ours <= grappler_dep


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASE_PARAMS if c.values[0].id in ("keras_conv_bn", "poets_tf2/retrained_graph.pb")])
def test_logits_agree_too(case: Case, built, optimized) -> None:
    # Softmax can flatten differences; the tensor the Softmax reads (kept by name) must agree as well.
    graph = _graph(case, built)
    result = _optimized(case, built, optimized)
    (softmax,) = [n for n in result.graph.node if n.op == "Softmax"]
    logits = softmax.input[0]
    x = _image(_input_shape(graph, case.input))
    (want,) = _run(graph, [f"{logits}:0"], {f"{case.input}:0": x})[0]
    (got,) = _run(result.graph, [f"{logits}:0"], {f"{case.input}:0": x})[0]
    assert np.abs(want - got).max() < 1e-4 * max(1.0, np.abs(want).max())


@pytest.mark.slow
def test_keras_batch_norm_after_bias_add_is_folded(built, optimized) -> None:
    case = next(c for c in CASES if c.id == "keras_conv_bn")
    result = _optimized(case, built, optimized)
    ops = _ops(result.graph)
    # Conv2D -> BiasAdd -> Relu -> Mean -> MatMul -> BiasAdd -> Softmax -> Identity, 5 constants, the input.
    assert ops["Conv2D"] == 1 and ops["BiasAdd"] == 2 and ops["Const"] == 5
    assert not {"Mul", "Rsqrt", "Sub", "AddV2", "Reshape", "Squeeze", "NoOp"} & set(ops)
    assert result.nodes_after == 14 and not result.unfolded


@pytest.mark.slow
def test_retrained_graphs_fold_every_batch_norm(built, optimized) -> None:
    case = next(c for c in CASES if c.id == "poets_tf2/retrained_graph.pb")
    result = _optimized(case, built, optimized)
    ops = _ops(result.graph)
    assert not {"Identity", "Mul", "Rsqrt", "Sub", "Add", "AddV2", "PlaceholderWithDefault"} & set(ops)
    assert ops["Conv2D"] + ops["DepthwiseConv2dNative"] == 27 and ops["BiasAdd"] == 28
    assert not result.unfolded
    assert not result.dropout and not result.dropout_stripped


@pytest.mark.slow
def test_imagenet_logits_merge_into_the_new_final_layer(built, optimized) -> None:
    case = next(c for c in CASES if c.id == "poets_tf2/retrained_graph.pb")
    graph = _graph(case, built)
    result = _optimized(case, built, optimized)
    (report,) = [p for p in result.passes if p.name == "merge_linear"]
    assert report.notes == (
        "MobilenetV1/Logits/Conv2d_1c_1x1/convolution (256->1001) and final_training_ops/Wx_plus_b/MatMul (1001->5) "
        "are one 256->5 MatMul",
    )
    (matmul,) = [n for n in result.graph.node if n.op == "MatMul"]
    weights = _node(result.graph, matmul.input[1]).attr["value"].tensor
    assert [d.size for d in weights.tensor_shape.dim] == [256, 5]
    # The 256x1001 ImageNet logits weights (1 MiB) are gone from what ships to the phone.
    assert graph.ByteSize() - result.graph.ByteSize() > 900 * 1024


@pytest.mark.slow
def test_quantized_weights_stay_8_bit(built, optimized) -> None:
    case = next(c for c in CASES if c.id == "mobilenet_v1_0.25_128/quantized_graph.pb")
    graph = _graph(case, built)
    result = _optimized(case, built, optimized)
    # Folding the Dequantize ops would be fewer nodes but a 4x bigger file.
    assert _ops(result.graph)["Dequantize"] == _ops(graph)["Dequantize"] == 2
    assert any("folding would grow the file" in note for p in result.passes for note in p.notes)
    assert result.graph.ByteSize() <= graph.ByteSize()


@pytest.mark.slow
def test_daisy_keeps_its_label() -> None:
    from inspector.graph.tfcompat import tf

    graph = load_graph(fixture_path("mobilenet_v1_0.25_128/frozen_graph.pb")).graph
    if not DAISY.exists():
        pytest.skip("the daisy photo is not in ../shared/fixtures")
    tensorflow = tf()
    image = tensorflow.image.decode_jpeg(DAISY.read_bytes(), channels=3)
    image = tensorflow.image.resize(tensorflow.cast(image, tensorflow.float32), (128, 128))
    image = ((image.numpy() - 127.5) / 127.5)[None].astype(np.float32)
    result = optimize(graph)
    assert _max_diff(graph, result, image=image) < TOLERANCE
    ((probabilities,),) = _run(result.graph, ["MobilenetV1/Predictions/Reshape_1:0"], {"input:0": image})
    assert int(np.argmax(probabilities)) == 986  # daisy


# --- TensorFlow's check_numerics bug --------------------------------------------------


def _check_numerics_graph() -> GraphDef:
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    v1 = tensorflow.compat.v1
    graph = tensorflow.Graph()
    with graph.as_default():
        x = v1.placeholder(tensorflow.float32, [1, 4, 4, 3], name="input")
        checked = tensorflow.debugging.check_numerics(x, "input has NaN or Inf", name="check")
        flat = tensorflow.reshape(checked, [1, 48], name="flat")
        weights = tensorflow.constant(np.random.RandomState(0).normal(size=(48, 5)).astype(np.float32), name="weights")
        tensorflow.nn.softmax(tensorflow.matmul(flat, weights, name="logits"), name="probs")
    return from_tf(graph.as_graph_def())


@pytest.mark.slow
def test_check_numerics_before_reshape_breaks_tensorflow_but_not_us() -> None:
    from inspector.optimizer.passes import tfrun

    graph = _check_numerics_graph()
    broken = tensorflow_optimize(graph, input_names=["input"], output_names=["probs"])
    with pytest.raises(tfrun.ImportFailed, match="do not match 1 inputs"):
        tfrun.import_graph(broken)

    result = optimize(graph)
    assert "CheckNumerics" not in _ops(result.graph)
    assert list(_node(result.graph, "flat").input) == ["input", "flat/shape"]
    assert _max_diff(graph, result) < TOLERANCE


@pytest.mark.slow
def test_never_returns_a_graph_tensorflow_cannot_import(monkeypatch) -> None:
    from inspector.optimizer.passes import prune

    def drop_inputs_like_tensorflow(g, **_):
        # What TF 2.21's remove_training_nodes does: drop the CheckNumerics and the edge through it.
        for node in g:
            if node.op == "CheckNumerics":
                for user in g.users(node.name):
                    g.set_inputs(user, [ref for ref in user.input if ref != node.name])
                g.remove(node.name)
        return []

    monkeypatch.setattr(prune, "remove_identities", drop_inputs_like_tensorflow)
    with pytest.raises(InspectorError, match=r"^numerics.pb: after the remove_identity pass the graph does not import into TensorFlow \(.*do not match"):
        optimize(_check_numerics_graph(), what="numerics.pb")


# --- dropout --------------------------------------------------------------------------


@pytest.mark.slow
def test_dropout_is_reported_and_stripped(built) -> None:
    case = next(c for c in CASES if c.id == "dropout_active/retrained_graph.pb")
    graph = _graph(case, built)
    x = _image(_input_shape(graph, "input"))

    kept = optimize(graph)
    assert kept.dropout == ("final_training_ops/drop/dropout/mul",) and not kept.dropout_stripped
    assert "RandomUniform" in _ops(kept.graph)
    first, second = _run(kept.graph, ["final_result:0"], {"input:0": x}, times=2)
    assert np.abs(first[0] - second[0]).max() > 1e-3  # still drawing masks

    stripped = optimize(graph, strip_dropout=True)
    assert stripped.dropout == kept.dropout and stripped.dropout_stripped
    assert not {"RandomUniform", "Floor", "RealDiv", "Shape"} & set(_ops(stripped.graph))
    first, second = _run(stripped.graph, ["final_result:0"], {"input:0": x}, times=2)
    np.testing.assert_array_equal(first[0], second[0])
    # Inference dropout is the identity: the same as the original run with keep_prob 1.
    assert _max_diff(graph, stripped, reference_feeds={_KEEP_PROB: 1.0}, image=x) < TOLERANCE


@pytest.mark.slow
def test_tf2_dropout_strips_to_the_graph_without_it() -> None:
    with_dropout = samples.retrain_shaped_mobilenet(dropout=True)
    without = samples.retrain_shaped_mobilenet(dropout=False)
    result = optimize(with_dropout, strip_dropout=True)
    assert result.dropout == ("final_training_ops/drop/dropout/SelectV2",) and result.dropout_stripped
    assert not [op for op in _ops(result.graph) if op.startswith("Random")]
    x = _image((1, 128, 128, 3))
    ((want,),) = _run(without, ["final_result:0"], {"input:0": x})
    ((got,),) = _run(result.graph, ["final_result:0"], {"input:0": x})
    assert np.abs(want - got).max() < TOLERANCE


# --- batch norm forms -----------------------------------------------------------------


def _v1_graph(build: Callable) -> GraphDef:
    """A tf.compat.v1 graph from ``build(tf, x)`` on an [1, 8, 8, 4] input named ``input``; output ``out``."""
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    graph = tensorflow.Graph()
    with graph.as_default():
        x = tensorflow.compat.v1.placeholder(tensorflow.float32, [1, 8, 8, 4], name="input")
        tensorflow.identity(build(tensorflow, x, np.random.RandomState(3)), name="out")
    return from_tf(graph.as_graph_def())


def _stats(rng: np.random.RandomState, channels: int) -> tuple[np.ndarray, ...]:
    gamma = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    beta = rng.normal(0, 0.3, channels).astype(np.float32)
    mean = rng.normal(0, 0.5, channels).astype(np.float32)
    variance = rng.uniform(0.5, 2.0, channels).astype(np.float32)
    return gamma, beta, mean, variance


def _decomposed_bn(tf, x, rng, channels: int, *, shape=None):
    """slim's unfused batch norm: x * (rsqrt(var + eps) * gamma) + (beta - mean * that)."""
    gamma, beta, mean, variance = _stats(rng, channels)
    scale = tf.math.rsqrt(tf.constant(variance) + 0.001) * tf.constant(gamma)
    offset = tf.constant(beta) - tf.constant(mean) * scale
    if shape is not None:
        scale = tf.reshape(scale, shape)
    return x * scale + offset


def _fused_bn(tf, x, rng, channels: int, *, training: bool = False):
    gamma, beta, mean, variance = _stats(rng, channels)
    if training:
        return tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=0.001, is_training=True)[0]
    return tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, mean=mean, variance=variance, epsilon=0.001, is_training=False)[0]


def _conv(tf, x, rng, out: int = 6):
    return tf.nn.conv2d(x, rng.normal(size=(3, 3, 4, out)).astype(np.float32), 1, "SAME")


BN_GRAPHS = {
    "fused_v3_after_conv": lambda tf, x, rng: tf.nn.relu(_fused_bn(tf, _conv(tf, x, rng), rng, 6)),
    "decomposed_after_depthwise_multiplier_2": lambda tf, x, rng: tf.nn.relu6(
        _decomposed_bn(tf, tf.nn.depthwise_conv2d(x, rng.normal(size=(3, 3, 4, 2)).astype(np.float32), [1, 1, 1, 1], "SAME"), rng, 8)
    ),
    "decomposed_after_conv_and_bias": lambda tf, x, rng: _decomposed_bn(
        tf, tf.nn.bias_add(_conv(tf, x, rng), rng.normal(size=6).astype(np.float32)), rng, 6
    ),
    "after_matmul": lambda tf, x, rng: _decomposed_bn(
        tf, tf.matmul(tf.reshape(x, [1, 256]), rng.normal(size=(256, 5)).astype(np.float32)), rng, 5
    ),
    "after_matmul_transpose_b": lambda tf, x, rng: _decomposed_bn(
        tf, tf.matmul(tf.reshape(x, [1, 256]), rng.normal(size=(5, 256)).astype(np.float32), transpose_b=True), rng, 5
    ),
    "after_conv2d_transpose": lambda tf, x, rng: _decomposed_bn(
        tf, tf.nn.conv2d_transpose(x, rng.normal(size=(3, 3, 3, 4)).astype(np.float32), [1, 16, 16, 3], 2), rng, 3
    ),
    "sub_then_scalar_mul_after_conv": lambda tf, x, rng: (_conv(tf, x, rng) - rng.normal(size=6).astype(np.float32)) * np.float32(1.7),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BN_GRAPHS))
def test_batch_norm_forms_fold_into_weights(name: str) -> None:
    graph = _v1_graph(BN_GRAPHS[name])
    result = optimize(graph)
    ops = _ops(result.graph)
    assert not result.unfolded, result.unfolded
    assert not {"Mul", "Add", "AddV2", "Sub", "Rsqrt", "FusedBatchNorm", "FusedBatchNormV3"} & set(ops), ops
    assert _max_diff(graph, result) < 1e-5


UNFOLDABLE = {
    "fused_after_relu": (
        lambda tf, x, rng: _fused_bn(tf, tf.nn.relu(_conv(tf, x, rng)), rng, 6),
        "its input is a Relu, not Conv2D",
    ),
    "training_mode": (
        lambda tf, x, rng: _fused_bn(tf, _conv(tf, x, rng), rng, 6, training=True),
        "is_training=true",
    ),
    "conv_read_twice": (
        lambda tf, x, rng: (lambda c: _decomposed_bn(tf, c, rng, 6) + tf.nn.relu(c))(_conv(tf, x, rng)),
        "is also read by",
    ),
    "scale_varies_over_space": (
        lambda tf, x, rng: _decomposed_bn(tf, _conv(tf, x, rng, out=1), rng, 64, shape=[1, 8, 8, 1]),
        "not one value per output channel",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(UNFOLDABLE))
def test_unfolded_batch_norms_say_why(name: str) -> None:
    build, why = UNFOLDABLE[name]
    graph = _v1_graph(build)
    result = optimize(graph)
    assert len(result.unfolded) == 1, result.unfolded
    assert why in result.unfolded[0].reason
    assert result.unfolded[0].node in {n.name for n in graph.node}
    assert _max_diff(graph, result) < 1e-5


# --- other passes -----------------------------------------------------------------------


@pytest.mark.slow
def test_huge_broadcast_is_not_materialised() -> None:
    def build(tf, x, rng):
        big = tf.fill([256, 2048], 0.001)  # 2 MiB from a few bytes of constants
        return tf.matmul(tf.reshape(x, [1, 256]), big)

    graph = _v1_graph(build)
    result = optimize(graph)
    assert "Fill" in _ops(result.graph)
    assert result.graph.ByteSize() < 64 * 1024
    assert any("folding would grow the file" in n for n in next(p for p in result.passes if p.name == "fold_constants").notes)
    assert _max_diff(graph, result) < 1e-5


@pytest.mark.slow
def test_constant_subgraphs_and_no_ops_go() -> None:
    def build(tf, x, rng):
        scale = tf.reduce_mean(tf.constant(rng.uniform(1, 2, (3, 4)).astype(np.float32)), axis=0)  # constant [4]
        y = tf.reshape(x * 1.0 + 0.0, [1, 8, 8, 4])  # no-ops
        y = tf.pad(y, [[0, 0], [0, 0], [0, 0], [0, 0]])
        return tf.cast(y * scale, tf.float32)

    graph = _v1_graph(build)
    result = optimize(graph)
    assert sorted(_ops(result.graph).elements()) == ["Const", "Identity", "Mul", "Placeholder"]
    assert _max_diff(graph, result) < 1e-6


def _resize_conv_graph(*, half_pixel_centers: bool) -> GraphDef:
    def build(tf, x, rng):
        big = tf.raw_ops.ResizeBilinear(images=x, size=[12, 12], align_corners=False, half_pixel_centers=half_pixel_centers)
        padded = tf.pad(big, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        return tf.nn.conv2d(padded, rng.normal(size=(3, 3, 4, 5)).astype(np.float32), 1, "VALID")

    return _v1_graph(build)


@pytest.mark.slow
def test_resize_pad_conv_fusion_like_tensorflow_but_only_when_exact() -> None:
    graph = _resize_conv_graph(half_pixel_centers=False)
    fused = optimize(graph)
    assert _ops(fused.graph)["FusedResizeAndPadConv2D"] == 1 and "ResizeBilinear" not in _ops(fused.graph)
    assert _max_diff(graph, fused) < 1e-4

    toco = optimize(graph, toco_compatible=True)
    assert "FusedResizeAndPadConv2D" not in _ops(toco.graph)
    assert toco.passes[-1].name == "fuse_resize_conv" and toco.passes[-1].skipped == "toco_compatible (its fused ops are not TFLite ops)"
    assert not toco.passes[-1].removed_nodes and not toco.passes[-1].added_nodes

    modern = _resize_conv_graph(half_pixel_centers=True)
    kept = optimize(modern)
    assert "ResizeBilinear" in _ops(kept.graph) and _ops(kept.graph)["FusedPadConv2D"] == 1
    assert _max_diff(modern, kept) < 1e-4


@pytest.mark.slow
def test_control_edges_through_identities_are_rewired() -> None:
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    graph = tensorflow.Graph()
    with graph.as_default():
        x = tensorflow.compat.v1.placeholder(tensorflow.float32, [1, 3], name="input")
        gate = tensorflow.identity(x, name="gate")
        with tensorflow.control_dependencies([gate]):
            y = tensorflow.identity(tensorflow.nn.relu(x), name="relu_then")
        tensorflow.nn.softmax(y * 2.0, name="probs")
    original = from_tf(graph.as_graph_def())
    result = optimize(original)
    assert "Identity" not in _ops(result.graph)
    relu = _node(result.graph, "Relu")
    assert list(relu.input) == ["input"]  # ^gate became ^input, which the data edge already implies
    assert _max_diff(original, result) < 1e-6


@pytest.mark.slow
def test_unfrozen_graph_is_refused_unless_allowed() -> None:
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    graph = tensorflow.Graph()
    with graph.as_default():
        x = tensorflow.compat.v1.placeholder(tensorflow.float32, [1, 8, 8, 4], name="input")
        w = tensorflow.compat.v1.Variable(np.ones((3, 3, 4, 6), np.float32), name="w", use_resource=False)
        y = tensorflow.nn.conv2d(x, w, 1, "SAME")
        tensorflow.identity(_decomposed_bn(tensorflow, y, np.random.RandomState(0), 6), name="out")
    unfrozen = from_tf(graph.as_graph_def())
    with pytest.raises(InspectorError, match=r"^w.pb: holds 1 variables \(e.g. w\), so it is not frozen"):
        optimize(unfrozen, input_names=["input"], output_names=["out"], what="w.pb")
    result = optimize(unfrozen, input_names=["input"], output_names=["out"], frozen_graph=False)
    (left,) = result.unfolded
    assert "VariableV2: the graph is not frozen" in left.reason


@pytest.mark.slow
def test_concats_flatten_and_activations_hoist_unless_for_tflite() -> None:
    def build(tf, x, rng):
        branches = [tf.nn.relu(_conv(tf, x, rng, out=2 + i)) for i in range(3)]
        inner = tf.concat(branches[1:], axis=3)
        return tf.concat([branches[0], inner], axis=3)

    graph = _v1_graph(build)
    result = optimize(graph)
    ops = _ops(result.graph)
    assert ops["ConcatV2"] == 1 and ops["Relu"] == 1 and ops["Conv2D"] == 3
    assert _max_diff(graph, result) < 1e-5

    tflite = optimize(graph, toco_compatible=True)
    assert _ops(tflite.graph)["Relu"] == 3  # left after each conv, where TFLite fuses it
    assert _max_diff(graph, tflite) < 1e-5


@pytest.mark.slow
def test_an_inner_node_can_be_the_input() -> None:
    graph = samples.retrain_shaped_mobilenet()
    bottleneck = "MobilenetV1/Predictions/Reshape"
    result = optimize(graph, input_names=[bottleneck], output_names=["final_result"])
    placeholder = _node(result.graph, bottleneck)
    assert placeholder.op == "Placeholder" and [d.size for d in placeholder.attr["shape"].shape.dim] == [1, 1001]
    assert not {"Conv2D", "DepthwiseConv2dNative", "input"} & (set(_ops(result.graph)) | {n.name for n in result.graph.node})
    x = _image((1, 1001))
    ((want,),) = _run(graph, ["final_result:0"], {f"{bottleneck}:0": x})
    ((got,),) = _run(result.graph, ["final_result:0"], {f"{bottleneck}:0": x})
    assert np.abs(want - got).max() < TOLERANCE


# --- names ------------------------------------------------------------------------------


def test_bad_names_are_user_errors() -> None:
    graph = retrained_like()
    with pytest.raises(InspectorError, match=r"^g.pb: no node named 'inptu' \(--input_names\); did you mean 'input'\?$"):
        optimize(graph, input_names=["inptu"], output_names=["final_result"], what="g.pb")
    with pytest.raises(InspectorError, match=r"no node named 'nope', 'gone' \(--output_names\)"):
        optimize(graph, input_names=["input"], output_names=["nope", "gone"])
    with pytest.raises(InspectorError, match=r"'input:1' names a tensor, not a node"):
        optimize(graph, input_names=["input:1"], output_names=["final_result"])
    with pytest.raises(InspectorError, match=r"--output_names is empty"):
        optimize(graph, input_names=["input"], output_names=[])


def test_several_candidates_ask_for_the_flag() -> None:
    graph = retrained_like()
    extra = graph.node.add()
    extra.CopyFrom(_node(graph, "final_result"))
    extra.name = "second_head"
    with pytest.raises(InspectorError, match=r"several possible outputs \(final_result, second_head\); pick one with --output_names"):
        optimize(graph)
    placeholder = graph.node.add()
    placeholder.CopyFrom(_node(graph, "input"))
    placeholder.name = "input_b"
    # A placeholder no output reads is no candidate input: graph/signature.py leaves it out, for every command.
    assert detect_names(graph, output_names=["final_result"]).inputs == ("input",)


def test_placeholder_dtype_mismatch_is_refused() -> None:
    with pytest.raises(InspectorError, match=r"input input is a DT_FLOAT placeholder, not DT_UINT8; pass --placeholder_type_enum 1"):
        optimize(retrained_like(), placeholder_type_enum=DataType.DT_UINT8)


@pytest.mark.slow
def test_given_names_and_tensor_suffix() -> None:
    graph = retrained_like()
    result = optimize(graph, input_names=["input:0"], output_names=["final_result"])
    assert not result.detected and result.input_names == ("input",)
    assert optimize_graph(graph, input_names=["input"], output_names=["final_result"]) == result.graph
