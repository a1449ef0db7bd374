"""Background TensorBoard boards, the public API: start or reuse, list, and stop the ones inspector launched."""

from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from inspector.errors import InspectorError
from inspector.tb import boardproc
from inspector.tb.boardstate import (
    WILDCARD_HOSTS,
    BoardInfo,
    info_path,
    prepare_state,
    read_regular,
    state_dir,
    state_lock,
    state_path,
    url_host,
    write_info,
)

__all__ = [
    "BoardInfo",
    "BoardStatus",
    "NOT_ANSWERING",
    "RUNNING",
    "StartResult",
    "StopResult",
    "graph_url",
    "start",
    "state_dir",
    "status",
    "stop",
    "Survey",
    "survey",
]

_PORT_SCAN = 100
_LOG_TAIL_LINES = 10
_POLL_SECONDS = 0.25
# How long a health probe waits for a board that should answer at once.
_PROBE_SECONDS = 2.0
_LOG_TAIL_BYTES = 64 * 1024

RUNNING = "running"
NOT_ANSWERING = "not answering"
# Process states in /proc/PID/stat that mean the board cannot answer, whatever its socket does.
_STOPPED = {"T": "stopped (SIGSTOP)", "t": "stopped (traced by a debugger)"}


@dataclass(frozen=True)
class StartResult:
    """What start() did: the board, whether it already existed, and what to tell the user."""

    info: BoardInfo
    reused: bool
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class StopResult:
    """Boards stop() ended, records it removed (dead boards, pids now another process), and notes on both."""

    stopped: tuple[BoardInfo, ...]
    stale_removed: tuple[BoardInfo, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoardStatus:
    """One of inspector's boards that still runs, and whether it answers: ``health`` is RUNNING when it does.

    It reads like its BoardInfo (``pid``, ``port``, ``url``, ...).
    """

    info: BoardInfo
    health: str

    @property
    def ok(self) -> bool:
        return self.health == RUNNING

    # Read-through to the BoardInfo, for callers written when status() returned BoardInfos.
    pid = property(lambda self: self.info.pid)
    port = property(lambda self: self.info.port)
    host = property(lambda self: self.info.host)
    logdir = property(lambda self: self.info.logdir)
    url = property(lambda self: self.info.url)
    start_time = property(lambda self: self.info.start_time)
    cmdline = property(lambda self: self.info.cmdline)
    log_path = property(lambda self: self.info.log_path)
    version = property(lambda self: self.info.version)

    def to_json(self) -> dict:
        return self.info.to_json() | {"health": self.health}


@dataclass(frozen=True)
class Survey:
    """status() with its notes: records removed or skipped (dead, another process, unreadable) and why."""

    boards: tuple[BoardStatus, ...]
    stale_removed: tuple[BoardInfo, ...]
    notes: tuple[str, ...]

    def to_json(self) -> dict:
        return {"boards": [b.to_json() for b in self.boards], "notes": list(self.notes)}


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
    """Start a background TensorBoard on ``logdir``, or reuse one of inspector's that already serves it.

    A board is reused only if it answers now: one that is stopped (SIGSTOP) or
    does not answer is left as it is, and a fresh one starts on another port
    (a note says how to resume or stop the old one). Returns once the board
    answers over HTTP. Raises InspectorError (with the tail of TensorBoard's
    log) if it exits early or does not answer within ``timeout`` seconds; the
    process it launched is then stopped.
    """
    if not 1 <= port <= 65535:
        raise InspectorError(f"port {port}: not a valid TCP port; pass --port between 1 and 65535")
    if timeout <= 0:
        raise InspectorError(f"timeout {timeout}: must be positive; pass --timeout in seconds, e.g. 90")
    version = _tensorboard_version()
    folder = prepare_state(state)
    resolved = _prepare_logdir(Path(logdir))
    if bind_all:
        host = "0.0.0.0"

    with state_lock(folder):
        found = boardproc.scan(folder)
        notes = [note for info, _, note in found.kept if info.logdir == str(resolved) and info.host == host]
        # Ports of boards passed over stay theirs, so `stop --port` names one board.
        passed: set[int] = set()
        if reuse:
            for info, verdict in found.ours:
                if info.logdir != str(resolved) or info.host != host:
                    continue
                health = _health(info, verdict.state)
                if health != RUNNING:
                    notes.append(_passed_over(info, health))
                    passed.add(info.port)
                    continue
                if info.port != port:
                    notes.append(
                        f"a board for {resolved} already runs on port {info.port}; "
                        f"reusing it instead of port {port} (stop it first to move it)"
                    )
                return StartResult(info=info, reused=True, notes=tuple(notes), warnings=_exposure_warnings(info.host))
        chosen, port_notes = _pick_port(host, port, avoid=passed)
        launched = _launch(folder, logdir=resolved, host=host, port=chosen, timeout=timeout, version=version)
    return StartResult(info=launched, reused=False, notes=(*notes, *port_notes), warnings=_exposure_warnings(host))


def survey(*, state: Path | None = None) -> Survey:
    """inspector's boards that still run, each with its health, and notes on the records that are not.

    Records of boards that exited, or whose pid another process now has, are
    removed (and noted); unreadable ones, old ones without a start time and
    other users' boards are left alone (and noted). Each board is probed over
    HTTP (2 s at most) unless /proc shows it stopped.
    """
    found = boardproc.scan(state_path(state))
    boards = tuple(BoardStatus(info=info, health=_health(info, verdict.state)) for info, verdict in found.ours)
    return Survey(boards=boards, stale_removed=found.removed, notes=found.notes)


def status(*, state: Path | None = None) -> tuple[BoardStatus, ...]:
    """inspector's boards that still run, by port, each with its health (survey() also gives the notes)."""
    return survey(state=state).boards


def stop(
    *,
    port: int | None = None,
    logdir: Path | None = None,
    all: bool = False,  # noqa: A002 - the CLI flag is --all
    state: Path | None = None,
    timeout: float = 10.0,
) -> StopResult:
    """Stop inspector's boards: the only one, or those matching ``port``/``logdir``, or ``all``.

    Only a process that is provably the board inspector launched is signalled
    (same argv, same start time, same user); any other record is removed or
    skipped with a note. Several matching boards without ``all`` is an
    InspectorError, and so is one that runs as another user; no matching
    board is not an error (the result is simply empty). Each board gets
    SIGTERM (and SIGCONT, should it be stopped), then SIGKILL after ``timeout`` seconds.
    """
    folder = state_path(state)
    found = boardproc.scan(folder)
    wanted = str(Path(logdir).expanduser().resolve()) if logdir is not None else None

    def matches(info: BoardInfo) -> bool:
        return (port is None or info.port == port) and (wanted is None or info.logdir == wanted)

    chosen = [info for info, _ in found.ours if matches(info)]
    others = [info for info, verdict, _ in found.kept if verdict.kind == boardproc.OTHER_USER and matches(info)]
    if not all:
        if len(chosen) + len(others) > 1:
            ports = ", ".join(str(info.port) for info in sorted([*chosen, *others], key=lambda i: (i.port, i.pid)))
            raise InspectorError(
                f"{len(chosen) + len(others)} inspector boards are running (ports {ports}); "
                "pick one with --port or stop them all with --all"
            )
        if others:
            raise boardproc.not_allowed(others[0])
    stopped: list[BoardInfo] = []
    gone: list[BoardInfo] = list(found.removed)
    notes = list(found.notes)
    for info in chosen:
        (stopped if boardproc.stop_one(info, timeout=timeout) else gone).append(info)
        failed = boardproc.forget(folder, info, with_log=True)
        if failed:
            notes.append(f"{info_path(folder, info.pid)}: could not remove the record ({failed})")
    return StopResult(stopped=tuple(stopped), stale_removed=tuple(gone), notes=tuple(notes))


def _health(info: BoardInfo, state: str) -> str:
    if state in _STOPPED:
        return _STOPPED[state]
    return RUNNING if _answers(_probe_url(info), info.logdir, timeout=_PROBE_SECONDS) else NOT_ANSWERING


def _passed_over(info: BoardInfo, health: str) -> str:
    how = f"stop it with `inspector board stop --port {info.port}`"
    if health in _STOPPED.values():
        return (
            f"the board for {info.logdir} at pid {info.pid} (port {info.port}) is {health} and does not answer, "
            f"so it is not reused and keeps its port (resume it with `kill -CONT {info.pid}` or {how})"
        )
    return (
        f"the board for {info.logdir} at pid {info.pid} (port {info.port}) does not answer, "
        f"so it is not reused and keeps its port ({how})"
    )


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
    boardproc.children[proc.pid] = proc
    # Read now, while the pid is surely this child (unreaped, it cannot be
    # reused): the start time is what later proves a pid is still this board.
    proc_start = boardproc.start_ticks(proc.pid)
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
        proc_start=proc_start,
        boot_id=boardproc.boot_id(),
    )
    try:
        _wait_exec(proc, info)
        write_info(folder, info)
        _wait_ready(proc, info, timeout=timeout)
    except BaseException:
        # Covers failures and Ctrl-C alike: never leave a half-started board behind.
        boardproc.kill_child(proc)
        info_path(folder, info.pid).unlink(missing_ok=True)
        raise
    return info


