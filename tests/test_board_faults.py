"""Issue #5, part 4: TensorBoard faults, through the CLI (`inspector board ...`) rather than the library.

tests/test_board.py covers inspector.tb.board itself; these run `main(["board", ...])`
with INSPECTOR_STATE_DIR pointing at a temp folder (the `state` fixture) and check
what a person sees: the exit code, the one `error:` line and its indented log
tail, the notes and warnings, and that no one else's process is touched. A
stand-in server answers like TensorBoard in milliseconds; one test starts the
real TensorBoard (~3 s).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port
from helpers import alive, get_json, hold_ports, http_get, spawn_sleep, tb_cmdline, write_info
from inspector.cli import main
from inspector.tb import board


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def other_program_on_a_port() -> tuple[subprocess.Popen, int]:
    """Another program (not inspector's) that listens on a port: python's http.server."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        assert proc.poll() is None and time.monotonic() < deadline, "http.server did not start"
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def answers(port: int) -> bool:
    return http_get(f"http://127.0.0.1:{port}/", timeout=5)[0] == 200


# --- fast: the stand-in server ---------------------------------------------------


@pytest.mark.usefixtures("fake_tensorboard")
def test_port_taken_by_another_program_moves_on_and_leaves_it_alone(state: Path, tmp_path: Path, capsys):
    other, port = other_program_on_a_port()
    try:
        code, out, err = run(capsys, "board", "start", str(tmp_path / "logs"), "--port", str(port))
        assert code == 0, err
        (info,) = board.status()
        assert info.port != port
        assert f"note: port {port} is taken; using {info.port}" in err
        assert f"Started TensorBoard (pid {info.pid}) on http://127.0.0.1:{info.port}/ for {tmp_path / 'logs'}" in out
        # The other program still runs and still answers on its port.
        assert other.poll() is None and answers(port)
        code, out, err = run(capsys, "board", "stop")
        assert code == 0 and f"Stopped TensorBoard pid {info.pid}" in out
        assert other.poll() is None and answers(port)
    finally:
        stop_process(other)


@pytest.mark.usefixtures("fake_tensorboard")
def test_port_taken_and_no_free_one_says_why(state: Path, tmp_path: Path, capsys):
    other, port = other_program_on_a_port()
    try:
        with hold_ports(100, first=port + 1):  # the ports start() tries after the taken one
            code, out, err = run(capsys, "board", "start", str(tmp_path / "logs"), "--port", str(port))
        assert code == 2
        assert err == (
            f"error: ports {port}-{port + 100} on 127.0.0.1 are all taken; pass --port with a free port "
            "or stop boards you no longer need\n"
        )
        assert other.poll() is None and answers(port)
        assert list(state.glob("board-*.json")) == []
    finally:
        stop_process(other)


def test_tensorboard_dying_right_after_start_shows_its_log_tail(state: Path, tmp_path: Path, capsys, tensorboard_stand_in):
    tensorboard_stand_in("import sys\nprint('E0 TensorBoard cannot bind', flush=True)\nfor i in range(15): print(f'log line {i}')\nsys.exit(1)")
    exit_code, out, err = run(capsys, "board", "start", str(tmp_path / "logs"), "--port", str(free_port()))
    assert exit_code == 2
    lines = err.splitlines()
    assert lines[0].startswith(f"error: TensorBoard for {(tmp_path / 'logs').resolve()} exited with code 1 before it answered on ")
    assert "fix what its log reports (full log: " in lines[0]
    # The log's last lines, indented under the error.
    assert lines[1:] == [f"    log line {i}" for i in range(5, 15)]
    assert "Traceback" not in err
    assert board.status() == ()
    assert list(state.glob("board-*.json")) == []


def test_stale_info_file_from_a_dead_process(state: Path, capsys):
    dead = subprocess.Popen(["true"])
    dead.wait()
    info_file = write_info(state, pid=dead.pid, port=6006, cmdline=tb_cmdline(6006))
    code, out, err = run(capsys, "board", "status")
    assert (code, err) == (0, "")
    assert out == "No TensorBoard started by inspector is running.\n"
    assert not info_file.exists()

    write_info(state, pid=dead.pid, port=6006, cmdline=tb_cmdline(6006))
    code, out, err = run(capsys, "board", "stop")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Removed 1 stale record(s) of TensorBoards that had already exited.",
        "No TensorBoard started by inspector is running; nothing to stop.",
    ]
    assert list(state.glob("board-*")) == []


def test_recorded_pid_now_another_program_is_not_killed(state: Path, capsys):
    other = spawn_sleep()
    try:
        info_file = write_info(state, pid=other.pid, port=6006, cmdline=tb_cmdline(6006))
        code, out, err = run(capsys, "board", "status", "--json")
        assert (code, json.loads(out)) == (0, [])
        assert not info_file.exists()
        for argv in (["board", "stop"], ["board", "stop", "--all"], ["board", "stop", "--port", "6006"]):
            write_info(state, pid=other.pid, port=6006, cmdline=tb_cmdline(6006))
            code, out, err = run(capsys, *argv)
            assert code == 0 and err == ""
            assert "Stopped" not in out
            assert "nothing to stop" in out
            time.sleep(0.1)
            assert other.poll() is None, f"{argv} signalled a process that is not TensorBoard"
        assert alive(other.pid)
    finally:
        other.kill()
        other.wait()


