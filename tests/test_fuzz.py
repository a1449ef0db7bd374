"""Issue #5, part 2: property-based fuzzing of every command that reads a graph.

Mutants of the real graphs in ../shared/fixtures/graphs (when present) and of
generated ones (always): byte flips, truncations, splices, inserted junk, and
protobuf-level changes (a node deleted, duplicated or renamed, an input
renamed, an op changed, a Const's shape or content length corrupted, a dtype
set to an invalid enum, an attr of the wrong kind, a cycle, odd versions),
and hostile ones (fuzz/hostile.py, issue 10): node names, ops and attr strings
with rich markup, escape sequences, NULs, "/" chains and 100,000 characters, a
node renamed everywhere it is read so such a name goes all the way through,
splat Consts claiming huge shapes, attrs nested past protobuf's 100 levels, and
labels files of such lines.

Every command must succeed (and what it wrote must read back whole), or end
with exit 1 (a check that ran and said no) or 2 with ONE ``error:`` line naming
one of its input files, no traceback, no partial output and no temp file, in
under 30 s. Commands run in a worker subprocess (fuzz/fuzzlib.py), so an abort
inside TensorFlow's C++ counts as a crash instead of killing the test run.

Seeded for CI (the same mutants every run); the long run is ``python fuzz/run_fuzz.py --minutes 10``.
"""

from __future__ import annotations

import sys
import zlib

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from conftest import ROOT
from helpers import report_in_summary

sys.path.insert(0, str(ROOT))
from fuzz import fuzzlib  # noqa: E402

pytestmark = pytest.mark.slow

TIMEOUT = 30.0
# Each test's tally, for the closing summary only: each test asserts its own.
TALLIES: dict[str, fuzzlib.Tally] = {}

CI = settings(
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory, request):
    root = tmp_path_factory.mktemp("fuzz")
    seeds, seed_files, image = fuzzlib.write_seeds(root)
    worker = fuzzlib.Worker(timeout=TIMEOUT, log=root / "worker.log")
    report_in_summary(request.config, "fuzz", lambda: [
        line for test, tally in sorted(TALLIES.items()) for line in [f"{test}: {tally.line()}"] + [
            f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for name, c in sorted(tally.by_command.items())]
    ])
    try:
        yield root, seeds, seed_files, image, worker
    finally:
        worker.close()


def _run(fuzz_env, data, tally: fuzzlib.Tally, *, commands, seeds_filter=None, kinds=None) -> None:
    root, seeds, seed_files, image, worker = fuzz_env
    pool = [s for s in seeds if seeds_filter is None or seeds_filter(s)]
    draw = fuzzlib.HypothesisDraw(data)
    origin = draw.choice(pool)
    mutant = fuzzlib.mutate(origin, draw, seeds=seeds, kinds=kinds)
    verdicts = fuzzlib.run_mutant(worker, mutant, commands, root=root, other=seed_files[origin.name], tally=tally,
                                  image=image if "label" in commands else None)
    bad = [(name, kind, why) for name, kind, why in verdicts if kind not in ("success", "clean error", "check failed")]
    assert not bad, f"{mutant.describe()}: {bad}"


def fuzz(request, fuzz_env, examples: int, **kwargs) -> fuzzlib.Tally:
    """``examples`` mutants through ``_run``; returns this test's own tally, judged by the test."""
    tally = TALLIES[request.node.name] = fuzzlib.Tally()

    # Seeded by the test's name: each test draws its own mutants, the same ones every run.
    @seed(zlib.crc32(request.node.name.encode()))
    @settings(CI, max_examples=examples)
    @given(data=st.data())
    def one(data):
        _run(fuzz_env, data, tally, **kwargs)

    one()
    # Nothing crashed, hung or was left half written, and the mutants reached
    # both sides: some ran through, some were refused with a clean error.
    assert tally.bad == 0, tally.failures[:3]
    assert tally.counts["success"] > 0 and tally.counts["clean error"] > 0, tally.line()
    return tally


def test_fuzz_protobuf_commands(request, fuzz_env):
    """diff, tb, summarize, graph_pb2tb and two-graph compare on mutants of every seed."""
    fuzz(request, fuzz_env, 100, commands=("diff", "tb", "summarize", "graph_pb2tb", "compare"))


def test_fuzz_optimize(request, fuzz_env):
    fuzz(request, fuzz_env, 60, commands=("optimize",))


def test_fuzz_verify_and_label(request, fuzz_env):
    """The slower ones, on the generated seeds only."""
    fuzz(request, fuzz_env, 25, commands=("verify", "label"), seeds_filter=lambda s: s.name.startswith("generated/"))


def test_fuzz_hostile_names_strings_and_sizes(request, fuzz_env):
    """Only the hostile mutations (fuzz/hostile.py), through the commands that print, log or run names, on the generated seeds."""
    from fuzz import hostile

    fuzz(request, fuzz_env, 20, commands=("diff", "tb", "summarize", "optimize", "label"),
         seeds_filter=lambda s: s.name.startswith("generated/"), kinds=hostile.MUTATIONS)