def _wait_exec(proc: subprocess.Popen[bytes], info: BoardInfo) -> None:
    # Popen returns while the kernel is still finishing exec, when the cmdline
    # is still this program's or empty; an info file written then could be
    # judged stale and deleted by a concurrent status(). Bounded, since a
    # system without /proc never shows the cmdline.
    deadline = time.monotonic() + boardproc.KILL_GRACE_SECONDS
    while proc.poll() is None and time.monotonic() < deadline:
        running = boardproc.process(info.pid)
        if running is not None and running.cmdline == info.cmdline:
            return
        time.sleep(0.01)


def _wait_ready(proc: subprocess.Popen[bytes], info: BoardInfo, *, timeout: float) -> None:
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
        if _answers(_probe_url(info), info.logdir, timeout=_PROBE_SECONDS):
            return
        if time.monotonic() >= deadline:
            raise InspectorError(
                f"TensorBoard for {info.logdir} did not answer on {info.url} within {timeout:g} s "
                f"and was stopped; pass a longer --timeout if this machine is slow "
                f"(full log: {info.log_path})",
                details=_log_tail(info.log_path),
            )
        time.sleep(_POLL_SECONDS)


def _probe_url(info: BoardInfo) -> str:
    # Always this machine's loopback for a wildcard bind: the probe must reach this board, not the network.
    return f"http://{url_host(_connect_host(info.host))}:{info.port}/data/logdir"


