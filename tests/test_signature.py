"""Tests for inspector.graph.signature and inspector.graph.names: one answer on inputs, auxiliary placeholders, outputs and given names for every command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from builders import const, op, placeholder, retrained_like
from conftest import REAL_GRAPHS, fixture_path
from inspector.analysis.summary import summarize
from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph, load_graph
from inspector.graph.names import CODELAB_FLAGS, Resolver, tflite_input, tflite_output
from inspector.graph.signature import ENCODED, LABEL, MODEL, OPTIONAL, SCALAR, Signature, signature
from inspector.graph.stats import graph_stats
from inspector.optimizer.pipeline import detect_names
from inspector.run.runners import one_name

BOTTLENECK = "input_1/BottleneckInputPlaceholder"
INT32 = AttrValue(type=DataType.DT_INT32)


def _loaded(tmp_path: Path, graph: GraphDef, name: str = "graph.pb") -> LoadedGraph:
    path = tmp_path / name
    path.write_bytes(graph.SerializeToString())
    return load_graph(path)


def _left(sig: Signature) -> dict[str, str]:
    return {x.name: x.reason for x in sig.left_out}


def _int_placeholder(name: str, shape) -> NodeDef:
    node = placeholder(name, shape)
    node.attr["dtype"].type = DataType.DT_INT32
    return node


def _labelled(*, loss: bool = True) -> GraphDef:
    """x -> logits -> probabilities; a label y reshaped into a sink of its own and (``loss``) fed to a loss."""
    rng = np.random.default_rng(0)
    nodes = [
        placeholder("x", (1, 4)),
        _int_placeholder("y", (1,)),
        const("w", rng.normal(size=(4, 3)).astype(np.float32)),
        NodeDef(name="logits", op="MatMul", input=["x", "w"], attr={"T": AttrValue(type=DataType.DT_FLOAT)}),
        op("probabilities", "Softmax", "logits"),
        const("y_shape", np.array([-1, 1], dtype=np.int32)),
        NodeDef(name="y_reshaped", op="Reshape", input=["y", "y_shape"], attr={"T": INT32, "Tshape": INT32}),
    ]
    if loss:
        nodes += [
            NodeDef(name="xent", op="SparseSoftmaxCrossEntropyWithLogits", input=["logits", "y"],
                    attr={"T": AttrValue(type=DataType.DT_FLOAT), "Tlabels": INT32}),
            const("axis", np.array([0], dtype=np.int32)),
            NodeDef(name="loss", op="Mean", input=["xent", "axis"], attr={"T": AttrValue(type=DataType.DT_FLOAT), "Tidx": INT32}),
        ]
    return GraphDef(node=nodes)


def _with_predictions_branch(graph: GraphDef, logits: str, prefix: str) -> GraphDef:
    """The base model's softmax over ``logits``, reshaped back, left beside the retrained head (as MobileNet has it)."""
    out = GraphDef()
    out.CopyFrom(graph)
    out.node.extend([
        op(f"{prefix}/Softmax", "Softmax", logits),
        NodeDef(name=f"{prefix}/Shape", op="Shape", input=[logits],
                attr={"T": AttrValue(type=DataType.DT_FLOAT), "out_type": INT32}),
        NodeDef(name=f"{prefix}/Reshape_1", op="Reshape", input=[f"{prefix}/Softmax", f"{prefix}/Shape"],
                attr={"T": AttrValue(type=DataType.DT_FLOAT), "Tshape": INT32}),
    ])
    return out


# --- the real graphs -----------------------------------------------------------------------


@pytest.mark.parametrize("relative,input_name,output_name,nodes", REAL_GRAPHS, ids=[r[0] for r in REAL_GRAPHS])
def test_every_fixture(relative: str, input_name: str, output_name: str, nodes: int) -> None:
    loaded = load_graph(fixture_path(relative))
    sig = signature(loaded.graph)
    assert sig.input_names == (input_name,) and sig.output_names == (output_name,)
    (image,) = sig.inputs
    assert (image.role, image.op, image.dtype, image.channels) == (MODEL, "Placeholder", "float", None if image.shape is None else 3)
    assert sig.auxiliary == () and sig.left_out == ()
    if relative.startswith(("poets_", "dropout_active")):
        (optional,) = sig.optional
        assert (optional.name, optional.role, optional.needed) == (BOTTLENECK, OPTIONAL, True)
    else:
        assert sig.optional == ()
    # The commands read the same answer.
    summary = summarize(loaded)
    assert summary.inputs == sig.inputs and summary.outputs == sig.outputs
    stats = graph_stats(loaded.graph)
    assert stats.inputs == sig.inputs and stats.outputs == sig.output_names
    names = detect_names(loaded.graph)
    assert (names.inputs, names.outputs) == (sig.input_names, sig.output_names)
    json.dumps(sig.to_json())


