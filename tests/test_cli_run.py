"""`inspector label`, `verify` and `bench` through the CLI: exit codes, JSON, and the error line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builders import retrained_like
from conftest import DAISY, ROOT, fixture_path
from inspector.cli import main

pytestmark = pytest.mark.slow


def test_label_reads_names_and_size_from_the_graph(capsys):
    graph = fixture_path("mobilenet_v1_0.25_128/frozen_graph.pb")
    if not DAISY.exists():
        pytest.skip("daisy photo fixture not present")
    assert main(["label", "--graph", str(graph), "--image", str(DAISY), "--labels", str(graph.parent / "labels.txt")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("Evaluation time (1-image): ")
    assert lines[2].startswith("986:daisy (score=0.392")
    assert "--input_layer=input" in captured.err and "--input_height=128" in captured.err


def test_verify_small_pair_json_ok(small_pair, capsys):
    a, b = small_pair
    assert main(["verify", str(a), str(b), "--json", "--random", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and len(data["inputs"]) == 2


def test_verify_different_graphs_exit_1_with_one_error_line(tmp_path: Path, small_pair, capsys):
    a, _ = small_pair
    other = tmp_path / "other_graph.pb"
    other.write_bytes(retrained_like(seed=1).SerializeToString())
    assert main(["verify", str(a), str(other)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[-1].startswith("error: verify: a and b differ beyond float32 rounding on ")
    assert "DIFF" in captured.out


def test_verify_dropout_graph_names_the_graph_that_disagrees_with_itself(capsys):
    graph = fixture_path("dropout_active/retrained_graph.pb")
    assert main(["verify", str(graph), str(graph), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["self_consistent_a"] is False
    assert "disagrees with itself" in data["message"] and "RandomUniform" in data["message"]


def test_bench_small_pair_json(small_pair, capsys):
    a, b = small_pair
    assert main(["bench", str(a), str(b), "--runs", "5", "--warmup", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"] == 5 and data["a"]["median_ms"] > 0 and data["ratio"] > 0


def test_verify_bad_image_is_exit_2(tmp_path: Path, small_pair, capsys):
    a, b = small_pair
    fake = tmp_path / "photo.jpg"
    fake.write_text("not an image")
    assert main(["verify", str(a), str(b), "--image", str(fake)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {fake}")


def test_python_m_inspector_smoke(small_pair):
    a, b = small_pair
    proc = subprocess.run([sys.executable, "-m", "inspector", "verify", str(a), str(b), "--random", "1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "agree within float32 rounding" in proc.stdout


def test_optimize_takes_tensorflows_command_line(tmp_path: Path, small_graph_file, capsys):
    """The codelab's flags, spelled as for python -m tensorflow.python.tools.optimize_for_inference."""
    a = small_graph_file  # the pair's optimized_graph.pb is not inspector's to replace
    out = tmp_path / "optimized_graph.pb"
    argv = ["optimize", f"--input={a}", f"--output={out}", "--input_names=input", "--output_names=final_result",
            "--frozen_graph=True", "--placeholder_type_enum=1", "--toco_compatible=false"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Optimized for inference: 50 ->" in captured.out and f"Wrote {out}" in captured.out
    from inspector.graph.io import load_graph

    ops = {n.op for n in load_graph(out).graph.node}
    assert "Identity" not in ops and "Rsqrt" not in ops
    assert not any(op.startswith("_") for op in ops)


def test_optimize_detects_names_and_picks_the_codelab_output_name(tmp_path: Path, small_graph_file, capsys):
    a = small_graph_file  # the pair's optimized_graph.pb is not inspector's to replace
    assert main(["optimize", str(a), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["output"] == str(a.with_name("optimized_graph.pb"))
    assert data["optimize"]["detected"] is True
    assert data["optimize"]["input_names"] == ["input"] and data["optimize"]["output_names"] == ["final_result"]
    assert "note: detected --input_names=input --output_names=final_result" in captured.err


def test_optimize_refuses_to_overwrite_its_input(small_pair, capsys):
    a, _ = small_pair
    before = a.read_bytes()
    assert main(["optimize", "--input", str(a), "--output", str(a)]) == 2
    assert capsys.readouterr().err == f"error: {a}: --output is the input graph; write the optimized graph to another file\n"
    assert a.read_bytes() == before


def test_optimize_unknown_output_name_is_exit_2(tmp_path: Path, small_pair, capsys):
    a, _ = small_pair
    assert main(["optimize", str(a), "--output", str(tmp_path / "o.pb"), "--output_names", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope" in err and "\n" == err[-1] and err.count("\n") == 1
    assert not (tmp_path / "o.pb").exists()


def test_compare_one_graph_optimizes_and_verifies(tmp_path: Path, small_pair, capsys):
    a, _ = small_pair
    target = tmp_path / "out" / "optimized_graph.pb"
    assert main(["compare", str(a), "--output", str(target), "--logdir", str(tmp_path / "logs"), "--no-board", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert target.is_file()
    assert data["verify"]["ok"] is True
    assert [r["run"] for r in data["runs"]] == ["retrained", "optimized"]


def test_compare_one_dropout_graph_exits_1_naming_it(tmp_path: Path, capsys):
    graph = fixture_path("dropout_active/retrained_graph.pb")
    target = tmp_path / "optimized_graph.pb"
    assert main(["compare", str(graph), "--output", str(target), "--logdir", str(tmp_path / "logs"), "--no-board"]) == 1
    captured = capsys.readouterr()
    assert "training dropout is still active" in captured.err or "training dropout is still active" in captured.out
    assert captured.err.strip().splitlines()[-1].startswith("error: verify: a (")
    assert "disagrees with itself" in captured.err


def test_summarize_flags_dropout_without_tensorflow(no_tf_env):
    graph = fixture_path("dropout_active/retrained_graph.pb")
    proc = subprocess.run([sys.executable, "-m", "inspector", "summarize", str(graph), "--json"],
                          capture_output=True, text=True, env=no_tf_env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [i["name"] for i in data["inputs"]] == ["input"]
    assert any(f["kind"] == "dropout" for f in data["flags"])


def test_check_builtin_graph_is_0_and_flex_graph_is_1(tmp_path: Path, small_pair, capsys):
    from inspector.graph import tfcompat

    a, _ = small_pair
    assert main(["check", str(a)]) == 0
    assert "ok:" in capsys.readouterr().out
    # Its Dequantize computes from constants: export stores the result, so the .tflite is builtin-only.
    graph = fixture_path("mobilenet_v1_0.25_128/quantized_graph.pb")
    assert main(["check", str(graph)]) == 0
    captured = capsys.readouterr()
    assert "Dequantize" in captured.out and "error:" not in captured.err
    tf = tfcompat.tf()
    with tf.Graph().as_default() as built:
        image = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="input")
        tf.nn.softmax(tf.reduce_mean(tf.math.erf(image), axis=[1, 2]), name="final_result")  # Erf: Select ops only
    flex = tmp_path / "flex.pb"
    flex.write_bytes(tfcompat.from_tf(built.as_graph_def()).SerializeToString())
    assert main(["check", str(flex)]) == 1
    captured = capsys.readouterr()
    assert "Erf" in captured.out
    assert captured.err.strip().splitlines()[-1].startswith("error: check: needs TensorFlow Select ops for Erf")


def test_export_writes_a_verified_tflite(tmp_path: Path, small_pair, capsys):
    a, _ = small_pair
    out = tmp_path / "model.tflite"
    assert main(["export", str(a), "--tflite", str(out), "--runs", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert out.read_bytes()[4:8] == b"TFL3"
    assert data["ok"] is True and data["gzip_bytes"] > 0


def test_compare_shows_both_check_verdicts(tmp_path: Path, small_pair, capsys):
    a, b = small_pair
    assert main(["compare", str(a), str(b), "--logdir", str(tmp_path / "logs"), "--no-board", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["check"]["retrained"]["ok"] is True and data["check"]["optimized"]["ok"] is True
