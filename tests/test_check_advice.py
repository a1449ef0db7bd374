"""check names the placeholder or op really in the way, with advice that fits it; CLI notes say "detected" only of names found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import retrained_like
from inspector.cli import main
from inspector.errors import InspectorError
from inspector.graph.customcnn import CustomNames, custom_cnn
from inspector.graph.io import LoadedGraph, load_graph
from inspector.tflite.check import check
from tf_helpers import tf1_graph

pytestmark = pytest.mark.slow

# Names no rule could guess from: the builder's placeholders renamed.
ODD = CustomNames(image="q7", keep="zz_a", label="m", flag="k9", output="head")


def _features(tf, image):
    weights = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32))
    return tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(image, weights, 1, "SAME")), axis=[1, 2])


def _saved(tmp_path: Path, graph: GraphDef, name: str = "graph.pb") -> LoadedGraph:
    path = tmp_path / name
    path.write_bytes(graph.SerializeToString())
    return load_graph(path)


def test_a_model_input_left_out_is_named_not_called_a_select_op(tmp_path: Path) -> None:
    def two_images(tf, image):
        other = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="second")
        tf.nn.softmax(_features(tf, image) + _features(tf, other), name="scores")

    loaded = _saved(tmp_path, tf1_graph(two_images, input_name="px"))
    both = check(loaded)
    assert both.ok and both.input_names == ("px", "second") and both.issues == ()
    with pytest.raises(InspectorError) as info:
        check(loaded, input_names="px")
    assert info.value.exit_code == 2
    assert str(info.value) == (f"{loaded.path}: scores reads the placeholder 'second', which the inputs (px) leave out; "
                               "add it to --input_names, or store a value with --feed second=VALUE")
    stored = check(loaded, input_names="px", feeds=["second=0.5"])
    # One number fills the shape the placeholder declares.
    assert stored.ok and stored.input_names == ("px",) and stored.fixed == {"second": 0.5}


def test_a_shapeless_data_input_is_not_told_an_image_size(tmp_path: Path) -> None:
    def with_offsets(tf, image):
        offsets = tf.compat.v1.placeholder(tf.float32, None, name="offsets")  # no shape at all, and not a setting
        tf.nn.softmax(_features(tf, image) + offsets, name="scores")

    loaded = _saved(tmp_path, tf1_graph(with_offsets, input_name="px"))
    with pytest.raises(InspectorError) as info:
        check(loaded, input_height=8, input_width=8)
    message = str(info.value)
    assert message == (f"{loaded.path}: input 'offsets' declares no shape and is not the image input (px); "
                       "TensorFlow Lite needs a fixed shape: pass it as --input offsets:SHAPE (e.g. offsets:1,32)")
    assert "--input_height" not in message and "retrain.py" not in message
    # Given that way, it converts (a [1, 4] offset per class).
    verdict = check(loaded, inputs=["px", "offsets:1,4"])
    assert verdict.ok, verdict.message
    assert verdict.input_names == ("px", "offsets") and verdict.input_shapes == ((1, 8, 8, 3), (1, 4))


def test_the_shapeless_image_input_still_gets_the_image_size_advice(tmp_path: Path) -> None:
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    graph = retrained_like()
    graph.node[0].attr["shape"].shape.CopyFrom(TensorShapeProto(unknown_rank=True))
    loaded = _saved(tmp_path, graph, "optimized_graph.pb")
    with pytest.raises(InspectorError, match="declares no image size .*pass --input_height and --input_width"):
        check(loaded)
    assert check(loaded, input_height=16, input_width=16).input_shapes == ((1, 16, 16, 3),)


def test_a_scalar_setting_of_unknown_value_stays_an_input_of_the_tflite(tmp_path: Path) -> None:
    def with_temperature(tf, image):
        temperature = tf.compat.v1.placeholder(tf.float32, [], name="t0")
        tf.nn.softmax(_features(tf, image) / temperature, name="scores")

    verdict = check(_saved(tmp_path, tf1_graph(with_temperature, input_name="px")))
    assert verdict.ok, verdict.message
    assert verdict.input_names == ("px", "t0") and verdict.input_shapes == ((1, 8, 8, 3), ())
    assert verdict.fixed == {}
    (note,) = verdict.notes
    assert note.startswith("t0 (")
    assert note.endswith(") stays an input of the .tflite: its value at inference cannot be read from the graph, "
                         "so the app must feed it; --feed t0=VALUE stores one instead")


def test_a_value_given_is_stored_and_replaces_the_input(tmp_path: Path) -> None:
    loaded = _saved(tmp_path, custom_cnn(channels=6, size=16, names=ODD))
    verdict = check(loaded, input_names="q7", output_names="head", feeds={"zz_a:0": 1.0})
    assert verdict.ok, verdict.message
    assert verdict.input_names == ("q7",) and verdict.input_shapes == ((1, 16, 16, 6),)
    assert verdict.fixed == {"zz_a": 1.0} and verdict.issues == ()
    assert verdict.notes[0] == "zz_a is stored as 1, the value given for it: the .tflite does not take it as an input"
    assert verdict.to_json()["fixed"] == {"zz_a": 1.0}
    # Even when it was named as an input: the value wins.
    assert check(loaded, input_names="q7,zz_a", output_names="head", feeds={"zz_a": 1.0}).input_names == ("q7",)
    # As the command line gives it: --feed NAME=VALUE, or a .npy file.
    np.save(tmp_path / "keep.npy", np.float32(1.0))
    assert check(loaded, output_names="head", feeds=[f"zz_a={tmp_path / 'keep.npy'}"]).fixed == {"zz_a": 1.0}
    with pytest.raises(InspectorError) as info:
        check(loaded, output_names="head", feeds={"head": 1.0})
    assert str(info.value) == (f"{loaded.path}: cannot store 'head' as a constant: it is no placeholder of this graph; "
                               "give a value to one of its placeholders (q7, zz_a)")


def test_a_value_that_does_not_fit_its_placeholder_is_refused(tmp_path: Path) -> None:
    def with_mask(tf, image):
        mask = tf.compat.v1.placeholder(tf.float32, [1, 4], name="mask")
        steps = tf.compat.v1.placeholder(tf.int32, [], name="steps")
        tf.nn.softmax(_features(tf, image) * mask * tf.cast(steps, tf.float32), name="scores")

    loaded = _saved(tmp_path, tf1_graph(with_mask, input_name="px"))
    with pytest.raises(InspectorError) as info:
        check(loaded, feeds=["mask=1,2,3", "steps=2"])
    assert str(info.value) == f"{loaded.path}: --feed mask: it takes [1,4], not [3]; pass a value of that shape"
    with pytest.raises(InspectorError) as info:
        check(loaded, feeds={"mask": [1, 2, 3, 4], "steps": 2.5})
    assert str(info.value) == f"{loaded.path}: --feed steps: it takes int32, not fractions like 2.5; pass whole numbers"
    verdict = check(loaded, feeds={"mask": [1, 2, 3, 4], "steps": 2})
    assert verdict.ok and verdict.input_names == ("px",) and verdict.fixed["mask"].shape == (1, 4)


def test_a_loss_as_the_output_names_the_label_it_reads(tmp_path: Path) -> None:
    loaded = _saved(tmp_path, custom_cnn(channels=1, size=16, label=True, names=ODD))
    with pytest.raises(InspectorError) as info:
        check(loaded, output_names="cost", feeds={"zz_a": 1.0})
    assert str(info.value) == (f"{loaded.path}: cost reads the label placeholder 'm': a loss or a metric, which "
                               "inference cannot compute; pick the model's output with --output_names")


# --- "detected" only of names that were ------------------------------------------------------


@pytest.fixture(scope="module")
def small_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "retrained_graph.pb"
    path.write_bytes(retrained_like().SerializeToString())
    return path


@pytest.mark.parametrize("given,said", [
    ([], "note: detected --input_names=input --output_names=final_result"),
    (["--input_names", "input"], "note: detected --output_names=final_result"),
    (["--output_names", "final_result"], "note: detected --input_names=input"),
    (["--input_names", "input", "--output_names", "final_result"], None),
])
def test_optimize_says_detected_only_of_names_it_found(
    small_graph: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str], said: str | None
) -> None:
    assert main(["optimize", str(small_graph), "--output", str(tmp_path / "out.pb"), *given]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "detected" in line]
    assert notes == ([said] if said else [])


# --- custom CNNs: the settings they carry are stored at their inference values ----------------------------------


@pytest.mark.parametrize("form,options,fixed", [
    ("keep_prob", {}, {"zz_a": 1.0}),
    ("keep_prob", {"keep_shape": True}, {"zz_a": 1.0}),
    ("rate", {}, {"zz_a": 0.0}),
    ("keep_prob", {"training_flag": True, "label": True}, {"zz_a": 1.0, "k9": False}),
])
def test_custom_cnn_settings_are_stored_not_blamed(tmp_path: Path, form: str, options: dict, fixed: dict) -> None:
    loaded = _saved(tmp_path, custom_cnn(channels=6, size=16, dropout=form, names=ODD, **options))
    for given in (None, "q7"):
        verdict = check(loaded, input_names=given)
        assert verdict.ok, verdict.message
        assert verdict.input_names == ("q7",) and verdict.input_shapes == ((1, 16, 16, 6),)
        assert verdict.output_names == ("head",) and verdict.issues == ()
        assert verdict.fixed == fixed
        words = {"zz_a": "a dropout keep probability" if form == "keep_prob" else "a dropout rate", "k9": "a training flag"}
        assert verdict.notes == tuple(
            f"{name} ({words[name]}) is stored as {str(value).lower() if isinstance(value, bool) else f'{value:g}'}, "
            "its inference value: the .tflite does not take it as an input"
            for name, value in fixed.items()
        )
        text = " ".join((verdict.message, *verdict.notes))
        assert "--input_height" not in text and "retrain.py" not in text
        # A loss beside the output is not in the .tflite, so it is not among what the .tflite carries.
        assert all(f.op != "SoftmaxCrossEntropyWithLogits" for f in verdict.flags)


def test_keras_training_dropout_is_named_as_a_leftover_to_strip(tmp_path: Path) -> None:
    loaded = _saved(tmp_path, custom_cnn(channels=4, size=16, dropout="keras", names=ODD))
    verdict = check(loaded)
    assert not verdict.ok and verdict.flex_ops and verdict.issues
    assert ("only left from training: inspector optimize --strip-dropout removes them, then check that graph"
            in verdict.message)


def test_export_gives_check_advice_on_the_same_keras_dropout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = tmp_path / "keras.pb"
    graph.write_bytes(custom_cnn(channels=4, size=16, dropout="keras", names=ODD).SerializeToString())
    # --output as optimize spells it is the .tflite, not an abbreviation of --output_names.
    out = tmp_path / "keras.tflite"
    assert main(["export", str(graph), "--output", str(out), "--random", "1"]) == 1
    err = capsys.readouterr().err
    assert f"error: {graph}: TensorFlow Lite has no builtin for StatelessRandom" in err
    assert ("; they are only left from training: inspector optimize --strip-dropout removes them, then export that graph "
            "(--select_tf_ops would keep them, for the app to link)") in err
    assert not out.exists()
    stripped = tmp_path / "stripped.pb"
    assert main(["optimize", str(graph), "--strip-dropout", "--output", str(stripped)]) == 0
    assert main(["export", str(stripped), "--output_file", str(out), "--random", "1"]) == 0 and out.stat().st_size > 0


def test_check_command_line_stores_settings_and_takes_feed_and_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("COLUMNS", "200")
    graph = tmp_path / "six.pb"
    graph.write_bytes(custom_cnn(channels=6, size=16, label=True, names=ODD).SerializeToString())
    assert main(["check", str(graph)]) == 0
    captured = capsys.readouterr()
    assert "error:" not in captured.err and "--input_height" not in captured.out + captured.err
    assert ("note: zz_a (a dropout keep probability) is stored as 1, its inference value: the .tflite does not take it "
            "as an input") in captured.out
    assert main(["check", str(graph), "--input", "q7:1,16,16,6", "--feed", "zz_a=0.5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["input_names"] == ["q7"] and data["fixed"] == {"zz_a": 0.5}
    assert data["notes"] == ["zz_a is stored as 0.5, the value given for it: the .tflite does not take it as an input"]
