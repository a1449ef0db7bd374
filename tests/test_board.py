"""Tests for inspector.tb.board: background boards, their info files, and stopping only our own."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, free_port
from helpers import alive, get_json, hold_ports, boot_id, record_look_alike, spawn_sleep, start_ticks, tb_cmdline, write_info
from inspector.errors import InspectorError
from inspector.tb import board, boardproc

# --- without any server ----------------------------------------------------


def test_state_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INSPECTOR_STATE_DIR", str(tmp_path / "here"))
    assert board.state_dir() == tmp_path / "here"
    monkeypatch.delenv("INSPECTOR_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert board.state_dir() == tmp_path / "xdg" / "inspector" / "boards"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert board.state_dir() == tmp_path / "home" / ".local" / "state" / "inspector" / "boards"


def test_urls() -> None:
    info = board.BoardInfo(
        pid=1, port=6006, host="127.0.0.1", logdir="/l", start_time=0.0,
        cmdline=("x",), log_path="/l.log", version="2.21.0",
    )  # fmt: skip
    assert info.url == "http://127.0.0.1:6006/"
    assert board.graph_url(info) == "http://127.0.0.1:6006/#graphs"
    assert board.graph_url(info, "retrained") == "http://127.0.0.1:6006/#graphs&run=retrained"
    assert board.graph_url(info, "a b/c&d") == "http://127.0.0.1:6006/#graphs&run=a%20b%2Fc%26d"
    wildcard = board.BoardInfo(**{**info.__dict__, "host": "0.0.0.0"})
    assert wildcard.url == "http://localhost:6006/"
    ipv6 = board.BoardInfo(**{**info.__dict__, "host": "::1"})
    assert ipv6.url == "http://[::1]:6006/"


def test_stop_with_nothing_running(state: Path) -> None:
    assert board.status(state=state) == ()
    assert board.stop(state=state) == board.StopResult(stopped=(), stale_removed=())


def test_status_removes_info_of_dead_process(state: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    info_file = write_info(state, pid=dead.pid, port=6006, cmdline=tb_cmdline(6006))
    (state / f"board-{dead.pid}.log").write_text("old log\n")
    found = board.survey(state=state)
    assert found.boards == ()
    assert [info.pid for info in found.stale_removed] == [dead.pid]
    assert found.notes == (f"{info_file}: pid {dead.pid} is no longer running; removed the stale record",)
    assert not info_file.exists()
    assert not (state / f"board-{dead.pid}.log").exists()


def test_unreadable_info_files_are_left_alone(state: Path) -> None:
    state.mkdir()
    (state / "board-1.json").write_text("{not json")
    (state / "board-2.json").write_text(json.dumps({"tool": "something-else"}))
    (state / "board-3.json").write_text(json.dumps({"tool": "inspector-board", "pid": 3}))
    write_info(state, pid=4, port=6006, cmdline=tb_cmdline(6006)).rename(state / "board-5.json")
    assert board.survey(state=state).notes == (
        f"{state / 'board-1.json'}: is not JSON; skipped it (remove it if nothing needs it)",
        f"{state / 'board-2.json'}: is not an inspector board record; skipped it (remove it if nothing needs it)",
        f"{state / 'board-3.json'}: lacks fields a board record has; skipped it (remove it if nothing needs it)",
        f"{state / 'board-5.json'}: records pid 4, not the pid in its name; skipped it (remove it if nothing needs it)",
    )
    assert board.status(state=state) == ()
    assert sorted(p.name for p in state.glob("board-*")) == ["board-1.json", "board-2.json", "board-3.json", "board-5.json"]


def test_pid_reused_by_another_program_is_never_signalled(state: Path) -> None:
    other = spawn_sleep()
    try:
        info_file = write_info(state, pid=other.pid, port=6006, cmdline=tb_cmdline(6006))
        # A log beside it, as if the board had one: a record for a live process removes nothing but itself.
        (state / f"board-{other.pid}.log").write_text("a log\n")
        result = board.stop(state=state)
        assert result.stopped == ()
        assert [info.pid for info in result.stale_removed] == [other.pid]
        assert result.notes == (
            f"{info_file}: pid {other.pid} runs `sleep 60`, not the TensorBoard inspector recorded; "
            "removed the record and left the process alone",
        )
        assert not info_file.exists()
        assert (state / f"board-{other.pid}.log").exists()
        assert other.poll() is None

        write_info(state, pid=other.pid, port=6006, cmdline=tb_cmdline(6006))
        assert board.status(state=state) == ()
        assert not info_file.exists()
        assert board.stop(all=True, state=state).stopped == ()
        time.sleep(0.2)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_several_boards_need_a_selector(state: Path) -> None:
    # Processes recorded exactly as board.start records its own count as ours;
    # they are children of this test, not of board.start, which exercises the /proc polling path.
    procs = [record_look_alike(state, port=port, logdir=f"/tmp/log{port}") for port in (7001, 7002, 7003)]
    try:
        # They bind no port, so each is listed as inspector's but not answering.
        assert [(s.port, s.pid, s.health) for s in board.status(state=state)] == [
            (7001, procs[0].pid, "not answering"), (7002, procs[1].pid, "not answering"), (7003, procs[2].pid, "not answering"),
        ]  # fmt: skip

        with pytest.raises(InspectorError, match="--port .*--all"):
            board.stop(state=state)
        assert all(proc.poll() is None for proc in procs)

        result = board.stop(port=7002, state=state, timeout=5)
        assert [info.pid for info in result.stopped] == [procs[1].pid]
        assert procs[1].wait(timeout=5) is not None
        assert [info.port for info in board.status(state=state)] == [7001, 7003]

        assert board.stop(port=7999, state=state).stopped == ()
        result = board.stop(logdir=Path("/tmp/log7003"), state=state)
        assert [info.port for info in result.stopped] == [7003]

        result = board.stop(all=True, state=state)
        assert [info.port for info in result.stopped] == [7001]
        assert result.notes == ()
        assert board.status(state=state) == ()
        assert list(state.glob("board-*.json")) == []
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_busy_port_moves_to_the_next_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen, notes = board._pick_port("127.0.0.1", port)
        assert chosen > port
        assert notes == (f"port {port} is taken; using {chosen}",)


def test_busy_port_with_nothing_free_is_an_error(state: Path, tmp_path: Path) -> None:
    with hold_ports(101) as port:  # the asked-for port and the 100 that start() tries after it
        with pytest.raises(InspectorError, match=f"ports {port}-{port + 100} on 127.0.0.1 are all taken"):
            board.start(tmp_path / "logs", port=port, state=state)
    assert list(state.glob("board-*.json")) == []


def test_bad_port_and_host(state: Path, tmp_path: Path) -> None:
    with pytest.raises(InspectorError, match="not a valid TCP port"):
        board.start(tmp_path / "logs", port=70000, state=state)
    with pytest.raises(InspectorError, match="host no-such-host.invalid"):
        board.start(tmp_path / "logs", host="no-such-host.invalid", state=state)


def test_logdir_that_is_a_file(state: Path, tmp_path: Path) -> None:
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(InspectorError, match="is a file"):
        board.start(afile, state=state)


# --- with a fake server (fast) ---------------------------------------------


@pytest.mark.usefixtures("fake_tensorboard")
def test_fake_board_lifecycle(state: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "new" / "logs"
    result = board.start(logdir, port=free_port(), state=state)
    assert not result.reused
    assert result.warnings == ()
    info = result.info
    assert logdir.is_dir()
    assert info.logdir == str(logdir.resolve())
    assert (state / f"board-{info.pid}.json").exists()
    assert Path(info.log_path) == state / f"board-{info.pid}.log"
    assert get_json(info.url + "data/logdir") == {"logdir": info.logdir}
    assert board.status(state=state) == (board.BoardStatus(info=info, health="running"),)
    assert info.proc_start == start_ticks(info.pid) and info.boot_id == boot_id()
    record = json.loads((state / f"board-{info.pid}.json").read_text())
    assert (record["format"], record["proc_start"], record["boot_id"]) == (2, info.proc_start, info.boot_id)

    again = board.start(logdir, port=info.port, state=state)
    assert again.reused and again.info == info and again.notes == ()

    result = board.stop(state=state)
    assert result.stopped == (info,)
    assert not alive(info.pid)
    assert not (state / f"board-{info.pid}.json").exists()
    assert not Path(info.log_path).exists()


@pytest.mark.usefixtures("fake_tensorboard")
def test_board_outlives_the_command_that_started_it(state: Path, tmp_path: Path) -> None:
    starter = f"""
