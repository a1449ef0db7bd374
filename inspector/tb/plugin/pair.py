"""Which two runs the Graph diff tab opens on: the marker `inspector compare` writes, and the tab's URL."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

from inspector.atomic import write_bytes_atomic
from inspector.errors import InspectorError
from inspector.files import read_limited
from inspector.tb.plugin.metadata import MARKER, PLUGIN_NAME
from inspector.tb.events import normalize_run_name


# What record_pair writes is under 200 bytes; anything much bigger is not its marker.
_MARKER_MAX = 64 * 1024
# Beside it, the optimizer's change record when compare optimized b (~100 B a node).
CHANGES = str(Path(MARKER).with_name("changes.json"))
_CHANGES_MAX = 64 << 20
# And the diff compare computed, as the tab shows it (~60 B a node), so the tab need not diff the pair again.
DIFF = str(Path(MARKER).with_name("diff.json"))
_DIFF_MAX = 256 << 20


def record_pair(logdir: Path, a: str, b: str, *, changes: dict | None = None,
                event_files: tuple[str, str] | None = None, diff: dict | None = None) -> Path:
    """Remember ``a`` and ``b`` as the pair the Graph diff tab shows first; returns the marker's path.

    ``changes``: the optimizer's change record of b made from a, for the graphs
    in ``event_files`` (the two event files' names): the tab names the passes
    behind each story while those are the runs' graphs. ``diff``: the diff of
    those graphs as the tab shows it (``{"payload": ..., "facts": ...}``,
    backend.diff_record), which the tab then uses instead of diffing again.
    """
    pair = normalize_run_name(a), normalize_run_name(b)
    path = Path(logdir) / MARKER
    body = {"a": pair[0], "b": pair[1], "recorded": time.time()}
    write_bytes_atomic(path, (json.dumps(body, indent=2) + "\n").encode("utf-8"))
    beside = Path(logdir) / CHANGES
    if changes is not None and event_files is not None:
        record = {"a": pair[0], "b": pair[1], "event_files": list(event_files), "changes": changes}
        write_bytes_atomic(beside, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
    elif not beside.is_symlink() and "event_files" in (_marker(logdir, CHANGES, _CHANGES_MAX) or {}):
        beside.unlink()  # ours, about an earlier pair: it would describe graphs no longer logged
    stored = Path(logdir) / DIFF
    if diff is not None and event_files is not None:
        record = {"a": pair[0], "b": pair[1], "event_files": list(event_files), **diff}
        write_bytes_atomic(stored, (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8"))
    elif not stored.is_symlink() and "event_files" in (_marker(logdir, DIFF, _DIFF_MAX) or {}):
        stored.unlink()
    return path


def read_pair(logdir: Path) -> tuple[str, str] | None:
    """The pair :func:`record_pair` wrote, or None when there is none or it is unreadable."""
    body = _marker(logdir)
    try:
        return (normalize_run_name(body["a"]), normalize_run_name(body["b"])) if body is not None else None
    except (KeyError, TypeError, InspectorError):
        return None


def read_changes(logdir: Path, a: str, b: str, files: tuple[str, str]) -> dict | None:
    """The change record compare stored for runs ``a`` and ``b``, if their graphs are still from ``files``."""
    if read_pair(logdir) != (a, b):
        return None
    body = _marker(logdir, CHANGES, _CHANGES_MAX)
    if body is None or (body.get("a"), body.get("b")) != (a, b) or not isinstance(body.get("changes"), dict):
        return None
    return body["changes"] if body.get("event_files") == list(files) else None


def read_diff(logdir: Path, a: str, b: str, files: tuple[str, str]) -> dict | None:
    """The diff compare stored for runs ``a`` and ``b`` (``{"payload", "facts"}``), if their graphs are still from ``files``."""
    if read_pair(logdir) != (a, b):
        return None
    body = _marker(logdir, DIFF, _DIFF_MAX)
    if body is None or (body.get("a"), body.get("b")) != (a, b) or body.get("event_files") != list(files):
        return None
    return body if isinstance(body.get("payload"), dict) and isinstance(body.get("facts"), dict) else None


def _marker(logdir: Path, name: str = MARKER, limit: int = _MARKER_MAX) -> dict | None:
    try:
        # Bounded, regular files only: the marker sits in a logdir anyone may have filled (a FIFO would hang the tab).
        data = read_limited(Path(logdir) / name, limit=limit, itself="remove it",
                            too_big=lambda size: f"{size:,} bytes is no pair marker")
        body = json.loads(data.decode("utf-8"))
    except (OSError, ValueError, InspectorError):
        # A missing or hand-mangled marker only loses the default pair.
        return None
    return body if isinstance(body, dict) else None


def diff_tab_url(board_url: str, a: str | None = None, b: str | None = None) -> str:
    """The URL that opens TensorBoard on the Graph diff tab, comparing ``a`` with ``b``.

    ``http://127.0.0.1:6006/#graph_diff&a=retrained&b=optimized``: TensorBoard
    keeps the hash's extra keys, and the tab reads them from the top window;
    without ``a`` and ``b`` the tab opens on the recorded pair.
    """
    url = board_url.split("#", 1)[0]
    if not url.endswith("/"):
        url += "/"
    url += "#" + PLUGIN_NAME
    if a is not None and b is not None:
        url += "&a=" + urllib.parse.quote(a, safe="") + "&b=" + urllib.parse.quote(b, safe="")
    return url
