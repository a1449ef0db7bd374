"""Tests for inspector.run.noise: the float64 twin of real and hand-built graphs, and the noise floor verify judges against."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from builders import const, op, placeholder
from conftest import REAL_GRAPHS, fixture_path
from inspector.errors import InspectorError
from inspector.graph import tfcompat
from inspector.graph.io import load_graph
from inspector.run.images import random_batch, read_image
from inspector.run.noise import FACTOR, FLOAT32_EPS, Judgement, Reference, ReferenceOutput, float64_twin, judge, sibling

pytestmark = pytest.mark.slow

DAISY_PHOTO = "flower_photos/daisy/3475870145_685a19116d.jpg"
# Every real graph that gives the same output twice (dropout_active draws new dropout masks each run).
STEADY = [(path, inp, out) for path, inp, out, _ in REAL_GRAPHS if not path.startswith("dropout_active")]
# The graph's own input size; poets_pair's optimized graph declares none and is retrained at 128.
SIZES = {"poets_224": 224, "dropout_active": 224, "codelab_android": 224}


def size_of(path: str) -> tuple[int, int]:
    side = SIZES.get(path.split("/")[0], 128)
    return side, side


# --- helpers the bench uses too ----------------------------------------------------


class Float32:
    """The graph as it is, in its own CPU session: what the twin is compared with."""

    def __init__(self, graph: GraphDef) -> None:
        tf = tfcompat.tf()
        self._graph = tf.Graph()
        with self._graph.as_default():
            tf.compat.v1.import_graph_def(tfcompat.to_tf(graph), name="")
        self._session = tf.compat.v1.Session(graph=self._graph, config=tf.compat.v1.ConfigProto(device_count={"GPU": 0}))

    def run(self, feeds: Mapping[str, np.ndarray], output: str) -> np.ndarray:
        get = self._graph.get_tensor_by_name
        out = self._session.run(get(f"{output}:0"), {get(f"{name}:0"): value for name, value in feeds.items()})
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def close(self) -> None:
        self._session.close()


def last_weights(graph: GraphDef, output: str) -> tuple[str, ...]:
    """The Consts holding the weights of the MatMul or Conv2D nearest the output, found by structure.

    Reached through Identity; a Dequantize in the way (8-bit weights) gives its
    min and max range Consts, which scale the weights it computes.
    """
    nodes = {node.name: node for node in graph.node}

    def source(name: str) -> NodeDef:
        node = nodes[name.lstrip("^").partition(":")[0]]
        while node.op == "Identity":
            node = nodes[node.input[0].partition(":")[0]]
        return node

    queue, seen = deque([output]), {output}
    while queue:
        node = nodes[queue.popleft()]
        if node.op in ("MatMul", "Conv2D"):
            weights = source(node.input[1])
            if weights.op == "Dequantize":
                return tuple(source(name).name for name in weights.input[1:3])
            assert weights.op == "Const", weights.op
            return (weights.name,)
        for name in node.input:
            name = name.partition(":")[0]
            if not name.startswith("^") and name not in seen:
                seen.add(name)
                queue.append(name)
    raise AssertionError(f"no MatMul or Conv2D upstream of {output}")


def scaled(graph: GraphDef, names: Sequence[str], factor: float) -> GraphDef:
    """A copy of the graph with the float32 Consts ``names`` multiplied by ``factor``."""
    tf = tfcompat.tf()
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorflow.core.framework.tensor_pb2 import TensorProto as TFTensorProto

    out = GraphDef()
    out.CopyFrom(graph)
    for node in out.node:
        if node.name in names:
            value = tf.make_ndarray(TFTensorProto.FromString(node.attr["value"].tensor.SerializeToString()))
            assert value.dtype == np.float32
            changed = tf.make_tensor_proto(value * np.float32(factor))
            node.attr["value"].tensor.CopyFrom(TensorProto.FromString(changed.SerializeToString()))
    return out


def daisy(size: tuple[int, int]) -> np.ndarray:
    return read_image(fixture_path(DAISY_PHOTO), size=size, mean=127.5, std=127.5)


def frozen(build) -> GraphDef:
    """A GraphDef of what ``build(tf)`` adds to a fresh graph (constants only: nothing to freeze)."""
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        build(tf)
    return GraphDef.FromString(graph.as_graph_def().SerializeToString())


def float_types(graph: GraphDef) -> set[str]:
    """Names of nodes with a float32 type attr or value."""
    found = set()
    for node in graph.node:
        for value in node.attr.values():
            kind = value.WhichOneof("value")
            if (kind == "type" and value.type == DataType.DT_FLOAT) or (kind == "list" and DataType.DT_FLOAT in value.list.type) or (
                kind == "tensor" and value.tensor.dtype == DataType.DT_FLOAT
            ):
                found.add(node.name)
    return found


# --- the twin on real graphs ---------------------------------------------------------


@pytest.mark.parametrize("path, input_name, output_name", STEADY)
def test_twin_of_each_fixture_computes_what_the_graph_computes(path: str, input_name: str, output_name: str) -> None:
    graph = load_graph(fixture_path(path)).graph
    twin = float64_twin(graph, what=path)
    names = {node.name for node in graph.node}
    # Every node is still there under its name (and its placeholder takes float64 now).
    assert names <= {node.name for node in twin.node}
    (feed,) = [node for node in twin.node if node.name == input_name]
    assert feed.attr["dtype"].type == DataType.DT_DOUBLE
    batch = daisy(size_of(path))
    graph32 = Float32(graph)
    with Reference(graph, what=path) as reference:
        exact = reference.run({input_name: batch}, output_name)
        assert exact.dtype == np.float64
        a32 = graph32.run({input_name: batch}, output_name)
        assert exact.shape == a32.shape and exact.size > 1
        noise = np.abs(a32 - exact).max()
        assert 0 < noise < 1e-5, noise
        # The twin really is float64: its answer is not a float32 number.
        assert np.any(exact != exact.astype(np.float32))
        if path.startswith("mobilenet_v1_0.25_128/quantized"):
            # TensorFlow has no double Dequantize: those nodes run in float32 between Casts.
            assert reference.float32_nodes and {n.op for n in twin.node if n.name in reference.float32_nodes} == {"Dequantize"}
            assert float_types(twin) - set(reference.float32_nodes) == {
                n.name for n in twin.node if n.op == "Cast" and n.name not in names
            }
        else:
            assert reference.float32_nodes == () and float_types(twin) == set()
    graph32.close()


def test_twin_of_a_graph_with_dropout_still_active_builds_and_runs_in_float64() -> None:
    graph = load_graph(fixture_path("dropout_active/retrained_graph.pb")).graph
    twin = float64_twin(graph, what="dropout_active")
    random = [node for node in twin.node if node.op == "RandomUniform"]
    assert random and all(node.attr["dtype"].type == DataType.DT_DOUBLE for node in random)
    with Reference(graph, what="dropout_active") as reference:
        out = reference.run({"input": daisy((224, 224)).astype(np.float32)}, "final_result")
    assert out.shape == (3,) and abs(out.sum() - 1) < 1e-9


@pytest.mark.parametrize("name", ["MobileNet", "InceptionV3"])
def test_twin_of_keras_applications(name: str) -> None:
    from inspector.graph.samples import keras_frozen

    graph = keras_frozen(name)
    size = 299 if name == "InceptionV3" else 224
    batch = random_batch((size, size), rng=np.random.default_rng(1), mean=127.5, std=127.5)
    graph32 = Float32(graph)
    with Reference(graph, what=name) as reference:
        exact = reference.run({"input": batch}, "Identity")
        a32 = graph32.run({"input": batch}, "Identity")
    graph32.close()
    assert exact.shape == (1000,) and np.abs(a32 - exact).max() < 1e-5
    assert reference.float32_nodes == () and float_types(reference.twin) == set()


def test_twin_of_custom_cnns_with_auxiliary_placeholders_labels_and_a_loss() -> None:
    from inspector.graph.customcnn import CustomNames, custom_cnn

    names = CustomNames(image="img", keep="kp", label="lbl", flag="is_training", output="probs")
    graph = custom_cnn(channels=1, label=True, training_flag=True, batch_norm=True, names=names)
    batch = random_batch((64, 64), rng=np.random.default_rng(2), mean=127.5, std=127.5)[..., :1]
    feeds = {"img": batch, "kp": np.float32(1.0), "is_training": False, "lbl": np.array([2], dtype=np.int32)}
    graph32 = Float32(graph)
    with Reference(graph, what="custom") as reference:
        for output in ("probs", "cost"):
            exact, a32 = reference.run(feeds, output), graph32.run(feeds, output)
            assert np.abs(a32 - exact).max() < 1e-5 * max(1.0, np.abs(exact).max())
        # The int32 label, its one-hot and the bool flag keep their types.
        kinds = {node.name: node for node in reference.twin.node}
        assert kinds["lbl"].attr["dtype"].type == DataType.DT_INT32
        assert kinds["is_training"].attr["dtype"].type == DataType.DT_BOOL
        assert kinds["kp"].attr["dtype"].type == DataType.DT_DOUBLE
        # A name with ":0" works too, and the keep probability's feed is widened.
        assert np.array_equal(reference.run(feeds, "probs:0"), reference.run(feeds, "probs"))
    graph32.close()
    for form in ("rate", "keras", "constant"):
        twin = float64_twin(custom_cnn(dropout=form, channels=6, size=16), what=form)
        assert float_types(twin) == set(), form


def test_ops_without_a_double_kernel_run_in_float32_between_casts() -> None:
    """FusedBatchNormV3 has no double kernel on CPU: the twin keeps it in float32 and casts around it."""
    rng = np.random.default_rng(3)

    def build(tf):
        raw = tf.raw_ops
        x = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="pixels")
        net = raw.Conv2D(input=x, filter=tf.constant(rng.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float32)),
                         strides=[1, 1, 1, 1], padding="SAME")
        four = lambda low, high: tf.constant(rng.uniform(low, high, 4).astype(np.float32))  # noqa: E731
        normed = raw.FusedBatchNormV3(x=net, scale=four(0.5, 1.5), offset=four(-0.1, 0.1), mean=four(-0.5, 0.5),
                                      variance=four(0.5, 2.0), epsilon=1e-3, is_training=False, name="bn")
        raw.Softmax(logits=raw.Mean(input=raw.Relu(features=normed.y), axis=[1, 2]), name="scores")

    graph = frozen(build)
    batch = rng.normal(0, 1, (1, 8, 8, 3)).astype(np.float32)
    graph32 = Float32(graph)
    with Reference(graph, what="fused") as reference:
        assert reference.float32_nodes == ("bn",)
        nodes = {node.name: node for node in reference.twin.node}
        assert nodes["bn"].attr["T"].type == DataType.DT_FLOAT and nodes["bn"].attr["U"].type == DataType.DT_FLOAT
        casts = [nodes[name] for name in nodes["bn"].input]
        assert [(c.op, c.attr["SrcT"].type, c.attr["DstT"].type) for c in casts] == [
            ("Cast", DataType.DT_DOUBLE, DataType.DT_FLOAT)
        ] * 5
        (back,) = [n for n in nodes.values() if n.op == "Cast" and n.input == ["bn"]]
        assert back.attr["DstT"].type == DataType.DT_DOUBLE
        exact = reference.run({"pixels": batch}, "scores")
        assert np.abs(graph32.run({"pixels": batch}, "scores") - exact).max() < 1e-6
    graph32.close()


def test_a_graph_without_float_ops_is_its_own_twin() -> None:
    graph = GraphDef(node=[
        NodeDef(name="count", op="Placeholder", attr={"dtype": AttrValue(type=DataType.DT_INT32)}),
        const("step", np.array([3], dtype=np.int32)),
        NodeDef(name="total", op="Add", input=["count", "step"], attr={"T": AttrValue(type=DataType.DT_INT32)}),
    ])
    twin = float64_twin(graph, what="ints")
    assert twin.SerializeToString(deterministic=True) == graph.SerializeToString(deterministic=True)
    with Reference(graph, what="ints") as reference:
        assert reference.float32_nodes == ()
        assert reference.run({"count": np.array([4, 5], dtype=np.int32)}, "total").tolist() == [7.0, 8.0]


def test_a_float_const_stored_as_float_val_is_widened_with_its_fill() -> None:
    graph = GraphDef(node=[
        placeholder("x", [2]),
        NodeDef(name="half", op="Const", attr={
            "dtype": AttrValue(type=DataType.DT_FLOAT),
            "value": AttrValue(tensor={"dtype": DataType.DT_FLOAT, "tensor_shape": {"dim": [{"size": 2}]}, "float_val": [0.1]}),
        }),
        op("y", "Mul", "x", "half"),
    ])
    with Reference(graph, what="fill") as reference:
        out = reference.run({"x": np.array([1.0, 2.0], dtype=np.float32)}, "y")
    # float32's 0.1, exactly, times 1 and 2 in float64.
    assert out.tolist() == [float(np.float32(0.1)), 2 * float(np.float32(0.1))]


# --- the floor on real pairs -------------------------------------------------------


@pytest.mark.parametrize("path, input_name, output_name", STEADY)
def test_each_fixture_and_its_optimized_graph_are_within_the_floor(path: str, input_name: str, output_name: str) -> None:
    import inspector

    graph = load_graph(fixture_path(path)).graph
    optimized = inspector.optimize(graph).graph
    size = size_of(path)
    rng = np.random.default_rng(3)
    batches = [daisy(size)] + [random_batch(size, rng=rng, mean=127.5, std=127.5) for _ in range(100)]
    a, b = Float32(graph), Float32(optimized)
    judgements: list[Judgement] = []
    with Reference(graph, what=path) as reference:
        for batch in batches:
            feeds = {input_name: batch}
            judgements.append(judge(a.run(feeds, output_name), b.run(feeds, output_name), reference.outputs(feeds, output_name)))
    a.close(), b.close()
    outside = [j for j in judgements if not j.within]
    assert not outside, outside[:3]
    assert all(j.floor >= FACTOR * max(j.noise, j.spread) and 0 < j.spread < 1e-4 and j.noise < 1e-4 for j in judgements)
    # Rounding stays well inside: the worst measured is under half the floor (bench/bench_noise.py).
    assert max(j.ratio for j in judgements) < 0.5


@pytest.mark.parametrize("path, input_name, output_name", STEADY)
def test_one_weight_matrix_scaled_by_1_001_is_outside_the_floor_on_the_daisy(path: str, input_name: str, output_name: str) -> None:
    graph = load_graph(fixture_path(path)).graph
    weights = last_weights(graph, output_name)
    if path.startswith(("poets_", "dropout_")):
        assert weights == ("final_training_ops/weights/final_weights",)
    changed = scaled(graph, weights, 1.001)
    feeds = {input_name: daisy(size_of(path))}
    a, b = Float32(graph), Float32(changed)
    with Reference(graph, what=path) as reference:
        verdict = judge(a.run(feeds, output_name), b.run(feeds, output_name), reference.outputs(feeds, output_name))
    a.close(), b.close()
    assert not verdict.within, verdict
    # Well outside, not just past it: the margin depends on the photo (4.4x to 5x the floor on the fixtures' daisy).
    assert verdict.ratio > 3 and verdict.b_error > verdict.floor


# --- judge ---------------------------------------------------------------------------------


def test_judge_takes_the_floor_from_the_noise_and_from_one_float32_step() -> None:
    ref = np.array([0.5, 0.25, 0.25])
    a = ref + np.array([3e-7, -1e-7, 0.0])
    verdict = judge(a, a + 1e-6, ref)
    assert verdict.noise == pytest.approx(3e-7) and verdict.spread == 0 and verdict.floor == pytest.approx(FACTOR * 3e-7)
    assert verdict.within == (1e-6 <= FACTOR * 3e-7)
    assert verdict.max_abs_diff == pytest.approx(1e-6) and verdict.b_error == pytest.approx(1.3e-6)
    assert verdict.ratio == pytest.approx(1e-6 / (FACTOR * 3e-7))
    # a rounds exactly: the floor is FACTOR float32 steps of the largest output, not 0.
    exact = judge(ref, ref + 1e-8, ref)
    assert exact.noise == 0 and exact.floor == pytest.approx(FACTOR * FLOAT32_EPS * 0.5) and exact.within
    assert not judge(ref, ref + FACTOR * FLOAT32_EPS, ref).within
    assert judge(ref, ref, ref).ratio == 0
    assert exact.to_json() == {
        "max_abs_diff": exact.max_abs_diff, "noise": 0.0, "spread": 0.0, "b_error": exact.b_error, "floor": exact.floor,
        "within": True,
    }


def test_judge_takes_the_largest_of_the_noise_and_the_siblings_errors() -> None:
    ref = np.array([0.5, 0.25, 0.25])
    a = ref + np.array([1e-8, 0.0, 0.0])
    both = ReferenceOutput(exact=ref, siblings=(ref + np.array([0.0, 2e-6, 0.0]), ref - np.array([0.0, 0.0, 3e-6])))
    verdict = judge(a, a + 5e-6, both)
    assert verdict.noise == pytest.approx(1e-8) and verdict.spread == pytest.approx(3e-6)
    assert verdict.floor == pytest.approx(FACTOR * 3e-6) and verdict.within == (5e-6 <= FACTOR * 3e-6)
    alone = judge(a, a + 5e-6, ReferenceOutput(exact=ref))
    assert alone.spread == 0 and alone.floor == pytest.approx(FACTOR * FLOAT32_EPS * 0.5)


def test_judge_never_calls_nan_or_a_different_shape_within() -> None:
    ref = np.array([0.5, 0.5])
    assert not judge(ref, np.array([0.5, np.nan]), ref).within
    assert not judge(np.array([np.nan, 0.5]), ref, ref).within
    assert not judge(ref, ref, ReferenceOutput(exact=ref, siblings=(ref, np.array([np.nan, 0.5])))).within
    with pytest.raises(ValueError, match="the reference has 2 values where the graph has 2"):
        judge(ref, ref, ReferenceOutput(exact=ref, siblings=(np.ones(3),)))
    other = judge(ref, np.array([0.5, 0.25, 0.25]), ref)
    assert not other.within and other.max_abs_diff == float("inf")
    assert judge(np.zeros(0), np.zeros(0), np.zeros(0)).within
    with pytest.raises(ValueError, match="the reference has 3 values where the graph has 2"):
        judge(ref, ref, np.ones(3))


def test_a_sibling_rounds_each_float32_weight_again_to_itself_or_a_neighbour() -> None:
    weights = np.random.default_rng(0).normal(0, 1, 1000).astype(np.float32)
    graph = GraphDef(node=[
        placeholder("x", [1000]),
        const("w", weights),
        NodeDef(name="fill", op="Const", attr={
            "dtype": AttrValue(type=DataType.DT_FLOAT),
            "value": AttrValue(tensor={"dtype": DataType.DT_FLOAT, "tensor_shape": {"dim": [{"size": 1000}]}, "float_val": [1.75]}),
        }),
        const("steps", np.array([3, 4], dtype=np.int32)),
        op("y", "Mul", "x", "w"),
        op("z", "Add", "y", "fill"),
    ])
    moved = sibling(graph, seed=4)
    assert sibling(graph, seed=4) == moved and sibling(graph, seed=5) != moved
    nodes = {n.name: n for n in moved.node}
    w = np.frombuffer(nodes["w"].attr["value"].tensor.tensor_content, dtype="<f4")
    steps = np.abs(w.view(np.int32) - weights.view(np.int32))
    # Each weight is itself or one float32 step away, and a good share moved.
    assert set(steps.tolist()) == {0, 1} and 100 < int(steps.sum()) < 900
    (fill,) = nodes["fill"].attr["value"].tensor.float_val
    assert fill in (1.75, float(np.nextafter(np.float32(1.75), np.float32(2))), float(np.nextafter(np.float32(1.75), np.float32(1))))
    assert nodes["steps"] == next(n for n in graph.node if n.name == "steps")
    x = np.linspace(-1, 1, 1000).astype(np.float32)
    with Reference(graph, what="tiny") as reference:
        both = reference.outputs({"x": x}, "z")
        assert both.exact.tolist() == reference.run({"x": x}, "z").tolist()
        assert len(both.siblings) == 2 and all(0 < np.abs(c - both.exact).max() < 8 * FLOAT32_EPS for c in both.siblings)
        # A sibling is float32: its output is float32 numbers.
        assert all(np.array_equal(c, c.astype(np.float32)) for c in both.siblings)
    with Reference(graph, what="tiny", siblings=0) as plain:
        assert plain.outputs({"x": x}, "z").siblings == ()
    with Reference(graph, what="tiny", siblings=3) as three:
        copies = three.outputs({"x": x}, "z").siblings
        # Seeds 0, 1, 2: the first two are the two-sibling reference's.
        assert len(copies) == 3 and copies[0].tolist() == both.siblings[0].tolist() and len({c.tobytes() for c in copies}) == 3


def test_every_sibling_computes_the_whole_graph_even_past_a_placeholder_with_default() -> None:
    """retrain.py's head reads the body through a PlaceholderWithDefault: a sibling must run its own body too."""
    graph = GraphDef(node=[
        placeholder("x", [2]),
        const("w1", np.array([1.5, -0.75], dtype=np.float32)),
        op("body", "Mul", "x", "w1"),
        NodeDef(name="bottleneck", op="PlaceholderWithDefault", input=["body"],
                attr={"dtype": AttrValue(type=DataType.DT_FLOAT), "shape": AttrValue(shape={"dim": [{"size": 2}]})}),
        const("w2", np.array([3.0, 0.1], dtype=np.float32)),
        op("float32_sibling", "Mul", "bottleneck", "w2"),  # the siblings' own scope name, taken
    ])
    copy = {n.name: n for n in sibling(graph, seed=1).node}
    w1, w2 = (np.frombuffer(copy[name].attr["value"].tensor.tensor_content, dtype="<f4") for name in ("w1", "w2"))
    x = np.array([1.0, 2.0], dtype=np.float32)
    with Reference(graph, what="head") as reference:
        out = reference.outputs({"x": x}, "float32_sibling")
        assert out.exact.tolist() == (x.astype(np.float64) * np.float32([1.5, -0.75]) * np.float32([3.0, 0.1])).tolist()
        assert out.siblings[1].tolist() == (x * w1 * w2).astype(np.float64).tolist()
        # A fed PlaceholderWithDefault is fed to every copy.
        fed = reference.outputs({"bottleneck": np.array([1.0, 1.0])}, "float32_sibling")
        assert fed.exact.tolist() == [3.0, float(np.float32(0.1))] and fed.siblings[1].tolist() == w2.astype(np.float64).tolist()


