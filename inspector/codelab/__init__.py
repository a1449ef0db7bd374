"""The codelab's entry points (graph_pb2tb, label_image) as inspector implements them."""
