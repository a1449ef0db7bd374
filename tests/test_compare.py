"""`inspector compare`, `board` and `demo` end to end: real runs, a real TensorBoard, stopped by pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, fixture_path, free_port
from helpers import get_bytes, get_json
from inspector.tb import board
from inspector.cli import main




def _node_names(pbtxt: bytes) -> set[str]:
    from google.protobuf import text_format
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    graph = text_format.Parse(pbtxt.decode("utf-8"), GraphDef())
    return {n.name for n in graph.node}


@pytest.mark.slow
def test_compare_real_pair_serves_both_runs_then_stop_leaves_nothing(tmp_path: Path, state: Path, capsys):
    a = fixture_path("poets_pair/retrained_graph.pb")
    b = fixture_path("poets_pair/optimized_graph.pb")
    logdir = tmp_path / "logs"
    port = free_port()
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--port", str(port)]) == 0
    out = capsys.readouterr().out
    assert "Identity" in out and "140" in out
    infos = board.status(state=state)
    assert len(infos) == 1
    info = infos[0]
    assert info.host == "127.0.0.1" and Path(info.logdir) == logdir.resolve()
    assert f"{info.url}#graph_diff&a=retrained&b=optimized" in out and f"{info.url}#graphs" in out

    runs = get_json(f"{info.url}data/plugin/graphs/info")
    assert {name: runs[name]["run_graph"] for name in ("retrained", "optimized")} == {"retrained": True, "optimized": True}
    from inspector.graph.io import load_graph

    for name, path, count in (("retrained", a, 560), ("optimized", b, 420)):
        served = _node_names(get_bytes(f"{info.url}data/plugin/graphs/graph?run={name}"))
        assert len(served) == count
        assert served == {n.name for n in load_graph(path).graph.node}

    # A second compare on the same logdir reuses the board instead of starting another.
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--port", str(port), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["board"]["reused"] is True and data["board"]["pid"] == info.pid
    assert data["diff"]["ops"][0] == {"op": "Identity", "a": 140, "b": 0, "delta": -140}
    # Each run dir holds one graph file: the second write replaced the first.
    assert len(list((logdir / "retrained").glob("*tfevents*"))) == 1

    assert main(["board", "stop"]) == 0
    assert "Stopped TensorBoard pid" in capsys.readouterr().out
    assert not Path(f"/proc/{info.pid}").exists()
    assert board.status(state=state) == ()
    assert main(["board", "stop"]) == 0
    assert "nothing to stop" in capsys.readouterr().out


def test_compare_no_board_writes_runs_with_clashing_stems(tmp_path: Path, small_pair, state: Path, capsys):
    a, b = small_pair
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    first, second = tmp_path / "v1" / "graph.pb", tmp_path / "v2" / "graph.pb"
    first.write_bytes(a.read_bytes())
    second.write_bytes(b.read_bytes())
    logdir = tmp_path / "logs"
    assert main(["compare", str(first), str(second), "--logdir", str(logdir), "--no-board", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in data["runs"]] == ["v1-graph", "v2-graph"]
    assert data["board"] is None
    assert sorted(p.name for p in logdir.iterdir()) == [".inspector", ".inspector-diff", "v1-graph", "v2-graph"]
    assert board.status(state=state) == ()


def test_compare_bad_input_writes_no_run(tmp_path: Path, small_pair, capsys):
    a, _ = small_pair
    bad = tmp_path / "optimized_graph.pb"
    bad.write_bytes(b"\xff\xd8\xff\xe0not really a jpeg")
    logdir = tmp_path / "logs"
    assert main(["compare", str(a), str(bad), "--logdir", str(logdir), "--no-board"]) == 2
    assert capsys.readouterr().err == f"error: {bad}: this is a JPEG image, not a TensorFlow GraphDef; pass a frozen graph (.pb)\n"
    assert not logdir.exists()


def test_tb_command_names_runs_after_files(tmp_path: Path, small_pair, capsys):
    a, b = small_pair
    logdir = tmp_path / "logs"
    assert main(["tb", str(a), str(b), "--logdir", str(logdir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == 2 and [r["run"] for r in data["runs"]] == ["retrained", "optimized"]
    assert main(["tb", str(a), str(b), "--logdir", str(logdir), "--run", "x"]) == 2
    assert "--run names one run" in capsys.readouterr().err


def test_tb_runs_without_tensorflow(tmp_path: Path, small_pair, no_tf_env):
    a, _ = small_pair
    proc = subprocess.run([sys.executable, "-m", "inspector", "tb", str(a), "--logdir", str(tmp_path / "logs")],
                          capture_output=True, text=True, env=no_tf_env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "logs" / "retrained").glob("*tfevents*"))


def test_board_start_failure_prints_one_error_line_and_the_log_tail(tmp_path: Path, state: Path, capsys, tensorboard_stand_in):
    tensorboard_stand_in("import sys\nprint('TensorBoard could not bind', file=sys.stderr)\nsys.exit(1)")
    assert main(["board", "start", str(tmp_path / "logs"), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: TensorBoard for ") and "exited with code 1" in err[0]
    assert err[1:] == ["    TensorBoard could not bind"]


def test_board_status_says_whether_each_board_answers(state: Path, capsys):
    """Two boards recorded as inspector's own: one silent, one stopped; the table and the JSON carry each one's health."""
    import signal
    import time

    from helpers import record_look_alike

    silent = record_look_alike(state, port=free_port(), logdir="/tmp/silent")
    stopped = record_look_alike(state, port=free_port(), logdir="/tmp/stopped")
    try:
        os.kill(stopped.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{stopped.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            assert time.monotonic() < deadline, "the look-alike did not stop"
            time.sleep(0.02)
        assert main(["board", "status", "--json"]) == 0
        listed = {b["pid"]: b["health"] for b in json.loads(capsys.readouterr().out)["boards"]}
        assert listed == {silent.pid: "not answering", stopped.pid: "stopped (SIGSTOP)"}
        assert main(["board", "status"]) == 0
        rows = [[c.strip() for c in line.replace("┃", "│").split("│")[1:-1]] for line in capsys.readouterr().out.splitlines()]
        table = {row[0]: row[4] for row in rows if len(row) == 5 and row[0]}  # not a folded logdir's next line
        assert table == {"pid": "health", str(silent.pid): "not answering", str(stopped.pid): "stopped (SIGSTOP)"}
    finally:
        for proc in (silent, stopped):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_board_status_and_stop_with_nothing_running(state: Path, capsys):
    assert main(["board", "status"]) == 0
    assert "No TensorBoard started by inspector is running." in capsys.readouterr().out
    assert main(["board", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"schema": 2, "boards": []}
    assert main(["board"]) == 2
    assert "name an action" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_quick_start_in_a_fresh_folder(tmp_path: Path, state: Path):
    """The README's first quick-start command, minus the install, in a subprocess."""
    exe = Path(sys.executable).parent / "inspector"
    env = dict(os.environ, INSPECTOR_STATE_DIR=str(state))
    proc = subprocess.run([str(exe), "demo", "--port", str(free_port())], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    try:
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "tf_files/demo/retrained_graph.pb").is_file()
        assert (tmp_path / "tf_files/demo/optimized_graph.pb").is_file()
        assert "batch norms folded into their layers" in proc.stdout
        assert "#graph_diff&a=retrained&b=optimized" in proc.stdout
        infos = board.status(state=state)
        assert len(infos) == 1
        assert get_json(f"{infos[0].url}data/plugin/graphs/info")["optimized"]["run_graph"] is True
    finally:
        board.stop(all=True, state=state)