# --- errors, each naming the graph -------------------------------------------------------


def test_an_op_tensorflow_does_not_know_is_named() -> None:
    graph = GraphDef(node=[placeholder("x", [2]), op("y", "MyCustomSquash", "x")])
    with pytest.raises(InspectorError) as caught:
        float64_twin(graph, what="custom.pb")
    text = str(caught.value)
    assert text.startswith("custom.pb: node 'y' runs op 'MyCustomSquash', which TensorFlow ")
    assert " does not know (a custom op or a function); the float64 reference needs built-in ops, so compare without it" in text


def test_a_damaged_float_value_is_named() -> None:
    graph = GraphDef(node=[placeholder("x", [2]), const("w", np.ones(2, dtype=np.float32)), op("y", "Mul", "x", "w")])
    graph.node[1].attr["value"].tensor.tensor_content = b"\0" * 7
    with pytest.raises(InspectorError) as caught:
        float64_twin(graph, what="broken.pb")
    assert str(caught.value) == (
        "broken.pb: node 'w': its float32 value holds 7 bytes, not a whole number of 4-byte floats (a damaged file?); "
        "export the graph again"
    )


def test_a_node_without_its_type_attrs_is_named() -> None:
    graph = GraphDef(node=[placeholder("x", [2]), NodeDef(name="y", op="Relu", input=["x"])])
    with pytest.raises(InspectorError) as caught:
        float64_twin(graph, what="bare.pb")
    assert str(caught.value) == "bare.pb: node 'y' (Relu) lacks the type attrs its op needs (a damaged file?); export the graph again"