@pytest.mark.slow
@pytest.mark.parametrize("relative,input_name,output_name,nodes", REAL_GRAPHS, ids=[r[0] for r in REAL_GRAPHS])
def test_every_fixture_runner_agrees(relative: str, input_name: str, output_name: str, nodes: int) -> None:
    from inspector.run.runners import GraphRunner

    with GraphRunner(load_graph(fixture_path(relative))) as runner:
        assert (runner.input_name, runner.output_name) == (input_name, output_name)
        assert runner.detected == {"input": input_name, "output": output_name}
        assert runner.input_spec is not None and runner.input_spec.decoded_from is None


# --- hand-built graphs (no TensorFlow) -----------------------------------------------------


def test_reshaped_label_is_no_output() -> None:
    """The custom CNN case: summarize and check listed the reshaped label as an output, optimize did not."""
    graph = _labelled()
    sig = signature(graph)
    assert sig.input_names == ("x",) and sig.output_names == ("probabilities",)
    (label,) = sig.auxiliary
    assert (label.name, label.role, label.dtype, label.needed) == ("y", LABEL, "int32", False)
    assert "reaches only the labels of xent (SparseSoftmaxCrossEntropyWithLogits)" in label.why
    left = _left(sig)
    assert left["y_reshaped"] == "reads the label y: a loss or a metric, which inference cannot compute"
    assert left["loss"] == "part of a loss or the training step"
    loaded = LoadedGraph(path=Path("cnn.pb"), graph=graph, size_bytes=graph.ByteSize(), format="pb")
    summary = summarize(loaded)
    assert [o.name for o in summary.outputs] == ["probabilities"] and [s.name for s in summary.inputs] == ["x"]
    assert [s.name for s in summary.auxiliary_inputs] == ["y"]
    assert {x["name"] for x in summary.to_json()["left_out"]} == {"y_reshaped", "loss"}
    assert detect_names(graph).outputs == ("probabilities",)


def test_without_a_loss_a_second_computation_is_ambiguous() -> None:
    graph = _labelled(loss=False)
    sig = signature(graph)
    assert sig.input_names == ("x", "y") and sig.output_names == ("probabilities", "y_reshaped") and sig.ambiguous
    with pytest.raises(InspectorError) as info:
        detect_names(graph, what="g.pb")
    assert info.value.message == "g.pb: several possible outputs (probabilities, y_reshaped); pick one with --output_names"
    # Naming the output settles the inputs it needs.
    assert detect_names(graph, output_names=["probabilities"]).inputs == ("x", "y")


def test_predictions_side_branch_is_left_out() -> None:
    graph = _with_predictions_branch(retrained_like(), "Net/Pool", "Net/Predictions")
    sig = signature(graph)
    assert sig.output_names == ("final_result",)
    assert _left(sig) == {"Net/Predictions/Reshape_1": "a side branch off final_result's computation (3 ops of its own, no weights)"}


def test_two_light_sinks_stay_ambiguous() -> None:
    """Softmax and ArgMax of the same logits: neither has weights of its own, so neither is a side branch of the other."""
    graph = retrained_like()
    graph.node.extend([NodeDef(name="classes", op="ArgMax", input=["final_training_ops/Wx_plus_b/add", "Net/Pool/reduction_indices"],
                               attr={"T": AttrValue(type=DataType.DT_FLOAT), "Tidx": INT32, "output_type": INT32})])
    assert signature(graph).output_names == ("final_result", "classes")
    with pytest.raises(InspectorError, match=r"several possible outputs \(final_result, classes\); pick one with --output_names"):
        Resolver(graph, what="g.pb").outputs()


