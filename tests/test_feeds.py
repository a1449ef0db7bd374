"""--input and --feed: parsing, what each placeholder is fed, photos decoded to any channel count, and every error said."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from builders import op, placeholder
from conftest import fixture_path
from inspector.errors import InspectorError
from inspector.graph.io import load_graph
from inspector.graph.samples import write_graph
from inspector.graph.signature import signature
from inspector.run.feeds import Feed, FedInput, InputOption, concrete_shape, plan_feeds, random_value, read_npy
from inspector.run.images import decode_image, read_image
from inspector.run.runners import GraphRunner, graph_pair
from inspector.run.samples import image_value, samples

DAISY = "flower_photos/daisy/3475870145_685a19116d.jpg"


def _message(fn) -> str:
    with pytest.raises(InspectorError) as caught:
        fn()
    return caught.value.message


# --- parsing ------------------------------------------------------------------------------


def test_input_option_parses_name_shape_and_dtype() -> None:
    assert InputOption.parse("images") == InputOption("images")
    assert InputOption.parse("images:0") == InputOption("images")
    assert InputOption.parse("x:1,64,64,1:float32") == InputOption("x", (1, 64, 64, 1), "float")
    assert InputOption.parse("x:[?,32]:int64") == InputOption("x", (-1, 32), "int64")
    assert InputOption.parse("x:1x8x8x6") == InputOption("x", (1, 8, 8, 6), None)
    assert InputOption.parse("x::bool") == InputOption("x", None, "bool")


def test_input_option_errors() -> None:
    assert _message(lambda: InputOption.parse(":1,2")) == (
        "--input ':1,2': expected NAME[:SHAPE[:DTYPE]], e.g. --input images:1,64,64,1:float32")
    assert _message(lambda: InputOption.parse("x:1,2:complex")) == (
        "--input 'x:1,2:complex': unknown dtype 'complex'; pass one of "
        "float32, float16, float64, int8, int16, int32, int64, uint8, uint16, bool")
    assert _message(lambda: InputOption.parse("x:1,big")) == (
        "--input 'x:1,big': 'big' is not a dimension; write the shape as 1,64,64,1 (? for any)")


def test_feed_parses_numbers_flags_lists_and_npy(tmp_path: Path) -> None:
    assert Feed.parse("keep_prob=1.0").value.dtype.kind == "f" and float(Feed.parse("k=1.0").value) == 1.0
    assert Feed.parse("is_training=false").value.dtype == bool and not Feed.parse("t=False").value
    assert Feed.parse("n=3").value.dtype.kind == "i"
    assert Feed.parse("v=1,2,3").value.tolist() == [1, 2, 3]
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    feed = Feed.parse(f"x={tmp_path / 'x.npy'}")
    assert feed.value.shape == (2, 3) and feed.source == str(tmp_path / "x.npy")


def test_feed_errors(tmp_path: Path) -> None:
    assert _message(lambda: Feed.parse("keep_prob")) == (
        "--feed 'keep_prob': expected NAME=VALUE or NAME=FILE.npy, e.g. --feed keep_prob=1.0")
    assert _message(lambda: Feed.parse("k=one")) == (
        "--feed 'k=one': 'one' is not a number, true/false, a list like 1,2,3 or a .npy file; pass one of those")
    assert _message(lambda: Feed.parse(f"k={tmp_path / 'none.npy'}")) == f"{tmp_path / 'none.npy'}: no such .npy file; check the path"
    (tmp_path / "dir.npy").mkdir()
    assert _message(lambda: Feed.parse(f"k={tmp_path / 'dir.npy'}")) == f"{tmp_path / 'dir.npy'}: is a folder; pass a .npy file"
    (tmp_path / "bad.npy").write_bytes(b"not numpy at all")
    assert _message(lambda: read_npy(tmp_path / "bad.npy")).startswith(f"{tmp_path / 'bad.npy'}: not a NumPy .npy array (")
    assert _message(lambda: read_npy(tmp_path / "bad.npy")).endswith("); save one with numpy.save")
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    assert _message(lambda: read_npy(tmp_path / "words.npy")) == (
        f"{tmp_path / 'words.npy'}: holds <U1 data; feed numbers (numpy.save of a numeric array)")
    # Pickled objects are refused, never loaded: a .npy can carry code.
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "not a NumPy .npy array" in _message(lambda: read_npy(tmp_path / "objects.npy"))


def test_feed_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector.run import feeds

    monkeypatch.setattr(feeds, "MAX_NPY_BYTES", 100)
    np.save(tmp_path / "big.npy", np.zeros(1000, np.float32))
    assert _message(lambda: read_npy(tmp_path / "big.npy")) == (
        f"{tmp_path / 'big.npy'}: 4.0 KiB is over the 100 bytes limit for a fed array; pass a smaller one")


# --- the plan -------------------------------------------------------------------------------


def _graph(*nodes: NodeDef) -> GraphDef:
    return GraphDef(node=list(nodes))


def _int_placeholder(name: str, shape) -> NodeDef:
    node = placeholder(name, shape)
    node.attr["dtype"].type = 3
    return node


def test_plan_two_inputs_image_first_float_rank4() -> None:
    graph = _graph(placeholder("features", (1, 10)), placeholder("pixels", (1, 8, 8, 1)),
                   op("a", "Mul", "features", "features"), op("b", "Relu", "pixels"))
    sig = signature(graph)
    plan = plan_feeds(sig, node_names={n.name for n in graph.node}, what="g.pb")
    assert [i.name for i in plan.inputs] == ["features", "pixels"]
    assert plan.image is not None and plan.image.name == "pixels" and plan.image.channels == 1
    assert plan.primary == plan.image


def test_plan_errors() -> None:
    graph = _graph(placeholder("x", (1, 4)), op("out", "Relu", "x"))
    sig = signature(graph)
    names = {n.name for n in graph.node}
    assert _message(lambda: plan_feeds(sig, node_names=names, what="g.pb", feeds=[Feed.parse("nope=1")])) == (
        "g.pb: --feed nope: no such node in the graph; pass a placeholder's name (the graph's inputs: x)")
    ids = _graph(_int_placeholder("ids", (1, 3)), placeholder("y", (1, 3)), op("out", "Add", "y", "y"))
    ids.node[2].input.append("^ids")
    isig = signature(ids)
    inames = {n.name for n in ids.node}
    assert _message(lambda: plan_feeds(isig, node_names=inames, what="g.pb", feeds=[Feed.parse("ids=0.5,1,2")])) == (
        "g.pb: --feed ids: ids takes int32, not fractions like 0.5; pass whole numbers")
    assert _message(lambda: plan_feeds(isig, node_names=inames, what="g.pb", feeds=[Feed.parse("ids=1,2")])) == (
        "g.pb: --feed ids=1,2: ids takes [1,3], not [2]; pass an array of that shape")
    # The batch dimension may be left out of a fed value.
    plan = plan_feeds(isig, node_names=inames, what="g.pb", feeds=[Feed.parse("ids=1,2,3")])
    assert plan.fixed["ids"].shape == (1, 3) and plan.fixed["ids"].dtype == np.int32


def test_concrete_shapes_and_random_values() -> None:
    rng = np.random.default_rng(0)
    image = FedInput("img", "float", (-1, -1, -1, 1), image=True)
    assert concrete_shape(image, size=(5, 6), what="g.pb") == (1, 5, 6, 1)
    assert concrete_shape(FedInput("img", "float", None, image=True), size=(5, 6), what="g.pb") == (1, 5, 6, 3)
    assert _message(lambda: concrete_shape(FedInput("v", "float", None, image=False), size=None, what="g.pb")) == (
        "g.pb: input 'v' declares no shape; pass it as --input v:SHAPE (e.g. 1,32)")
    assert _message(lambda: concrete_shape(FedInput("v", "float", (-1, -1), image=False), size=None, what="g.pb")) == (
        "g.pb: input 'v' has shape [?,?]; give the open dimensions with --input v:1,N")
    pixels = random_value(image, (1, 5, 6, 1), rng=rng, mean=127.5, std=127.5)
    assert pixels.dtype == np.float32 and -1 <= pixels.min() and pixels.max() <= 1
    ids = random_value(FedInput("ids", "int64", (1, 4), image=False), (1, 4), rng=rng, mean=0, std=1)
    assert ids.dtype == np.int64 and 0 <= ids.min() and ids.max() < 10
    flags = random_value(FedInput("b", "bool", (8,), image=False), (8,), rng=rng, mean=0, std=1)
    assert flags.dtype == bool
    assert random_value(FedInput("u", "uint8", (3,), image=False), (3,), rng=rng, mean=0, std=1).dtype == np.uint8
    assert _message(lambda: random_value(FedInput("s", "string", (1,), image=False), (1,), rng=rng, mean=0, std=1)) == (
        "input 's' takes string, which inspector cannot make up; pass it with --feed s=VALUE")


# --- photos to any channel count ------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_photo_decoded_to_the_inputs_channels(channels: int) -> None:
    batch = read_image(fixture_path(DAISY), size=(32, 24), mean=127.5, std=127.5, channels=channels)
    assert batch.shape == (1, 32, 24, channels) and batch.dtype == np.float32
    if channels == 4:
        assert np.allclose(batch[..., 3], 1.0)  # a JPEG is opaque: alpha 255, normalised
    if channels == 1:
        rgb = read_image(fixture_path(DAISY), size=(32, 24), mean=127.5, std=127.5)
        # Grayscale is the photo's luminance, not one of its channels.
        assert not np.allclose(batch[..., 0], rgb[..., 0]) and abs(batch.mean() - rgb.mean()) < 0.1


def test_photo_channel_errors(tmp_path: Path) -> None:
    assert _message(lambda: decode_image(b"x", size=(4, 4), mean=0, std=1, what="p.jpg", channels=6)) == (
        "p.jpg: a photo decodes to 1, 3 or 4 channels, not 6; feed a .npy array instead")
    item = FedInput("features", "float", (-1, 8, 8, 6), image=True)
    assert _message(lambda: image_value(fixture_path(DAISY), item, (1, 8, 8, 6), mean=0, std=1, what="g.pb")) == (
        f"{fixture_path(DAISY)}: g.pb's input 'features' takes 6 channels, and a photo has 1, 3 or 4; "
        "pass .npy files of shape [8,8,6] with --image, or leave --image out for random data")
    np.save(tmp_path / "x.npy", np.ones((8, 8, 6), np.float64))
    value = image_value(tmp_path / "x.npy", item, (1, 8, 8, 6), mean=0, std=1, what="g.pb")
    assert value.shape == (1, 8, 8, 6) and value.dtype == np.float32
    np.save(tmp_path / "bad.npy", np.ones((8, 8, 3), np.float32))
    assert _message(lambda: image_value(tmp_path / "bad.npy", item, (1, 8, 8, 6), mean=0, std=1, what="g.pb")) == (
        f"{tmp_path / 'bad.npy'}: holds an array of shape [1,8,8,3], but g.pb's input 'features' is fed [1,8,8,6]; "
        "save an array of that shape")


# --- runners: several inputs, feeds, samples --------------------------------------------------------


def _two_input_graph(tmp_path: Path) -> Path:
    """y = relu(pixels) summed, times a feature vector's sum: two model inputs, one of them an image."""
    from inspector.graph import tfcompat

    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        v1 = tf.compat.v1
        pixels = v1.placeholder(tf.float32, [None, 8, 8, 1], name="pixels")
        features = v1.placeholder(tf.float32, [None, 5], name="features")
        scale = v1.placeholder(tf.float32, [], name="scale")
        pooled = tf.reduce_sum(tf.nn.relu(pixels), axis=[1, 2])
        tf.identity(pooled * tf.reduce_sum(features, axis=1, keepdims=True) * scale, name="out")
    return write_graph(GraphDef.FromString(graph.as_graph_def().SerializeToString()), tmp_path / "two.pb")


