"""Board records: BoardInfo, the state folder holding each board's info file and log, and the folder's lock."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inspector.atomic import write_bytes_atomic
from inspector.errors import InspectorError

INFO_FORMAT = 1
INFO_TOOL = "inspector-board"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


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
        return f"http://{url_host(self.host)}:{self.port}/"


def url_host(host: str) -> str:
    """``host`` as it goes into a URL a browser on this machine can open."""
    if host in WILDCARD_HOSTS:
        return "localhost"
    if ":" in host:
        return f"[{host}]"
    return host


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


def state_path(state: Path | None) -> Path:
    return Path(state).expanduser() if state is not None else state_dir()


def prepare_state(state: Path | None) -> Path:
    folder = state_path(state).absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InspectorError(
            f"{folder}: cannot create the board state folder ({exc.strerror}); "
            "set INSPECTOR_STATE_DIR to a writable folder"
        ) from None
    return folder


@contextlib.contextmanager
def state_lock(folder: Path) -> Iterator[None]:
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


def info_path(folder: Path, pid: int) -> Path:
    return folder / f"board-{pid}.json"


def write_info(folder: Path, info: BoardInfo) -> None:
    record = {
        "tool": INFO_TOOL,
        "format": INFO_FORMAT,
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
    write_bytes_atomic(info_path(folder, info.pid), data)


def read_info(path: Path) -> BoardInfo | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("tool") != INFO_TOOL:
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


def remove_files(folder: Path, info: BoardInfo) -> None:
    info_path(folder, info.pid).unlink(missing_ok=True)
    log = Path(info.log_path)
    # Only ever delete a log inside the state folder, whatever the info file says.
    if log.parent == folder or log.parent.resolve() == folder.resolve():
        log.unlink(missing_ok=True)
