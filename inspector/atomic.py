"""Atomic file writes: a temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from inspector.errors import InspectorError


def write_bytes_atomic(path: Path, data: bytes, *, refuse: tuple[Path, ...] = ()) -> Path:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    ``refuse`` lists input files that must never be overwritten (compared after
    resolving links), so a command cannot clobber the graph it read.
    """
    path = Path(path)
    target = path.resolve()
    for other in refuse:
        if Path(other).resolve() == target:
            raise InspectorError(
                f"{path}: refusing to overwrite the input file; choose another output path"
            )
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InspectorError(f"{parent}: cannot create the folder ({exc.strerror}); check the path and permissions") from None
    # The temp name must not look like an event file or a graph, so readers
    # (TensorBoard's directory watcher, globbing users) never pick it up half written.
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=".inspector-", suffix=".tmp")
    try:
        # mkstemp makes 0600 files; a graph or event file should get the mode a
        # plain open() would give (or keep the mode of the file it replaces), so a
        # TensorBoard running as another user can still read it.
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InspectorError(f"{path}: cannot write ({exc.strerror}); check free space and permissions") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