def test_graph_runner_feeds_two_inputs_and_a_fed_scalar(tmp_path: Path) -> None:
    path = _two_input_graph(tmp_path)
    with GraphRunner(load_graph(path), feeds=["scale=2"]) as runner:
        assert [i.name for i in runner.plan.inputs] == ["pixels", "features"]
        assert runner.input_name == "pixels" and runner.input_size == (8, 8)
        (sample,) = samples(runner.plan, random_inputs=1, seed=4, size=(8, 8), mean=127.5, std=127.5, what="two.pb")
        out = runner.run(sample.feeds)
        expected = np.maximum(sample.feeds["pixels"], 0).sum() * sample.feeds["features"].sum() * 2
        assert np.isclose(out[0], expected, rtol=1e-5)
    # The same seed gives the same data; another seed other data.
    again = next(samples(runner.plan, random_inputs=1, seed=4, size=(8, 8), mean=0, std=1, what="x"))
    other = next(samples(runner.plan, random_inputs=1, seed=5, size=(8, 8), mean=0, std=1, what="x"))
    assert np.array_equal(again.feeds["features"], sample.feeds["features"])
    assert not np.array_equal(other.feeds["features"], sample.feeds["features"])


def test_unfed_scalar_with_no_known_value_is_asked_for(tmp_path: Path) -> None:
    path = _two_input_graph(tmp_path)
    assert _message(lambda: GraphRunner(load_graph(path))) == (
        f"{path}: scale (scalar, float []) must be fed and its value at inference cannot be read from the graph; "
        "pass --feed scale=VALUE")


