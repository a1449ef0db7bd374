"""Benchmark: `inspector verify A B --layers` against a plain `inspector verify A B`, time and peak memory, in child processes.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_layers.py                 # InceptionV3 and the codelab pair, 3 rounds
    .venv/bin/python bench/bench_layers.py --pairs inception --repeat 5 --json

Pairs (A, B): ``inception``, Keras InceptionV3 frozen and ``inspector optimize``
of it (2,217 and 473 nodes, 96 MB; built and cached in ``bench/.cache/`` by
bench_diff.py's ``_inception``); ``codelab``, ``poets_pair/retrained_graph.pb``
and ``inspector optimize`` of it (cached in ``bench/.cache/``).

Each round runs both commands once, in a fresh child process each (the order
alternating between rounds), on the same 3 seeded random inputs, and takes
the child's wall time and peak resident memory (``ru_maxrss`` from
``os.wait4``). Reported: the medians of the times, the largest peak, and the
ratio --layers / plain. Both commands import TensorFlow and build the float64
reference; --layers also fetches every matched layer, ``CHUNK_BYTES`` (64 MiB)
of tensors per model at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CACHE = ROOT / "bench" / ".cache"
FIXTURE = ROOT.parent / "shared" / "fixtures" / "graphs" / "poets_pair" / "retrained_graph.pb"
INSPECTOR = [sys.executable, "-m", "inspector"]
PAIRS = ("inception", "codelab")


def _pair(name: str) -> tuple[Path, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    if name == "inception":
        from bench_diff import _inception

        return _inception(CACHE)
    out = CACHE / "poets_retrained_optimized.pb"
    if not out.exists():
        subprocess.run([*INSPECTOR, "optimize", str(FIXTURE), "--output", str(out)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    return FIXTURE, out


def _child(argv: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and exit code of one child running ``argv``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, from {', '.join(PAIRS)}")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    pairs = [p for p in args.pairs.split(",") if p]
    if any(p not in PAIRS for p in pairs) or args.repeat < 1:
        parser.error(f"pairs from {', '.join(PAIRS)}; --repeat at least 1")
    rows = []
    for name in pairs:
        a, b = _pair(name)
        commands = {"plain": [*INSPECTOR, "verify", str(a), str(b), "--random", "3"],
                    "layers": [*INSPECTOR, "verify", str(a), str(b), "--random", "3", "--layers"]}
        seen: dict[str, list[tuple[float, int, int]]] = {k: [] for k in commands}
        for r in range(args.repeat):
            for key in (("plain", "layers") if r % 2 == 0 else ("layers", "plain")):
                seen[key].append(_child(commands[key]))
                print(f"{name}: {key} round {r + 1}: {seen[key][-1][0]:.2f} s, {seen[key][-1][1] / 1024:.0f} MiB, "
                      f"exit {seen[key][-1][2]}", file=sys.stderr, flush=True)
        row = {"pair": name, "a": str(a), "b": str(b)}
        for key, runs in seen.items():
            row[key] = {"seconds": round(statistics.median(t for t, _, _ in runs), 3),
                        "peak_mib": round(max(m for _, m, _ in runs) / 1024, 1), "exit_codes": sorted({c for _, _, c in runs})}
        row["ratio"] = {"time": round(row["layers"]["seconds"] / row["plain"]["seconds"], 2),
                        "memory": round(row["layers"]["peak_mib"] / row["plain"]["peak_mib"], 2)}
        rows.append(row)
    if args.json:
        print(json.dumps({"schema": 1, "repeat": args.repeat, "pairs": rows}, indent=2))
        return 0
    print(f"median of {args.repeat} runs each, interleaved, in fresh child processes; 3 random inputs")
    print(f"{'pair':16} {'plain':>18} {'--layers':>18} {'layers / plain':>20}")
    for row in rows:
        p, l, q = row["plain"], row["layers"], row["ratio"]
        print(f"{row['pair']:16} {p['seconds']:7.2f} s {p['peak_mib']:6.0f} MiB {l['seconds']:7.2f} s {l['peak_mib']:6.0f} MiB "
              f"{q['time']:8.2f}x time {q['memory']:5.2f}x mem")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
