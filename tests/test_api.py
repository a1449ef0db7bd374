"""The Python API: `import inspector` is light, and compare/diff/optimize/... run in-process and return JSON-able results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builders import retrained_like
from conftest import DAISY, ROOT, free_port

import inspector
from inspector.cli import main

# What `compare --json` prints, in this order: "verify" only with one graph, "check" only when it was asked for.
TWO_GRAPH_KEYS = ["runs", "diff", "text_summary", "board", "check"]
ONE_GRAPH_KEYS = ["runs", "diff", "text_summary", "board", "verify"]


def _without_event_files(data):
    """compare's JSON with event-file names (a timestamp each) and run folders (the logdir) left out."""
    if isinstance(data, dict):
        return {k: _without_event_files(v) for k, v in data.items() if k not in ("event_file", "run_dir", "replaced")}
    if isinstance(data, list):
        return [_without_event_files(v) for v in data]
    return data


def test_import_inspector_loads_neither_tensorflow_nor_rich():
    code = (
        "import sys, inspector\n"
        "inspector.compare, inspector.CompareResult, inspector.diff  # the lazy names resolve without them too\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'rich', 'keras')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        inspector.nope  # noqa: B018
    assert {"compare", "diff", "optimize", "verify", "CompareResult"} <= set(dir(inspector))


def test_diff_in_process(small_pair):
    a, b = small_pair
    diff = inspector.diff(a, b)
    assert (diff.a.label, diff.b.label) == ("retrained", "optimized")
    assert (diff.a.stats.nodes, diff.b.stats.nodes) == (50, 38)
    identity = next(row for row in diff.rows if row.op == "Identity")
    assert (identity.before, identity.after, identity.delta) == (12, 0, -12)
    assert len(diff.only_a) == 12 and diff.only_b == ()
    data = json.loads(json.dumps(diff.to_json()))
    assert data["totals"] == {"a": 50, "b": 38, "delta": -12}
    # A loaded graph works as well as a path, and names label the two sides.
    named = inspector.diff(inspector.load(a), b, names=("before", "after"))
    assert (named.a.label, named.b.label) == ("before", "after") and named.rows == diff.rows


def test_load_and_summarize_to_json(small_graph_file):
    loaded = inspector.load(small_graph_file)
    assert json.loads(json.dumps(loaded.to_json())) == {
        "path": str(small_graph_file), "format": "pb", "size_bytes": small_graph_file.stat().st_size, "nodes": 50,
    }
    summary = inspector.summarize(small_graph_file).to_json()
    assert [i["name"] for i in summary["inputs"]] == ["input"]
    assert json.dumps(summary)


def test_compare_two_graphs_in_process_matches_the_cli_json(tmp_path: Path, small_pair, capsys):
    a, b = small_pair
    result = inspector.compare(a, b, logdir=tmp_path / "logs", board=False, check=False)
    assert result.ok and result.names == ("retrained", "optimized")
    assert [r.nodes for r in result.runs] == [50, 38]
    assert all(r.event_file.is_file() for r in result.runs)
    assert result.diff.b.stats.nodes - result.diff.a.stats.nodes == -12
    assert result.board is None and result.board_error is None and result.diff_url is None
    assert result.verify is None and result.optimized is None and result.check is None
    assert result.text_summary.tag == "retrained -> optimized" and result.text_summary.event_file.is_file()
    data = json.loads(json.dumps(result.to_json()))
    assert list(data) == TWO_GRAPH_KEYS[:-1]  # no check asked for: no "check" key

    assert main(["compare", str(a), str(b), "--logdir", str(tmp_path / "cli-logs"), "--no-board", "--no-check", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed.pop("schema") == 2
    assert _without_event_files(printed) == _without_event_files(data)


def test_the_results_are_frozen(tmp_path: Path, small_pair):
    import dataclasses

    a, b = small_pair
    result = inspector.compare(a, b, logdir=tmp_path / "logs", board=False, check=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]


@pytest.mark.slow
def test_compare_with_the_tflite_check(tmp_path: Path, small_pair):
    a, b = small_pair
    result = inspector.compare(a, b, logdir=tmp_path / "logs", board=False)
    assert result.check is not None and result.check_note is None
    assert [v.ok for v in result.check] == [True, True]
    data = json.loads(json.dumps(result.to_json()))
    assert list(data) == TWO_GRAPH_KEYS
    assert set(data["check"]) == {"retrained", "optimized"} and data["check"]["optimized"]["ok"] is True


@pytest.mark.slow
def test_compare_one_graph_optimizes_and_verifies(tmp_path: Path, small_graph_file):
    target = tmp_path / "out" / "optimized_graph.pb"
    result = inspector.compare(small_graph_file, logdir=tmp_path / "logs", output=target, board=False, check=False)
    assert target.is_file() and result.output == target
    assert result.optimized is not None and result.optimized.nodes_before == 50
    assert result.optimized.nodes_after == result.runs[1].nodes < 50
    assert result.verify is not None and result.verify.ok and result.ok
    assert result.message == result.verify.message and "agree within float32 rounding" in result.message
    data = json.loads(json.dumps(result.to_json()))
    assert list(data) == ONE_GRAPH_KEYS
    assert data["verify"]["ok"] is True and [r["run"] for r in data["runs"]] == ["retrained", "optimized"]


@pytest.mark.slow
def test_compare_one_graph_with_a_bad_image_writes_nothing(tmp_path: Path, small_graph_file):
    fake = tmp_path / "photo.jpg"
    fake.write_text("not an image")
    target = tmp_path / "out" / "optimized_graph.pb"
    with pytest.raises(inspector.InspectorError, match="photo.jpg"):
        inspector.compare(small_graph_file, logdir=tmp_path / "logs", output=target, images=[fake], board=False)
    assert not target.exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_compare_one_graph_skips_a_pass(tmp_path: Path, small_graph_file):
    result = inspector.compare(small_graph_file, logdir=tmp_path / "logs", output=tmp_path / "o.pb", board=False,
                               check=False, skip=["remove_identity"])
    skipped = {p.name: p.skipped for p in result.optimized.passes if p.skipped}
    assert skipped == {"remove_identity": "--skip-pass"}
    assert result.ok


def test_names_and_options_that_cannot_apply_are_errors_before_anything_is_written(tmp_path: Path, small_pair):
    a, b = small_pair
    logs = tmp_path / "logs"
    def error(**call) -> str:
        with pytest.raises(inspector.InspectorError) as caught:
            inspector.compare(**call)
        return caught.value.message

    # One graph: the names are checked before the optimizer runs, so nothing is written.
    assert error(a=a, logdir=logs, output=tmp_path / "o.pb", names=("x", "x"), board=False) == (
        "--names gives both runs the name 'x'; pick two different names")
    assert error(a=a, b=b, logdir=logs, names=("x",), board=False) == (
        "--names takes two names (the graph before, the graph after), not ('x',)")
    assert error(a=a, b=b, logdir=logs, output=tmp_path / "o.pb", board=False) == (
        "--output is where one graph gets optimized to; with two graphs there is nothing to write")
    assert error(a=a, b=b, logdir=logs, skip=["simplify"], board=False) == (
        "--skip-pass leaves out a pass when one graph gets optimized; with two graphs nothing is optimized")
    assert not logs.exists() and not (tmp_path / "o.pb").exists()
    with pytest.raises(inspector.InspectorError, match="takes two names"):
        inspector.diff(a, b, names=["only one"])


@pytest.mark.slow
def test_optimize_in_memory_from_a_graph_a_path_or_into_a_file(tmp_path: Path, small_graph_file):
    from_graph = inspector.optimize(retrained_like())
    from_path = inspector.optimize(small_graph_file, skip=("fuse_resize_conv",))
    assert from_graph.nodes_before == from_path.nodes_before == 50
    assert from_graph.input_names == ("input",) and from_graph.detected
    assert [p.name for p in from_path.passes if p.skipped] == ["fuse_resize_conv"]
    assert json.dumps(from_path.to_json())
    out = tmp_path / "o.pb"
    written = inspector.optimize(small_graph_file, output=out)
    assert inspector.load(out).graph == written.graph
    with pytest.raises(inspector.InspectorError, match="no such optimizer pass"):
        inspector.optimize(small_graph_file, skip=["nope"])


@pytest.mark.slow
def test_verify_and_bench_in_process(small_pair):
    a, b = small_pair
    report = inspector.verify(a, inspector.load(b), random_inputs=1)
    assert report.ok and len(report.inputs) == 1 and json.dumps(report.to_json())
    timing = inspector.bench(a, b, runs=2, warmup=0)
    assert timing.runs == 2 and json.dumps(timing.to_json())


@pytest.mark.slow
def test_label_in_process(small_graph_file):
    if not DAISY.exists():
        pytest.skip("daisy photo fixture not present")
    result = inspector.label(small_graph_file, DAISY, top_k=2)
    assert result.input_name == "input" and len(result.top) == 2
    assert json.loads(json.dumps(result.to_json()))["image"] == str(DAISY)


def test_console_script_help():
    exe = Path(sys.executable).parent / "inspector"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "compare" in proc.stdout and "optimize" in proc.stdout


def test_python_m_inspector_version():
    proc = subprocess.run([sys.executable, "-m", "inspector", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"inspector {inspector.__version__}"


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path: Path, small_pair):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = text.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "tf_files").mkdir()
    for path in small_pair:
        (tmp_path / "tf_files" / path.name).write_bytes(path.read_bytes())
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "retrained: 50 nodes -> optimized: 38 nodes" in proc.stdout
    assert "Identity: 12 -> 0" in proc.stdout and "['retrained', 'optimized'] True" in proc.stdout
    assert list((tmp_path / "tf_files" / "training_summaries").iterdir())


def test_compare_with_a_board_returns_its_urls(tmp_path: Path, small_pair, state: Path, fake_tensorboard):
    a, b = small_pair
    port = free_port()
    result = inspector.compare(a, b, logdir=tmp_path / "logs", check=False, port=port, timeout=30)
    try:
        assert result.board is not None and result.board_error is None and not result.board.reused
        info = result.board.info
        assert info.port == port and Path(info.logdir) == (tmp_path / "logs").resolve()
        assert result.diff_url == f"{info.url}#graph_diff&a=retrained&b=optimized"
        assert result.graph_url == f"{info.url}#graphs"
        board = json.loads(json.dumps(result.to_json()))["board"]
        assert board["pid"] == info.pid and board["reused"] is False and board["diff_url"] == result.diff_url
    finally:
        from inspector.tb import board as boards

        boards.stop(all=True, state=state, timeout=5)


def test_a_board_that_does_not_start_is_the_results_error_and_the_clis_last_line(
        tmp_path: Path, small_pair, state: Path, tensorboard_stand_in, capsys):
    tensorboard_stand_in("import sys\nprint('TensorBoard could not bind', file=sys.stderr)\nsys.exit(1)")
    a, b = small_pair
    logs = tmp_path / "logs"
    result = inspector.compare(a, b, logdir=logs, check=False, port=free_port(), timeout=30)
    assert result.board is None and result.diff_url is None
    assert isinstance(result.board_error, inspector.InspectorError) and "exited with code 1" in result.board_error.message
    assert all(run.event_file.is_file() for run in result.runs)  # the runs and the diff are done all the same

    # The CLI prints the diff and the runs, then exits with the board's error line and the log's tail.
    assert main(["compare", str(a), str(b), "--logdir", str(logs), "--no-check", "--port", str(free_port())]) == 2
    captured = capsys.readouterr()
    assert "Identity" in captured.out and "run retrained ->" in captured.out and "TensorBoard not started" not in captured.out
    err = captured.err.splitlines()
    assert err[-2].startswith("error: TensorBoard for ") and err[-1] == "    TensorBoard could not bind"
