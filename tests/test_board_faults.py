"""TensorBoard faults: through the CLI (issue #5, part 4), and records and boards that must not be trusted (issue #10).

tests/test_board.py covers inspector.tb.board itself; the first part here runs
`main(["board", ...])` with INSPECTOR_STATE_DIR pointing at a temp folder (the
`state` fixture) and checks what a person sees: the exit code, the one `error:`
line and its indented log tail, the notes and warnings, and that no one else's
process is touched. A stand-in server answers like TensorBoard in
milliseconds; one test starts the real TensorBoard (~3 s).

The second part calls the library with real processes: forged records (the
right argv, the wrong start time; a reused pid; an earlier boot), an old record
without a start time, another user's board, a board that is SIGSTOPped or no
longer answers, and info files that are FIFOs, devices or 10 MB. It checks
that no such process is signalled, which records go, and the exact notes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, free_port
from helpers import (
    FAKE_SERVER,
    NOBODY,
    alive,
    get_json,
    hold_ports,
    http_get,
    spawn_sleep,
    spawn_tensorboard_look_alike,
    start_ticks,
    tb_cmdline,
    write_info,
)
from inspector.cli import main
from inspector.errors import InspectorError
from inspector.tb import board, boardproc


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
        assert (code, json.loads(out)) == (0, {"schema": 2, "boards": []})
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
    assert run(capsys, "board", "stop", "--json") == (0, json.dumps({"schema": 2, "stopped": [], "stale_removed": []}, separators=(",", ":")) + "\n", "")
    assert run(capsys, "board", "status") == (0, "No TensorBoard started by inspector is running.\n", "")
    assert not state.exists() or list(state.iterdir()) == []


def test_json_is_indented_at_a_terminal_only(state: Path, capsys, monkeypatch):
    body = {"schema": 2, "stopped": [], "stale_removed": []}
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert run(capsys, "board", "stop", "--json") == (0, json.dumps(body, indent=2) + "\n", "")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert run(capsys, "board", "stop", "--json") == (0, json.dumps(body, separators=(",", ":")) + "\n", "")


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


# --- the library: records and boards that must not be trusted (issue #10) -------------


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def real_uid(pid: int) -> int:
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    return int(line.split()[1])


def wait_for(condition, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def kill_by_pid(proc: subprocess.Popen) -> None:
    """The test's own child, stopped by its pid (never by name) and reaped."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_board_by_pid(info: board.BoardInfo) -> None:
    """A board this test started with board.start: resumed, killed by its pid and reaped."""
    child = boardproc.children.pop(info.pid, None)
    if alive(info.pid):
        os.kill(info.pid, signal.SIGCONT)
        os.kill(info.pid, signal.SIGKILL)
    if child is not None:
        child.wait()


def left_alone(path: Path, why: str) -> str:
    return f"{path}: {why}; removed the record and left the process alone"


def test_forged_record_for_a_sleep_child_is_not_killed_by_stop_all(state: Path):
    child = spawn_sleep()
    try:
        # Its real cmdline, with a wrong start time and then with the right one: `sleep` is no TensorBoard.
        for proc_start in (start_ticks(child.pid) + 1, start_ticks(child.pid)):
            info_file = write_info(state, pid=child.pid, port=6006, cmdline=["sleep", "60"], proc_start=proc_start)
            result = board.stop(all=True, state=state)
            assert (result.stopped, [info.pid for info in result.stale_removed]) == ((), [child.pid])
            assert result.notes == (
                left_alone(info_file, f"pid {child.pid} runs `sleep 60`, not the TensorBoard inspector recorded"),
            )
            assert list(state.iterdir()) == []
        time.sleep(0.2)
        assert child.poll() is None and alive(child.pid)
    finally:
        kill_by_pid(child)


