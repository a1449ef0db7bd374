"""TensorFlow's own inference optimizers, run as they are: the baselines the tests and benchmarks hold inspector's to."""

from __future__ import annotations

from collections.abc import Sequence

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.types_pb2 import DataType


def tensorflow_optimize(
    graph: GraphDef,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    placeholder_type_enum: int = DataType.DT_FLOAT,
    toco_compatible: bool = False,
) -> GraphDef:
    """TensorFlow's own ``optimize_for_inference``, exactly as the codelab runs it (the baseline; unchecked)."""
    from inspector.graph import tfcompat

    tfcompat.tf()
    from tensorflow.python.tools import optimize_for_inference_lib

    result = optimize_for_inference_lib.optimize_for_inference(
        tfcompat.to_tf(graph), list(input_names), list(output_names), placeholder_type_enum, toco_compatible
    )
    return tfcompat.from_tf(result)


def grappler_optimize(
    graph: GraphDef, *, output_names: Sequence[str], optimizers: Sequence[str] = ("constfold", "arithmetic")
) -> GraphDef:
    """Grappler run offline with only ``optimizers``, fetching ``output_names`` (a baseline for tests and benchmarks)."""
    from inspector.graph import tfcompat

    tf = tfcompat.tf()
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    tf_graph = tf.Graph()
    with tf_graph.as_default():
        tf.graph_util.import_graph_def(tfcompat.to_tf(graph), name="")
        # Grappler keeps what the "train_op" collection fetches and may prune the rest.
        fetch = tf_graph.get_collection_ref("train_op")
        for name in output_names:
            fetch.append(tf_graph.get_operation_by_name(name))
        meta_graph = tf.compat.v1.train.export_meta_graph(graph=tf_graph)
    config = config_pb2.ConfigProto()
    rewrites = config.graph_options.rewrite_options
    rewrites.optimizers.extend(optimizers)
    rewrites.min_graph_nodes = -1
    return tfcompat.from_tf(tf_optimizer.OptimizeGraph(config, meta_graph, verbose=False))
