"""Codelab-compatible entry points (`python -m scripts.graph_pb2tb`, `python -m scripts.label_image`)."""