def test_a_second_head_with_weights_stays_ambiguous() -> None:
    graph = retrained_like()
    graph.node.extend([
        const("other/weights", np.ones((8, 2), dtype=np.float32)),
        NodeDef(name="other/MatMul", op="MatMul", input=["Net/Pool", "other/weights"], attr={"T": AttrValue(type=DataType.DT_FLOAT)}),
        op("other/Softmax", "Softmax", "other/MatMul"),
    ])
    assert signature(graph).output_names == ("final_result", "other/Softmax")


def test_scalars_optional_and_unused_placeholders() -> None:
    boolean = AttrValue(type=DataType.DT_BOOL)
    graph = GraphDef(node=[
        placeholder("image", (1, 4)),
        placeholder("keep_prob", ()),
        placeholder("unused", (1, 4)),
        NodeDef(name="flag_default", op="Const", attr={"dtype": boolean, "value": AttrValue(tensor={"dtype": DataType.DT_BOOL, "bool_val": [False]})}),
        NodeDef(name="is_training", op="PlaceholderWithDefault", input=["flag_default"], attr={"dtype": boolean, "shape": AttrValue(shape={})}),
        op("scaled", "Mul", "image", "keep_prob"),
        op("out", "Softmax", "scaled"),
    ])
    sig = signature(graph)
    assert sig.input_names == ("image",) and sig.output_names == ("out",)
    (scalar,) = sig.auxiliary
    assert (scalar.name, scalar.role, scalar.shape, scalar.needed) == ("keep_prob", SCALAR, (), True)
    (optional,) = sig.optional
    assert (optional.name, optional.role, optional.needed) == ("is_training", OPTIONAL, False)
    assert _left(sig) == {"unused": "a placeholder no output depends on"}
    assert sig.spec("keep_prob") is scalar and sig.spec("nothing") is None


def test_training_leftovers_and_summaries_are_never_outputs() -> None:
    nodes = [
        placeholder("input", (1, 4)),
        NodeDef(name="w", op="VariableV2", attr={"dtype": AttrValue(type=DataType.DT_FLOAT)}),
        op("w/read", "Identity", "w"),
        op("mul", "Mul", "input", "w/read"),
        op("checked", "CheckNumerics", "mul"),
        op("final_result", "Softmax", "checked"),
        op("gradients/final_result_grad/SoftmaxGrad", "SoftmaxGrad", "final_result", "final_result"),
        NodeDef(name="train/update", op="ApplyGradientDescent", input=["w", "gradients/final_result_grad/SoftmaxGrad"]),
        NodeDef(name="train", op="NoOp", input=["^train/update"]),
        NodeDef(name="summaries/loss", op="ScalarSummary", input=["mul"]),
        NodeDef(name="save/SaveV2", op="SaveV2", input=["w"]),
    ]
    sig = signature(GraphDef(node=nodes))
    # The CheckNumerics in the chain and the variable behind its /read are still computed at inference.
    assert sig.input_names == ("input",) and sig.output_names == ("final_result",)
    assert _left(sig) == {
        "train": "part of a loss or the training step",
        "summaries/loss": "a ScalarSummary, never a model output",
        "save/SaveV2": "used only while training",
    }


def test_inception_style_decoded_image_by_structure() -> None:
    """DecodeJpeg/contents -> decode -> cast -> expand -> resize -> (x - 128) / 128 -> the network: its input is the scaled image."""
    graph = _inception_protos(size=24)
    sig = signature(graph)
    (image,) = sig.inputs
    assert (image.name, image.op, image.dtype, image.shape, image.channels) == ("preprocess/scaled", "Mul", "float", (1, 24, 24, 3), 3)
    assert image.decoded_from == "DecodeJpeg/contents" and "DecodeJpeg" in image.why
    (encoded,) = sig.auxiliary
    assert (encoded.name, encoded.role, encoded.dtype, encoded.shape, encoded.needed) == ("DecodeJpeg/contents", ENCODED, "string", (), False)
    assert sig.output_names == ("final_result",)
    assert detect_names(graph).inputs == ("preprocess/scaled",)


def test_decode_chain_that_forks_keeps_the_bytes_as_input() -> None:
    graph = _inception_protos(size=24)
    graph.node.extend([op("thumbnail", "Identity", "Cast")])  # the cast image read twice: no single chain to follow
    sig = signature(graph)
    assert sig.input_names == ("DecodeJpeg/contents",) and sig.inputs[0].dtype == "string"


