"""The Graph diff plugin on logdirs from anywhere: damaged and hostile event files, big training logs, deep names, load."""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
from pathlib import Path

import pytest
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
from tensorboard.plugins import base_plugin

from builders import retrained_like, without_identities
from inspector.tb.events import masked_crc32c, record, write_run
from inspector.tb.plugin import backend as backend_mod
from inspector.tb.plugin import logdir as logdir_mod
from inspector.tb.plugin.backend import GraphDiffPlugin
from inspector.tb.plugin.logdir import GraphStore
from inspector.tb.records import CHUNK_BYTES, open_event_file, scan_records
from test_plugin import diff_url, drawn_nodes, get_json, plugin_client

# --- helpers ------------------------------------------------------------------


def summaries(first_step: int, count: int, *, histogram: bool = False) -> bytes:
    """``count`` training-summary records, as retrain.py's FileWriter logs them (scalars, optionally a histogram)."""
    out = []
    for step in range(first_step, first_step + count):
        values = [
            Summary.Value(tag="train/cross_entropy", simple_value=1.0 / (step + 1)),
            Summary.Value(tag="train/accuracy", simple_value=min(1.0, step / 1000)),
        ]
        if histogram:
            values.append(
                Summary.Value(
                    tag="final_training_ops/weights",
                    histo=HistogramProto(min=-1, max=1, num=1000, sum=0.5, sum_squares=3.0, bucket_limit=[i / 10 for i in range(-10, 11)], bucket=[float(i) for i in range(21)]),
                )
            )
        out.append(record(Event(wall_time=1.7e9 + step, step=step, summary=Summary(value=values)).SerializeToString()))
    return b"".join(out)


def graph_record(graph: GraphDef, wall_time: float = 1.0) -> bytes:
    return record(Event(wall_time=wall_time, graph_def=graph.SerializeToString()).SerializeToString())


def store_stats(plugin: GraphDiffPlugin):
    stats = plugin.stats().store
    assert stats is not None
    return stats


