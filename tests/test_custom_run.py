"""Running the graphs people build themselves: verify, label, label_image and bench on TF1-style custom CNNs, names detected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import fixture_path
from inspector.cli import main
from inspector.codelab import label_image as codelab
from inspector.graph.customcnn import CustomNames, custom_cnn
from inspector.graph.samples import write_graph

DAISY = "flower_photos/daisy/3475870145_685a19116d.jpg"
# Names no rule could know: the placeholders are told by structure.
ODD = CustomNames(image="data_in", keep="p_hold", label="y_idx", flag="phase", output="scores")


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("custom")
    return {
        "gray": write_graph(custom_cnn(channels=1, size=64, names=ODD), folder / "gray.pb"),
        "six": write_graph(custom_cnn(channels=6, size=32, label=True, names=ODD), folder / "six.pb"),
        "flag": write_graph(custom_cnn(channels=3, size=32, training_flag=True, label=True, names=ODD), folder / "flag.pb"),
        "rgba": write_graph(custom_cnn(channels=4, size=24, dropout="rate", names=ODD), folder / "rgba.pb"),
    }


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(argv + ["--json"])
    return code, json.loads(capsys.readouterr().out)


def test_verify_grayscale_cnn_feeds_keep_prob_its_inference_value(graphs, capsys) -> None:
    code, report = _json(["verify", str(graphs["gray"]), str(graphs["gray"]), "--image", str(fixture_path(DAISY))], capsys)
    assert code == 0 and report["ok"]
    assert report["a"]["input_names"] == ["data_in"] and report["a"]["fixed"] == ["p_hold"]
    assert report["a"]["output_name"] == "scores" and report["input_size"] == [64, 64]
    assert any("fed p_hold = 1, the value it takes at inference as a dropout keep probability" in n for n in report["notes"])
    assert report["inputs"][0]["source"] == str(fixture_path(DAISY))


def test_label_grayscale_cnn_on_a_colour_photo(graphs, capsys) -> None:
    assert main(["label", "--graph", str(graphs["gray"]), "--image", str(fixture_path(DAISY)), "--top_k", "4"]) == 0
    captured = capsys.readouterr()
    assert "--input_layer=data_in --output_layer=scores --input_height=64 --input_width=64" in captured.err
    assert "fed p_hold = 1" in captured.err
    scores = [float(line.split("score=")[1].rstrip(")")) for line in captured.out.splitlines() if "score=" in line]
    assert len(scores) == 4 and abs(sum(scores) - 1) < 1e-3  # the 4-class softmax, all of it


def test_codelab_label_image_on_a_grayscale_cnn(graphs, capsys) -> None:
    assert codelab.main(["--graph", str(graphs["gray"]), "--image", str(fixture_path(DAISY))]) == 0
    captured = capsys.readouterr()
    assert "Evaluation time (1-image)" in captured.out and "--input_layer=data_in" in captured.err


def test_a_fed_keep_prob_changes_the_output(graphs, capsys) -> None:
    # keep_prob below 1 draws a dropout mask: each run differs, and verify blames the graph, not the optimizer.
    code = main(["verify", str(graphs["gray"]), str(graphs["gray"]), "--feed", "p_hold=0.5", "--random", "2"])
    assert code == 1 and "disagrees with itself" in capsys.readouterr().err


def test_six_channel_cnn_on_random_data_and_npy_files(graphs, tmp_path: Path, capsys) -> None:
    code, report = _json(["verify", str(graphs["six"]), str(graphs["six"]), "--random", "4"], capsys)
    assert code == 0 and report["ok"] and len(report["inputs"]) == 4
    assert report["a"]["input_names"] == ["data_in"] and report["a"]["output_name"] == "scores"
    # The label placeholder is training data: never fed, never listed.
    assert "y_idx" not in report["a"]["input_names"] + report["a"]["fixed"]
    folder = tmp_path / "features"
    (folder / "class_a").mkdir(parents=True)
    (folder / "class_b").mkdir()
    rng = np.random.default_rng(0)
    for sub in ("class_a", "class_b"):
        np.save(folder / sub / "1.npy", rng.normal(size=(32, 32, 6)).astype(np.float32))
    code, report = _json(["verify", str(graphs["six"]), str(graphs["six"]), "--images", str(folder)], capsys)
    assert code == 0 and [r["source"] for r in report["inputs"]] == ["class_a/1.npy", "class_b/1.npy"]


def test_six_channel_cnn_refuses_a_photo_with_advice(graphs, capsys) -> None:
    code = main(["label", "--graph", str(graphs["six"]), "--image", str(fixture_path(DAISY))])
    assert code == 2
    assert "takes 6 channels, and a photo has 1, 3 or 4; pass .npy files of shape [32,32,6]" in capsys.readouterr().err


def test_training_flag_is_fed_false_and_bench_runs(graphs, capsys) -> None:
    code, report = _json(["bench", str(graphs["flag"]), str(graphs["flag"]), "--runs", "3", "--warmup", "1"], capsys)
    assert code == 0 and report["a"]["input_name"] == "data_in"
    notes = " ".join(report["notes"])
    assert "fed phase = false, the value it takes at inference as a training flag" in notes
    assert "fed p_hold = 1" in notes


def test_every_command_names_inputs_and_outputs_with_the_same_keys(graphs, tmp_path: Path, capsys) -> None:
    flag = str(graphs["flag"])
    reports = {
        "bench": _json(["bench", flag, flag, "--runs", "2", "--warmup", "1"], capsys)[1]["a"],
        "export": _json(["export", flag, "--output", str(tmp_path / "flag.tflite"), "--random", "1", "--runs", "1"], capsys)[1],
        "check": _json(["check", flag], capsys)[1],
        "label": _json(["label", "--graph", flag, "--image", str(fixture_path(DAISY))], capsys)[1],
        "verify": _json(["verify", flag, flag, "--random", "1"], capsys)[1]["a"],
    }
    for command, report in reports.items():
        assert report["input_names"] == ["data_in"], command
    for command in ("export", "check", "label"):
        assert reports[command]["output_names"] == ["scores"], command
    assert reports["export"]["input_shapes"] == reports["check"]["input_shapes"] == [[1, 32, 32, 3]]


def test_rgba_input_takes_the_photo_with_alpha(graphs, capsys) -> None:
    code, result = _json(["label", "--graph", str(graphs["rgba"]), "--image", str(fixture_path(DAISY))], capsys)
    assert code == 0 and result["input_size"] == [24, 24] and result["input_name"] == "data_in"
    assert any("as a dropout rate" in n for n in result["notes"])


def test_explicit_input_and_feed_override(graphs, capsys) -> None:
    code, report = _json(["verify", str(graphs["gray"]), str(graphs["gray"]), "--input", "data_in:1,64,64,1",
                          "--feed", "p_hold=1.0", "--random", "1"], capsys)
    assert code == 0 and report["a"]["fixed"] == ["p_hold"]
    assert not any("fed p_hold" in n for n in report["notes"])  # given, so not said to be automatic


@pytest.mark.parametrize("name", ["gray", "six", "flag"])
def test_export_stores_settings_and_verifies_the_tflite(graphs, tmp_path: Path, capsys, name: str) -> None:
    tflite = tmp_path / f"{name}.tflite"
    code, report = _json(["export", str(graphs[name]), "--tflite", str(tflite), "--runs", "0"], capsys)
    assert code == 0 and report["verify"]["ok"] and tflite.stat().st_size == report["tflite_bytes"]
    notes = " ".join(report["notes"])
    assert "p_hold (a dropout keep probability) is stored as 1, its inference value" in notes
    assert "fed p_hold" not in notes  # said once, by the conversion
    if name == "flag":
        assert "phase (a training flag) is stored as false" in notes
    # check makes the very same file.
    code, verdict = _json(["check", str(graphs[name])], capsys)
    assert code == 0 and verdict["tflite_bytes"] == report["tflite_bytes"]


def test_export_with_a_fed_value_stores_it(graphs, tmp_path: Path, capsys) -> None:
    code, report = _json(["export", str(graphs["gray"]), "--tflite", str(tmp_path / "g.tflite"), "--runs", "0",
                          "--feed", "p_hold=1"], capsys)
    assert code == 0 and any("p_hold is stored as 1, the value given for it" in n for n in report["notes"])


def test_summarize_shows_settings_labels_and_what_was_left_out(graphs, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    assert main(["summarize", str(graphs["flag"])]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "p_hold float unknown shape (dropout keep probability; 1 at inference)" in text
    assert "phase bool [] (training flag; false at inference)" in text
    assert "reaches only the labels of" in text and "output │ scores (Softmax)" in text
    assert "accuracy (Mean): reads the label y_idx: a loss or a metric, which inference cannot compute" in text


def test_optimize_says_what_it_stored(graphs, tmp_path: Path, capsys) -> None:
    assert main(["optimize", str(graphs["flag"]), "--output", str(tmp_path / "o.pb")]) == 0
    captured = capsys.readouterr()
    err = " ".join((captured.out + captured.err).split())
    assert "stored at their inference values, no longer inputs: p_hold = 1, phase = false" in err