def test_no_input_and_no_output_messages() -> None:
    with pytest.raises(InspectorError) as info:
        Resolver(GraphDef(node=[const("k", np.float32(1)), op("out", "Relu", "k")]), what="g.pb").inputs()
    assert info.value.message == "g.pb: found no input placeholder; pass the input with --input_names"
    graph = GraphDef(node=[placeholder("x", (1, 4)), const("c", np.float32(1)), op("c_read", "Identity", "c"), op("sq", "Square", "x"),
                           op("loop", "Add", "sq", "loop")])
    with pytest.raises(InspectorError) as info:
        Resolver(graph, what="g.pb", flags=CODELAB_FLAGS).outputs()
    assert info.value.message == "g.pb: found no output (c_read: computes nothing from the model's inputs (x)); pass it with --output_layer"
    scalar_only = GraphDef(node=[placeholder("keep", ()), op("out", "Relu", "keep")])
    with pytest.raises(InspectorError) as info:
        Resolver(scalar_only, what="g.pb").image_input()
    assert info.value.message == "g.pb: found no model input among its placeholders (keep (scalar)); pass the input with --input_names"


# --- names given by the user -------------------------------------------------------------------


def test_one_resolver_for_given_names() -> None:
    names = Resolver(retrained_like(), what="g.pb")
    assert names.inputs("input") == ("input",)
    assert names.inputs(["input:0"]) == ("input",)
    assert names.inputs("import/input, input") == ("input",)
    assert names.outputs("import/final_result:0") == ("final_result",)
    assert names.image_input(None) == "input" and names.output(None) == "final_result"
    with pytest.raises(InspectorError) as info:
        names.outputs(["final_reslt"])
    assert info.value.message == "g.pb: no node named 'final_reslt' (--output_names); did you mean 'final_result'?"
    with pytest.raises(InspectorError) as info:
        names.inputs(["nope", "gone"])
    assert info.value.message == ("g.pb: no node named 'nope', 'gone' (--input_names); this graph's input is 'input': "
                                  "pass --input_names input or leave --input_names out")
    with pytest.raises(InspectorError) as info:
        names.inputs("input:1")
    assert info.value.message == "g.pb: 'input:1' names a tensor, not a node; pass the node name to --input_names"
    with pytest.raises(InspectorError) as info:
        names.outputs(" , ")
    assert info.value.message == "g.pb: --output_names is empty; pass at least one node name"


def test_messages_use_the_callers_flags() -> None:
    names = Resolver(retrained_like(), what="g.pb", flags=CODELAB_FLAGS)
    with pytest.raises(InspectorError) as info:
        names.image_input("Mul")
    assert info.value.message == ("g.pb: no node named 'Mul' (--input_layer, the codelab's default for Inception v3); "
                                  "this graph's input is 'input': pass --input_layer input or leave --input_layer out")


def test_one_name() -> None:
    assert one_name(None, "--input_names") is None and one_name(" input ", "--input_names") == "input"
    with pytest.raises(InspectorError) as info:
        one_name(" ", "--input_names")
    assert info.value.message == "--input_names is empty; pass one node name, or leave --input_names out to read it from the graph"


def test_tflite_names() -> None:
    flag_in, flag_out = "--input_names", "--output_names"
    assert tflite_input({"x": "float32"}, None, what="m.tflite", flag=flag_in) == "x"
    assert tflite_input({"ids": "int32", "x": "float32"}, None, what="m.tflite", flag=flag_in) == "x"
    assert tflite_input({"x": "float32"}, "import/x:0", what="m.tflite", flag=flag_in) == "x"
    with pytest.raises(InspectorError) as info:
        tflite_input({"x": "float32", "y": "float32"}, None, what="m.tflite", flag=flag_in)
    assert info.value.message == "m.tflite: several model inputs (x, y); pick the image input with --input_names"
    with pytest.raises(InspectorError) as info:
        tflite_input({}, None, what="m.tflite", flag=flag_in)
    assert info.value.message == "m.tflite: found no input tensor; convert the model again"
    assert tflite_output(["final_result"], None, what="m.tflite", flag=flag_out) == "final_result"
    assert tflite_output(["a", "final_result"], None, what="m.tflite", flag=flag_out, source={"final_result"}) == "final_result"
    with pytest.raises(InspectorError) as info:
        tflite_output(["b", "a"], None, what="m.tflite", flag=flag_out)
    assert info.value.message == "m.tflite: several possible outputs (a, b); pick one with --output_names"
    with pytest.raises(InspectorError) as info:
        tflite_output([], None, what="m.tflite", flag=flag_out)
    assert info.value.message == "m.tflite: found no output tensor; convert the model again"
    with pytest.raises(InspectorError) as info:
        tflite_output(["a"], "c", what="m.tflite", flag="--output_layer")
    assert info.value.message == "m.tflite: no output tensor named 'c' (the model's outputs: a); pass one of them with --output_layer"


