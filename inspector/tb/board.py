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
    read_info,
    remove_files,
    state_dir,
    state_lock,
    state_path,
    url_host,
    write_info,
)

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

_PORT_SCAN = 100
_LOG_TAIL_LINES = 10
_POLL_SECONDS = 0.25


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
    folder = prepare_state(state)
    resolved = _prepare_logdir(Path(logdir))
    if bind_all:
        host = "0.0.0.0"

    with state_lock(folder):
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
    live, _stale = _scan(state_path(state))
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
    folder = state_path(state)
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
        if boardproc.stop_one(board, timeout=timeout):
            stopped.append(board)
        else:
            gone.append(board)
        remove_files(folder, board)
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
    boardproc.children[proc.pid] = proc
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
        write_info(folder, info)
        _wait_ready(proc, info, timeout=timeout)
    except BaseException:
        # Covers failures and Ctrl-C alike: never leave a half-started board behind.
        boardproc.kill_child(proc)
        info_path(folder, info.pid).unlink(missing_ok=True)
        raise
    return info


def _wait_exec(proc: subprocess.Popen[bytes], info: BoardInfo) -> None:
    # Popen returns while the kernel is still finishing exec, when the new
    # cmdline reads as empty; an info file written then could be judged stale
    # and deleted by a concurrent status(). Bounded, since a platform whose
    # process listing never matches must still get a (short-lived) board.
    deadline = time.monotonic() + boardproc.KILL_GRACE_SECONDS
    while proc.poll() is None and not boardproc.is_ours(info) and time.monotonic() < deadline:
        time.sleep(0.01)


def _wait_ready(proc: subprocess.Popen[bytes], info: BoardInfo, *, timeout: float) -> None:
    probe = f"http://{url_host(_connect_host(info.host))}:{info.port}/data/logdir"
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


# --- the log folder, TensorBoard's version, and which recorded boards live


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


def _scan(folder: Path) -> tuple[tuple[BoardInfo, ...], tuple[BoardInfo, ...]]:
    """(live, stale) boards; stale info files are removed on the way."""
    if not folder.is_dir():
        return (), ()
    live: list[BoardInfo] = []
    stale: list[BoardInfo] = []
    for path in sorted(folder.glob("board-*.json")):
        info = read_info(path)
        # Files this module cannot read are left alone rather than deleted.
        if info is None:
            continue
        boardproc.reap(info.pid)
        if boardproc.is_ours(info):
            live.append(info)
        else:
            stale.append(info)
            remove_files(folder, info)
    live.sort(key=lambda board: (board.port, board.pid))
    return tuple(live), tuple(stale)


