"""Tests for inspector.tb.board: background boards, their info files, and stopping only our own."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

from inspector.tb import board
from inspector.errors import InspectorError

# A stand-in for TensorBoard that answers /data/logdir like it does, so the
# launch/wait/stop machinery can be tested in milliseconds instead of seconds.
FAKE_SERVER = """\
import argparse, http.server, json
parser = argparse.ArgumentParser()
parser.add_argument("--logdir")
parser.add_argument("--host")
parser.add_argument("--port", type=int)
args = parser.parse_args()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"logdir": args.logdir}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

print("fake board ready", flush=True)
http.server.HTTPServer((args.host, args.port), Handler).serve_forever()
"""

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))




@pytest.fixture
def fake_tensorboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "fake_tensorboard.py"
    script.write_text(FAKE_SERVER)

    def argv(*, logdir: Path, host: str, port: int) -> list[str]:
        return [sys.executable, str(script), "--logdir", str(logdir), "--host", host, "--port", str(port)]

    monkeypatch.setattr(board, "_tensorboard_argv", argv)




def alive(pid: int) -> bool:
    """True while the pid runs and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def spawn_sleep() -> subprocess.Popen[bytes]:
    """A `sleep 60` whose cmdline is already visible in /proc (Popen returns mid-exec)."""
    proc = subprocess.Popen(["sleep", "60"])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{proc.pid}/cmdline").read_bytes() != b"sleep\x0060\x00":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


def get_json(url: str) -> object:
    with NO_PROXY.open(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def write_info(folder: Path, *, pid: int, port: int, cmdline: list[str], logdir: str = "/tmp/x") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"board-{pid}.json"
    record = {
        "tool": "inspector-board",
        "format": 1,
        "pid": pid,
        "port": port,
        "host": "127.0.0.1",
        "logdir": logdir,
        "start_time": time.time(),
        "cmdline": cmdline,
        "log_path": str(folder / f"board-{pid}.log"),
        "version": "2.21.0",
    }
    path.write_text(json.dumps(record))
    return path


def tb_cmdline(port: int) -> list[str]:
    return [sys.executable, "-m", "tensorboard.main", "--logdir", "/tmp/x", "--host", "127.0.0.1", "--port", str(port)]


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
    assert board.status(state=state) == ()
    assert not info_file.exists()
    assert not (state / f"board-{dead.pid}.log").exists()


def test_unreadable_info_files_are_left_alone(state: Path) -> None:
    state.mkdir()
    (state / "board-1.json").write_text("{not json")
    (state / "board-2.json").write_text(json.dumps({"tool": "something-else"}))
    assert board.status(state=state) == ()
    assert (state / "board-1.json").exists()
    assert (state / "board-2.json").exists()


def test_pid_reused_by_another_program_is_never_signalled(state: Path) -> None:
    other = spawn_sleep()
    try:
        info_file = write_info(state, pid=other.pid, port=6006, cmdline=tb_cmdline(6006))
        result = board.stop(state=state)
        assert result.stopped == ()
        assert [info.pid for info in result.stale_removed] == [other.pid]
        assert not info_file.exists()
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
    # Processes whose real cmdline is recorded count as ours; they are children
    # of this test, not of board.start, which exercises the /proc polling path.
    procs = [spawn_sleep() for _ in range(3)]
    try:
        for port, proc in zip((7001, 7002, 7003), procs):
            write_info(state, pid=proc.pid, port=port, cmdline=["sleep", "60"], logdir=f"/tmp/log{port}")
        assert [info.port for info in board.status(state=state)] == [7001, 7002, 7003]

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


def test_busy_port_with_nothing_free_is_an_error(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(board, "_PORT_SCAN", 0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InspectorError, match=f"ports {port}-{port} on 127.0.0.1 are all taken"):
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
    assert board.status(state=state) == (info,)

    again = board.start(logdir, port=info.port, state=state)
    assert again.reused and again.info == info and again.notes == ()

    result = board.stop(state=state)
    assert result.stopped == (info,)
    assert not alive(info.pid)
    assert not (state / f"board-{info.pid}.json").exists()
    assert not Path(info.log_path).exists()


def test_board_outlives_the_command_that_started_it(state: Path, tmp_path: Path) -> None:
    script = tmp_path / "fake_tensorboard.py"
    script.write_text(FAKE_SERVER)
    starter = f"""
import sys
from pathlib import Path
from inspector.tb import board
board._tensorboard_argv = lambda *, logdir, host, port: [
    sys.executable, {str(script)!r}, "--logdir", str(logdir), "--host", host, "--port", str(port)]
result = board.start(Path({str(tmp_path / "logs")!r}), port={free_port()}, state=Path({str(state)!r}))
print(result.info.pid)
"""
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    pid = int(done.stdout.strip())
    (info,) = board.status(state=state)
    assert info.pid == pid and alive(pid)
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


def test_early_exit_reports_the_log_tail(state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import sys\nfor i in range(30): print(f'line {i}')\nsys.exit(3)"
    monkeypatch.setattr(board, "_tensorboard_argv", lambda **_: [sys.executable, "-c", code])
    with pytest.raises(InspectorError) as caught:
        board.start(tmp_path / "logs", port=free_port(), state=state)
    message, details = caught.value.message, caught.value.details
    assert "exited with code 3" in message and "\n" not in message
    assert details == tuple(f"line {i}" for i in range(20, 30))
    assert list(state.glob("board-*.json")) == []
    assert board.status(state=state) == ()


def test_no_answer_before_timeout_stops_the_process(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = "import time\nprint('starting forever', flush=True)\ntime.sleep(60)"
    monkeypatch.setattr(board, "_tensorboard_argv", lambda **_: [sys.executable, "-c", code])
    with pytest.raises(InspectorError, match="did not answer .* within 1 s") as caught:
        board.start(tmp_path / "logs", port=free_port(), timeout=1, state=state)
    message = caught.value.message
    assert "\n" not in message
    assert "starting forever" in caught.value.details
    pid = int(re.search(r"board-(\d+)\.log", message).group(1))
    assert not alive(pid)
    assert pid not in board._children
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

        assert board.status(state=state) == (info,)

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
    real = board._tensorboard_argv
    monkeypatch.setattr(board, "_tensorboard_argv", lambda **kw: [*real(**kw), "--no_such_flag"])
    with pytest.raises(InspectorError, match="exited with code") as caught:
        board.start(tmp_path / "logs", port=free_port(), state=state)
    assert any("no_such_flag" in line for line in caught.value.details)
    assert list(state.glob("board-*.json")) == []
