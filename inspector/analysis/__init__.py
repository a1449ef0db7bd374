"""What one graph is and how two graphs differ, read from the protobuf alone."""
