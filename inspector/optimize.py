"""The inference optimizer: input/output detection and TensorFlow's optimize_for_inference as the baseline."""

from __future__ import annotations

from dataclasses import dataclass

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.errors import InspectorError
from inspector.stats import graph_stats


@dataclass(frozen=True)
class DetectedNames:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def detect_names(graph: GraphDef, *, what: str = "the graph") -> DetectedNames:
    """Inputs are placeholders fed by nothing; outputs are sinks that are not Const/NoOp.

    Several candidates for one role is an error that asks for the flag rather
    than a guess: picking the wrong output silently optimizes the wrong model.
    """
    stats = graph_stats(graph)
    inputs = tuple(s.name for s in stats.inputs)
    outputs = stats.outputs
    if not inputs:
        raise InspectorError(f"{what}: found no input placeholder; pass --input_names")
    if not outputs:
        raise InspectorError(f"{what}: found no output (every node is read by another); pass --output_names")
    if len(inputs) > 1:
        raise InspectorError(f"{what}: several input placeholders ({', '.join(inputs)}); pick with --input_names")
    if len(outputs) > 1:
        shown = ", ".join(outputs[:6]) + (" ..." if len(outputs) > 6 else "")
        raise InspectorError(f"{what}: several possible outputs ({shown}); pick with --output_names")
    return DetectedNames(inputs=inputs, outputs=outputs)


def tensorflow_optimize(
    graph: GraphDef,
    *,
    input_names: tuple[str, ...],
    output_names: tuple[str, ...],
    placeholder_type_enum: int = DataType.DT_FLOAT,
    toco_compatible: bool = False,
) -> GraphDef:
    """TensorFlow's own ``optimize_for_inference``, exactly as the codelab runs it."""
    from inspector import tfcompat

    tfcompat.tf()
    from tensorflow.python.tools import optimize_for_inference_lib

    result = optimize_for_inference_lib.optimize_for_inference(
        tfcompat.to_tf(graph), list(input_names), list(output_names), placeholder_type_enum, toco_compatible
    )
    return tfcompat.from_tf(result)


def optimize_graph(graph: GraphDef, *, input_names: tuple[str, ...], output_names: tuple[str, ...]) -> GraphDef:
    """Optimize for inference. For now TensorFlow's passes; inspector's own passes build on this."""
    return tensorflow_optimize(graph, input_names=input_names, output_names=output_names)
