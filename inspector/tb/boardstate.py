"""Board records: BoardInfo, the state folder holding each board's info file and log, bounded reads of them, and the folder's lock."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inspector.atomic import file_kind, write_bytes_atomic
from inspector.errors import InspectorError

# Format 2 adds the process start time and boot id that prove a pid is still the board.
INFO_FORMAT = 2
INFO_TOOL = "inspector-board"
# An info file is a few hundred bytes; anything past this is not one of ours.
INFO_LIMIT = 64 * 1024
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})

_INFO_NAME = re.compile(r"board-(\d+)\.json")


@dataclass(frozen=True)
class BoardInfo:
    """One background TensorBoard that inspector launched, as its info file records it.

    ``proc_start`` is the process's start time in clock ticks since boot (field
    22 of /proc/PID/stat) and ``boot_id`` the kernel's boot id, both read right
    after launch: together with the pid they name one process, which a reused
    pid cannot match. Info files from before format 2 have neither (None).
    """

    pid: int
    port: int
    host: str
    logdir: str
    start_time: float
    cmdline: tuple[str, ...]
    log_path: str
    version: str
    proc_start: int | None = None
    boot_id: str | None = None

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches the board."""
        return f"http://{url_host(self.host)}:{self.port}/"

    def to_json(self) -> dict:
        return {
            "pid": self.pid,
            "port": self.port,
            "host": self.host,
            "logdir": self.logdir,
            "url": self.url,
            "start_time": self.start_time,
            "log_path": self.log_path,
            "version": self.version,
        }


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


def info_files(folder: Path) -> list[Path]:
    """The info files in ``folder``, by name; listing opens none of them."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("board-*.json"))


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
        "proc_start": info.proc_start,
        "boot_id": info.boot_id,
    }
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
    write_bytes_atomic(info_path(folder, info.pid), data)


def read_regular(path: Path, *, limit: int, tail: bool = False) -> tuple[bytes | None, str]:
    """(data, "") for a regular file of at most ``limit`` bytes, else (None, why not).

    With ``tail``, a longer file gives its last ``limit`` bytes instead. Never
    follows a symlink and never blocks: a FIFO, a device or a link to one
    (/dev/zero) is refused from its lstat, before anything opens it.
    """
    try:
        before = os.lstat(path)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(before.st_mode):
        return None, f"is {file_kind(before.st_mode)}, not a regular file"
    if before.st_size > limit and not tail:
        return None, f"is {before.st_size} bytes, more than a board record can be ({limit // 1024} KiB)"
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    try:
        now = os.fstat(fd)
        # Swapped for something else between the lstat and the open.
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            return None, "was replaced while being read"
        if tail and now.st_size > limit:
            os.lseek(fd, now.st_size - limit, os.SEEK_SET)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        if not tail:
            return None, f"grew past {limit // 1024} KiB while being read, more than a board record can be"
        data = data[-limit:]
    return data, ""


def read_info(path: Path) -> tuple[BoardInfo | None, str]:
    """(the board ``path`` records, "") or (None, why it is not a board record)."""
    data, problem = read_regular(path, limit=INFO_LIMIT)
    if data is None:
        return None, problem
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "is not JSON"
    if not isinstance(record, dict) or record.get("tool") != INFO_TOOL:
        return None, "is not an inspector board record"
    try:
        cmdline = record["cmdline"]
        proc_start = record.get("proc_start")
        boot_id = record.get("boot_id")
        info = BoardInfo(
            pid=int(record["pid"]),
            port=int(record["port"]),
            host=str(record["host"]),
            logdir=str(record["logdir"]),
            start_time=float(record["start_time"]),
            cmdline=tuple(str(arg) for arg in cmdline),
            log_path=str(record["log_path"]),
            version=str(record["version"]),
            proc_start=None if proc_start is None else int(proc_start),
            boot_id=None if boot_id is None else str(boot_id),
        )
    except (KeyError, TypeError, ValueError):
        return None, "lacks fields a board record has"
    if not isinstance(cmdline, list) or not cmdline or info.pid <= 0:
        return None, "lacks fields a board record has"
    name = _INFO_NAME.fullmatch(path.name)
    if name is None or int(name.group(1)) != info.pid:
        return None, f"records pid {info.pid}, not the pid in its name"
    return info, ""


def remove_record(path: Path) -> None:
    """Delete one info file, and nothing else."""
    path.unlink(missing_ok=True)


def remove_log(folder: Path, info: BoardInfo) -> None:
    """Delete the log inspector gave this board, whatever else the info file's log_path says."""
    log = Path(info.log_path)
    # Only a name launch() gives (board-PID.log, or .board-*.log if the rename
    # failed), directly in the state folder: a record cannot point this at other files.
    named = log.name == f"board-{info.pid}.log" or (log.name.startswith(".board-") and log.name.endswith(".log"))
    if named and (log.parent == folder or log.parent.resolve() == folder.resolve()):
        log.unlink(missing_ok=True)