def test_record_of_a_dead_board_whose_pid_another_look_alike_has_is_not_signalled(state: Path, tmp_path: Path):
    # The board the record was written for has exited; a process with the very
    # same argv now has the pid the record names (what a reused pid looks like).
    first = spawn_tensorboard_look_alike(tmp_path, port=7001)
    recorded = start_ticks(first.pid)
    kill_by_pid(first)
    time.sleep(0.05)  # at least one clock tick (10 ms) later, so the start times differ
    second = spawn_tensorboard_look_alike(tmp_path, port=7001)
    try:
        actual = start_ticks(second.pid)
        assert actual != recorded
        why = f"pid {second.pid} started at clock tick {actual}, not {recorded} as recorded, so another process reused the pid"
        for stop in (dict(all=True), dict(port=7001), {}):
            info_file = write_info(state, pid=second.pid, port=7001, cmdline=tb_cmdline(7001), proc_start=recorded)
            (state / f"board-{second.pid}.log").write_text("a log\n")
            result = board.stop(state=state, **stop)
            assert (result.stopped, [info.pid for info in result.stale_removed]) == ((), [second.pid])
            assert result.notes == (left_alone(info_file, why),)
            # Nothing but the record goes: the log it names stays.
            assert sorted(p.name for p in state.iterdir()) == [f"board-{second.pid}.log"]
        assert board.status(state=state) == ()
        time.sleep(0.2)
        assert second.poll() is None
    finally:
        kill_by_pid(second)


def test_record_from_before_a_reboot_is_not_signalled(state: Path, tmp_path: Path):
    proc = spawn_tensorboard_look_alike(tmp_path, port=7001)
    try:
        # The right argv and start time, but another boot: start times count from boot.
        info_file = write_info(state, pid=proc.pid, port=7001, cmdline=tb_cmdline(7001), proc_start=start_ticks(proc.pid),
                               boot="00000000-0000-0000-0000-000000000000")  # fmt: skip
        found = board.survey(state=state)
        assert (found.boards, [info.pid for info in found.stale_removed]) == ((), [proc.pid])
        assert found.notes == (left_alone(info_file, f"written before this machine last booted, so pid {proc.pid} is another process"),)
        assert not info_file.exists() and proc.poll() is None
    finally:
        kill_by_pid(proc)


def test_record_of_a_zombie_is_stale(state: Path, tmp_path: Path):
    proc = spawn_tensorboard_look_alike(tmp_path, port=7001)
    try:
        info_file = write_info(state, pid=proc.pid, port=7001, cmdline=tb_cmdline(7001), proc_start=start_ticks(proc.pid))
        os.kill(proc.pid, signal.SIGKILL)  # and not reaped yet: a zombie
        wait_for(lambda: proc_state(proc.pid) == "Z", "no zombie")
        result = board.stop(all=True, state=state)
        assert (result.stopped, [info.pid for info in result.stale_removed]) == ((), [proc.pid])
        assert result.notes == (f"{info_file}: pid {proc.pid} has exited; removed the stale record",)
        assert not info_file.exists()
    finally:
        proc.wait()


def test_a_board_whose_name_holds_spaces_and_parentheses_is_still_recognised(state: Path, tmp_path: Path):
    # A program may name itself anything (/proc/PID/comm, 15 bytes): this name
    # reads as state "Z" and shifted fields to a parser that stops at the first ")".
    rename = "import time\nopen('/proc/self/comm', 'w').write('b) Z 9 9 (x y')\ntime.sleep(120)\n"
    proc = spawn_tensorboard_look_alike(tmp_path, port=7001, code=rename)
    try:
        wait_for(lambda: Path(f"/proc/{proc.pid}/comm").read_text() == "b) Z 9 9 (x y\n", "the name did not change")
        write_info(state, pid=proc.pid, port=7001, cmdline=tb_cmdline(7001), proc_start=start_ticks(proc.pid))
        found = board.survey(state=state)
        assert ([(listed.pid, listed.health) for listed in found.boards], found.notes) == ([(proc.pid, "not answering")], ())
        result = board.stop(state=state, timeout=5)
        assert [info.pid for info in result.stopped] == [proc.pid]
        assert proc.wait(timeout=5) == -signal.SIGTERM
    finally:
        kill_by_pid(proc)


