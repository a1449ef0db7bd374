"""TensorBoard: event files, the text summary, the managed board and the Graph diff plugin."""
