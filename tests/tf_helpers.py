"""Test helpers that need TensorFlow: build a TF1-style graph in code, run a GraphDef as written."""

from __future__ import annotations

from typing import Callable

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.graph import tfcompat


def tf1_graph(body: Callable[..., None], *, input_name: str) -> GraphDef:
    """A GraphDef made with tf.compat.v1 ops: ``body(tf, image)`` gets a [1, 8, 8, 3] float placeholder named ``input_name``."""
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name=input_name)
        body(tf, image)
    return tfcompat.from_tf(graph.as_graph_def())


def run_as_written(graph: GraphDef, fetch: str, feeds: dict[str, object]) -> np.ndarray:
    """``fetch`` computed from ``feeds`` (node names) with Grappler off, so the graph computes what it says."""
    from tensorflow.core.protobuf import config_pb2

    tf = tfcompat.tf()
    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    with tf.Graph().as_default() as tf_graph:
        tf.graph_util.import_graph_def(tfcompat.to_tf(graph), name="")
        with tf.compat.v1.Session(graph=tf_graph, config=config) as session:
            return session.run(f"{fetch}:0", {f"{k}:0": v for k, v in feeds.items()})