def test_photos_need_an_image_input(tmp_path: Path) -> None:
    graph = _graph(placeholder("x", (1, 4)), op("out", "Relu", "x"))
    path = write_graph(graph, tmp_path / "mlp.pb")
    with GraphRunner(load_graph(path)) as runner:
        assert runner.plan.image is None and runner.input_size is None
        message = _message(lambda: list(samples(runner.plan, files=[fixture_path(DAISY)], size=None, mean=0, std=1, what="mlp.pb")))
    assert message == ("mlp.pb: no image input to feed photos to (its inputs: x float [1,4]); "
                       "leave --image out to run on random data, or feed inputs with --feed NAME=FILE.npy")


def test_pair_errors(tmp_path: Path) -> None:
    from inspector.run.inputs import image_size_for

    mlp = load_graph(write_graph(_graph(placeholder("x", (1, 4)), op("out", "Relu", "x")), tmp_path / "mlp.pb"))
    other = load_graph(write_graph(_graph(placeholder("y", (1, 4)), placeholder("z", (1, 4)), op("out", "Add", "y", "z")),
                                   tmp_path / "two.pb"))
    assert _message(lambda: graph_pair(mlp, mlp, input_names=None, output_names=None, feeds=["w=1"]).__enter__()) == (
        f"--feed w: neither {mlp.path} nor {mlp.path} has a node of that name; pass a placeholder's name "
        "(inspector summarize lists them)")
    assert _message(lambda: graph_pair(mlp, other, input_names=None, output_names=None).__enter__()) == (
        f"b ({other.path}): mismatched inputs: takes y, z where a ({mlp.path}) takes x; "
        "compare two versions of the same model, or name the inputs with --input")
    with GraphRunner(mlp) as runner:
        assert _message(lambda: image_size_for([runner], input_height=4, input_width=4)) == (
            f"{mlp.path}: --input_height/--input_width size an image input, and this graph has none "
            "(its inputs: x); give shapes with --input NAME:SHAPE")
    with GraphRunner(other) as runner:
        assert _message(lambda: runner.run({"q": np.zeros((1, 4), np.float32)})) == (
            f"{other.path}: no value for input 'y' (the other model has no such input); "
            "compare two versions of the same model, or feed it with --feed NAME=VALUE")


def test_input_option_gives_an_open_shape(tmp_path: Path) -> None:
    node = NodeDef(name="v", op="Placeholder", attr={"dtype": AttrValue(type=1)})
    path = write_graph(_graph(node, op("out", "Relu", "v")), tmp_path / "open.pb")
    with GraphRunner(load_graph(path), inputs=["v:2,3"]) as runner:
        (sample,) = samples(runner.plan, random_inputs=1, size=None, mean=0, std=1, what="open.pb")
        assert sample.feeds["v"].shape == (2, 3) and runner.run(sample.feeds).shape == (6,)


def test_compare_of_two_graphs_runs_nothing_to_feed(tmp_path: Path) -> None:
    from inspector.workflows.compare import compare

    graph = write_graph(_graph(placeholder("x", (1, 4)), op("out", "Relu", "x")), tmp_path / "g.pb")
    assert _message(lambda: compare(graph, graph, logdir=tmp_path / "logs", feeds=["x=1"], board=False)) == (
        "--input and --feed say what the verify of one optimized graph feeds; "
        "with two graphs nothing is run: use inspector verify A B --feed ...")
