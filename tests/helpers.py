"""Helpers shared by test modules: HTTP without proxies, stand-in boards and processes, a child run as another user."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

# Environment proxies must not intercept requests to a board on this machine.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, *, timeout: float = 60) -> tuple[int, bytes]:
    """(status, body) of a GET on a local server; an HTTP error status is returned, not raised."""
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_bytes(url: str, *, timeout: float = 30) -> bytes:
    """The body a local server answers with 200."""
    status, body = http_get(url, timeout=timeout)
    assert status == 200, (url, status, body[:500])
    return body


def get_json(url: str, *, timeout: float = 30) -> object:
    """The JSON a local server answers with 200."""
    return json.loads(get_bytes(url, timeout=timeout))


# --- boards ---------------------------------------------------------------------

# A stand-in for TensorBoard that answers /data/logdir like it does, so the
# launch/wait/stop machinery can be tested in milliseconds instead of seconds.
# The `tensorboard_stand_in` fixture installs it as `tensorboard.main`.
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


@contextlib.contextmanager
def hold_ports(count: int, *, first: int | None = None) -> Iterator[int]:
    """Listening sockets on 127.0.0.1 hold ``count`` ports in a row; yields the first.

    A port in the range that something else already holds is taken all the same.
    """
    if first is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = min(probe.getsockname()[1], 65535 - count)
    with contextlib.ExitStack() as stack:
        for port in range(first, first + count):
            sock = stack.enter_context(socket.socket())
            # As board.start's port check and TensorBoard bind: a port whose old
            # connection lingers in TIME_WAIT is free for them, so it must be held too.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            sock.listen()
        yield first


def use_tensorboard_stand_in(code: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Boards started from now on (in this test) run ``code`` in place of TensorBoard.

    A `tensorboard` package whose `main` is ``code`` goes first on PYTHONPATH,
    so board.start runs its real command line (`python -m tensorboard.main
    --logdir ... --host ... --port ...`) and gets a real process that does
    whatever ``code`` says: answer, exit at once, or never answer.
    """
    stub = folder / "tensorboard-stand-in"
    (stub / "tensorboard").mkdir(parents=True, exist_ok=True)
    (stub / "tensorboard" / "__init__.py").write_text("")
    (stub / "tensorboard" / "main.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(stub), os.environ.get("PYTHONPATH")])))


@contextlib.contextmanager
def world_folder() -> Iterator[Path]:
    """A temp folder every user may enter and write (pytest's tmp_path is root's alone), removed afterwards."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="inspector-test-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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


def start_ticks(pid: int) -> int:
    """Field 22 of /proc/PID/stat (start time, clock ticks since boot), read here independently of inspector."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def write_info(
    folder: Path,
    *,
    pid: int,
    port: int,
    cmdline: list[str],
    logdir: str = "/tmp/x",
    proc_start: int | None = None,
    boot: str | None = None,
) -> Path:
    """A board info file as inspector.tb.board writes it; without ``proc_start``, as an older inspector wrote it (format 1)."""
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
    if proc_start is not None:
        record |= {"format": 2, "proc_start": proc_start, "boot_id": boot if boot is not None else boot_id()}
    path.write_text(json.dumps(record))
    return path


def tb_cmdline(port: int, logdir: str = "/tmp/x") -> list[str]:
    """The argv inspector.tb.board launches TensorBoard with."""
    return [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)]


def spawn_tensorboard_look_alike(
    folder: Path, *, port: int, logdir: str = "/tmp/x", code: str = "import time\ntime.sleep(120)\n"
) -> subprocess.Popen[bytes]:
    """A real process with the exact argv inspector gives a board (tb_cmdline), whose `tensorboard.main` runs ``code``.

    Its stand-in package lives under ``folder``; returns once /proc shows the
    argv (Popen returns mid-exec). By default it only sleeps and binds no
    port: for ownership, not HTTP.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stub = Path(tempfile.mkdtemp(prefix="tensorboard-look-alike-", dir=folder))
    (stub / "tensorboard").mkdir()
    (stub / "tensorboard" / "__init__.py").write_text("")
    (stub / "tensorboard" / "main.py").write_text(code)
    argv = tb_cmdline(port, logdir)
    env = {**os.environ, "PYTHONPATH": str(stub)}
    proc = subprocess.Popen(argv, env=env, cwd=stub, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[:-1] != [a.encode() for a in argv]:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the TensorBoard look-alike did not start (exit code {proc.returncode})")
        time.sleep(0.01)
    return proc


def record_look_alike(state: Path, *, port: int, logdir: str = "/tmp/x") -> subprocess.Popen[bytes]:
    """A look-alike recorded exactly as inspector records a board it launched: it counts as inspector's own."""
    proc = spawn_tensorboard_look_alike(state.parent, port=port, logdir=logdir)
    write_info(state, pid=proc.pid, port=port, cmdline=tb_cmdline(port, logdir), logdir=logdir, proc_start=start_ticks(proc.pid))
    return proc


# --- another user ---------------------------------------------------------------------

NOBODY = 65534


def run_as_nobody(code: str, *, warm: str = "", cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child Python that first drops to user "nobody" (when root).

    Root reads, writes, binds and signals anything, so a permission fault only
    happens to another user. ``warm`` runs before the drop: this interpreter's
    files may be unreadable for "nobody", so everything ``code`` imports must
    be imported (and lazily imported parts used once) by then.
    """
    program = "\n".join([
        "import os, sys",
        textwrap.dedent(warm),
        "if os.geteuid() == 0:",
        f"    os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})",
        textwrap.dedent(code),
    ])
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


# --- pytest's closing summary ------------------------------------------------------------


class _Summary:
    """A plugin registered at run time: its lines go into pytest's closing summary."""

    def __init__(self, title: str, lines: Callable[[], list[str]]) -> None:
        self.title, self.lines = title, lines

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.section(self.title)
        for line in self.lines():
            terminalreporter.write_line(line)


def report_in_summary(config: pytest.Config, title: str, lines: Callable[[], list[str]]) -> None:
    """Print ``lines()`` under ``title`` at the end of the run (once, however often this is called)."""
    name = f"inspector-summary-{title}"
    if config.pluginmanager.get_plugin(name) is None:
        config.pluginmanager.register(_Summary(title, lines), name)
