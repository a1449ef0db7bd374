"""Tests for inspector.tb.events (graph -> TensorBoard run) and scripts/graph_pb2tb.py."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DT_FLOAT, DT_INT64

from builders import matmul_graph
from inspector.tb import events as tblog
from inspector.errors import InspectorError
from inspector.tb.events import FILE_VERSION, GRAPH_FILE_SUFFIX, read_graph_events, strip_weights, write_run
from inspector.codelab import graph_pb2tb

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
POETS = FIXTURES / "graphs" / "poets_pair"
needs_poets = pytest.mark.skipif(
    not (POETS / "retrained_graph.pb").is_file(),
    reason=f"codelab graphs not found at {POETS} (shared/fixtures is not checked out beside the repo)",
)


# --- graphs built by hand ------------------------------------------------------------------


def _shape(*dims: int) -> TensorShapeProto:
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in dims])


def _node(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: AttrValue) -> NodeDef:
    node = NodeDef(name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value)
    return node


def _const(name: str, tensor: TensorProto) -> NodeDef:
    return _node(name, "Const", dtype=AttrValue(type=tensor.dtype), value=AttrValue(tensor=tensor))


def _graph_of(event_file: Path) -> GraphDef:
    events = read_graph_events(event_file)
    graphs = [e for e in events if e.HasField("graph_def")]
    assert len(graphs) == 1
    return GraphDef.FromString(graphs[0].graph_def)


def _our_files(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.iterdir() if p.name.endswith(GRAPH_FILE_SUFFIX))


def _load(path: Path) -> GraphDef:
    return GraphDef.FromString(path.read_bytes())


# --- CRC -----------------------------------------------------------------------------------


def test_masked_crc32c_matches_known_vector_and_tensorboard():
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow

    # CRC-32C("123456789") is 0xE3069283 (RFC 3720); masking is TFRecord's rotate-and-add.
    crc = 0xE3069283
    assert tblog.masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    for data in (b"", b"x", bytes(range(256)) * 7, os.urandom(4099)):
        assert tblog.masked_crc32c(data) == pywrap_tensorflow.masked_crc32c(data)
    assert tblog.crc32c_backend()


# --- strip_weights -------------------------------------------------------------------------


def test_strip_weights_leaves_out_big_payloads_and_keeps_dtype_and_shape():
    graph = matmul_graph()
    before = graph.SerializeToString()
    stripped, consts, nbytes = strip_weights(graph)

    assert graph.SerializeToString() == before, "the caller's graph was mutated"
    assert consts == 1
    assert 64 * 64 * 4 <= nbytes < 64 * 64 * 4 + 16
    by_name = {n.name: n for n in stripped.node}
    weights = by_name["weights"].attr["value"].tensor
    assert weights.dtype == DT_FLOAT
    assert [d.size for d in weights.tensor_shape.dim] == [64, 64]
    assert weights.tensor_content == b"" and not weights.float_val
    assert [[d.size for d in s.dim] for s in by_name["weights"].attr["_output_shapes"].list.shape] == [[64, 64]]
    # Small Consts and every other node are untouched.
    original = {n.name: n for n in graph.node}
    for name in ("input", "weights/read", "MatMul", "scale", "Mul", "bias", "BiasAdd", "final_result"):
        assert by_name[name] == original[name], name
    assert [n.name for n in stripped.node] == [n.name for n in graph.node]
    assert stripped.versions == graph.versions


def test_strip_weights_counts_repeated_val_fields_and_honours_min_bytes():
    values = TensorProto(dtype=DT_INT64, tensor_shape=_shape(300), int64_val=list(range(1000, 1300)))
    graph = GraphDef(node=[_const("table", values)])
    payload = values.ByteSize() - TensorProto(dtype=DT_INT64, tensor_shape=_shape(300)).ByteSize()
    assert payload > 300

    kept, consts, nbytes = strip_weights(graph, min_bytes=payload)
    assert (consts, nbytes) == (0, 0)
    assert kept == graph

    gone, consts, nbytes = strip_weights(graph, min_bytes=payload - 1)
    assert (consts, nbytes) == (1, payload)
    tensor = gone.node[0].attr["value"].tensor
    assert not tensor.int64_val and tensor.dtype == DT_INT64 and tensor.tensor_shape.dim[0].size == 300


def test_strip_weights_keeps_an_existing_output_shapes_attr():
    graph = matmul_graph()
    weights = next(n for n in graph.node if n.name == "weights")
    mark = AttrValue(list=AttrValue.ListValue(shape=[_shape(7, 7)]))
    weights.attr["_output_shapes"].CopyFrom(mark)
    stripped, consts, _ = strip_weights(graph)
    assert consts == 1
    assert next(n for n in stripped.node if n.name == "weights").attr["_output_shapes"] == mark


# --- write_run -----------------------------------------------------------------------------


def test_write_run_round_trips_with_payload_left_out(tmp_path):
    graph = matmul_graph()
    written = write_run(graph, tmp_path, "retrained", wall_time=1234.5)

    assert written.run == "retrained"
    assert written.run_dir == tmp_path / "retrained"
    assert written.event_file.parent == written.run_dir
    assert "tfevents" in written.event_file.name and written.event_file.name.endswith(GRAPH_FILE_SUFFIX)
    assert written.nodes == len(graph.node)
    assert written.bytes_written == written.event_file.stat().st_size
    assert written.consts_stripped == 1 and written.bytes_stripped >= 64 * 64 * 4
    assert written.replaced == ()
    assert written.bytes_written < 1024

    events = read_graph_events(written.event_file)
    assert len(events) == 2
    assert events[0].file_version == FILE_VERSION
    assert events[1].step == 0 and events[1].wall_time == 1234.5
    logged = GraphDef.FromString(events[1].graph_def)
    assert [(n.name, n.op) for n in logged.node] == [(n.name, n.op) for n in graph.node]
    weights = next(n for n in logged.node if n.name == "weights").attr["value"].tensor
    assert weights.dtype == DT_FLOAT and [d.size for d in weights.tensor_shape.dim] == [64, 64]
    assert weights.tensor_content == b""
    # Nothing half-written is left behind.
    assert [p.name for p in written.run_dir.iterdir()] == [written.event_file.name]


def test_keep_weights_logs_the_graph_unchanged(tmp_path):
    graph = matmul_graph()
    written = write_run(graph, tmp_path, "kept", keep_weights=True)
    events = read_graph_events(written.event_file)
    assert events[1].graph_def == graph.SerializeToString(deterministic=True)
    assert GraphDef.FromString(events[1].graph_def) == graph
    assert (written.consts_stripped, written.bytes_stripped) == (0, 0)
    assert written.bytes_written > 64 * 64 * 4


def test_writing_twice_replaces_only_our_earlier_graph(tmp_path):
    run_dir = tmp_path / "retrained"
    run_dir.mkdir()
    # What retrain.py's FileWriter leaves, named by whole seconds, plus files we must not touch.
    foreign = run_dir / "events.out.tfevents.1500000000.trainer"
    foreign.write_bytes(tblog.record(b"not ours"))
    lookalike = run_dir / f"events.out.tfevents.1500000000.trainer{GRAPH_FILE_SUFFIX}.bak"
    lookalike.write_bytes(b"keep me")

    first = write_run(matmul_graph(), tmp_path, "retrained")
    second = write_run(matmul_graph(), tmp_path, "retrained/")

    assert second.replaced == (first.event_file,)
    assert _our_files(run_dir) == [second.event_file]
    assert foreign.read_bytes() == tblog.record(b"not ours")
    assert lookalike.read_bytes() == b"keep me"
    # TensorBoard reads a run's files in name order: ours must come after what was there.
    assert foreign.name < first.event_file.name < second.event_file.name
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_runs_side_by_side_and_nested_do_not_replace_each_other(tmp_path):
    a = write_run(matmul_graph(), tmp_path, "retrained")
    b = write_run(matmul_graph(), tmp_path, "poets/optimized")
    c = write_run(matmul_graph(), tmp_path, ".")
    assert (a.replaced, b.replaced, c.replaced) == ((), (), ())
    assert b.run_dir == tmp_path / "poets" / "optimized" and b.run == "poets/optimized"
    assert c.run_dir == tmp_path and c.run == "."
    for written in (a, b, c):
        assert written.event_file.is_file()


@pytest.mark.parametrize(
    "run", ["", "   ", "..", "../retrained", "a/../../b", "a/..", "/tmp/abs", "a\\b", "C:/x", "C:x"]
)
def test_bad_run_names_are_rejected(tmp_path, run):
    with pytest.raises(InspectorError) as info:
        write_run(matmul_graph(), tmp_path / "logs", run)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("run", "name"), [("retrained", "retrained"), ("a/b/", "a/b"), ("./a//b", "a/b"), (".", "."), ("./", ".")]
)
def test_run_names_are_normalised(run, name):
    assert tblog.normalize_run_name(run) == name


def test_a_file_where_the_run_folder_goes_is_an_error(tmp_path):
    (tmp_path / "retrained").write_bytes(b"x")
    with pytest.raises(InspectorError, match="not a log folder"):
        write_run(matmul_graph(), tmp_path, "retrained")


# --- read_graph_events ---------------------------------------------------------------------


def test_reader_rejects_corrupt_and_truncated_files(tmp_path):
    written = write_run(matmul_graph(), tmp_path, "r")
    data = written.event_file.read_bytes()

    flipped = bytearray(data)
    flipped[-10] ^= 0x01
    bad = tmp_path / "flipped.tfevents"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(InspectorError, match="record 1 is corrupt"):
        read_graph_events(bad)

    short = tmp_path / "short.tfevents"
    short.write_bytes(data[:-3])
    with pytest.raises(InspectorError, match="ends inside a record"):
        read_graph_events(short)

    bad_length = bytearray(data)
    bad_length[0] ^= 0x01
    bad.write_bytes(bytes(bad_length))
    with pytest.raises(InspectorError, match="record 0 is corrupt .*length CRC"):
        read_graph_events(bad)

    with pytest.raises(InspectorError, match="no such event file"):
        read_graph_events(tmp_path / "missing")

    empty = tmp_path / "empty.tfevents"
    empty.write_bytes(b"")
    assert read_graph_events(empty) == []


def test_reader_framing_is_tfrecord(tmp_path):
    written = write_run(matmul_graph(), tmp_path, "r")
    data = written.event_file.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert struct.unpack("<I", data[8:12])[0] == tblog.masked_crc32c(data[:8])
    assert struct.unpack("<I", data[12 + length : 16 + length])[0] == tblog.masked_crc32c(data[12 : 12 + length])


# --- the codelab graphs --------------------------------------------------------------------


@needs_poets
@pytest.mark.parametrize(("name", "nodes"), [("retrained_graph.pb", 560), ("optimized_graph.pb", 420)])
def test_codelab_graphs_round_trip(tmp_path, name, nodes):
    graph = _load(POETS / name)
    assert len(graph.node) == nodes
    written = write_run(graph, tmp_path, "run")
    logged = _graph_of(written.event_file)
    assert [(n.name, n.op) for n in logged.node] == [(n.name, n.op) for n in graph.node]
    original = {n.name: n for n in graph.node}
    for node in logged.node:
        if node.op != "Const":
            assert node == original[node.name]
            continue
        before = original[node.name].attr["value"].tensor
        after = node.attr["value"].tensor
        assert after.dtype == before.dtype and after.tensor_shape == before.tensor_shape
        shell = TensorProto(dtype=before.dtype, tensor_shape=before.tensor_shape, version_number=before.version_number)
        if before.ByteSize() - shell.ByteSize() > 1024:
            assert after == shell, node.name
        else:
            assert after == before, node.name
    assert written.consts_stripped == 38

    kept = write_run(graph, tmp_path, "run", keep_weights=True)
    assert kept.replaced == (written.event_file,)
    assert _graph_of(kept.event_file) == graph


@needs_poets
def test_codelab_retrained_log_is_a_few_percent_of_the_graph(tmp_path):
    path = POETS / "retrained_graph.pb"
    size = path.stat().st_size
    graph = _load(path)
    written = write_run(graph, tmp_path, "retrained")
    ratio = written.bytes_written / size
    print(f"\nretrained_graph.pb {size:,} B -> event file {written.bytes_written:,} B ({ratio:.2%}), "
          f"{written.consts_stripped} Consts / {written.bytes_stripped:,} B left out")
    # Names and attrs of the 560 nodes alone are ~4.5% of this graph, so the default cut
    # (1024 B, TensorBoard's own cut for showing an attr) lands at ~6.5%.
    assert ratio < 0.07
    # Cut at 64 B, ~150 Consts go, each keeping a 16-byte digest of its weights (~40 B with its key): 5.2%.
    small, consts, _ = strip_weights(graph, min_bytes=64)
    assert small.ByteSize() / size < 0.055 and consts > 100


# --- TensorFlow stays out, TensorBoard reads it --------------------------------------------


def _run_python(code: str, *, env_extra: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tblog_and_the_script_never_import_tensorflow(tmp_path):
    stub = tmp_path / "stub"
    (stub / "tensorflow").mkdir(parents=True)
    marker = tmp_path / "tensorflow-was-imported"
    (stub / "tensorflow" / "__init__.py").write_text(
        "import os, pathlib\n"
        "pathlib.Path(os.environ['TBLOG_TEST_MARKER']).write_text('imported')\n"
        "raise ImportError('tensorflow is shadowed by a stub in this test')\n"
    )
    graph_file = tmp_path / "g.pb"
    graph_file.write_bytes(matmul_graph().SerializeToString())
    code = f"""
        import sys
        from pathlib import Path
        from inspector.tb.events import write_run, read_graph_events, strip_weights
        from tensorboard.compat.proto.graph_pb2 import GraphDef
        from inspector.codelab.graph_pb2tb import main
        graph = GraphDef.FromString(Path({str(graph_file)!r}).read_bytes())
        written = write_run(graph, Path({str(tmp_path / 'logs')!r}), "a")
        assert len(read_graph_events(written.event_file)) == 2
        assert main([{str(tmp_path / 'logs' / 'b')!r}, {str(graph_file)!r}]) == 0
        assert "tensorflow" not in sys.modules
        print("ok")
    """
    result = _run_python(
        code,
        env_extra={"PYTHONPATH": f"{stub}{os.pathsep}{REPO}", "TBLOG_TEST_MARKER": str(marker)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "ok"
    assert not marker.exists(), "something tried to import tensorflow"


@pytest.mark.slow
def test_tensorboard_event_accumulator_reads_the_run(tmp_path):
    graph = matmul_graph()
    write_run(graph, tmp_path, "retrained")
    written = write_run(graph, tmp_path, "retrained")  # the replaced file must not confuse it
    assert _accumulator_node_names(written.run_dir) == [n.name for n in graph.node]


def _accumulator_node_names(run_dir):
    """Node names as TensorBoard's own EventAccumulator reads them from ``run_dir``."""
    # In a subprocess: EventAccumulator imports TensorFlow, which the rest of the suite avoids.
    code = f"""
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        acc = EventAccumulator({str(run_dir)!r})
        acc.Reload()
        print("\\n".join(n.name for n in acc.Graph().node))
    """
    result = _run_python(code, env_extra={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@needs_poets
@pytest.mark.slow
def test_tensorboard_event_accumulator_reads_the_codelab_graph(tmp_path):
    graph = _load(POETS / "retrained_graph.pb")
    written = write_run(graph, tmp_path / "training_summaries", "retrained")
    assert _accumulator_node_names(written.run_dir) == [n.name for n in graph.node]


# --- scripts/graph_pb2tb.py ----------------------------------------------------------------


def test_script_as_the_codelab_runs_it(tmp_path):
    graph_file = tmp_path / "retrained_graph.pb"
    graph_file.write_bytes(matmul_graph().SerializeToString())
    logdir = tmp_path / "training_summaries" / "retrained"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.graph_pb2tb", str(logdir), str(graph_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"wrote {logdir}{os.sep}events.out.tfevents.")
    assert "9 nodes" in lines[0] and "weights left out: 1 Const" in lines[0] and "--keep-weights" in lines[0]
    files = _our_files(logdir)
    assert len(files) == 1 and f"{files[0]}:" in lines[0]


def test_main_writes_the_run_at_exactly_logdir(tmp_path, capsys):
    graph_file = tmp_path / "g.pb"
    graph_file.write_bytes(matmul_graph().SerializeToString())
    logdir = tmp_path / "tf_files" / "training_summaries" / "retrained"

    assert graph_pb2tb.main([str(logdir), str(graph_file)]) == 0
    first = capsys.readouterr()
    assert first.err == "" and first.out.count("\n") == 1 and "replaced" not in first.out
    assert graph_pb2tb.main([str(logdir), str(graph_file), "--keep-weights"]) == 0
    second = capsys.readouterr().out
    assert "(weights kept)" in second and "replaced 1 earlier graph file" in second
    files = _our_files(logdir)
    assert len(files) == 1 and files[0].parent == logdir
    assert _graph_of(files[0]) == matmul_graph()


@needs_poets
def test_main_summary_for_the_codelab_graph(tmp_path, capsys):
    logdir = tmp_path / "retrained"
    assert graph_pb2tb.main([str(logdir), str(POETS / "retrained_graph.pb")]) == 0
    out = capsys.readouterr().out
    assert ": 560 nodes, " in out and "weights left out: 38 Consts, 1.9 MB" in out


def test_main_reports_bad_input_as_one_error_line(tmp_path, capsys):
    graph_file = tmp_path / "g.pb"
    graph_file.write_bytes(matmul_graph().SerializeToString())
    not_a_graph = tmp_path / "photo.jpg"
    not_a_graph.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    cases = [
        [str(tmp_path / "logs"), str(tmp_path / "missing.pb")],
        [str(tmp_path / "logs"), str(not_a_graph)],
        [str(graph_file), str(tmp_path / "logs")],  # arguments swapped
    ]
    for argv in cases:
        assert graph_pb2tb.main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "LOGDIR GRAPH" in lines[0]
    assert not (tmp_path / "logs").exists()


def test_main_usage_error_returns_2(capsys):
    assert graph_pb2tb.main([]) == 2
    assert "usage:" in capsys.readouterr().err


def _interleaved_graph() -> GraphDef:
    """Big and small Consts in turn, readers between them, a library and versions: what the streamed read must keep in order."""
    graph = GraphDef()
    graph.versions.producer = 1205
    graph.library.function.add().signature.name = "unused_fn"
    for i in range(6):
        size = 5000 if i % 2 == 0 else 3
        values = TensorProto(dtype=DT_FLOAT, tensor_shape=_shape(size), tensor_content=struct.pack(f"<{size}f", *range(size)))
        graph.node.append(_const(f"w{i}", values))
        graph.node.add(name=f"read{i}", op="Identity", input=[f"w{i}"], attr={"T": AttrValue(type=DT_FLOAT)})
    return graph


@pytest.mark.parametrize("source", ["generated", "codelab"])
def test_read_stripped_equals_a_whole_read_then_strip_weights(source, tmp_path):
    if source == "codelab":
        if not POETS.exists():
            pytest.skip(f"codelab graphs not found at {POETS}")
        path = POETS / "retrained_graph.pb"
    else:
        path = tmp_path / "g.pb"
        path.write_bytes(_interleaved_graph().SerializeToString())
    whole = GraphDef.FromString(path.read_bytes())
    expected, consts, nbytes = strip_weights(whole)
    loaded, counts = tblog.read_stripped(path)
    assert loaded.graph == expected
    assert [n.name for n in loaded.graph.node] == [n.name for n in whole.node]
    assert counts == (consts, nbytes) and consts > 0
    assert loaded.size_bytes == path.stat().st_size and loaded.format == "pb"


def test_read_stripped_of_a_text_graph_and_of_a_truncated_one_reads_as_load_graph_does(tmp_path):
    from google.protobuf import text_format

    graph = _interleaved_graph()
    text = tmp_path / "g.pbtxt"
    text.write_text(text_format.MessageToString(graph))
    loaded, counts = tblog.read_stripped(text)
    assert loaded.format == "pbtxt" and loaded.graph == strip_weights(graph)[0] and counts[0] == 3
    cut = tmp_path / "cut.pb"
    cut.write_bytes(graph.SerializeToString()[:-7])
    with pytest.raises(InspectorError, match=r"cut\.pb: not a valid GraphDef: the protobuf is truncated or corrupt"):
        tblog.read_stripped(cut)


def test_tb_writes_the_streamed_graph_as_a_whole_read_would(tmp_path):
    path = tmp_path / "g.pb"
    path.write_bytes(_interleaved_graph().SerializeToString())
    from inspector.workflows.runs import write_runs

    done = write_runs([path], logdir=tmp_path / "logs")
    (written,) = done.runs
    assert (written.consts_stripped, written.nodes) == (3, 12)
    events = read_graph_events(written.event_file)
    logged = GraphDef.FromString(events[1].graph_def)
    assert logged == strip_weights(_interleaved_graph())[0]
