"""TensorFlow Lite conversion of a frozen graph: one converter call, what its errors name, the shapes it converts at, constants folded first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.graph import tfcompat
from inspector.graph.io import LoadedGraph
from inspector.graph.ops import FEED_OPS, is_random, unsafe_nodes
from inspector.graph.refs import upstream
from inspector.graph.names import Resolver
from inspector.graph.signature import SCALAR, Signature, placeholder_spec
from inspector.tflite import QUANTIZE_MODES


Quantize = Literal["none", "dynamic", "float16"]  # QUANTIZE_MODES (inspector/tflite/__init__.py) as a type


def check_quantize(quantize: str) -> None:
    if quantize not in QUANTIZE_MODES:
        raise InspectorError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}, not {quantize!r}")


@dataclass(frozen=True)
class OpError:
    code: str                 # the converter's error code name, e.g. ERROR_NEEDS_FLEX_OPS
    op: str                   # TensorFlow op type
    names: tuple[str, ...]    # node names from the error's location


@dataclass(frozen=True)
class Attempt:
    model: bytes | None
    errors: tuple[OpError, ...] = ()
    failure: str | None = None  # one line, when the conversion failed


def convert(
    tf_graph: Any,
    *,
    inputs: Sequence[tuple[str, tuple[int, ...]]],
    outputs: Sequence[str],
    select: bool,
    what: str,
    quantize: str = "none",
) -> Attempt:
    """One TensorFlow Lite conversion of ``tf_graph`` (TensorFlow's GraphDef) at the given input shapes."""
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        try:
            tf.compat.v1.import_graph_def(tf_graph, name="")
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise InspectorError(
                f"{what}: TensorFlow {tf.__version__} cannot import this graph ({tfcompat.error_line(exc)}); "
                "export it again with the TensorFlow that runs it"
            ) from None
    input_tensors = []
    for name, shape in inputs:
        tensor = graph.get_tensor_by_name(f"{name}:0")
        try:
            tensor.set_shape(shape)
        except ValueError:
            raise InspectorError(
                f"{what}: input {name!r} has shape {tensor.shape}, which does not fit {list(shape)}; "
                "check --input_height/--input_width"
            ) from None
        input_tensors.append(tensor)
    output_tensors = [graph.get_tensor_by_name(f"{name}:0") for name in outputs]
    lite = tf.compat.v1.lite
    converter = lite.TFLiteConverter(tf_graph, input_tensors, output_tensors)
    if select:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        # MLIR's diagnostics go straight to fd 2; the error object carries them anyway.
        with tfcompat.quiet_stderr():
            model = converter.convert()
    except Exception as exc:  # ConverterError, or ValueError/RuntimeError from the converter's own checks
        return Attempt(model=None, errors=op_errors(exc), failure=failure_line(exc))
    return Attempt(model=bytes(model))


def op_errors(exc: BaseException) -> tuple[OpError, ...]:
    found = []
    for err in getattr(exc, "errors", None) or ():
        try:
            code = err.DESCRIPTOR.fields_by_name["error_code"].enum_type.values_by_number[err.error_code].name
        except (AttributeError, KeyError):
            continue
        op = err.operator.name.removeprefix("tf.") if err.HasField("operator") else ""
        names = tuple(call.name for call in err.location.call if call.name) if err.HasField("location") else ()
        found.append(OpError(code=code, op=op, names=names))
    return tuple(found)


def failure_line(exc: BaseException) -> str:
    # A ConverterError's text is MLIR dumps; its first structured error says it in one line.
    for err in getattr(exc, "errors", None) or ():
        message = getattr(err, "error_message", "")
        if message.strip():
            return message.strip().split("\n")[0][:200]
    return tfcompat.error_line(exc)


def is_constant(graph: GraphDef, name: str) -> bool:
    """True when the node's value depends on constants only: no input, variable, random or unsafe op upstream.

    Unsafe ops (the op policy) are never constant, so :func:`fold` never evaluates one,
    even in a graph the user trusts.
    """
    by_name = {node.name: node for node in graph.node}
    unsafe = {u.node for u in unsafe_nodes(graph)}
    for other in upstream(graph, [name]):
        node = by_name[other]
        if is_random(node.op) or node.op in FEED_OPS or other in unsafe:
            return False
        if not node.input and node.op != "Const":
            return False
    return True


def fold(tf_graph: Any, names: Sequence[str]) -> Any:
    """A copy of ``tf_graph`` with each named node replaced by a Const holding its value, computed in TensorFlow."""
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(tf_graph, name="")
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        values = dict(zip(names, session.run([f"{name}:0" for name in names])))
    folded = tf.compat.v1.GraphDef()
    folded.CopyFrom(tf_graph)
    for node in folded.node:
        if node.name not in values:
            continue
        value = np.asarray(values[node.name])
        name, device = node.name, node.device
        node.Clear()
        node.name, node.op, node.device = name, "Const", device
        node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return folded


def with_values(tf_graph: Any, values: Mapping[str, Any]) -> Any:
    """A copy of ``tf_graph`` with each named placeholder replaced by a Const of its value (in the placeholder's dtype).

    What an inference .tflite holds for a setting such as a dropout keep probability:
    its inference value, not an input the app must feed.
    """
    if not values:
        return tf_graph
    tf = tfcompat.tf()
    fixed = tf.compat.v1.GraphDef()
    fixed.CopyFrom(tf_graph)
    for node in fixed.node:
        if node.name not in values:
            continue
        dtype = tf.as_dtype(node.attr["dtype"].type)
        value = np.asarray(values[node.name], dtype=dtype.as_numpy_dtype)
        shape = node.attr["shape"].shape if "shape" in node.attr else None
        if shape is not None and not shape.unknown_rank and all(d.size >= 0 for d in shape.dim):
            value = np.broadcast_to(value, [d.size for d in shape.dim])
        name, device = node.name, node.device
        node.Clear()
        node.name, node.op, node.device = name, "Const", device
        node.attr["dtype"].type = dtype.as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return fixed


def tflite_ops(model: bytes) -> dict[str, int]:
    """Op histogram of a .tflite (builtin names like CONV_2D; custom codes like FlexErf), most used first."""
    tfcompat.tf()  # imported quietly before one of its modules is
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:  # a TensorFlow that moved the schema: the histogram is a nicety, not the verdict
        return {}
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    root = schema.Model.GetRootAsModel(bytearray(model), 0)
    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        custom = code.CustomCode()
        if custom:
            codes.append(custom.decode("utf-8", "replace"))
        else:
            # Codes above 127 live in builtin_code; old files only fill deprecated_builtin_code.
            number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            codes.append(names.get(number, str(number)))
    counts: Counter[str] = Counter()
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            counts[codes[subgraph.Operators(o).OpcodeIndex()]] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def input_shapes(
    loaded: LoadedGraph,
    names: Sequence[str],
    *,
    input_height: int | None,
    input_width: int | None,
    sig: Signature,
    stated: Mapping[str, tuple[int, ...]] | None = None,
) -> tuple[tuple[int, ...], ...]:
    """The shape each input is converted at: batch 1 and the declared size (the signature's), else the given size.

    A shape in ``stated`` (``--input NAME:SHAPE``) stands for the declared one. A
    scalar setting the signature found (role SCALAR) that declares no shape is
    converted as a scalar. Only an image input (rank 4, or the graph's one model
    input when it declares no shape at all) takes ``input_height``/``input_width``.
    """
    if (input_height is None) != (input_width is None):
        raise InspectorError("pass both --input_height and --input_width, or neither (they are read from the graph)")
    if input_height is not None and input_width is not None and (input_height <= 0 or input_width <= 0):
        raise InspectorError(f"--input_height and --input_width must be positive, not {input_height}x{input_width}")
    by_name = {node.name: node for node in loaded.graph.node}
    shapes: list[tuple[int, ...]] = []
    for name in names:
        node = by_name[name]
        spec = sig.spec(name) or (placeholder_spec(node) if node.op in FEED_OPS else None)
        declared = spec.shape if spec is not None else None
        if stated and name in stated:
            declared = stated[name]
        given = (input_height, input_width) if input_height is not None and input_width is not None else None
        if declared is None and spec is not None and spec.role == SCALAR:
            shapes.append(())
            continue
        if declared is not None and all(d >= 0 for d in declared[1:]):
            if given is not None and len(declared) == 4 and tuple(declared[1:3]) != given:
                raise InspectorError(
                    f"{loaded.path}: input {name!r} takes {declared[1]}x{declared[2]} images, not {given[0]}x{given[1]}; "
                    "leave --input_height/--input_width out to use the graph's size"
                )
            shapes.append((1, *declared[1:]) if declared else declared)
            continue
        if declared is not None and len(declared) != 4:
            raise InspectorError(
                f"{loaded.path}: input {name!r} has shape {list(declared)} with unknown dimensions; "
                "TensorFlow Lite needs them fixed: export the graph with a fixed input shape"
            )
        if declared is None and spec is not None and not _the_image(name, sig, loaded):
            # Not a scalar setting and not the one image input: nothing says what size it is, least of all retrain.py.
            others = ", ".join(s.name for s in sig.inputs if s.name != name)
            raise InspectorError(
                f"{loaded.path}: input {name!r} declares no shape and is not the image input ({others or 'none'}); "
                f"TensorFlow Lite needs a fixed shape: pass it as --input {name}:SHAPE (e.g. {name}:1,32)"
            )
        channels = declared[3] if declared is not None and declared[3] > 0 else 3
        if given is None:
            # No stand-in size: a MobileNet's final AvgPool is sized for the trained input, so
            # another size fails to convert for reasons that have nothing to do with its ops.
            raise InspectorError(
                f"{loaded.path}: input {name!r} declares no image size (as after TF 1.x optimize_for_inference), "
                "and TensorFlow Lite needs one; pass --input_height and --input_width (the size retrain.py trained "
                "at, e.g. 128 or 224), as the codelab's toco --input_shape"
            )
        shapes.append((1, given[0], given[1], channels))
    return tuple(shapes)


def _the_image(name: str, sig: Signature, loaded: LoadedGraph) -> bool:
    """Whether the signature's one image input (graph/names.py picks it) is ``name``."""
    try:
        return Resolver(loaded.graph, what=str(loaded.path), sig=sig).image_input() == name
    except InspectorError:  # several model inputs, none of them the one float one
        return False



def to_tf(loaded: LoadedGraph, what: str) -> Any:
    try:
        return tfcompat.to_tf(loaded.graph)
    except ValueError as exc:  # a tensor with no valid dtype: refused before TensorFlow aborts on it
        raise InspectorError(
            f"{what}: TensorFlow {tfcompat.tf().__version__} cannot import this graph ({exc}); "
            "export it again with the TensorFlow that runs it"
        ) from None




__all__ = ["Attempt", "OpError", "QUANTIZE_MODES", "Quantize", "check_quantize", "convert", "fold", "input_shapes", "is_constant", "tflite_ops", "to_tf", "with_values"]
