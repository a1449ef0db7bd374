"""The codelab's scripts/graph_pb2tb.py, ported to TF 2's compat.v1 names only: the benchmark's baseline.

Usage: python bench/codelab_graph_pb2tb.py LOGDIR GRAPH.pb

Upstream: googlecodelabs/tensorflow-for-poets-2, scripts/graph_pb2tb.py
(Apache-2.0). The steps and their order are the original's; only ``tf.GraphDef``,
``tf.Session`` and ``tf.summary.FileWriter`` became their ``tf.compat.v1`` spellings.
"""

import os
import sys

import tensorflow as tf


def load_graph(graph_pb_path):
    with open(graph_pb_path, "rb") as f:
        content = f.read()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(content)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name="")
    return graph


def graph_to_tensorboard(graph, out_dir):
    with tf.compat.v1.Session():
        train_writer = tf.compat.v1.summary.FileWriter(out_dir)
        train_writer.add_graph(graph)
        train_writer.close()


def main(out_dir, graph_pb_path):
    graph = load_graph(graph_pb_path)
    graph_to_tensorboard(graph, out_dir)


if __name__ == "__main__":
    # As upstream: set after the import, so it only quiets messages TF logs later.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    main(*sys.argv[1:])
