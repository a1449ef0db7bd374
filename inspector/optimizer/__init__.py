"""The inference optimizer: the pass pipeline, its passes, and TensorFlow's and Grappler's optimizers as baselines."""
