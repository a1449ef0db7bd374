"""The one place TensorFlow is imported: quiet, lazy, and converting protos at the boundary."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError


def tf() -> Any:
    """Import TensorFlow on first use, without its start-up chatter on stderr."""
    # Set before the first import only: TF reads it once, and a user's own
    # setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow
    except ImportError as exc:
        raise InspectorError(
            f"this command needs TensorFlow, which cannot be imported ({exc}); pip install tensorflow"
        ) from None
    return tensorflow


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