def _answers(url: str, logdir: str, *, timeout: float) -> bool:
    # Environment proxies must not intercept a request to a local board.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            if response.status != 200:
                return False
            # TensorBoard's answer is a few bytes; whatever else holds the port may send without end.
            body = json.loads(response.read(_LOG_TAIL_BYTES).decode("utf-8"))
    except (OSError, ValueError, http.client.HTTPException):
        return False
    # Another server grabbing the port between our probe and TensorBoard's bind
    # would answer too; only our board reports our logdir.
    served = body.get("logdir") if isinstance(body, dict) else None
    return isinstance(served, str) and os.path.normpath(served) == os.path.normpath(logdir)


def _log_tail(log_path: str) -> tuple[str, ...]:
    data, problem = read_regular(Path(log_path), limit=_LOG_TAIL_BYTES, tail=True)
    if data is None:
        # Replaced by a FIFO, a device or a link to one, it must neither block nor be read without end.
        return (f"(no log tail: {log_path} {problem})",)
    lines = [line.rstrip() for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if not lines:
        return ("(the log is empty)",)
    return tuple(lines[-_LOG_TAIL_LINES:])


# --- ports and hosts -------------------------------------------------------


def _pick_port(host: str, port: int, *, avoid: Collection[int] = ()) -> tuple[int, tuple[str, ...]]:
    last = min(port + _PORT_SCAN, 65535)
    for candidate in range(port, last + 1):
        if candidate not in avoid and _port_free(host, candidate):
            # A port kept for a board passed over needs no note of its own: that board's note says so.
            if candidate == port or port in avoid:
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
    where = "every network interface" if host in WILDCARD_HOSTS else host
    return (
        f"the board listens on {where}, so anyone who can reach this machine on the network "
        "can read your graphs; TensorBoard has no login",
    )


def _connect_host(host: str) -> str:
    if host == "::":
        return "::1"
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return host


# --- the log folder and TensorBoard's version ------------------------------


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
