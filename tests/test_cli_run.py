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
    assert err[-1].startswith("error: verify: a and b differ beyond 5 decimals on ")
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
    assert "agree to 5 decimals" in proc.stdout