def in_thread(fn, *, timeout: float = 20.0):
    """``fn()`` run in a thread; its result, or a failure if it does not return within ``timeout``."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{fn} did not return within {timeout} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def deep_graph(depth: int) -> GraphDef:
    """Nodes ``depth`` scopes deep, as a graph from anywhere may have them."""
    graph = GraphDef()
    for name, op in (("a/" * depth + "x", "Identity"), ("a/" * depth + "y", "Const"), ("input", "Placeholder")):
        node = graph.node.add()
        node.name, node.op = name, op
    return graph


@pytest.fixture
def pair_logdir(tmp_path: Path) -> Path:
    logdir = tmp_path / "logs"
    graph = retrained_like()
    write_run(graph, logdir, "retrained")
    write_run(without_identities(graph), logdir, "optimized")
    return logdir


# --- damaged and hostile files ------------------------------------------------------


def test_a_record_claiming_2_to_the_50_bytes_is_one_problem_line(pair_logdir: Path):
    header = struct.pack("<Q", 2**50)
    evil = pair_logdir / "evil" / "events.out.tfevents.1700000000.host"
    evil.parent.mkdir()
    evil.write_bytes(header + struct.pack("<I", masked_crc32c(header)) + b"abc")  # 15 bytes
    plugin, client = plugin_client(pair_logdir)
    status, body = get_json(client, "/runs")
    assert status == 200
    assert [r["run"] for r in body["runs"]] == ["optimized", "retrained"]
    (problem,) = body["problems"]
    assert str(evil) in problem and "claims 1,125,899,906,842,624 bytes" in problem
    # The claim was never allocated or read: of that file, only its 15 bytes were.
    alone = GraphStore(evil.parent)
    assert alone.runs() == ((), (problem,)) and alone.stats().bytes_read == 15
    status, body = get_json(client, diff_url("evil", "retrained"))
    assert status == 400 and "claims" in body["error"]


def test_a_fifo_or_device_named_like_an_event_file_is_never_opened(pair_logdir: Path):
    fifo = pair_logdir / "fifo" / "events.out.tfevents.1700000000.host"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    # A newer FIFO in a run with a graph: the older file still shows.
    os.mkfifo(pair_logdir / "retrained" / "events.out.tfevents.9999999999999999999.host")
    (pair_logdir / "device").mkdir()
    (pair_logdir / "device" / "events.out.tfevents.1700000000.host").symlink_to("/dev/zero")
    plugin, client = plugin_client(pair_logdir)

    status, body = in_thread(lambda: get_json(client, "/runs"), timeout=10)
    assert status == 200
    assert [r["run"] for r in body["runs"]] == ["optimized", "retrained"]
    assert sorted(p.split(": ")[1].split(",")[0] for p in body["problems"]) == ["is a FIFO (named pipe)", "is a FIFO (named pipe)", "is a character device"]
    assert any(str(fifo) in p for p in body["problems"])
    status, body = in_thread(lambda: get_json(client, diff_url("fifo", "retrained")), timeout=10)
    assert status == 400 and "is a FIFO" in body["error"]
    status, body = in_thread(lambda: get_json(client, diff_url("retrained", "optimized")), timeout=10)
    assert status == 200
    assert store_stats(plugin).bytes_read > 0


def test_a_graph_being_appended_leaves_the_previous_graph_showing(tmp_path: Path):
    first, second = retrained_like(blocks=1), retrained_like(blocks=2)
    path = tmp_path / "train" / "events.out.tfevents.1700000000.host"
    path.parent.mkdir()
    whole = graph_record(second, 2.0)
    path.write_bytes(record(Event(file_version="brain.Event:2").SerializeToString()) + graph_record(first) + whole[: len(whole) // 2])
    plugin, client = plugin_client(tmp_path)
    _, body = get_json(client, "/runs")
    assert [(r["run"], r["nodes"]) for r in body["runs"]] == [("train", len(first.node))]
    assert body["problems"] == []
    status, _ = get_json(client, diff_url("train", "train"))
    assert status == 200

    # The writer finishes the record: only its second half is read, and the new graph shows.
    before = store_stats(plugin).bytes_read
    with path.open("ab") as handle:
        handle.write(whole[len(whole) // 2:])
    _, body = get_json(client, "/runs")
    assert [(r["run"], r["nodes"]) for r in body["runs"]] == [("train", len(second.node))]
    # From the start of the record that was cut (it resumes there), plus the record once more to parse it.
    assert store_stats(plugin).bytes_read - before == len(whole) + (len(whole) - 12)


def test_a_cut_summary_record_is_not_a_problem_but_a_cut_graph_alone_is(tmp_path: Path):
    graph = retrained_like()
    scalars = tmp_path / "train" / "events.out.tfevents.1700000000.host"
    scalars.parent.mkdir()
    data = summaries(0, 3)
    scalars.write_bytes(data[:-5])  # a training job mid-append
    cut = tmp_path / "cut" / "events.out.tfevents.1700000000.host"
    cut.parent.mkdir()
    cut.write_bytes(graph_record(graph)[:-100])
    _, client = plugin_client(tmp_path)
    _, body = get_json(client, "/runs")
    assert body["runs"] == []
    (problem,) = body["problems"]
    assert str(cut) in problem and "ends inside record 0, a graph" in problem and "still appending" in problem


def test_damage_after_a_graph_keeps_it_and_a_damaged_length_names_the_record(tmp_path: Path):
    graph = retrained_like()
    good = tmp_path / "run" / "events.out.tfevents.1700000000.host"
    good.parent.mkdir()
    damaged = bytearray(summaries(0, 2))
    damaged[3] ^= 0xFF  # the first summary's length, so its length CRC fails
    good.write_bytes(graph_record(graph) + bytes(damaged))
    bad = tmp_path / "bad" / "events.out.tfevents.1700000000.host"
    bad.parent.mkdir()
    bad.write_bytes(summaries(0, 1) + bytes(damaged))
    _, client = plugin_client(tmp_path)
    _, body = get_json(client, "/runs")
    assert [(r["run"], r["nodes"]) for r in body["runs"]] == [("run", len(graph.node))]
    (problem,) = body["problems"]
    assert problem.startswith(f"{bad}: record 1 at byte {len(summaries(0, 1))} is corrupt (the length CRC does not match)")


def test_the_last_oneof_field_decides_and_big_summaries_are_skipped_unread(tmp_path: Path):
    graph = retrained_like()
    # A graph_def field followed by a summary: a protobuf parser keeps the summary (oneof `what`).
    overridden = Event(graph_def=graph.SerializeToString()).SerializeToString() + Event(summary=Summary()).SerializeToString()
    assert not Event.FromString(overridden).graph_def
    image = Summary(value=[Summary.Value(tag="img", image=Summary.Image(encoded_image_string=os.urandom(6 * CHUNK_BYTES)))])
    path = tmp_path / "events.out.tfevents.1"
    path.write_bytes(record(overridden) + record(Event(step=1, summary=image).SerializeToString()) + summaries(2, 3))
    fd, info = open_event_file(path)
    try:
        scan = scan_records(fd, path, size=info.st_size)
    finally:
        os.close(fd)
    assert scan.graph is None and scan.records == 5 and scan.end == info.st_size
    assert scan.damage is None and scan.pending is None
    assert scan.bytes_read < 3 * CHUNK_BYTES < info.st_size / 2  # the 6 MiB image was jumped over

    # A graph bigger than a chunk (weights kept) is found the same way.
    big = retrained_like(channels=128, blocks=4)
    assert big.ByteSize() > CHUNK_BYTES
    path.write_bytes(summaries(0, 2) + graph_record(big) + summaries(2, 2))
    fd, info = open_event_file(path)
    try:
        scan = scan_records(fd, path, size=info.st_size)
    finally:
        os.close(fd)
    assert scan.graph is not None and scan.graph.index == 2 and scan.records == 5


def test_the_inlined_loop_for_ordinary_records_agrees_with_the_general_step(tmp_path: Path, monkeypatch):
    import random

    from inspector.tb import records as records_mod

    graph = retrained_like().SerializeToString()
    parts = [record(Event(file_version="brain.Event:2").SerializeToString()), graph_record(retrained_like())]
    parts += [summaries(i, 1) for i in range(20)]
    parts.insert(12, record(Event(wall_time=2.0, step=300, graph_def=graph[:500]).SerializeToString()))
    parts.append(record(Event(wall_time=3.0, meta_graph_def=b"\x0a\x00").SerializeToString()))
    data = b"".join(parts)
    path = tmp_path / "events.out.tfevents.1"
    real = records_mod._ordinary_records

    def scan(blob: bytes, inlined: bool):
        path.write_bytes(blob)
        monkeypatch.setattr(records_mod, "_ordinary_records", real if inlined else (lambda walker, pos, index, graph: (pos, index, graph)))
        fd, info = open_event_file(path)
        try:
            found = scan_records(fd, path, size=info.st_size)
        finally:
            os.close(fd)
        return (found.end, found.records, found.graph, found.damage, found.pending)

    assert scan(data, True)[2].index == len(parts) - 1
    rng = random.Random(7)
    for _ in range(400):
        blob = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(blob))
            choice = rng.random()
            if choice < 0.6:
                blob[at] = rng.randrange(256)
            elif choice < 0.8:
                del blob[at: at + rng.randint(1, 40)]
            else:
                del blob[at:]
            if not blob:
                break
        assert scan(bytes(blob), True) == scan(bytes(blob), False)


# --- a training log next to the graphs ----------------------------------------------


def test_a_big_training_log_is_read_once_and_then_only_its_appended_bytes(pair_logdir: Path):
    graph = retrained_like()
    # retrain.py's FileWriter: the graph first, then a summary per step.
    train = pair_logdir / "train" / "events.out.tfevents.1700000000.host"
    train.parent.mkdir()
    train.write_bytes(record(Event(file_version="brain.Event:2").SerializeToString()) + graph_record(graph) + summaries(0, 100_000))
    validation = pair_logdir / "validation" / "events.out.tfevents.1700000000.host"
    validation.parent.mkdir()
    validation.write_bytes(summaries(0, 20_000))
    plugin, client = plugin_client(pair_logdir)

    _, body = get_json(client, "/runs")
    assert [r["run"] for r in body["runs"]] == ["optimized", "retrained", "train"] and body["problems"] == []
    first = store_stats(plugin)
    assert first.bytes_read >= train.stat().st_size + validation.stat().st_size
    assert first.graphs_parsed == 3
    status, _ = get_json(client, diff_url("train", "optimized"))
    assert status == 200
    assert plugin.stats().diffs_computed == 1

    # Warm: nothing is read again.
    get_json(client, "/runs")
    assert store_stats(plugin).bytes_read == first.bytes_read

    # Training goes on: only the appended bytes are read, the graph is not parsed again, the diff stays cached.
    appended = summaries(100_000, 1_000)
    with train.open("ab") as handle:
        handle.write(appended)
    more_validation = summaries(20_000, 50)
    with validation.open("ab") as handle:
        handle.write(more_validation)
    _, body = get_json(client, "/runs")
    assert [r["run"] for r in body["runs"]] == ["optimized", "retrained", "train"]
    after = store_stats(plugin)
    assert after.bytes_read - first.bytes_read == len(appended) + len(more_validation)
    assert after.graphs_parsed == first.graphs_parsed
    status, _ = get_json(client, diff_url("train", "optimized"))
    assert status == 200 and plugin.stats().diffs_computed == 1

    # A file replaced by a shorter one is read again from its start.
    train.write_bytes(graph_record(retrained_like(blocks=1)))
    _, body = get_json(client, "/runs")
    assert {r["run"]: r["nodes"] for r in body["runs"]}["train"] == len(retrained_like(blocks=1).node)


def test_a_slow_file_does_not_hold_up_other_runs(pair_logdir: Path, monkeypatch):
    slow = pair_logdir / "slow" / "events.out.tfevents.1700000000.host"
    slow.parent.mkdir()
    slow.write_bytes(summaries(0, 10))
    entered, release = threading.Event(), threading.Event()
    real_scan = logdir_mod.scan_records

    def scan(fd, path, **kwargs):
        if Path(path).parent.name == "slow":
            entered.set()
            assert release.wait(30)
        return real_scan(fd, path, **kwargs)

    monkeypatch.setattr(logdir_mod, "scan_records", scan)
    plugin, client = plugin_client(pair_logdir)
    listing = threading.Thread(target=lambda: get_json(client, "/runs"), daemon=True)
    listing.start()
    try:
        assert entered.wait(10)
        # /runs is stuck inside the slow file; a diff of two other runs is not.
        status, body = in_thread(lambda: get_json(client, diff_url("retrained", "optimized")), timeout=10)
        assert status == 200 and body["diff"]["a"]["label"] == "retrained"
    finally:
        release.set()
        listing.join(10)
    assert not listing.is_alive()


# --- caches and concurrency --------------------------------------------------------------


def test_concurrent_identical_diffs_are_computed_once(pair_logdir: Path, monkeypatch):
    real = backend_mod._diff
    calls = []

    def slow_compute(ga, gb, changes=None):
        calls.append((ga.run, gb.run))
        time.sleep(0.3)  # long enough for every request to arrive while it runs
        return real(ga, gb)

    monkeypatch.setattr(backend_mod, "_diff", slow_compute)
    plugin, _ = plugin_client(pair_logdir)
    barrier = threading.Barrier(6)
    results: list[bytes] = []

    def request():
        barrier.wait()
        results.append(plugin.diff_json_bytes("retrained", "optimized"))

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6 and all(r is results[0] for r in results)
    assert calls == [("retrained", "optimized")] and plugin.stats().diffs_computed == 1
    # Each event file was read once, however many requests wanted it at the same time.
    assert store_stats(plugin).scans == 2


def test_caches_stay_within_their_byte_bounds(tmp_path: Path):
    logdir = tmp_path / "logs"
    graphs = {f"run{i}": retrained_like(blocks=1 + i) for i in range(4)}
    for run, graph in graphs.items():
        write_run(graph, logdir, run)
    sizes = sorted(len(g.SerializeToString()) for g in graphs.values())
    bound = sizes[-1] + sizes[-2] // 2  # room for one or two graphs, never all four
    store = GraphStore(logdir, max_graph_bytes=bound)
    runs, _ = store.runs()
    assert len(runs) == 4
    stats = store.stats()
    assert 0 < stats.graph_cache_bytes <= bound and stats.graphs_cached < 4

    # Graphs that were evicted are read back from their record when diffed.
    for run, graph in graphs.items():
        assert len(store.graph(run).graph.node) == len(graph.node)
        assert store.stats().graph_cache_bytes <= bound
    nothing = GraphStore(logdir, max_graph_bytes=1)
    nothing.runs()
    assert len(nothing.graph("run3").graph.node) == len(graphs["run3"].node) and nothing.stats().graphs_cached == 0

    plugin = GraphDiffPlugin(base_plugin.TBContext(logdir=str(logdir)), max_payload_bytes=1)
    one = plugin.diff_json_bytes("run0", "run1")
    assert plugin.stats().payload_cache_bytes == 0
    payload_bound = len(one) * 2 + len(one) // 2
    plugin = GraphDiffPlugin(base_plugin.TBContext(logdir=str(logdir)), max_payload_bytes=payload_bound)
    for a in graphs:
        for b in graphs:
            plugin.diff_json_bytes(a, b)
            stats = plugin.stats()
            assert stats.payload_cache_bytes <= payload_bound and stats.payloads_cached <= 3
    assert plugin.stats().diffs_computed == 16


# --- deep names -----------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_500, 60_000])
def test_names_thousands_of_scopes_deep(tmp_path: Path, depth: int, caplog):
    a = deep_graph(depth)
    b = GraphDef()
    b.node.extend(n for n in a.node if n.op != "Identity")
    logdir = tmp_path / "logs"
    write_run(a, logdir, "a")
    write_run(b, logdir, "b")
    plugin, client = plugin_client(logdir)
    with caplog.at_level(logging.DEBUG):
        response = client.get(diff_url("a", "b"))
    assert response.status_code == 200, response.get_data()[:500]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    body = json.loads(response.get_data(as_text=True))
    left, right = drawn_nodes(client, "a", "b", "a"), drawn_nodes(client, "a", "b", "b")
    deep_x, deep_y = "a/" * depth + "x", "a/" * depth + "y"
    assert left == {deep_x: ("Identity", "removed"), deep_y: ("Const", "same"), "input": ("Placeholder", "same")}
    assert right == {deep_y: ("Const", "same"), "input": ("Placeholder", "same")}
    (removed,) = body["diff"]["removed_scopes"]
    assert removed["nodes"] == 1 and removed["examples"] == [deep_x]


def test_deep_names_cost_linear_time():
    from inspector.analysis.diff import diff_graphs
    from inspector.tb.plugin.drawing import build
    from inspector.tb.plugin.payload import diff_payload

    def cost(depth: int) -> float:
        a = deep_graph(depth)
        b = GraphDef()
        b.node.extend(n for n in a.node if n.op != "Identity")
        start = time.perf_counter()
        diff = diff_graphs(a, b)
        text = json.dumps(diff_payload(diff, a, b))
        drawing = build(diff, a, b)
        levels = [json.dumps(drawing.level(side, 0)) for side in "ab"]
        took = time.perf_counter() - start
        assert len(text) < 40 * depth + 10_000 and all(len(t) < 20 * depth + 10_000 for t in levels)
        return took

    cost(6_000)  # warm up
    small, big = min(cost(6_000) for _ in range(3)), cost(60_000)
    # Ten times the depth: about ten times the time (quadratic would be a hundred).
    assert big < 40 * small + 0.5, (small, big)


# --- failures are answered in JSON and logged once ----------------------------------------


def test_a_bug_is_a_json_500_logged_once_in_one_line(pair_logdir: Path, monkeypatch, caplog):
    def broken(ga, gb, changes=None):
        raise RecursionError("maximum recursion depth exceeded while " + "x" * 5000)

    monkeypatch.setattr(backend_mod, "_diff", broken)
    _, client = plugin_client(pair_logdir)
    with caplog.at_level(logging.DEBUG, logger="inspector.tb.plugin"):
        for _ in range(5):
            status, body = get_json(client, diff_url("retrained", "optimized"))
            assert status == 500 and "RecursionError" in body["error"] and "bug in inspector" in body["error"]
            assert len(body["error"]) < 600
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    line = errors[0].getMessage()
    assert "\n" not in line and len(line) < 600 and "comparing 'retrained' with 'optimized'" in line
    assert sum(1 for r in caplog.records if r.exc_info) <= 1  # the traceback at most once, at debug level
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.exc_info)


def test_a_bug_reading_one_run_costs_only_that_run(pair_logdir: Path, monkeypatch, caplog):
    real = logdir_mod._parse

    def parse(fd, path, record):
        if Path(path).parent.name == "optimized":
            raise TypeError("unexpected")
        return real(fd, path, record)

    monkeypatch.setattr(logdir_mod, "_parse", parse)
    _, client = plugin_client(pair_logdir)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            status, body = get_json(client, "/runs")
            assert status == 200 and [r["run"] for r in body["runs"]] == ["retrained"]
            (problem,) = body["problems"]
            assert problem.startswith("run 'optimized': reading it failed (TypeError: unexpected)")
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_pair_marker_that_is_a_fifo_or_huge_is_no_pair(tmp_path: Path):
    """The marker lives in the logdir too: a FIFO there must not hang the tab, nor a huge file fill memory."""
    from inspector.tb.plugin import MARKER, read_pair, record_pair

    record_pair(tmp_path, "retrained", "optimized")
    assert read_pair(tmp_path) == ("retrained", "optimized")
    marker = tmp_path / MARKER
    marker.unlink()
    os.mkfifo(marker)
    assert in_thread(lambda: read_pair(tmp_path), timeout=5) is None
    marker.unlink()
    marker.write_bytes(b'{"a": "x", "b": "y"' + b" " * (1 << 20) + b"}")
    assert read_pair(tmp_path) is None
