"""Layer drift in a logdir: what `verify --layers --logdir` records, and what the Graph diff tab colours the drawn nodes by."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspector.atomic import write_bytes_atomic
from inspector.errors import InspectorError
from inspector.files import read_limited
from inspector.tb.plugin.metadata import MARKER

DRIFT = str(Path(MARKER).with_name("drift.json"))
# ~150 B a layer: a million layers fit.
_DRIFT_MAX = 256 << 20


def record_drift(logdir: Path, report: Any, a: Path, b: Path) -> Path:
    """Write ``report`` (run/layers.LayersReport of a vs b) as the logdir's drift, keyed by the runs compare names a and b."""
    from inspector.analysis.diff import run_names

    run_a, run_b = run_names(Path(a), Path(b))
    body = {
        "a": run_a, "b": run_b, "files": [str(a), str(b)], "factor": report.factor, "inputs": list(report.inputs),
        "first_out": report.first_out.a if report.first_out else None,
        "layers": [[layer.a, layer.b, layer.ratio, layer.max_abs, layer.max_rel, layer.floor]
                   for layer in report.layers],
    }
    path = Path(logdir) / DRIFT
    write_bytes_atomic(path, (json.dumps(body, separators=(",", ":")) + "\n").encode("utf-8"))
    return path


_last: dict[Path, tuple[tuple[int, int], dict]] = {}


def read_drift(logdir: Path) -> tuple[tuple[int, int], dict] | None:
    """The drift recorded in ``logdir`` and the (size, mtime) it was read at, or None when there is none or it is not ours.

    Read again only when its size or time changed: the node panel asks on every click.
    """
    path = Path(logdir) / DRIFT
    try:
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        if path in _last and _last[path][0] == stamp:
            return _last[path]
        data = read_limited(path, limit=_DRIFT_MAX, itself="remove it", too_big=lambda size: f"{size:,} bytes is no drift record")
        body = json.loads(data.decode("utf-8"))
    except (OSError, ValueError, InspectorError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list) or not isinstance(body.get("a"), str):
        return None
    _last.clear()  # one logdir's record kept: a TensorBoard serves one logdir
    _last[path] = (stamp, body)
    return _last[path]
