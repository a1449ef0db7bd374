"""Where `inspector optimize` spends its wall time: each pass and the main steps inside, run as the program.

Usage (arguments as for `inspector optimize`; the timings go to stderr):

    .venv/bin/python bench/optimize_phases.py GRAPH.pb --output OUT.pb --force \\
        [--input_names ...] [--output_names ...] >/dev/null

Run as the program, as a user's shell runs the command, so that TensorFlow runs
in the helper process and the main process's waits for it show (``tfprocess._read``,
summed as "waits for helper"). Each row: start (s since this script started),
duration (s), and the step, indented under the step it runs in; rows under 0.05 s
are left out. Wrapping costs a few microseconds a call, so only functions called a
few times per pass are wrapped. It times; it compares with nothing: for ratios
against TensorFlow's tool, use bench_scale.py.
"""

from __future__ import annotations

import functools
import importlib
import sys
import time
from typing import Any

START = time.perf_counter()
ROWS: list[tuple[float, float, int, str]] = []  # (start, duration, depth, name)
_DEPTH = [0]

# (module, attribute) of what is timed; "Class.method" for a method.
TIMED = [
    ("inspector.graph.io", "load_graph"), ("inspector.graph.io", "check_graph"), ("inspector.graph.io", "save_graph"),
    ("inspector.graph.signature", "signature"), ("inspector.graph.stats", "graph_stats"),
    ("inspector.graph.workgraph", "WorkGraph.__init__"), ("inspector.graph.workgraph", "WorkGraph.to_graphdef"),
    ("inspector.graph.workgraph", "WorkGraph.prune"),
    ("inspector.optimizer.pipeline", "optimize"), ("inspector.optimizer.pipeline", "_report"),
    ("inspector.optimizer.passes.tfprocess", "_read"),
    ("inspector.optimizer.passes.constfold", "ask_ahead"), ("inspector.optimizer.passes.constfold", "constant_names"),
    ("inspector.optimizer.passes.constfold", "_constant_nodes"), ("inspector.optimizer.passes.constfold", "_read_constants"),
    ("inspector.optimizer.passes.constfold", "_evaluate"), ("inspector.optimizer.passes.constfold", "_numpy_values"),
    ("inspector.optimizer.passes.inferred", "static_outputs"),
    ("inspector.optimizer.passes.batchnorm", "find_batch_norms"),
]


def _timed(fn: Any, name: str) -> Any:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        _DEPTH[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            _DEPTH[0] -= 1
            ROWS.append((start - START, time.perf_counter() - start, _DEPTH[0], name))

    return timed


def _wrap_all() -> None:
    for module_name, attribute in TIMED:
        owner: Any = importlib.import_module(module_name)
        name = attribute
        if "." in attribute:
            cls, name = attribute.split(".")
            owner = getattr(owner, cls)
        setattr(owner, name, _timed(getattr(owner, name), f"{module_name.rsplit('.', 1)[-1]}.{attribute}"))
    from inspector.optimizer.passes import PASSES

    for step in PASSES:  # frozen dataclasses: their run is swapped in place
        object.__setattr__(step, "run", _timed(step.run, f"PASS {step.name}"))


def main() -> int:
    _wrap_all()
    from inspector.cli import main as inspector_main

    # argv read from sys.argv, as the program does: an in-process main([...]) starts no helper.
    sys.argv = ["inspector", "optimize", *sys.argv[1:]]
    code = inspector_main()
    total = time.perf_counter() - START
    waits = sum(duration for _, duration, _, name in ROWS if name.endswith("._read"))
    for start, duration, depth, name in sorted(ROWS):
        if duration >= 0.05:
            print(f"{start:7.2f} {duration:6.2f} {'  ' * depth}{name}", file=sys.stderr)
    print(f"total {total:.2f} s, of which waits for the helper {waits:.2f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
