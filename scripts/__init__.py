"""The codelab's `python -m scripts.X` entry points, as thin shims run from the project root (never installed)."""
