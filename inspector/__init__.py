"""inspector: see what the inference optimizer did to a frozen TensorFlow graph."""

__version__ = "0.1.0"
