"""The inference optimizer's graph passes, one module per concern, editing a shared working graph."""