def test_import_and_run_errors_name_the_graph() -> None:
    dangling = GraphDef(node=[placeholder("x", [2]), op("y", "Relu", "missing")])
    with pytest.raises(InspectorError) as caught:
        Reference(dangling, what="dangling.pb")
    assert str(caught.value).startswith("dangling.pb: TensorFlow ")
    assert " cannot import the graph's float64 reference (" in str(caught.value)
    assert str(caught.value).endswith("); compare without it")

    graph = GraphDef(node=[placeholder("x", [2]), op("y", "Relu", "x")])
    with Reference(graph, what="small.pb") as reference:
        with pytest.raises(InspectorError, match="small.pb: the graph has no tensor 'nothing:0' to feed or read; "
                           "pass a node name of the graph"):
            reference.run({"x": np.zeros(2, dtype=np.float32)}, "nothing")
        with pytest.raises(InspectorError) as ran:
            reference.run({}, "y")
        assert str(ran.value).startswith("small.pb: TensorFlow cannot run the graph's float64 reference (")
        assert str(ran.value).endswith("); check the fed inputs and the output name")


def test_the_op_policy_applies_before_tensorflow_sees_the_graph() -> None:
    graph = GraphDef(node=[
        NodeDef(name="path", op="Const", attr={"dtype": AttrValue(type=DataType.DT_STRING),
                                               "value": AttrValue(tensor={"dtype": DataType.DT_STRING, "string_val": [b"/etc/passwd"]})}),
        NodeDef(name="read", op="ReadFile", input=["path"]),
    ])
    with pytest.raises(InspectorError, match="reader.pb"):
        Reference(graph, what="reader.pb")