def test_stop_with_nothing_running(state: Path, capsys):
    assert run(capsys, "board", "stop") == (0, "No TensorBoard started by inspector is running; nothing to stop.\n", "")
    assert run(capsys, "board", "stop", "--json") == (0, json.dumps({"stopped": [], "stale_removed": []}, indent=2) + "\n", "")
    assert run(capsys, "board", "status") == (0, "No TensorBoard started by inspector is running.\n", "")
    assert not state.exists() or list(state.iterdir()) == []


@pytest.mark.usefixtures("fake_tensorboard")
def test_logdir_that_does_not_exist_yet_is_created(state: Path, tmp_path: Path, capsys):
    logdir = tmp_path / "not" / "yet" / "there"
    code, out, err = run(capsys, "board", "start", str(logdir), "--port", str(free_port()), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert logdir.is_dir() and data["logdir"] == str(logdir.resolve())
    assert data["host"] == "127.0.0.1" and data["url"].startswith("http://127.0.0.1:")
    assert data["warnings"] == [] and data["reused"] is False
    assert get_json(data["url"] + "data/logdir") == {"logdir": str(logdir.resolve())}
    # Asked again: the same board is reused, not a second one started.
    code, out, err = run(capsys, "board", "start", str(logdir), "--port", str(data["port"]))
    assert code == 0 and f"Reusing TensorBoard (pid {data['pid']})" in out
    assert len(board.status()) == 1


@pytest.mark.usefixtures("fake_tensorboard")
def test_default_bind_is_loopback_and_bind_all_warns(state: Path, tmp_path: Path, capsys):
    code, out, err = run(capsys, "board", "start", str(tmp_path / "a"), "--port", str(free_port()))
    assert code == 0 and "warning" not in err
    (info,) = board.status()
    assert info.host == "127.0.0.1"
    assert info.cmdline[info.cmdline.index("--host") + 1] == "127.0.0.1"

    code, out, err = run(capsys, "board", "start", str(tmp_path / "b"), "--port", str(free_port()), "--bind-all")
    assert code == 0
    assert err.strip().splitlines() == [
        "warning: the board listens on every network interface, so anyone who can reach this machine on the network "
        "can read your graphs; TensorBoard has no login"
    ]
    assert {i.host for i in board.status()} == {"127.0.0.1", "0.0.0.0"}
    code, out, err = run(capsys, "board", "stop")
    assert code == 2
    assert err.startswith("error: 2 inspector boards are running (ports ")
    assert err.rstrip().endswith("pick one with --port or stop them all with --all")
    code, out, err = run(capsys, "board", "stop", "--all")
    assert code == 0 and out.count("Stopped TensorBoard pid") == 2


def test_board_usage_errors(state: Path, tmp_path: Path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    assert run(capsys, "board", "start", str(afile)) == (
        2, "", f"error: {afile}: is a file, not a log folder; pass the folder that holds the runs\n")
    assert run(capsys, "board", "start", str(tmp_path), "--port", "70000") == (
        2, "", "error: port 70000: not a valid TCP port; pass --port between 1 and 65535\n")
    assert run(capsys, "board", "start", str(tmp_path), "--timeout", "0") == (
        2, "", "error: timeout 0.0: must be positive; pass --timeout in seconds, e.g. 90\n")
    assert run(capsys, "board") == (2, "", "error: inspector board: name an action: start, status or stop (see inspector board --help)\n")
    assert list(state.glob("board-*.json")) == []


# --- slow: the real TensorBoard, once -----------------------------------------------


@pytest.mark.slow
def test_real_tensorboard_on_a_taken_port_and_a_new_logdir(state: Path, tmp_path: Path, capsys):
    """Another program holds the port and the logdir does not exist: TensorBoard starts next door, serves it, stops."""
    other, port = other_program_on_a_port()
    logdir = tmp_path / "fresh" / "training_summaries"
    try:
        code, out, err = run(capsys, "board", "start", str(logdir), "--port", str(port))
        assert code == 0, err
        (info,) = board.status()
        try:
            assert info.port != port and f"note: port {port} is taken; using {info.port}" in err
            assert info.host == "127.0.0.1" and logdir.is_dir()
            assert get_json(info.url + "data/logdir") == {"logdir": str(logdir.resolve())}
            code, out, err = run(capsys, "board", "status")
            assert code == 0 and str(info.pid) in out and info.url in out
        finally:
            code, out, err = run(capsys, "board", "stop", "--port", str(info.port))
        assert code == 0 and out.startswith(f"Stopped TensorBoard pid {info.pid} on {info.url}")
        assert not alive(info.pid)
        assert other.poll() is None and answers(port)
    finally:
        stop_process(other)
