"""Issue #5, part 3: writes that lose nothing.

* ``optimize`` and ``tb`` killed with SIGKILL in the middle of their write (the
  parent watches for the ``.inspector-*.tmp`` file to appear, then kills at a
  random moment; other runs are killed at a random time after the start) leave
  the old file or the complete new one, never a partial file. A killed writer
  leaves at most its temp file, and the next write into that folder removes it
  (inspector.atomic.remove_stale_temps: the temp's name holds host and pid).
* ``--output`` naming the input, however spelt (``..``, a symlink, a hard
  link), is refused and the input is untouched.
* Two ``compare`` runs on one logdir at the same time leave every run readable
  (by inspector.tb.events.read_graph_events and TensorBoard's EventAccumulator),
  one graph file per run, one text summary per pair, and a marker naming a pair
  whose runs exist.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import retrained_like
from conftest import ROOT
from inspector.atomic import remove_stale_temps, write_bytes_atomic
from inspector.cli import main
from inspector.graph.io import load_graph
from inspector.tb.events import read_graph_events

pytestmark = pytest.mark.slow

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def inspector_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "inspector", *args]


@pytest.fixture(scope="module")
def big_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A retrained-like graph of ~20 MB, so writing it (and its fsync) takes a while."""
    path = tmp_path_factory.mktemp("big") / "retrained_graph.pb"
    path.write_bytes(retrained_like(channels=384, blocks=4, size=32, classes=5).SerializeToString())
    assert path.stat().st_size > 15_000_000
    return path


def kill_during_write(argv: list[str], folder: Path, *, rng: random.Random, mode: str, window: float) -> str:
    """Run ``argv``; SIGKILL it when a temp file shows up in ``folder`` ("write") or after a random delay ("time").

    Returns when it was killed: "during write", "before write", "after exit".
    """
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    seen_before = {p.name for p in folder.glob(".inspector-*.tmp")}
    when = "after exit"
    try:
        if mode == "time":
            deadline = time.monotonic() + rng.uniform(0, window)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.002)
            when = "before write"
        else:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                if {p.name for p in folder.glob(".inspector-*.tmp")} - seen_before:
                    # Somewhere inside the write: between mkstemp and the rename.
                    time.sleep(rng.uniform(0, 0.03))
                    when = "during write"
                    break
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        else:
            when = "after exit"
    finally:
        proc.wait()
    return when


