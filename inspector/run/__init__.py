"""Running graphs and .tflite models: runners, inputs, images, labels, verify and latency."""
