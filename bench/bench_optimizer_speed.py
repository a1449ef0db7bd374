"""Benchmark: how long ``inspector optimize`` takes on every fixture graph, now against a previous implementation.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_optimizer_speed.py                      # against c398b59, before issue 15
    .venv/bin/python bench/bench_optimizer_speed.py --previous HEAD~3 --rounds 5 --json

The previous implementation is checked out from this repository's history into
a temporary git worktree (removed afterwards). Each run is a fresh child process
of ``inspector optimize GRAPH --output TMP --force`` (names detected, as a user
runs it) from one implementation's source tree, so it counts what a user waits
for: importing TensorFlow, the optimizer and the diff it reports. The two
implementations alternate, ``--rounds`` times per graph; printed are the median
wall times and peak memory (``ru_maxrss``) and their ratio (now / previous;
under 1 is faster now).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "graphs"
PREVIOUS = "c398b59"  # main before issue 15's optimizer work
# As the program (main() reads sys.argv), as `python -m inspector` runs it: that is when optimize starts its helper process.
RUN = "import sys; sys.path.insert(0, '.'); from inspector.cli import main; sys.argv[0] = 'inspector'; sys.exit(main())"


def run_once(source: Path, graph: Path, out: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, "optimize", str(graph), "--output", str(out), "--force"],
                            cwd=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
    return {"seconds": time.perf_counter() - start, "peak_mib": usage.ru_maxrss / 1024,
            "exit": os.waitstatus_to_exitcode(status), "error": err.splitlines()[-1][:200] if err else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--previous", default=PREVIOUS, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="only the fixture graphs whose path holds this text")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    graphs = [g for g in sorted(FIXTURES.rglob("*.pb")) if args.only in str(g.relative_to(FIXTURES))]
    if not graphs:
        raise SystemExit(f"no fixture graphs under {FIXTURES}")
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-optspeed-") as tmp:
        previous = Path(tmp) / "previous"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(previous), args.previous], cwd=ROOT, check=True)
        try:
            for graph in graphs:
                name = str(graph.relative_to(FIXTURES))
                runs: dict[str, list[dict]] = {"previous": [], "now": []}
                for _ in range(args.rounds):
                    for which, source in (("previous", previous), ("now", ROOT)):
                        runs[which].append(run_once(source, graph, Path(tmp) / f"{which}.pb"))
                row = {"graph": name}
                for which, done in runs.items():
                    ok = [r for r in done if r["exit"] == 0]
                    row[which] = {"exit": done[-1]["exit"], "error": done[-1]["error"],
                                  "seconds": round(statistics.median(r["seconds"] for r in ok), 2) if ok else None,
                                  "peak_mib": round(statistics.median(r["peak_mib"] for r in ok)) if ok else None}
                if row["previous"]["seconds"] and row["now"]["seconds"]:
                    row["ratio"] = round(row["now"]["seconds"] / row["previous"]["seconds"], 2)
                rows.append(row)
                say(f"{name:<52} previous {row['previous']['seconds']} s  now {row['now']['seconds']} s  {row.get('ratio', '')}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(previous)], cwd=ROOT, check=False)
    if args.json:
        print(json.dumps({"schema": 1, "previous": args.previous, "rounds": args.rounds, "graphs": rows}, indent=2))
        return 0
    print(f"`inspector optimize` wall time, median of {args.rounds} interleaved runs (now / {args.previous}):\n")
    print("| graph | previous s | now s | now / previous | previous MiB | now MiB |")
    print("|---|--:|--:|--:|--:|--:|")
    for r in rows:
        p, n = r["previous"], r["now"]
        cell = lambda m, key: f"{m[key]}" if m[key] is not None else f"exit {m['exit']}"  # noqa: E731
        print(f"| {r['graph']} | {cell(p, 'seconds')} | {cell(n, 'seconds')} | {r.get('ratio', '')} | "
              f"{cell(p, 'peak_mib')} | {cell(n, 'peak_mib')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
