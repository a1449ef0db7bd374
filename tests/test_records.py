"""inspector.tb.records: the exact errors of the streaming event reader, on real files (no mocks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tensorboard.compat.proto.event_pb2 import Event

from builders import retrained_like
from inspector.errors import InspectorError
from inspector.tb.events import record
from inspector.tb.records import open_event_file, read_event, scan_records


def _graph_file(path: Path) -> Path:
    event = Event(wall_time=1.0, step=0, graph_def=retrained_like().SerializeToString())
    path.write_bytes(record(Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()) + record(event.SerializeToString()))
    return path


def _scanned(path: Path):
    fd, info = open_event_file(path)
    try:
        return scan_records(fd, path, size=info.st_size)
    finally:
        os.close(fd)


def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path):
    fifo = tmp_path / "events.out.tfevents.1.host"
    os.mkfifo(fifo)
    with pytest.raises(InspectorError) as caught:
        open_event_file(fifo)
    assert caught.value.message == f"{fifo}: is a FIFO (named pipe), not a regular file, so it is not read as an event file; remove it or rename it"


def test_a_graph_record_whose_data_crc_is_wrong_is_named(tmp_path: Path):
    path = _graph_file(tmp_path / "events.out.tfevents.1.host")
    graph = _scanned(path).graph
    assert graph is not None and graph.index == 1
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # the data CRC of the graph record, the last four bytes
    path.write_bytes(bytes(data))
    fd, _ = open_event_file(path)
    try:
        with pytest.raises(InspectorError) as caught:
            read_event(fd, path, graph)
    finally:
        os.close(fd)
    assert caught.value.message == (
        f"{path}: record 1 at byte {graph.offset} is corrupt (the data CRC does not match); write the run again"
    )


def test_a_graph_record_cut_after_the_scan_says_to_reload(tmp_path: Path):
    path = _graph_file(tmp_path / "events.out.tfevents.1.host")
    graph = _scanned(path).graph
    assert graph is not None
    os.truncate(path, path.stat().st_size - 10)  # cut after the scan, as a writer replacing it might
    fd, _ = open_event_file(path)
    try:
        with pytest.raises(InspectorError) as caught:
            read_event(fd, path, graph)
    finally:
        os.close(fd)
    assert caught.value.message == f"{path}: record 1 was cut short since the file was read; reload the page"


def test_a_graph_evicted_then_replaced_on_disk_asks_for_a_reload(tmp_path: Path):
    """The race a request can lose: its file's graph was evicted, and the file replaced, before it was parsed again."""
    from inspector.tb.plugin.logdir import GraphStore

    run = tmp_path / "logs" / "retrained"
    run.mkdir(parents=True)
    path = _graph_file(run / "events.out.tfevents.1.host")
    store = GraphStore(tmp_path / "logs", max_graph_bytes=1)  # nothing stays cached: every graph is read again
    seen = store._state(path)
    assert seen is not None and seen.facts is not None
    replacement = _graph_file(run / "replacement")
    os.replace(replacement, path)  # a new file (new inode, new generation) under the same name
    os.utime(path, ns=(1, 1))
    assert store._state(path).generation != seen.generation
    with pytest.raises(InspectorError) as caught:
        store._graph_def(seen)
    assert caught.value.message == f"{path}: changed while it was being read; reload the page"
