"""The one place TensorFlow is imported: quiet, lazy, and converting protos at the boundary."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterator

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.graph.ops import CONST_OPS


def tf() -> Any:
    """Import TensorFlow on first use, without its start-up chatter on stderr."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    # TF's C++ side logs (oneDNN, CUDA stubs, cuInit on a machine without a GPU)
    # straight to file descriptor 2 before any Python setting applies, so stderr
    # is pointed at /dev/null for the import and the first device scan.
    # INSPECTOR_TF_VERBOSE=1 keeps it, for when TensorFlow itself misbehaves.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with quiet_stderr():
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
def quiet_stderr() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside, where TensorFlow's C++ logs go; INSPECTOR_TF_VERBOSE=1 keeps them."""
    if os.environ.get("INSPECTOR_TF_VERBOSE", "") not in ("", "0"):
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


class BadTensorDtype(InspectorError, ValueError):
    """A tensor whose dtype is no TensorFlow type (a damaged file): TensorFlow aborts the process on it, so it never gets there.

    A user's error, so an InspectorError: nothing lets it out as a traceback. It is
    also a ValueError, as TensorFlow's own import errors are, so that each place
    that imports a graph (tfrun.import_graph, the runners, the TFLite converter)
    reports it as it reports those: with the file's name and the fix.
    """


def to_tf(graph: GraphDef) -> Any:
    """tensorboard's GraphDef -> TensorFlow's GraphDef (same schema, other Python class).

    Every graph TensorFlow sees passes here, so this is where a tensor with an
    invalid dtype is refused (BadTensorDtype): TensorFlow imports it, then aborts
    the whole process with a failed CHECK when the tensor is built.
    """
    tensorflow = tf()
    return tensorflow.compat.v1.GraphDef.FromString(checked_bytes(graph))


def checked_bytes(graph: GraphDef) -> bytes:
    """``graph`` serialized for TensorFlow's C importer, after the dtype check :func:`to_tf` makes."""
    _check_tensor_dtypes(graph)
    return graph.SerializeToString()


def _check_tensor_dtypes(graph: GraphDef) -> None:
    from tensorboard.compat.proto.types_pb2 import DataType

    from inspector.graph.stats import dtype_name

    valid = {v for v in DataType.values() if 0 < v < 100}
    for node in graph.node:
        for key, attr in node.attr.items():
            kind = attr.WhichOneof("value")
            tensors = [attr.tensor] if kind == "tensor" else list(attr.list.tensor) if kind == "list" else []
            for tensor in tensors:
                if tensor.dtype not in valid:
                    raise BadTensorDtype(
                        f"node {node.name!r}: its {key!r} tensor has dtype {tensor.dtype}, which is no TensorFlow type "
                        "(a damaged file?)"
                    )
        # A Const whose value is of another type than it declares fails a CHECK too.
        if node.op in CONST_OPS and "value" in node.attr and "dtype" in node.attr:
            held, declared = node.attr["value"].tensor.dtype, node.attr["dtype"].type
            if held != declared:
                raise BadTensorDtype(
                    f"node {node.name!r}: its value is {dtype_name(held)} but it declares "
                    f"{dtype_name(declared)} (a damaged file?)"
                )


def error_line(exc: BaseException, limit: int = 200) -> str:
    """The line of a TensorFlow error that says what went wrong, cut to ``limit`` characters.

    Skips Session.run's boilerplate ("Graph execution error:", "Detected at
    node ...") and names the node when the error carries one; long lines (some
    quote a whole tensor) are cut.
    """
    skip = ("Graph execution error", "Detected at node", "Node:", "defined at")
    lines = [line.strip() for line in str(exc).split("\n")]  # not splitlines: a node name may hold \x1c, \x85 ...
    useful = [line for line in lines if line and not line.startswith(skip)]
    text = useful[0] if useful else type(exc).__name__
    node = getattr(exc, "node_def", None)
    name = getattr(node, "name", "")
    if not name:
        # A graph whose operations have no Python wrappers (optimizer/passes/tfrun.py) gets no node_def; the text names it.
        tag = re.search(r"\{\{node (.+?)\}\}", str(exc))
        name = tag.group(1) if tag else ""
    if name and name not in text:
        text = f"node {name!r}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        first = str(exc).strip().split("\n")[0] if str(exc).strip() else type(exc).__name__
        raise InspectorError(f"{path}: TensorFlow cannot load this SavedModel ({first})") from None
    signatures = getattr(model, "signatures", {}) or {}
    if signature not in signatures:
        have = ", ".join(sorted(signatures)) or "none"
        raise InspectorError(
            f"{path}: the SavedModel has no signature {signature!r} (it has: {have}); pass --signature NAME"
        )
    frozen = convert_variables_to_constants_v2(signatures[signature])
    return from_tf(frozen.graph.as_graph_def())
