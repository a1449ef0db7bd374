"""`inspector optimize --skip-pass` and the pass list in `optimize --help`; compare's one-graph mode takes the flag too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.graph.io import load_graph
from inspector.optimizer.passes import PASSES


def test_optimize_help_lists_every_pass_in_order(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["optimize", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--skip-pass NAME" in out
    listed = out.split("passes, in the order they run (--skip-pass NAME leaves one out):", 1)[1]
    lines = [line.split() for line in listed.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert [words[0] for words in lines] == [p.name for p in PASSES]
    for p, words in zip(PASSES, lines):
        assert " ".join(words[1:]) in p.summary  # the summary's first line, however the terminal wraps it


@pytest.mark.slow
def test_optimize_skip_pass_leaves_what_the_pass_would_fold_and_says_so(tmp_path: Path, small_graph_file, capsys):
    full, skipped = tmp_path / "full.pb", tmp_path / "skipped.pb"
    assert main(["optimize", str(small_graph_file), "--output", str(full)]) == 0
    capsys.readouterr()
    argv = ["optimize", str(small_graph_file), "--output", str(skipped), "--skip-pass", "fold_batch_norm"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if "fold_batch_norm" in line)
    assert "skipped: --skip-pass" in row
    # The batch norms stay as arithmetic beside the convolutions instead of going into their weights.
    assert len(load_graph(skipped).graph.node) > len(load_graph(full).graph.node)

    assert main([*argv, "--skip-pass", "simplify", "--json"]) == 0
    passes = {p["name"]: p for p in json.loads(capsys.readouterr().out)["optimize"]["passes"]}
    assert [name for name, p in passes.items() if p["skipped"]] == ["fold_batch_norm", "simplify"]
    assert passes["fold_batch_norm"]["removed"] == 0 and passes["remove_identity"]["skipped"] is None


@pytest.mark.slow
def test_unknown_pass_is_exit_2_and_writes_nothing(tmp_path: Path, small_graph_file, capsys):
    out = tmp_path / "o.pb"
    assert main(["optimize", str(small_graph_file), "--output", str(out), "--skip-pass", "nope"]) == 2
    names = ", ".join(p.name for p in PASSES)
    assert capsys.readouterr().err == f"error: --skip-pass 'nope': no such optimizer pass; pass one of {names}\n"
    assert not out.exists()


@pytest.mark.slow
def test_compare_one_graph_takes_skip_pass(tmp_path: Path, small_pair, capsys):
    a, b = small_pair
    target = tmp_path / "out" / "optimized_graph.pb"
    logs = tmp_path / "logs"
    argv = ["compare", str(a), "--output", str(target), "--logdir", str(logs), "--no-board", "--no-check"]
    assert main([*argv, "--skip-pass", "fold_batch_norm"]) == 0
    printed = capsys.readouterr().out
    assert "skipped: --skip-pass" in next(line for line in printed.splitlines() if "fold_batch_norm" in line)
    assert "agree within float32 rounding" in printed and target.is_file()

    assert main(["compare", str(a), str(b), "--logdir", str(logs), "--no-board", "--skip-pass", "simplify"]) == 2
    assert capsys.readouterr().err == (
        "error: --skip-pass leaves out a pass when one graph gets optimized; with two graphs nothing is optimized\n")
