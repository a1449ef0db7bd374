"""The one place TensorFlow is imported: quiet, lazy, and converting protos at the boundary."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Iterator

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError


def tf() -> Any:
    """Import TensorFlow on first use, without its start-up chatter on stderr."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    # TF's C++ side logs (oneDNN, CUDA stubs, cuInit on a machine without a GPU)
    # straight to file descriptor 2 before any Python setting applies, so stderr
    # is pointed at /dev/null for the import and the first device scan.
    # INSPECTOR_TF_VERBOSE=1 keeps it, for when TensorFlow itself misbehaves.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = os.environ.get("INSPECTOR_TF_VERBOSE", "") in ("", "0")
    try:
        with _stderr_silenced(quiet):
            import tensorflow

            tensorflow.config.list_physical_devices("GPU")
    except ImportError as exc:
        raise InspectorError(
            f"this command needs TensorFlow, which cannot be imported ({exc}); pip install tensorflow"
        ) from None
    # TF's Python deprecation warnings (graph_util is "TF1 API") are noise for our users.
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


@contextlib.contextmanager
def _stderr_silenced(active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def to_tf(graph: GraphDef) -> Any:
    """tensorboard's GraphDef -> TensorFlow's GraphDef (same schema, other Python class)."""
    return tf().compat.v1.GraphDef.FromString(graph.SerializeToString())


def from_tf(tf_graph: Any) -> GraphDef:
    return GraphDef.FromString(tf_graph.SerializeToString())


def freeze_saved_model(path: Path, *, signature: str) -> GraphDef:
    """Freeze one signature of a SavedModel folder into a GraphDef of constants."""
    tensorflow = tf()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    try:
        model = tensorflow.saved_model.load(str(path))
    except Exception as exc:  # TF raises many types for a broken SavedModel
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InspectorError(f"{path}: TensorFlow cannot load this SavedModel ({first})") from None
    signatures = getattr(model, "signatures", {}) or {}
    if signature not in signatures:
        have = ", ".join(sorted(signatures)) or "none"
        raise InspectorError(
            f"{path}: the SavedModel has no signature {signature!r} (it has: {have}); pass --signature NAME"
        )
    frozen = convert_variables_to_constants_v2(signatures[signature])
    return from_tf(frozen.graph.as_graph_def())
