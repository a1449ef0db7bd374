"""Bounded reads of input files: only regular files, never more than a stated limit, never blocking on a FIFO."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from inspector.atomic import special_kind
from inspector.errors import InspectorError

# Read on in chunks of this size past the size fstat gave (a file still
# growing, a /proc file that says 0), so such a file costs no more than the limit.
_CHUNK = 1 << 20


def open_regular(path: Path, *, itself: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor on the regular file ``path`` (links followed) and its ``fstat``; the caller closes it.

    A FIFO, device or socket is refused before it is opened (reading one blocks
    or never ends) and again on the descriptor, which is opened non-blocking, so
    a file swapped for a FIFO in between is refused instead of hanging;
    ``itself`` ends that error line ("pass the graph file itself"). A folder
    raises IsADirectoryError; it and the other OSErrors (FileNotFoundError,
    PermissionError) reach the caller, whose messages say what it wanted.
    """
    _require_regular(path, os.stat(path), itself=itself)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        _require_regular(path, info, itself=itself)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_limited(
    path: Path,
    *,
    limit: int,
    itself: str,
    too_big: Callable[[int], str],
    missing: str = "no such file; check the path",
    folder: str | None = None,
) -> bytes:
    """The bytes of the regular file ``path``, refused once it holds more than ``limit`` of them.

    The size is checked before reading, and the read stops one byte past
    ``limit`` whatever the file does meanwhile; ``too_big(size)`` is the rest of
    that error line after the path ("3.1 GiB is over protobuf's 2 GiB limit ...").
    Every failure is one InspectorError naming the path: ``missing`` and
    ``folder`` say what the caller wanted when the path is absent or a folder
    (``folder=None``: IsADirectoryError reaches the caller, which reads folders
    itself); FIFOs and devices as :func:`open_regular` says.
    """
    path = Path(path)
    try:
        fd, info = open_regular(path, itself=itself)
        try:
            data, seen = _read_up_to(fd, size=info.st_size, limit=limit)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise InspectorError(f"{path}: {missing}") from None
    except IsADirectoryError:
        if folder is None:
            raise
        raise InspectorError(f"{path}: {folder}") from None
    except PermissionError:
        raise InspectorError(f"{path}: permission denied; make the file readable (chmod +r)") from None
    except OSError as exc:
        raise InspectorError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None
    if data is None:
        raise InspectorError(f"{path}: {too_big(seen)}")
    return data


def _read_up_to(fd: int, *, size: int, limit: int) -> tuple[bytes | None, int]:
    """(the file's bytes, their count), or (None, bytes seen) once it holds more than ``limit``."""
    if size > limit:
        return None, size
    want = size + 1  # one byte more than fstat said: EOF, or a file that grew
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        # Linux returns at most ~2 GiB per read, so even the first part may come in pieces.
        chunk = os.read(fd, want - total if total < want else min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    if total > limit:
        return None, total
    return (parts[0] if len(parts) == 1 else b"".join(parts)), total


def _require_regular(path: Path, info: os.stat_result, *, itself: str) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    # In the words the output side uses for what it will not replace (a link named as one).
    kind = special_kind(path) or "a special file"
    raise InspectorError(f"{path}: is {kind}, not a regular file; {itself}")


def size_text(nbytes: int) -> str:
    """``3 * 2**30`` -> ``"3.0 GiB"``: a size in an error line."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes:,} bytes"


__all__ = ["open_regular", "read_limited", "size_text"]