def test_optimize_killed_mid_write_leaves_old_or_complete_new(big_graph: Path, tmp_path: Path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "optimized_graph.pb"
    old = retrained_like(seed=9).SerializeToString()
    # The complete new file, from a run that is not interrupted.
    started = time.monotonic()
    done = subprocess.run(inspector_cmd("optimize", str(big_graph), "--output", str(tmp_path / "ref.pb")),
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    full_run = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    new = (tmp_path / "ref.pb").read_bytes()

    rng = random.Random(5)
    outcomes: Counter = Counter()
    for trial in range(6):
        out.write_bytes(old)
        mode = "write" if trial % 3 else "time"
        # --force: the old file stands for one inspector did not write.
        when = kill_during_write(inspector_cmd("optimize", str(big_graph), "--output", str(out), "--force"), out_dir,
                                 rng=rng, mode=mode, window=full_run)
        data = out.read_bytes()
        if data == old:
            outcomes[f"old ({when})"] += 1
        else:
            # Anything else must be the whole new graph, and load. (Folded weights may differ in the
            # last bits from run to run: TensorFlow sums in threads; names, ops and size do not.)
            assert len(data) == len(new), f"trial {trial} ({when}): {len(data)} bytes, neither the old nor the new graph"
            written = load_graph(out).graph
            assert [(n.name, n.op) for n in written.node] == [(n.name, n.op) for n in GraphDef.FromString(new).node]
            outcomes[f"new ({when})"] += 1
        # Beside it at most the record of what inspector wrote (optimized_graph.pb.inspector.json).
        left = {p.name for p in out_dir.iterdir() if not p.name.startswith(".inspector-")}
        assert out.name in left and left <= {out.name, out.name + ".inspector.json"}, left
    print(f"optimize killed 6 times: {dict(outcomes)}")
    assert sum(v for k, v in outcomes.items() if "during write" in k) >= 1, outcomes

    # The next run removes what the killed ones left, and writes the new graph.
    left = list(out_dir.glob(".inspector-*.tmp"))
    done = subprocess.run(inspector_cmd("optimize", str(big_graph), "--output", str(out), "--force"),
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(load_graph(out).graph.node) == len(GraphDef.FromString(new).node)
    assert list(out_dir.glob(".inspector-*.tmp")) == [], f"stale temps not removed (had {len(left)})"


def test_tb_killed_mid_write_leaves_readable_runs(big_graph: Path, tmp_path: Path):
    logdir = tmp_path / "logs"
    run_dir = logdir / "retrained"
    # A complete earlier run that must survive any kill.
    assert main(["tb", str(big_graph), "--logdir", str(logdir), "--keep-weights"]) == 0
    nodes = len(load_graph(big_graph).graph.node)
    rng = random.Random(11)
    outcomes: Counter = Counter()
    for trial in range(10):
        mode = "write" if trial % 2 else "time"
        when = kill_during_write(inspector_cmd("tb", str(big_graph), "--logdir", str(logdir), "--keep-weights"), run_dir,
                                 rng=rng, mode=mode, window=1.5)
        files = sorted(run_dir.glob("events.out.tfevents.*"))
        assert files, f"trial {trial} ({when}): the run lost its graph"
        for path in files:
            events = read_graph_events(path)  # raises on any partial record
            (graph_event,) = [e for e in events if e.HasField("graph_def")]
            assert len(GraphDef.FromString(graph_event.graph_def).node) == nodes
        outcomes[f"{len(files)} graph file(s) ({when})"] += 1
    print(f"tb killed 10 times: {dict(outcomes)}")
    assert any("during write" in k for k in outcomes), outcomes
    # TensorBoard itself reads the run.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    assert len(accumulator.Graph().node) == nodes
    # The next write cleans up: one graph file, no temps.
    assert main(["tb", str(big_graph), "--logdir", str(logdir)]) == 0
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert list(run_dir.glob(".inspector-*.tmp")) == []


# --- stale temp files ---------------------------------------------------------------


def test_stale_temps_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path):
    import socket

    from inspector.atomic import _host

    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        host = _host()
        stale = tmp_path / f".inspector-{host}-{dead.pid}-abcd1234.tmp"
        busy = tmp_path / f".inspector-{host}-{live.pid}-abcd1234.tmp"
        foreign = tmp_path / f".inspector-{host}x-{dead.pid}-abcd1234.tmp"  # another host's (a shared folder)
        legacy = tmp_path / ".inspector-abcd1234.tmp"  # before the name held host and pid
        for path in (stale, busy, foreign, legacy):
            path.write_bytes(b"half a graph")
        write_bytes_atomic(tmp_path / "g.pb", b"data")
        assert not stale.exists()
        assert busy.exists() and foreign.exists() and legacy.exists()
        assert remove_stale_temps(tmp_path) == []
        assert socket.gethostname()  # the host part comes from here
    finally:
        live.kill()
        live.wait()


# --- --output is the input ---------------------------------------------------------------


def test_output_equal_to_input_is_refused_however_spelt(tmp_path: Path, capsys):
    folder = tmp_path / "tf_files"
    (folder / "sub").mkdir(parents=True)
    graph = folder / "retrained_graph.pb"
    graph.write_bytes(retrained_like().SerializeToString())
    before = graph.read_bytes()
    link = folder / "link_graph.pb"
    link.symlink_to(graph)
    hard = folder / "hard_graph.pb"
    os.link(graph, hard)
    spellings = [graph, folder / "sub" / ".." / "retrained_graph.pb", link, hard]
    for output in spellings:
        for argv in (
            ["optimize", str(graph), "--output", str(output)],
            ["optimize", "--input", str(output), "--output", str(graph)],
            ["compare", str(graph), "--output", str(output), "--logdir", str(tmp_path / "logs"), "--no-board", "--no-check"],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            target = argv[argv.index("--output") + 1]
            assert err == f"error: {target}: --output is the input graph; write the optimized graph to another file\n"
    # export writes a .tflite: naming the graph there is refused by the atomic writer.
    assert main(["export", str(graph), "--tflite", str(link), "--runs", "0", "--random", "1"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {link}: refusing to overwrite the input file; choose another output path"
    )
    assert graph.read_bytes() == before and link.is_symlink() and hard.read_bytes() == before
    assert not (tmp_path / "logs").exists()
    assert list(folder.rglob(".inspector-*")) == []


# --- two compares on one logdir at once ----------------------------------------------------


def _start_compare(a: Path, b: Path, logdir: Path, *names: str) -> subprocess.Popen:
    argv = inspector_cmd("compare", str(a), str(b), "--logdir", str(logdir), "--no-board", "--no-check", "--json")
    if names:
        argv += ["--names", *names]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def _check_logdir(logdir: Path, runs: set[str], pairs: set[tuple[str, str]]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from inspector.tb.plugin import MARKER, TEXT_RUN
    from inspector.tb.plugin.pair import read_pair

    for run in runs:
        files = sorted((logdir / run).glob("events.out.tfevents.*"))
        assert len(files) == 1, (run, files)
        (event,) = [e for e in read_graph_events(files[0]) if e.HasField("graph_def")]
        assert GraphDef.FromString(event.graph_def).node
        accumulator = EventAccumulator(str(logdir / run))
        accumulator.Reload()
        assert accumulator.Graph().node
    marker = json.loads((logdir / MARKER).read_text())
    assert (marker["a"], marker["b"]) in pairs and read_pair(logdir) in pairs
    assert not list(logdir.rglob(".inspector-*.tmp"))
    text_dir = logdir / TEXT_RUN
    accumulator = EventAccumulator(str(text_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["tensors"]
    assert sorted(tags) == sorted(f"{a} -> {b}" for a, b in pairs)
    # One file per pair: a second copy of a tag would show the summary twice.
    assert len(list(text_dir.glob("events.out.tfevents.*"))) == len(pairs)
    for tag in tags:
        (only,) = accumulator.Tensors(tag)
        assert only.tensor_proto.string_val[0].decode().startswith("**")


def test_two_compares_on_one_logdir_at_once(small_pair, tmp_path: Path):
    a, b = small_pair
    other = tmp_path / "other_graph.pb"
    other.write_bytes(retrained_like(seed=3, blocks=1).SerializeToString())
    for round_ in range(3):
        # The same pair twice at once: both write the same runs and the same text summary.
        same = tmp_path / f"same{round_}"
        procs = [_start_compare(a, b, same), _start_compare(a, b, same)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
        _check_logdir(same, {"retrained", "optimized"}, {("retrained", "optimized")})
        # Two different pairs at once into one logdir.
        mixed = tmp_path / f"mixed{round_}"
        procs = [_start_compare(a, b, mixed, "r1", "o1"), _start_compare(a, other, mixed, "r2", "o2")]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        _check_logdir(mixed, {"r1", "o1", "r2", "o2"}, {("r1", "o1"), ("r2", "o2")})


def _write_graph(folder: Path):
    from inspector.tb.events import write_run

    written = write_run(retrained_like(), folder, "retrained")
    return written.run_dir, written.event_file


def _write_summary(folder: Path):
    from inspector.analysis.diff import diff_graphs
    from inspector.tb.textsummary import write_text_summary

    graph = retrained_like()
    written = write_text_summary(folder, diff_graphs(graph, graph, labels=("a", "b")))
    return written.event_file.parent, written.event_file


@pytest.mark.parametrize("write", [_write_graph, _write_summary], ids=["graph", "text summary"])
def test_writers_racing_on_one_run_leave_one_file(tmp_path: Path, write):
    """Each writer keeps only the newest file after writing, even another writer's: racing writers converge on one."""
    errors: list[BaseException] = []
    stood: list[Path] = []
    folders: set[Path] = set()

    def loop() -> None:
        try:
            for _ in range(20):
                folder, event_file = write(tmp_path)
                folders.add(folder)
                stood.append(event_file)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    (folder,) = folders
    files = list(folder.glob("events.out.tfevents.*"))
    assert len(files) == 1, files
    # What a writer returns is the file that stood when it returned: the survivor is one of them.
    assert files[0] in stood
    assert len(read_graph_events(files[0])) == 2
