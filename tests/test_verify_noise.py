"""verify's float32 rule end to end: every fixture against what inspector makes of it passes, a real change fails, dropout is cut out on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REAL_GRAPHS, fixture_path
from inspector.cli import main
from inspector.graph.customcnn import CustomNames, custom_cnn
from inspector.graph.io import load_graph
from inspector.graph.samples import write_graph
from test_noise import DAISY_PHOTO, last_weights, scaled

pytestmark = pytest.mark.slow

# Graphs that declare no input shape (TF 1.x optimize_for_inference output): the size retrain.py trained at.
SIZE_FLAGS = {"poets_pair/optimized_graph.pb": ["--input_height", "128", "--input_width", "128"]}
# Training dropout still active: the original is random until its dropout is cut out, in optimize and verify alike.
DROPOUT = {"dropout_active/retrained_graph.pb"}


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _optimized(path: Path, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / f"optimized_{path.parent.name}_{path.name}"
    assert main(["optimize", str(path), "--output", str(out), *extra]) == 0
    return out


@pytest.mark.parametrize("relative", [path for path, *_ in REAL_GRAPHS])
def test_each_fixture_and_its_optimized_graph_pass_verify_on_100_random_inputs(relative: str, tmp_path: Path, capsys) -> None:
    graph = fixture_path(relative)
    dropout = ["--strip-dropout"] if relative in DROPOUT else []
    optimized = _optimized(graph, tmp_path, *dropout)
    capsys.readouterr()
    code, report = _json(["verify", str(graph), str(optimized), "--random", "100", *dropout, *SIZE_FLAGS.get(relative, [])], capsys)
    assert code == 0 and report["ok"], report["message"]
    assert report["rule"] == "noise" and report["reference"] == "a"
    assert len(report["inputs"]) == 100 and report["same_top_k"] == 100
    assert 0 < report["noise_floor"] < 1e-3
    # Every input judged against its own floor (measured: the optimizer's rounding stays under 0.51 of it, bench/bench_noise.py).
    assert all(c["agree"] and c["max_abs_diff"] < c["noise_floor"] for c in report["inputs"])
    assert 0 <= report["codelab_equal"] <= 100
    assert report["message"].startswith("a and b agree within float32 rounding on 100 random inputs (seed 0)")
    if dropout:
        assert any(n.startswith("a: training-mode dropout at ") and "cut out (--strip-dropout)" in n for n in report["notes"])


def test_rounding_that_five_decimals_would_call_a_change_passes(tmp_path: Path, capsys) -> None:
    # The cry-wolf case: reordered float32 arithmetic moves a probability past 5e-6, the top classes never move.
    graph = fixture_path("poets_tf2/retrained_graph.pb")
    optimized = _optimized(graph, tmp_path)
    capsys.readouterr()
    code, noise = _json(["verify", str(graph), str(optimized), "--random", "100"], capsys)
    assert code == 0 and noise["ok"] and noise["max_abs_diff"] > 5e-6
    code, fixed = _json(["verify", str(graph), str(optimized), "--random", "100", "--decimals", "5"], capsys)
    assert code == 1 and not fixed["ok"] and fixed["rule"] == "decimals" and fixed["noise_floor"] is None
    assert fixed["max_abs_diff"] == noise["max_abs_diff"] and fixed["same_top_k"] == 100
    assert "a and b differ beyond 5 decimals on" in fixed["message"]


@pytest.mark.parametrize("relative", ["poets_pair/retrained_graph.pb", "mobilenet_v1_0.25_128/frozen_graph.pb",
                                      "codelab_android/mobilenet_v3.pb"])
def test_one_weight_matrix_scaled_by_1_001_fails_on_the_daisy(relative: str, tmp_path: Path, capsys) -> None:
    path = fixture_path(relative)
    graph = load_graph(path).graph
    output = next(out for p, _, out, _ in REAL_GRAPHS if p == relative)
    changed = write_graph(scaled(graph, last_weights(graph, output), 1.001), tmp_path / "scaled.pb")
    code, report = _json(["verify", str(path), str(changed), "--image", str(fixture_path(DAISY_PHOTO))], capsys)
    assert code == 1 and not report["ok"] and report["rule"] == "noise"
    [daisy] = report["inputs"]
    # Well past the floor (the margin is the photo's: 4.4x to 5x on the fixtures' daisy, see test_noise.py).
    assert not daisy["agree"] and daisy["max_abs_diff"] > 3 * daisy["noise_floor"]
    assert daisy["source"] == str(fixture_path(DAISY_PHOTO))
    assert "a and b differ beyond float32 rounding on 1 of 1 image (largest difference" in report["message"]
    assert f"against a noise floor of {daisy['noise_floor']:.2g}, on {daisy['source']}" in report["message"]


def test_active_dropout_fails_as_random_and_names_the_flag(capsys) -> None:
    graph = fixture_path("dropout_active/retrained_graph.pb")
    code, report = _json(["verify", str(graph), str(graph), "--random", "2"], capsys)
    assert code == 1 and not report["self_consistent_a"]
    # A random graph's twin draws its own noise: no floor is claimed from it.
    assert report["rule"] == "decimals" and report["noise_floor"] is None
    assert f"a ({graph}) draws random values (final_training_ops/drop/dropout/random_uniform/RandomUniform), so its " \
           "rounding cannot be measured apart from them; judged to 5 decimals" in report["notes"]
    assert report["message"].endswith("Differences between the graphs say nothing about the optimizer; pass --strip-dropout "
                                      "to run both as at inference (the dropout cut out, as optimize --strip-dropout does), "
                                      "or export the graph for inference and verify again")
    code, report = _json(["verify", str(graph), str(graph), "--random", "2", "--strip-dropout"], capsys)
    assert code == 0 and report["ok"] and report["max_abs_diff"] == 0.0 and report["rule"] == "noise"


def test_strip_dropout_drops_the_feed_of_the_keep_probability_it_cut(tmp_path: Path, capsys) -> None:
    names = CustomNames(image="pixels", keep="kp", output="out")
    gray = write_graph(custom_cnn(channels=1, size=32, names=names), tmp_path / "gray.pb")
    code, report = _json(["verify", str(gray), str(gray), "--random", "2", "--feed", "kp=0.5", "--strip-dropout"], capsys)
    assert code == 0 and report["ok"] and report["b"]["input_names"] == ["pixels"]
    assert "--feed kp: not fed, the dropout it set was cut out (--strip-dropout)" in report["notes"]
    assert any(n.startswith("a: dropout at ") and "(set by kp) cut out (--strip-dropout): run as at inference, reading " in n
               for n in report["notes"]), report["notes"]
    # A feed naming nothing in either graph is still the user's mistake.
    assert main(["verify", str(gray), str(gray), "--feed", "nothing=1", "--strip-dropout"]) == 2
    assert "--feed nothing: neither" in capsys.readouterr().err
    # Nothing to cut is said, not silently ignored.
    plain = write_graph(custom_cnn(channels=1, size=32, names=names, dropout="none"), tmp_path / "plain.pb")
    code, report = _json(["verify", str(plain), str(plain), "--random", "1", "--strip-dropout"], capsys)
    assert code == 0 and "--strip-dropout: neither graph has a dropout to cut out" in report["notes"]
