"""Issue #5, part 2: property-based fuzzing of every command that reads a graph.

Mutants of the real graphs in ../shared/fixtures/graphs (when present) and of
generated ones (always): byte flips, truncations, splices, inserted junk, and
protobuf-level changes (a node deleted, duplicated or renamed, an input
renamed, an op changed, a Const's shape or content length corrupted, a dtype
set to an invalid enum, an attr of the wrong kind, a cycle, odd versions).

Every command must succeed (and what it wrote must read back whole), or end
with exit 1 (a check that ran and said no) or 2 with ONE ``error:`` line naming
one of its input files, no traceback, no partial output and no temp file, in
under 30 s. Commands run in a worker subprocess (fuzz/fuzzlib.py), so an abort
inside TensorFlow's C++ counts as a crash instead of killing the test run.

Derandomized for CI; the long run is ``python fuzz/run_fuzz.py --minutes 10``.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from fuzz import fuzzlib  # noqa: E402
from test_bad_inputs import report_in_summary  # noqa: E402

pytestmark = pytest.mark.slow

TIMEOUT = 30.0
TALLY = fuzzlib.Tally()

CI = settings(
    derandomize=True,
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
    report_in_summary(request.config, "fuzz", lambda: [TALLY.line()] + [
        f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for name, c in sorted(TALLY.by_command.items())
    ])
    try:
        yield root, seeds, seed_files, image, worker
    finally:
        worker.close()


def _run(fuzz_env, data, *, commands, seeds_filter=None) -> None:
    root, seeds, seed_files, image, worker = fuzz_env
    pool = [s for s in seeds if seeds_filter is None or seeds_filter(s)]
    draw = fuzzlib.HypothesisDraw(data)
    seed = draw.choice(pool)
    mutant = fuzzlib.mutate(seed, draw, seeds=seeds)
    verdicts = fuzzlib.run_mutant(worker, mutant, commands, root=root, other=seed_files[seed.name], tally=TALLY,
                                  image=image if "label" in commands else None)
    bad = [(name, kind, why) for name, kind, why in verdicts if kind not in ("success", "clean error", "check failed")]
    assert not bad, f"{mutant.describe()}: {bad}"


@settings(CI, max_examples=100)
@given(data=st.data())
def test_fuzz_protobuf_commands(fuzz_env, data):
    """diff, tb, summarize, graph_pb2tb and two-graph compare on mutants of every seed."""
    _run(fuzz_env, data, commands=("diff", "tb", "summarize", "graph_pb2tb", "compare"))


@settings(CI, max_examples=60)
@given(data=st.data())
def test_fuzz_optimize(fuzz_env, data):
    _run(fuzz_env, data, commands=("optimize",))


@settings(CI, max_examples=25)
@given(data=st.data())
def test_fuzz_verify_and_label(fuzz_env, data):
    """The slower ones, on the generated seeds only."""
    _run(fuzz_env, data, commands=("verify", "label"), seeds_filter=lambda s: s.name.startswith("generated/"))


def test_fuzz_zz_tally(fuzz_env):
    """The figures of this module's runs (also in the closing summary): nothing crashed, hung or was left half written."""
    print(TALLY.line())
    assert TALLY.bad == 0, TALLY.failures[:3]
    if TALLY.inputs:
        assert TALLY.counts["success"] > 0 and TALLY.counts["clean error"] > 0