# --- generated graphs: every command gives the same answer -----------------------------------


def _agree(loaded: LoadedGraph, sig: Signature, *, convert: bool = True) -> None:
    """summarize, optimize's detect, the runner and check name the signature's inputs and output."""
    from inspector.run.runners import GraphRunner
    from inspector.tflite.check import check

    summary = summarize(loaded)
    assert summary.inputs == sig.inputs and summary.outputs == sig.outputs and summary.auxiliary_inputs == sig.auxiliary
    names = detect_names(loaded.graph)
    assert (names.inputs, names.outputs) == (sig.input_names, sig.output_names)
    with GraphRunner(loaded) as runner:
        assert ((runner.input_name,), (runner.output_name,)) == (sig.input_names, sig.output_names)
    if convert:
        verdict = check(loaded)
        # Auxiliaries with an inference value are stored as it; only those without one stay inputs.
        fed = tuple(s.name for s in sig.unfed)
        assert verdict.input_names == sig.input_names + fed and verdict.output_names == sig.output_names
        assert verdict.ok, verdict.message


@pytest.mark.slow
def test_tf1_cnn_with_keep_prob_labels_loss_and_metric(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, _tf1_cnn())
    sig = signature(loaded.graph)
    assert sig.input_names == ("x",) and sig.output_names == ("probabilities",)
    assert [(s.name, s.role, s.needed) for s in sig.auxiliary] == [("keep_prob", SCALAR, True), ("y", LABEL, False)]
    left = _left(sig)
    assert left["accuracy"] == "reads the label y: a loss or a metric, which inference cannot compute"
    assert left["labels_reshaped"] == "reads the label y: a loss or a metric, which inference cannot compute"
    assert left["fc/weights_update"] == "part of a loss or the training step"
    # The loss's summary is downstream of the loss: training side, whatever its op.
    assert [x.reason for x in sig.left_out if x.op == "ScalarSummary"] == ["part of a loss or the training step"]
    _agree(loaded, sig)


@pytest.mark.slow
def test_tf1_training_graph_with_variables() -> None:
    """Not frozen: variables, an optimizer step and a saver; the forward pass still reads the variables."""
    sig = signature(_tf1_cnn(variables=True))
    assert sig.input_names == ("x",) and sig.output_names == ("probabilities",)
    assert [s.name for s in sig.auxiliary] == ["keep_prob", "y"]
    reasons = set(_left(sig).values())
    assert "used only while training" in reasons or "part of a loss or the training step" in reasons


@pytest.mark.slow
def test_retrained_graph_with_the_base_models_predictions(tmp_path: Path) -> None:
    from inspector.graph.samples import retrain_shaped_mobilenet

    graph = _with_predictions_branch(retrain_shaped_mobilenet(blocks=1), "MobilenetV1/Predictions/Reshape", "MobilenetV1/Predictions")
    loaded = _loaded(tmp_path, graph, "retrained_graph.pb")
    sig = signature(graph)
    assert sig.input_names == ("input",) and sig.output_names == ("final_result",)
    assert _left(sig) == {
        "MobilenetV1/Predictions/Reshape_1": "a side branch off final_result's computation (3 ops of its own, no weights)"
    }
    _agree(loaded, sig)