from pathlib import Path
from inspector.tb import board
result = board.start(Path({str(tmp_path / "logs")!r}), port={free_port()}, state=Path({str(state)!r}))
print(result.info.pid)
"""
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60, check=True,
        cwd=ROOT,
    )  # fmt: skip
    pid = int(done.stdout.strip())
    (listed,) = board.status(state=state)
    info = listed.info
    assert info.pid == pid and alive(pid) and listed.health == "running"
    assert get_json(info.url + "data/logdir") == {"logdir": info.logdir}
    # Not a child of this process: stop() must signal it and poll /proc.
    assert board.stop(state=state).stopped == (info,)
    assert not alive(pid)


@pytest.mark.usefixtures("fake_tensorboard")
def test_bind_all_warns_that_the_board_is_on_the_network(state: Path, tmp_path: Path) -> None:
    result = board.start(tmp_path / "logs", port=free_port(), bind_all=True, state=state)
    assert result.info.host == "0.0.0.0"
    assert result.info.url.startswith("http://localhost:")
    assert "--host" in result.info.cmdline and "0.0.0.0" in result.info.cmdline
    assert len(result.warnings) == 1 and "network" in result.warnings[0]
    board.stop(all=True, state=state)


def test_early_exit_reports_the_log_tail(state: Path, tmp_path: Path, tensorboard_stand_in) -> None:
    tensorboard_stand_in("import sys\nfor i in range(30): print(f'line {i}')\nsys.exit(3)")
    with pytest.raises(InspectorError) as caught:
        board.start(tmp_path / "logs", port=free_port(), state=state)
    message, details = caught.value.message, caught.value.details
    assert "exited with code 3" in message and "\n" not in message
    assert details == tuple(f"line {i}" for i in range(20, 30))
    assert list(state.glob("board-*.json")) == []
    assert board.status(state=state) == ()


def test_no_answer_before_timeout_stops_the_process(state: Path, tmp_path: Path, tensorboard_stand_in) -> None:
    tensorboard_stand_in("import time\nprint('starting forever', flush=True)\ntime.sleep(60)")
    with pytest.raises(InspectorError, match="did not answer .* within 1 s") as caught:
        board.start(tmp_path / "logs", port=free_port(), timeout=1, state=state)
    message = caught.value.message
    assert "\n" not in message
    assert "starting forever" in caught.value.details
    pid = int(re.search(r"board-(\d+)\.log", message).group(1))
    assert not alive(pid)
    assert pid not in boardproc.children
    assert list(state.glob("board-*.json")) == []


# --- real TensorBoard (slow) -----------------------------------------------


@pytest.mark.slow
def test_tensorboard_start_reuse_status_stop(state: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "runs"
    with socket.socket() as taken:
        # A plain socket holds the asked-for port, so the board must move on.
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        result = board.start(logdir, port=port, state=state)
        elapsed = time.monotonic() - began
    info = result.info
    print(f"TensorBoard answered after {elapsed:.1f} s")
    try:
        assert not result.reused
        assert info.port > port
        assert result.notes == (f"port {port} is taken; using {info.port}",)
        assert info.url == f"http://127.0.0.1:{info.port}/"
        assert get_json(info.url + "data/logdir") == {"logdir": str(logdir.resolve())}
        assert isinstance(get_json(info.url + "data/plugin/graphs/info"), dict)
        assert board.graph_url(info, "retrained") == f"{info.url}#graphs&run=retrained"

        assert board.status(state=state) == (board.BoardStatus(info=info, health="running"),)

        again = board.start(logdir, port=port, state=state)
        assert again.reused
        assert again.info == info
        assert "reusing" in again.notes[0]
    finally:
        stopped = board.stop(state=state)
    assert stopped.stopped == (info,)
    assert not alive(info.pid)
    assert not (state / f"board-{info.pid}.json").exists()
    assert board.status(state=state) == ()


@pytest.mark.slow
def test_tensorboard_that_rejects_its_flags(state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A patch, because nothing else makes the real TensorBoard refuse to start:
    # start() checks the port, host and logdir first and passes no flags of the user's.
    real = board._tensorboard_argv
    monkeypatch.setattr(board, "_tensorboard_argv", lambda **kw: [*real(**kw), "--no_such_flag"])
    with pytest.raises(InspectorError, match="exited with code") as caught:
        board.start(tmp_path / "logs", port=free_port(), state=state)
    assert any("no_such_flag" in line for line in caught.value.details)
    assert list(state.glob("board-*.json")) == []
