"""Atomic file writes: a temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import tempfile
from pathlib import Path

from inspector.errors import InspectorError


def write_bytes_atomic(path: Path, data: bytes, *, refuse: tuple[Path, ...] = ()) -> Path:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    ``refuse`` lists input files that must never be overwritten (compared after
    resolving links), so a command cannot clobber the graph it read. Only a
    regular file (or a link to one) is ever replaced: a device, FIFO, socket or
    folder at ``path`` is refused, whatever the caller's options.
    """
    path = Path(path)
    refuse_special(path)
    refuse_inputs(path, refuse)
    target = path.resolve()
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InspectorError(f"{parent}: cannot create the folder ({exc.strerror}); check the path and permissions") from None
    # The temp name must not look like an event file or a graph, so readers
    # (TensorBoard's directory watcher, globbing users) never pick it up half written.
    # Its name says which process on which host writes it, so a later write can
    # remove the ones a killed process left (see remove_stale_temps).
    remove_stale_temps(parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".inspector-{_host()}-{os.getpid()}-", suffix=".tmp")
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        # mkstemp makes 0600 files; a graph or event file should get the mode a
        # plain open() would give (or keep the mode of the file it replaces), so a
        # TensorBoard running as another user can still read it.
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # Again just before the rename: a FIFO or device made meanwhile is not replaced either.
        refuse_special(path)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _cannot_write(path, exc) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _cannot_write(path: Path, exc: OSError) -> InspectorError:
    return InspectorError(f"{path}: cannot write ({exc.strerror}); check free space and permissions")


def special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (``"a FIFO"``, ``"a symlink to a character device (/dev/null)"``); else None."""
    path = Path(path)
    try:
        link = os.lstat(path)
    except OSError:
        return None  # nothing there (or no way in): the write itself says what is wrong
    if not stat.S_ISLNK(link.st_mode):
        return file_kind(link.st_mode)
    try:
        kind = file_kind(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        return None  # a dangling link: writing creates the file it points to
    return None if kind is None else f"a symlink to {kind} ({os.path.realpath(path)})"


def file_kind(mode: int) -> str | None:
    """What an ``st_mode`` is, in words, when it is no regular file (``"a FIFO (named pipe)"``); None for a regular one."""
    if stat.S_ISREG(mode):
        return None
    for test, word in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "a file of an unknown kind"


def refuse_inputs(path: Path, inputs: tuple[Path, ...]) -> None:
    """Raise when ``path`` is one of ``inputs`` (however spelt: links, ``..``, hard links)."""
    for other in inputs:
        if same_file(Path(other), Path(path)):
            raise InspectorError(f"{path}: refusing to overwrite the input file; choose another output path")


def refuse_special(path: Path) -> None:
    """Raise when ``path`` exists and is not a regular file (nor a link to one): inspector never replaces those."""
    kind = special_kind(path)
    if kind is not None:
        raise InspectorError(f"{path}: {kind}, not a regular file; choose another output path (inspector replaces only regular files)")


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same path once links resolve, or a hard link."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


_TEMP = re.compile(r"^\.inspector-(?P<host>.+)-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temp files that writers on this host left when they were killed (their pid is gone).

    A temp file of a live process, of another host (a shared folder) or in an
    older name format is left alone. Returns what was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        match = _TEMP.match(entry.name)
        if not match or match.group("host") != host or _alive(int(match.group("pid"))):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user
        return True
    return True


def _host() -> str:
    # Goes into a file name: only characters that are safe everywhere, and no "-" (the separator).
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "localhost"