@pytest.mark.slow
def test_inception_style_graph_every_command(tmp_path: Path) -> None:
    from inspector.graph.tfcompat import tf
    from inspector.optimizer.pipeline import optimize
    from inspector.run.label import INCEPTION_MEAN, label_image

    graph = _inception_tf(size=24)
    loaded = _loaded(tmp_path, graph, "inception_graph.pb")
    sig = signature(graph)
    assert sig.input_names == ("preprocess/scaled",) and sig.inputs[0].decoded_from == "DecodeJpeg/contents"
    assert sig.output_names == ("final_result",) and [s.name for s in sig.optional] == ["input/BottleneckInputPlaceholder"]
    _agree(loaded, sig)
    result = optimize(graph)
    assert result.input_names == ("preprocess/scaled",)
    assert next(n for n in result.graph.node if n.name == "preprocess/scaled").op == "Placeholder"
    photo = tmp_path / "photo.png"
    photo.write_bytes(tf().io.encode_png(np.zeros((30, 30, 3), dtype=np.uint8)).numpy())
    labelled = label_image(loaded, photo)
    assert labelled.input_name == "preprocess/scaled" and labelled.input_mean == INCEPTION_MEAN
    # Naming the bytes placeholder says which tensor to feed instead.
    from inspector.run.runners import GraphRunner

    with pytest.raises(InspectorError) as info:
        GraphRunner(loaded, input_name="DecodeJpeg/contents", what="g.pb")
    assert info.value.message == ("g.pb: input 'DecodeJpeg/contents' takes string, not a float image; pass the float image "
                                  "tensor with --input_names (the image decoded from it is 'preprocess/scaled')")


@pytest.mark.slow
def test_keras_graph(tmp_path: Path) -> None:
    from inspector.graph.samples import keras_conv_bn

    graph = keras_conv_bn()
    sig = signature(graph)
    assert sig.input_names == ("input",) and len(sig.outputs) == 1 and sig.auxiliary == ()
    _agree(_loaded(tmp_path, graph), sig)


# --- builders ----------------------------------------------------------------------------------


def _inception_protos(*, size: int) -> GraphDef:
    f32 = AttrValue(type=DataType.DT_FLOAT)
    contents = NodeDef(name="DecodeJpeg/contents", op="Placeholder",
                       attr={"dtype": AttrValue(type=DataType.DT_STRING), "shape": AttrValue(shape={})})
    rng = np.random.default_rng(0)
    return GraphDef(node=[
        contents,
        NodeDef(name="DecodeJpeg", op="DecodeJpeg", input=["DecodeJpeg/contents"], attr={"channels": AttrValue(i=3)}),
        NodeDef(name="Cast", op="Cast", input=["DecodeJpeg"], attr={"SrcT": AttrValue(type=DataType.DT_UINT8), "DstT": f32}),
        const("ExpandDims/dim", np.array(0, dtype=np.int32)),
        NodeDef(name="ExpandDims", op="ExpandDims", input=["Cast", "ExpandDims/dim"], attr={"T": f32, "Tdim": INT32}),
        const("ResizeBilinear/size", np.array([size, size], dtype=np.int32)),
        NodeDef(name="ResizeBilinear", op="ResizeBilinear", input=["ExpandDims", "ResizeBilinear/size"], attr={"T": f32}),
        const("Sub/y", np.float32(128)),
        op("Sub", "Sub", "ResizeBilinear", "Sub/y"),
        const("preprocess/scale", np.float32(1 / 128)),
        op("preprocess/scaled", "Mul", "Sub", "preprocess/scale"),
        const("conv/weights", rng.normal(size=(3, 3, 3, 4)).astype(np.float32)),
        NodeDef(name="conv/Conv2D", op="Conv2D", input=["preprocess/scaled", "conv/weights"],
                attr={"T": f32, "strides": AttrValue(list=AttrValue.ListValue(i=[1, 1, 1, 1])), "padding": AttrValue(s=b"SAME")}),
        const("pool/axes", np.array([1, 2], dtype=np.int32)),
        NodeDef(name="pool", op="Mean", input=["conv/Conv2D", "pool/axes"], attr={"T": f32, "Tidx": INT32}),
        const("fc/weights", rng.normal(size=(4, 3)).astype(np.float32)),
        NodeDef(name="fc/MatMul", op="MatMul", input=["pool", "fc/weights"], attr={"T": f32}),
        op("final_result", "Softmax", "fc/MatMul"),
    ])


