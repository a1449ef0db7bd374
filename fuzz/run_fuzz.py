"""The long fuzz run, outside CI: mutants of real and generated graphs through every command, for N minutes.

    .venv/bin/python fuzz/run_fuzz.py --minutes 10                 # seeded random mutations, all commands
    .venv/bin/python fuzz/run_fuzz.py --minutes 10 --seed 7 --out /tmp/fuzz-7
    .venv/bin/python fuzz/run_fuzz.py --engine atheris --minutes 10  # coverage-guided (pip install atheris)

The random engine uses the mutations of tests/test_fuzz.py (fuzz/fuzzlib.py)
with a seeded ``random.Random``, and runs the commands in a worker process
(an abort in TensorFlow is a crash, not the end of the run; a command past
``--timeout`` seconds is a hang). Every mutant goes through diff, tb,
summarize, graph_pb2tb, two-graph compare and optimize; every
``--slow-every``-th also through verify and label.

The atheris engine lets libFuzzer's coverage feedback pick the mutations
(the same ones: its bytes drive the Draw) and runs the protobuf-only commands
in-process, so coverage counts; it stops at the first finding, as libFuzzer does.

Figures (mutants, command runs, successes, clean errors, crashes, hangs,
partial files) are printed at the end and written to OUT/report.json; each
failing mutant is kept under OUT/failures/.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz import fuzzlib  # noqa: E402

FAST = ("diff", "tb", "summarize", "graph_pb2tb", "compare", "optimize")
SLOW = ("verify", "label")


def run_random(args: argparse.Namespace, out: Path) -> int:
    seeds, seed_files, image = fuzzlib.write_seeds(out)
    work = out / "work"
    work.mkdir(exist_ok=True)
    rng = random.Random(args.seed)
    draw = fuzzlib.RandomDraw(rng)
    tally = fuzzlib.Tally()
    worker = fuzzlib.Worker(timeout=args.timeout, log=out / "worker.log")
    start = time.monotonic()
    deadline = start + args.minutes * 60
    last_print = start
    try:
        while time.monotonic() < deadline:
            seed = draw.choice(seeds)
            mutant = fuzzlib.mutate(seed, draw, seeds=seeds)
            commands = FAST + (SLOW if tally.inputs % args.slow_every == 0 else ())
            fuzzlib.run_mutant(worker, mutant, commands, root=work, other=seed_files[seed.name], tally=tally, image=image)
            if time.monotonic() - last_print > 60:
                last_print = time.monotonic()
                print(f"[{(last_print - start) / 60:5.1f} min] {tally.line()}", flush=True)
    finally:
        worker.close()
    elapsed = time.monotonic() - start
    report = {
        "engine": "random",
        "seed": args.seed,
        "minutes": round(elapsed / 60, 2),
        "seeds": [s.name for s in seeds],
        "mutants": tally.inputs,
        "counts": dict(tally.counts),
        "by_command": {k: dict(v) for k, v in sorted(tally.by_command.items())},
        "worker_restarts": worker.restarts,
        "failures": tally.failures,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    # The failing mutants were kept by run_mutant under work/failures.
    print(f"done in {elapsed / 60:.1f} min (seed {args.seed}, {len(seeds)} seed graphs): {tally.line()}")
    for name, counts in sorted(tally.by_command.items()):
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for failure in tally.failures[:20]:
        print(f"FAIL {failure['command']} {failure['kind']}: {failure['mutant']}\n    {failure['why'][:500]}")
    print(f"report: {out / 'report.json'}")
    return 1 if tally.bad else 0


def run_atheris(args: argparse.Namespace, out: Path) -> int:  # pragma: no cover - needs atheris
    try:
        import atheris
    except ImportError:
        print("error: atheris is not installed; pip install atheris (or use --engine random)", file=sys.stderr)
        return 2
    import contextlib
    import io
    import os
    import shutil

    # Coverage is collected in the modules imported here (the ones the protobuf-only commands run).
    with atheris.instrument_imports(include=["inspector", "scripts"]):
        import inspector.cli
        import inspector.analysis.diff  # noqa: F401
        import inspector.graph.io  # noqa: F401
        import inspector.cli.render  # noqa: F401
        import inspector.graph.stats  # noqa: F401
        import inspector.analysis.summary  # noqa: F401
        import inspector.tb.events  # noqa: F401
        import scripts.graph_pb2tb  # noqa: F401

    seeds = fuzzlib.all_seeds()
    other = out / "other_graph.pb"
    other.write_bytes(seeds[0].data)
    tally = fuzzlib.Tally()
    deadline = time.monotonic() + args.minutes * 60

    class AtherisDraw:
        def __init__(self, fdp) -> None:
            self.fdp = fdp

        def integer(self, lo: int, hi: int) -> int:
            return self.fdp.ConsumeIntInRange(lo, hi)

        def choice(self, items):
            return items[self.fdp.ConsumeIntInRange(0, len(items) - 1)]

        def data(self, max_size: int) -> bytes:
            return self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, max_size))

    def one_input(data: bytes) -> None:
        if time.monotonic() > deadline:
            # libFuzzer exits without running Python's exit handlers: report, then leave.
            print(f"done in {args.minutes:g} min (atheris): {tally.line()}", flush=True)
            report = {"engine": "atheris", "minutes": args.minutes, "mutants": tally.inputs, "counts": dict(tally.counts),
                      "by_command": {k: dict(v) for k, v in sorted(tally.by_command.items())}}
            (out / "report.json").write_text(json.dumps(report, indent=2))
            os._exit(0)
        draw = AtherisDraw(atheris.FuzzedDataProvider(data))
        mutant = fuzzlib.mutate(draw.choice(seeds), draw, seeds=seeds)
        folder = Path(tempfile.mkdtemp(dir=out))
        try:
            graph = folder / "mutant_graph.pb"
            graph.write_bytes(mutant.data)
            tally.inputs += 1
            for name in ("diff", "tb", "summarize", "graph_pb2tb"):
                command = fuzzlib.COMMANDS[name]
                ws = folder / f"ws-{name}"
                ws.mkdir()
                argv = command.argv(graph, other, ws)
                err, start = io.StringIO(), time.monotonic()
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                    if argv[0].startswith("scripts."):
                        code = sys.modules[argv[0]].main(argv[1:])
                    else:
                        code = inspector.cli.main(argv)
                result = fuzzlib.Result(code=code, out="", err=err.getvalue(), seconds=time.monotonic() - start)
                kind, why = fuzzlib.judge(result, named=(graph, other), ws=ws, command=command, timeout=args.timeout)
                tally.add(name, kind, why, mutant, argv, result)
                if kind not in ("success", "clean error", "check failed"):
                    raise AssertionError(f"{name} {kind}: {why}\n{mutant.describe()}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    atheris.Setup([sys.argv[0], f"-max_total_time={int(args.minutes * 60) + 60}", "-rss_limit_mb=8192"], one_input)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz/run_fuzz.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a command counts as hung (default 30)")
    parser.add_argument("--slow-every", type=int, default=3, help="run verify and label on every Nth mutant (default 3)")
    parser.add_argument("--engine", choices=("random", "atheris"), default="random")
    parser.add_argument("--out", type=Path, help="where the report and failing mutants go (default: a new temp folder)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="inspector-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"fuzzing for {args.minutes:g} min with the {args.engine} engine; output in {out}", flush=True)
    return run_random(args, out) if args.engine == "random" else run_atheris(args, out)


if __name__ == "__main__":
    sys.exit(main())