@pytest.mark.usefixtures("fake_tensorboard")
def test_old_record_without_a_start_time_is_left_running_and_noted(state: Path, tmp_path: Path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    resolved = str(logdir.resolve())
    old = spawn_tensorboard_look_alike(tmp_path, port=7001, logdir=resolved)
    try:
        # Format 1, as inspector wrote records before it recorded start times.
        info_file = write_info(state, pid=old.pid, port=7001, cmdline=tb_cmdline(7001, resolved), logdir=resolved)
        note = (f"{info_file}: written by an older inspector without the process start time, so pid {old.pid} "
                f"is not provably the board it started; left it running (if it is yours, stop it with `kill {old.pid}`)")  # fmt: skip
        assert board.stop(all=True, state=state) == board.StopResult(stopped=(), stale_removed=(), notes=(note,))
        assert board.survey(state=state) == board.Survey(boards=(), stale_removed=(), notes=(note,))
        assert info_file.exists() and old.poll() is None

        # Nor is it reused: start launches a board it can stop later.
        started = board.start(logdir, port=free_port(), state=state)
        assert (started.reused, started.notes) == (False, (note,))
        assert [listed.info for listed in board.status(state=state)] == [started.info]
        # The old record does not count against "the only board".
        assert board.stop(state=state) == board.StopResult(stopped=(started.info,), stale_removed=(), notes=(note,))
        assert info_file.exists() and old.poll() is None
    finally:
        kill_by_pid(old)


@pytest.mark.skipif(os.geteuid() != 0, reason="a process of another user needs root to arrange")
def test_another_users_board_is_never_signalled(state: Path, tmp_path: Path):
    # The look-alike drops to "nobody" once running: its argv and start time stay what they were.
    drop = f"import os, time\nos.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\ntime.sleep(120)\n"
    proc = spawn_tensorboard_look_alike(tmp_path, port=7001, code=drop)
    try:
        wait_for(lambda: real_uid(proc.pid) == NOBODY, "the look-alike did not become nobody")
        info_file = write_info(state, pid=proc.pid, port=7001, cmdline=tb_cmdline(7001), proc_start=start_ticks(proc.pid))
        note = (f"{info_file}: pid {proc.pid} runs as uid {NOBODY}, not as you (uid 0); "
                "left it running (stop it as the user who started it)")  # fmt: skip
        assert board.survey(state=state) == board.Survey(boards=(), stale_removed=(), notes=(note,))
        assert board.stop(all=True, state=state) == board.StopResult(stopped=(), stale_removed=(), notes=(note,))
        for stop in (dict(port=7001), {}):
            with pytest.raises(InspectorError) as caught:
                board.stop(state=state, **stop)
            assert caught.value.message == (f"TensorBoard pid {proc.pid} on port 7001: not allowed to signal it; "
                                            "stop it as the user who started it")  # fmt: skip
        time.sleep(0.2)
        assert info_file.exists() and proc.poll() is None
    finally:
        kill_by_pid(proc)


@pytest.mark.usefixtures("fake_tensorboard")
def test_sigstopped_board_is_not_reused_and_status_says_so(state: Path, tmp_path: Path):
    logdir = tmp_path / "logs"
    first = board.start(logdir, port=free_port(), state=state).info
    try:
        os.kill(first.pid, signal.SIGSTOP)
        wait_for(lambda: proc_state(first.pid) == "T", "the board did not stop")
        began = time.monotonic()
        found = board.survey(state=state)
        # /proc says it is stopped: no HTTP probe waits on it.
        assert time.monotonic() - began < 1.5
        assert found == board.Survey(boards=(board.BoardStatus(info=first, health="stopped (SIGSTOP)"),), stale_removed=(), notes=())
        assert found.to_json() == {"boards": [first.to_json() | {"health": "stopped (SIGSTOP)"}], "notes": []}

        passed_over = (
            f"the board for {first.logdir} at pid {first.pid} (port {first.port}) is stopped (SIGSTOP) and does not answer, "
            f"so it is not reused and keeps its port (resume it with `kill -CONT {first.pid}` "
            f"or stop it with `inspector board stop --port {first.port}`)"
        )
        again = board.start(logdir, port=first.port, state=state)
        second = again.info
        assert (again.reused, again.notes) == (False, (passed_over,))
        assert second.pid != first.pid and second.port > first.port
        assert get_json(second.url + "data/logdir") == {"logdir": first.logdir}
        assert [(listed.pid, listed.health) for listed in board.status(state=state)] == [
            (first.pid, "stopped (SIGSTOP)"), (second.pid, "running"),
        ]  # fmt: skip

        # The next start passes over the stopped board again and reuses the fresh one.
        third = board.start(logdir, port=first.port, state=state)
        assert (third.reused, third.info) == (True, second)
        assert third.notes == (passed_over, f"a board for {first.logdir} already runs on port {second.port}; "
                               f"reusing it instead of port {first.port} (stop it first to move it)")  # fmt: skip

        # Stopped while stopped: the SIGCONT after the SIGTERM ends it long before the SIGKILL at 30 s.
        began = time.monotonic()
        assert board.stop(port=first.port, state=state, timeout=30).stopped == (first,)
        assert time.monotonic() - began < 10
        assert not alive(first.pid)
    finally:
        kill_board_by_pid(first)


ANSWERS_ONCE = FAKE_SERVER.replace(
    "http.server.HTTPServer((args.host, args.port), Handler).serve_forever()",
    "server = http.server.HTTPServer((args.host, args.port), Handler)\n"
    "server.handle_request()\nserver.server_close()\nimport time\ntime.sleep(120)",
)
assert ANSWERS_ONCE != FAKE_SERVER


def test_board_that_stopped_answering_is_not_reused(state: Path, tmp_path: Path, tensorboard_stand_in):
    # It answers start()'s readiness probe, then closes its socket and lives on.
    tensorboard_stand_in(ANSWERS_ONCE)
    logdir = tmp_path / "logs"
    first = board.start(logdir, port=free_port(), state=state).info
    try:
        wait_for(lambda: http_get_refused(first.port), "the board still listens")
        assert board.status(state=state) == (board.BoardStatus(info=first, health="not answering"),)

        tensorboard_stand_in(FAKE_SERVER)
        again = board.start(logdir, port=first.port, state=state)
        # Its port is free now, but kept for it, so `stop --port` names one board.
        assert (again.reused, again.info.port != first.port) == (False, True)
        assert again.notes == (
            f"the board for {first.logdir} at pid {first.pid} (port {first.port}) does not answer, "
            f"so it is not reused and keeps its port (stop it with `inspector board stop --port {first.port}`)",
        )
        assert [(listed.pid, listed.health) for listed in board.status(state=state)] == [
            (first.pid, "not answering"), (again.info.pid, "running"),
        ]  # fmt: skip
        assert board.stop(port=first.port, state=state).stopped == (first,)
        assert [listed.info for listed in board.status(state=state)] == [again.info]
    finally:
        kill_board_by_pid(first)


def http_get_refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


SURVEY_IN_A_CHILD = """
import json, sys
from pathlib import Path
from inspector.tb import board
state = Path(sys.argv[1])
found = board.survey(state=state)
stopped = board.stop(all=True, state=state)
print(json.dumps({"boards": len(found.boards), "survey": list(found.notes), "stopped": len(stopped.stopped),
                  "stop": list(stopped.notes), "tails": [list(board._log_tail(p)) for p in sys.argv[2:]]}))
"""


def test_info_files_that_are_fifos_devices_or_huge_are_reported_and_never_block(state: Path, tmp_path: Path):
    state.mkdir()
    os.mkfifo(state / "board-11.json")
    (state / "board-12.json").symlink_to("/dev/zero")
    (state / "board-13.json").write_bytes(b"{" + b" " * (10 * 1024 * 1024))
    (state / "board-14.json").mkdir()
    # The same for a board's log: its tail is read bounded, whatever the file became.
    os.mkfifo(tmp_path / "fifo.log")
    (tmp_path / "zero.log").symlink_to("/dev/zero")
    (tmp_path / "big.log").write_text("".join(f"line {i}\n" for i in range(1_000_000)))
    logs = [tmp_path / "fifo.log", tmp_path / "zero.log", tmp_path / "big.log"]
    # In a child, so a read that blocks or never ends fails this test instead of hanging the suite.
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SURVEY_IN_A_CHILD, str(state), *map(str, logs)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.monotonic() - began < 30
    skipped = "skipped it (remove it if nothing needs it)"
    notes = [
        f"{state / 'board-11.json'}: is a FIFO (named pipe), not a regular file; {skipped}",
        f"{state / 'board-12.json'}: is a symbolic link, not a regular file; {skipped}",
        f"{state / 'board-13.json'}: is {10 * 1024 * 1024 + 1} bytes, more than a board record can be (64 KiB); {skipped}",
        f"{state / 'board-14.json'}: is a folder, not a regular file; {skipped}",
    ]
    assert json.loads(done.stdout) == {
        "boards": 0, "survey": notes, "stopped": 0, "stop": notes,
        "tails": [
            [f"(no log tail: {logs[0]} is a FIFO (named pipe), not a regular file)"],
            [f"(no log tail: {logs[1]} is a symbolic link, not a regular file)"],
            [f"line {i}" for i in range(999_990, 1_000_000)],
        ],
    }  # fmt: skip
    assert sorted(p.name for p in state.iterdir()) == ["board-11.json", "board-12.json", "board-13.json", "board-14.json"]