def _inception_tf(*, size: int) -> GraphDef:
    """retrain.py's Inception v3 layout in TensorFlow: JPEG bytes in, a bottleneck PlaceholderWithDefault, final_result."""
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    v1 = tensorflow.compat.v1
    raw = tensorflow.raw_ops
    rng = np.random.default_rng(0)
    with tensorflow.Graph().as_default() as graph:
        contents = v1.placeholder(tensorflow.string, [], name="DecodeJpeg/contents")
        image = raw.DecodeJpeg(contents=contents, channels=3, name="DecodeJpeg")
        cast = raw.Cast(x=image, DstT=tensorflow.float32, name="Cast")
        batch = raw.ExpandDims(input=cast, axis=tensorflow.constant(0, name="ExpandDims/dim"), name="ExpandDims")
        resized = raw.ResizeBilinear(images=batch, size=tensorflow.constant([size, size], name="ResizeBilinear/size"), name="ResizeBilinear")
        centred = raw.Sub(x=resized, y=tensorflow.constant(128.0, name="Sub/y"), name="Sub")
        scaled = raw.Mul(x=centred, y=tensorflow.constant(1 / 128, name="preprocess/scale"), name="preprocess/scaled")
        weights = tensorflow.constant(rng.normal(size=(3, 3, 3, 4)).astype(np.float32), name="conv/weights")
        conv = raw.Conv2D(input=scaled, filter=weights, strides=[1, 1, 1, 1], padding="SAME", name="conv/Conv2D")
        pooled = raw.Mean(input=conv, axis=tensorflow.constant([1, 2], name="pool_3/axes"), name="pool_3")
        bottleneck = v1.placeholder_with_default(pooled, [None, 4], name="input/BottleneckInputPlaceholder")
        head = tensorflow.constant(rng.normal(size=(4, 3)).astype(np.float32), name="final_training_ops/weights")
        raw.Softmax(logits=raw.MatMul(a=bottleneck, b=head, name="final_training_ops/MatMul"), name="final_result")
    return from_tf(graph.as_graph_def())


def _tf1_cnn(*, variables: bool = False) -> GraphDef:
    """A TF1 tutorial CNN: x, a keep_prob scalar, int labels y into SparseSoftmaxCrossEntropyWithLogits, accuracy, a summary."""
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    v1 = tensorflow.compat.v1
    rng = np.random.default_rng(0)
    with tensorflow.Graph().as_default() as graph:
        x = v1.placeholder(tensorflow.float32, [None, 8, 8, 3], name="x")
        keep_prob = v1.placeholder(tensorflow.float32, [], name="keep_prob")
        y = v1.placeholder(tensorflow.int64, [None], name="y")

        def weight(name: str, shape: tuple[int, ...]):
            value = rng.normal(0.0, 0.1, size=shape).astype(np.float32)
            return v1.Variable(value, name=name, use_resource=False) if variables else tensorflow.constant(value, name=name)

        w1 = weight("conv/weights", (3, 3, 3, 4))
        hidden = tensorflow.nn.relu(tensorflow.nn.conv2d(x, w1, 1, "SAME"), name="conv/relu")
        pooled = tensorflow.reduce_mean(hidden, axis=[1, 2], name="pool")
        dropped = v1.nn.dropout(pooled, keep_prob=keep_prob)
        w2 = weight("fc/weights", (4, 3))
        logits = tensorflow.matmul(dropped, w2, name="logits")
        tensorflow.nn.softmax(logits, name="probabilities")
        xent = tensorflow.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        loss = tensorflow.reduce_mean(xent, name="loss")
        v1.summary.scalar("loss", loss)
        correct = tensorflow.equal(tensorflow.argmax(logits, 1), y)
        tensorflow.reduce_mean(tensorflow.cast(correct, tensorflow.float32), name="accuracy")
        tensorflow.reshape(y, [-1, 1], name="labels_reshaped")
        if variables:
            v1.train.GradientDescentOptimizer(0.1).minimize(loss, name="train")
            v1.train.Saver()
        else:
            (grad,) = v1.gradients(loss, [w2])
            tensorflow.subtract(w2, 0.1 * grad, name="fc/weights_update")
    return from_tf(graph.as_graph_def())
