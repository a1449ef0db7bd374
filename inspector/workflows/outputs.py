"""Which output files inspector may replace: its own (a sidecar record holds their sha256), or any with force.

Each graph or .tflite a command writes gets ``NAME.inspector.json`` beside it
(``optimized_graph.pb.inspector.json``): ``{"schema": 1, "sha256": ...}`` of
the bytes written, written atomically after the output. An existing output
whose bytes hash to its record's sha256 is inspector's to replace; anything
else (the codelab's retrained graph, a .tflite from another tool, a file
edited since) needs ``force``. Devices, FIFOs and folders are refused by the
atomic writer whatever ``force`` says.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from inspector.atomic import refuse_inputs, refuse_special, write_bytes_atomic
from inspector.errors import InspectorError

SCHEMA = 1
SUFFIX = ".inspector.json"
# A record is a few hundred bytes, plus the optimizer's change record (node names and reasons, ~100 B a node).
_RECORD_MAX = 64 << 20


def record_path(path: Path | str) -> Path:
    """Where the record of ``path`` lives: beside the file it points to, named after it."""
    real = Path(os.path.realpath(path))
    return real.with_name(real.name + SUFFIX)


def is_ours(path: Path | str) -> bool:
    """True when ``path`` is a regular file whose bytes are what inspector last wrote there."""
    record = _read_record(record_path(path))
    if record is None:
        return False
    digest = _sha256_of(Path(path))
    return digest is not None and digest == record.get("sha256")


def check_replaceable(
    path: Path | str, *, force: bool = False, flag: str = "--output", hint: str = "", inputs: tuple[Path, ...] = ()
) -> None:
    """Refuse ``path`` as an output when something is there that inspector may not replace.

    A device, FIFO, socket or folder (or a link to one) is refused even with
    ``force``; a regular file is replaced only when it is inspector's own, or
    with ``force``; one of the command's ``inputs`` never. ``flag`` names the
    option that chose ``path``, ``hint`` (e.g. " (are --input and --output
    swapped?)") goes after the reason.
    """
    path = Path(path)
    refuse_special(path)
    refuse_inputs(path, inputs)
    refuse_special(record_path(path))
    if force or not os.path.exists(path):
        return  # nothing there, or a dangling link: the write makes a new file
    if not is_ours(path):
        raise InspectorError(
            f"{path}: exists and inspector did not write it{hint}; pass --force to replace it, or choose another {flag}"
        )


@contextlib.contextmanager
def owned_output(
    path: Path | str, *, force: bool = False, flag: str = "--output", hint: str = "", inputs: tuple[Path, ...] = (),
    extra: dict | None = None,
) -> Iterator[Path]:
    """Check that ``path`` may be written, run the body that writes it, then record it as inspector's.

    The record is written when the file was replaced during the body (a new
    file, or a new inode from the atomic rename), also when the body then
    fails, so re-running a command that failed after writing needs no force.
    ``extra``: more fields for the record, which the body may fill in (the optimizer's changes).
    """
    path = Path(path)
    check_replaceable(path, force=force, flag=flag, hint=hint, inputs=inputs)
    before = _identity(path)
    try:
        yield path
    finally:
        after = _identity(path)
        if after is not None and after != before:
            record_written(path, extra=extra)


def record_written(path: Path | str, *, extra: dict | None = None) -> Path | None:
    """Write the record saying inspector wrote ``path`` as it is now; None when there is no regular file to record."""
    digest = _sha256_of(Path(path))
    if digest is None:
        return None
    from inspector import __version__

    body = {"schema": SCHEMA, "sha256": digest, "written_by": f"inspector {__version__}", **(extra or {})}
    # Compact: json's C encoder takes no indent, and the optimizer's changes run to millions of names.
    return write_bytes_atomic(record_path(path), (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8"))


def file_sha256(path: Path | str) -> str | None:
    """The sha256 of a regular file's bytes (what a change record names its source by)."""
    return _sha256_of(Path(path))


def changes_between(a: Path | str, b: Path | str) -> dict | None:
    """The optimizer's change record of ``b`` when inspector wrote ``b`` from ``a`` as they are now, else None."""
    record = _read_record(record_path(b))
    changes = record.get("changes") if record is not None else None
    # The record's shape first: hashing both graphs is the costly part, done only for a record that has changes.
    if not isinstance(changes, dict) or not isinstance(changes.get("passes"), list) or not isinstance(changes.get("source_sha256"), str):
        return None
    if record.get("sha256") != _sha256_of(Path(b)) or changes["source_sha256"] != _sha256_of(Path(a)):
        return None
    return changes


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def _open_regular(path: Path) -> int | None:
    """A read-only fd on ``path`` when it is a regular file; opened non-blocking so a FIFO cannot hang us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _sha256_of(path: Path) -> str | None:
    fd = _open_regular(path)
    if fd is None:
        return None
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_record(path: Path) -> dict | None:
    fd = _open_regular(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(_RECORD_MAX + 1)
    if len(data) > _RECORD_MAX:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA or not isinstance(record.get("sha256"), str):
        return None
    return record
