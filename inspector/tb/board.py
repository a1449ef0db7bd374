"""Background TensorBoard boards: start or reuse, list, and stop the ones inspector launched."""

from __future__ import annotations

import contextlib
import errno
import http.client
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from inspector.atomic import write_bytes_atomic
from inspector.errors import InspectorError

__all__ = [
    "BoardInfo",
    "StartResult",
    "StopResult",
    "graph_url",
    "start",
    "state_dir",
    "status",
    "stop",
]

_INFO_FORMAT = 1
_INFO_TOOL = "inspector-board"
_PORT_SCAN = 100
_LOG_TAIL_LINES = 10
_POLL_SECONDS = 0.25
_KILL_GRACE_SECONDS = 5.0
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})

# Boards launched by this very process, kept so stop() can reap them with
# Popen.wait() and Popen.__del__ never warns about a child "still running".
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class BoardInfo:
    """One background TensorBoard that inspector launched, as its info file records it."""

    pid: int
    port: int
    host: str
    logdir: str
    start_time: float
    cmdline: tuple[str, ...]
    log_path: str
    version: str

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches the board."""
        return f"http://{_url_host(self.host)}:{self.port}/"


@dataclass(frozen=True)
class StartResult:
    """What start() did: the board, whether it already existed, and what to tell the user."""

    info: BoardInfo
    reused: bool
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class StopResult:
    """Boards stop() ended, and info files of boards that had already died."""

    stopped: tuple[BoardInfo, ...]
    stale_removed: tuple[BoardInfo, ...]


def state_dir() -> Path:
    """The folder holding info and log files of background boards (not created here)."""
    override = os.environ.get("INSPECTOR_STATE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "inspector" / "boards"
    return Path.home() / ".local" / "state" / "inspector" / "boards"


def graph_url(info: BoardInfo, run: str | None = None) -> str:
    """The URL that opens the Graph tab; ``run`` adds the legacy ``&run=`` key, which TensorBoard 2.x ignores."""
    url = f"{info.url}#graphs"
    if run:
        url += "&run=" + urllib.parse.quote(run, safe="")
    return url


def start(
    logdir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 6006,
    bind_all: bool = False,
    timeout: float = 90.0,
    state: Path | None = None,
    reuse: bool = True,
) -> StartResult:
    """Start a background TensorBoard on ``logdir``, or reuse one that already serves it.

    Returns once the board answers over HTTP. Raises InspectorError (with the
    tail of TensorBoard's log) if it exits early or does not answer within
    ``timeout`` seconds; the process it launched is then stopped.
    """
    if not 1 <= port <= 65535:
        raise InspectorError(f"port {port}: not a valid TCP port; pass --port between 1 and 65535")
    if timeout <= 0:
        raise InspectorError(f"timeout {timeout}: must be positive; pass --timeout in seconds, e.g. 90")
    version = _tensorboard_version()
    folder = _prepare_state(state)
    resolved = _prepare_logdir(Path(logdir))
    if bind_all:
        host = "0.0.0.0"

    with _state_lock(folder):
        live, _stale = _scan(folder)
        if reuse:
            for board in live:
                if board.logdir == str(resolved) and board.host == host:
                    notes: tuple[str, ...] = ()
                    if board.port != port:
                        notes = (
                            f"a board for {resolved} already runs on port {board.port}; "
                            f"reusing it instead of port {port} (stop it first to move it)",
                        )
                    return StartResult(
                        info=board, reused=True, notes=notes, warnings=_exposure_warnings(board.host)
                    )
        chosen, notes = _pick_port(host, port)
        info = _launch(folder, logdir=resolved, host=host, port=chosen, timeout=timeout, version=version)
    return StartResult(info=info, reused=False, notes=notes, warnings=_exposure_warnings(host))


def status(*, state: Path | None = None) -> tuple[BoardInfo, ...]:
    """Live boards, by port; info files of dead or foreign processes are removed."""
    live, _stale = _scan(_state_path(state))
    return live


def stop(
    *,
    port: int | None = None,
    logdir: Path | None = None,
    all: bool = False,  # noqa: A002 - the CLI flag is --all
    state: Path | None = None,
    timeout: float = 10.0,
) -> StopResult:
    """Stop inspector's boards: the only one, or those matching ``port``/``logdir``, or ``all``.

    Several matching boards without ``all`` is an InspectorError; no matching
    board is not an error (the result is simply empty). Each board gets SIGTERM,
    then SIGKILL after ``timeout`` seconds.
    """
    folder = _state_path(state)
    live, stale = _scan(folder)
    wanted = str(Path(logdir).expanduser().resolve()) if logdir is not None else None
    chosen = [
        board
        for board in live
        if (port is None or board.port == port) and (wanted is None or board.logdir == wanted)
    ]
    if len(chosen) > 1 and not all:
        ports = ", ".join(str(board.port) for board in chosen)
        raise InspectorError(
            f"{len(chosen)} inspector boards are running (ports {ports}); "
            "pick one with --port or stop them all with --all"
        )
    stopped: list[BoardInfo] = []
    gone: list[BoardInfo] = list(stale)
    for board in chosen:
        if _stop_one(board, timeout=timeout):
            stopped.append(board)
        else:
            gone.append(board)
        _remove_files(folder, board)
    return StopResult(stopped=tuple(stopped), stale_removed=tuple(gone))


# --- launching -------------------------------------------------------------


def _tensorboard_argv(*, logdir: Path, host: str, port: int) -> list[str]:
    # The same interpreter, so the board runs the tensorboard this package was
    # installed with rather than whatever `tensorboard` is first on PATH.
    return [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", host, "--port", str(port)]


def _launch(folder: Path, *, logdir: Path, host: str, port: int, timeout: float, version: str) -> BoardInfo:
    argv = _tensorboard_argv(logdir=logdir, host=host, port=port)
    # The pid is unknown until the process exists, so the log starts under a
    # temporary name and is renamed; the child keeps writing to the same file.
    fd, tmp_log = tempfile.mkstemp(dir=folder, prefix=".board-", suffix=".log")
    started = time.time()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C in the terminal and the CLI exiting leave it running.
            start_new_session=True,
            # With `-m`, the working folder lands on sys.path; the state folder
            # holds nothing importable, so no local file can shadow tensorboard.
            cwd=folder,
        )
    except OSError as exc:
        os.unlink(tmp_log)
        raise InspectorError(
            f"{argv[0]}: cannot launch TensorBoard ({exc.strerror}); check the Python installation"
        ) from None
    finally:
        os.close(fd)
    _children[proc.pid] = proc
    log_path = folder / f"board-{proc.pid}.log"
    try:
        os.replace(tmp_log, log_path)
    except OSError:
        log_path = Path(tmp_log)
    info = BoardInfo(
        pid=proc.pid,
        port=port,
        host=host,
        logdir=str(logdir),
        start_time=started,
        cmdline=tuple(argv),
        log_path=str(log_path),
        version=version,
    )
    try:
        _wait_exec(proc, info)
        _write_info(folder, info)
        _wait_ready(proc, info, timeout=timeout)
    except BaseException:
        # Covers failures and Ctrl-C alike: never leave a half-started board behind.
        _kill_child(proc)
        _info_path(folder, info.pid).unlink(missing_ok=True)
        raise
    return info


def _wait_exec(proc: subprocess.Popen[bytes], info: BoardInfo) -> None:
    # Popen returns while the kernel is still finishing exec, when the new
    # cmdline reads as empty; an info file written then could be judged stale
    # and deleted by a concurrent status(). Bounded, since a platform whose
    # process listing never matches must still get a (short-lived) board.
    deadline = time.monotonic() + _KILL_GRACE_SECONDS
    while proc.poll() is None and not _is_ours(info) and time.monotonic() < deadline:
        time.sleep(0.01)


def _wait_ready(proc: subprocess.Popen[bytes], info: BoardInfo, *, timeout: float) -> None:
    probe = f"http://{_url_host(_connect_host(info.host))}:{info.port}/data/logdir"
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise InspectorError(
                f"TensorBoard for {info.logdir} {how} before it answered on {info.url}; "
                f"fix what its log reports (full log: {info.log_path})",
                details=_log_tail(info.log_path),
            )
        if _answers(probe, info.logdir):
            return
        if time.monotonic() >= deadline:
            raise InspectorError(
                f"TensorBoard for {info.logdir} did not answer on {info.url} within {timeout:g} s "
                f"and was stopped; pass a longer --timeout if this machine is slow "
                f"(full log: {info.log_path})",
                details=_log_tail(info.log_path),
            )
        time.sleep(_POLL_SECONDS)


def _answers(url: str, logdir: str) -> bool:
    # Environment proxies must not intercept a request to a local board.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2.0) as response:
            if response.status != 200:
                return False
            body = json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError, http.client.HTTPException):
        return False
    # Another server grabbing the port between our probe and TensorBoard's bind
    # would answer too; only our board reports our logdir.
    served = body.get("logdir") if isinstance(body, dict) else None
    return isinstance(served, str) and os.path.normpath(served) == os.path.normpath(logdir)


def _kill_child(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=_KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _children.pop(proc.pid, None)


def _log_tail(log_path: str) -> tuple[str, ...]:
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ()
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ("(the log is empty)",)
    return tuple(lines[-_LOG_TAIL_LINES:])


# --- ports and hosts -------------------------------------------------------


def _pick_port(host: str, port: int) -> tuple[int, tuple[str, ...]]:
    last = min(port + _PORT_SCAN, 65535)
    for candidate in range(port, last + 1):
        if _port_free(host, candidate):
            if candidate == port:
                return candidate, ()
            return candidate, (f"port {port} is taken; using {candidate}",)
    raise InspectorError(
        f"ports {port}-{last} on {host} are all taken; pass --port with a free port "
        "or stop boards you no longer need"
    )


def _port_free(host: str, port: int) -> bool:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InspectorError(
            f"host {host}: cannot resolve it ({exc.strerror}); pass --host with an address "
            "of this machine such as 127.0.0.1"
        ) from None
    with socket.socket(family, kind, proto) as probe:
        # TensorBoard's server binds with SO_REUSEADDR, so a port whose old
        # connections linger in TIME_WAIT is free for it and must be for us.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            if exc.errno == errno.EACCES:
                raise InspectorError(
                    f"port {port}: binding it needs extra privileges; pass --port 1024 or higher"
                ) from None
            raise InspectorError(
                f"host {host}: cannot listen there ({exc.strerror}); pass --host with an address "
                "of this machine such as 127.0.0.1"
            ) from None
    # TensorBoard also refuses a port that already answers on localhost,
    # whatever --host says, so such a port is taken for us too.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(1.0)
        return client.connect_ex(("127.0.0.1", port)) != 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _exposure_warnings(host: str) -> tuple[str, ...]:
    if _is_loopback(host):
        return ()
    where = "every network interface" if host in _WILDCARD_HOSTS else host
    return (
        f"the board listens on {where}, so anyone who can reach this machine on the network "
        "can read your graphs; TensorBoard has no login",
    )


def _connect_host(host: str) -> str:
    if host == "::":
        return "::1"
    if host in _WILDCARD_HOSTS:
        return "127.0.0.1"
    return host


def _url_host(host: str) -> str:
    if host in _WILDCARD_HOSTS:
        return "localhost"
    if ":" in host:
        return f"[{host}]"
    return host


# --- info files and processes ----------------------------------------------


def _state_path(state: Path | None) -> Path:
    return Path(state).expanduser() if state is not None else state_dir()


def _prepare_state(state: Path | None) -> Path:
    folder = _state_path(state).absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InspectorError(
            f"{folder}: cannot create the board state folder ({exc.strerror}); "
            "set INSPECTOR_STATE_DIR to a writable folder"
        ) from None
    return folder


def _prepare_logdir(logdir: Path) -> Path:
    resolved = logdir.expanduser().resolve()
    if resolved.exists() and not resolved.is_dir():
        raise InspectorError(f"{logdir}: is a file, not a log folder; pass the folder that holds the runs")
    try:
        resolved.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InspectorError(f"{logdir}: cannot create the log folder ({exc.strerror}); check the path and permissions") from None
    return resolved


def _tensorboard_version() -> str:
    try:
        return metadata.version("tensorboard")
    except metadata.PackageNotFoundError:
        raise InspectorError(
            f"tensorboard: not installed for {sys.executable}; install it with `pip install tensorboard`"
        ) from None


@contextlib.contextmanager
def _state_lock(folder: Path) -> Iterator[None]:
    # Serialises check-then-launch, so two concurrent starts for one logdir
    # yield one board (the second reuses it) and never race for a port.
    try:
        import fcntl
    except ImportError:  # not POSIX: go without the lock
        yield
        return
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _info_path(folder: Path, pid: int) -> Path:
    return folder / f"board-{pid}.json"


def _write_info(folder: Path, info: BoardInfo) -> None:
    record = {
        "tool": _INFO_TOOL,
        "format": _INFO_FORMAT,
        "pid": info.pid,
        "port": info.port,
        "host": info.host,
        "logdir": info.logdir,
        "start_time": info.start_time,
        "cmdline": list(info.cmdline),
        "log_path": info.log_path,
        "version": info.version,
    }
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
    write_bytes_atomic(_info_path(folder, info.pid), data)


def _read_info(path: Path) -> BoardInfo | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("tool") != _INFO_TOOL:
        return None
    try:
        cmdline = record["cmdline"]
        info = BoardInfo(
            pid=int(record["pid"]),
            port=int(record["port"]),
            host=str(record["host"]),
            logdir=str(record["logdir"]),
            start_time=float(record["start_time"]),
            cmdline=tuple(str(arg) for arg in cmdline),
            log_path=str(record["log_path"]),
            version=str(record["version"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(cmdline, list) or not cmdline or info.pid <= 0:
        return None
    return info


def _scan(folder: Path) -> tuple[tuple[BoardInfo, ...], tuple[BoardInfo, ...]]:
    """(live, stale) boards; stale info files are removed on the way."""
    if not folder.is_dir():
        return (), ()
    live: list[BoardInfo] = []
    stale: list[BoardInfo] = []
    for path in sorted(folder.glob("board-*.json")):
        info = _read_info(path)
        # Files this module cannot read are left alone rather than deleted.
        if info is None:
            continue
        _reap(info.pid)
        if _is_ours(info):
            live.append(info)
        else:
            stale.append(info)
            _remove_files(folder, info)
    live.sort(key=lambda board: (board.port, board.pid))
    return tuple(live), tuple(stale)


def _remove_files(folder: Path, info: BoardInfo) -> None:
    _info_path(folder, info.pid).unlink(missing_ok=True)
    log = Path(info.log_path)
    # Only ever delete a log inside the state folder, whatever the info file says.
    if log.parent == folder or log.parent.resolve() == folder.resolve():
        log.unlink(missing_ok=True)


def _cmdline_of(pid: int) -> tuple[str, ...] | None:
    """The argv of a running process, or None if it is gone, a zombie, or unreadable."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            return None
        # A zombie (dead, not yet reaped) has an empty cmdline: treat it as gone.
        if not raw:
            return None
        return tuple(os.fsdecode(part) for part in raw.rstrip(b"\0").split(b"\0"))
    try:
        done = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    if done.returncode != 0 or not text:
        return None
    # ps joins the arguments with spaces, so only the joined form is comparable.
    return (text,)


def _is_ours(info: BoardInfo) -> bool:
    """True only if the pid runs exactly the command inspector launched."""
    actual = _cmdline_of(info.pid)
    if actual is None:
        return False
    if len(actual) == 1 and len(info.cmdline) > 1:
        return actual[0] == " ".join(info.cmdline)
    return actual == info.cmdline


def _reap(pid: int) -> None:
    # Only boards this process launched are reaped here; any other board is
    # reaped by its own parent (or init), and /proc shows it gone as a zombie.
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def _signal(info: BoardInfo, signum: int) -> None:
    """Send ``signum`` only if the pid still runs the recorded command."""
    pidfd_open = getattr(os, "pidfd_open", None)
    send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is not None and send is not None:
        try:
            fd = pidfd_open(info.pid)
        except ProcessLookupError:
            return
        except OSError:
            fd = None  # kernel without pidfd: fall through to os.kill
        if fd is not None:
            # A pidfd names one process: if it exits after the check, the
            # signal fails instead of reaching a program that reused the pid.
            try:
                if _is_ours(info):
                    send(fd, signum)
            except ProcessLookupError:
                pass
            finally:
                os.close(fd)
            return
    if not _is_ours(info):
        return
    try:
        os.kill(info.pid, signum)
    except ProcessLookupError:
        pass


def _proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/<pid>/stat, or None if gone or not on Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces or ")".
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def _exited(info: BoardInfo) -> bool:
    if _is_ours(info):
        return False
    # A process that is still exiting has already lost its cmdline but is not
    # a zombie yet; it only counts as gone once dead, or the pid runs another program.
    state = _proc_state(info.pid)
    return state is None or state in "ZX" or _cmdline_of(info.pid) is not None


def _wait_gone(info: BoardInfo, timeout: float) -> bool:
    child = _children.get(info.pid)
    if child is not None:
        # Our own child: waiting on it both observes and reaps the exit.
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(info.pid, None)
        return True
    deadline = time.monotonic() + timeout
    while not _exited(info):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _stop_one(info: BoardInfo, *, timeout: float) -> bool:
    """Stop one board; False if it had already exited on its own."""
    if not _is_ours(info):
        return False
    try:
        _signal(info, signal.SIGTERM)
        if _wait_gone(info, timeout):
            return True
        _signal(info, getattr(signal, "SIGKILL", signal.SIGTERM))
        if _wait_gone(info, _KILL_GRACE_SECONDS):
            return True
    except PermissionError:
        raise InspectorError(
            f"TensorBoard pid {info.pid} on port {info.port}: not allowed to signal it; "
            "stop it as the user who started it"
        ) from None
    raise InspectorError(
        f"TensorBoard pid {info.pid} on port {info.port}: still running after SIGKILL; "
        f"check it with `ps -p {info.pid}`"
    )
