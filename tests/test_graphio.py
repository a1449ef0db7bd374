"""Loading graphs: every format, and one clear line for each kind of bad input."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import retrained_like
from conftest import DAISY, REAL_GRAPHS, fixture_path
from inspector.errors import InspectorError
from inspector.graph.io import check_graph, default_stem, load_graph, save_graph


@pytest.mark.parametrize("relative,input_name,output_name,nodes", REAL_GRAPHS)
def test_real_graphs_load_with_manifest_node_counts(relative, input_name, output_name, nodes):
    loaded = load_graph(fixture_path(relative))
    assert loaded.format == "pb"
    assert len(loaded.graph.node) == nodes
    names = {n.name for n in loaded.graph.node}
    assert input_name in names and output_name in names


def test_pbtxt_round_trip(tmp_path: Path):
    graph = retrained_like()
    text_path = save_graph(graph, tmp_path / "g.pbtxt")
    assert text_path.read_text().lstrip().startswith("node {")
    loaded = load_graph(text_path)
    assert loaded.format == "pbtxt"
    assert loaded.graph == graph


def test_save_refuses_to_overwrite_input(tmp_path: Path):
    path = tmp_path / "g.pb"
    path.write_bytes(retrained_like().SerializeToString())
    before = path.read_bytes()
    with pytest.raises(InspectorError, match="refusing to overwrite the input file"):
        save_graph(GraphDef(), path, refuse=(tmp_path / "." / "g.pb",))
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".inspector-*"))


def _error(path: Path) -> str:
    with pytest.raises(InspectorError) as info:
        load_graph(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def _event_file_bytes() -> bytes:
    from inspector.graph.io import _masked_crc32c

    payload = b"\x09" + b"\x00" * 8 + b"\x1a\x0dbrain.Event:2"
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", _masked_crc32c(header)) + payload + struct.pack("<I", _masked_crc32c(payload))


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("empty.pb", b"", "the file is empty"),
        ("photo.pb", b"\xff\xd8\xff\xe0" + b"\x00" * 100, "this is a JPEG image, not a TensorFlow GraphDef"),
        ("model.tflite", b"\x1c\x00\x00\x00TFL3" + b"\x00" * 100, "this is a TensorFlow Lite flatbuffer (.tflite)"),
        ("events.out.tfevents.1.host", None, "this is a TensorBoard event file"),
        ("model.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, "a Keras HDF5 model"),
        ("notes.pb", "hello, this is not a graph\n".encode(), "a text file that is not a GraphDef in text format"),
        ("random.pb", bytes(range(256)) * 8, "not a valid GraphDef: the protobuf is truncated or corrupt"),
    ],
)
def test_bad_files_get_one_line_naming_the_problem(tmp_path: Path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(_event_file_bytes() if content is None else content)
    assert expected in _error(path)


def test_truncated_real_graph_is_reported(tmp_path: Path):
    data = retrained_like().SerializeToString()
    for cut in (7, len(data) // 3, len(data) // 2, len(data) - 3):
        path = tmp_path / f"cut{cut}.pb"
        path.write_bytes(data[:cut])
        message = _error(path)
        assert "truncated" in message or "names no node" in message


def test_missing_path_lists_nearby_graphs(tmp_path: Path):
    (tmp_path / "retrained_graph.pb").write_bytes(retrained_like().SerializeToString())
    message = _error(tmp_path / "retrained.pb")
    assert "no such file or folder" in message and "retrained_graph.pb" in message


def test_directory_that_is_not_a_saved_model(tmp_path: Path):
    assert "not a SavedModel" in _error(tmp_path)


def test_unreadable_file():
    import os
    import subprocess
    import sys
    import tempfile

    # Root reads any file, so the load runs in a child that drops to "nobody".
    folder = Path(tempfile.mkdtemp(prefix="inspector-perm-"))
    try:
        folder.chmod(0o755)
        path = folder / "g.pb"
        path.write_bytes(retrained_like().SerializeToString())
        path.chmod(0)
        # Import first: the interpreter itself may live where "nobody" cannot read.
        code = (
            "import os, sys; from inspector.graph.io import load_graph\n"
            "if os.geteuid() == 0: os.setuid(65534)\n"
            "load_graph(sys.argv[1])"
        )
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert "InspectorError" in proc.stderr
        assert f"{path}: permission denied; make the file readable (chmod +r)" in proc.stderr
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def test_photo_fixture_is_named_as_jpeg():
    if not DAISY.exists():
        pytest.skip("daisy photo fixture not present")
    assert "JPEG image" in _error(DAISY)


def test_check_graph_rejects_duplicates_and_dangling_inputs():
    graph = retrained_like()
    dup = GraphDef()
    dup.CopyFrom(graph)
    dup.node.add().CopyFrom(graph.node[0])
    with pytest.raises(InspectorError, match="two nodes are named 'input'"):
        check_graph(dup, path=Path("g.pb"))
    dangling = GraphDef()
    dangling.CopyFrom(graph)
    dangling.node[-1].input[0] = "nowhere:0"
    with pytest.raises(InspectorError, match="reads 'nowhere:0', which names no node"):
        check_graph(dangling, path=Path("g.pb"))


def test_default_stem_matches_the_codelab_run_names():
    assert default_stem(Path("tf_files/retrained_graph.pb")) == "retrained"
    assert default_stem(Path("tf_files/optimized_graph.pb")) == "optimized"
    assert default_stem(Path("mobilenet_v3.pb")) == "mobilenet_v3"
    assert default_stem(Path("_graph.pb")) == "_graph"


@pytest.mark.slow
def test_saved_model_folder_is_frozen(tmp_path: Path):
    tf = pytest.importorskip("tensorflow")

    class Model(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.ones((3, 2)))

        @tf.function(input_signature=[tf.TensorSpec((1, 3), tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.nn.softmax(tf.matmul(x, self.w))}

    model = Model()
    tf.saved_model.save(model, str(tmp_path / "sm"), signatures=model.__call__)
    loaded = load_graph(tmp_path / "sm")
    assert loaded.format == "saved_model"
    ops = {n.op for n in loaded.graph.node}
    assert "Softmax" in ops and "VarHandleOp" not in ops
    with pytest.raises(InspectorError, match="has no signature 'nope'"):
        load_graph(tmp_path / "sm", signature="nope")


def _nodes(*specs: tuple[str, str, list[str]]) -> GraphDef:
    graph = GraphDef()
    for name, op, inputs in specs:
        graph.node.add(name=name, op=op, input=inputs)
    return graph


@pytest.mark.parametrize("specs", [
    # a reader before what it reads, a port, a control input, a node reading itself (a loop TensorFlow imports)
    [("b", "Relu", ["a:0", "^c"]), ("a", "Placeholder", []), ("c", "NoOp", [])],
    [("a", "Placeholder", []), ("b", "Merge", ["a", "b:1"])],
])
def test_check_graph_accepts_what_names_a_node_in_any_order(specs):
    check_graph(_nodes(*specs), path=Path("g.pb"))


@pytest.mark.parametrize("specs,problem", [
    # A name holding "^" or ":" is not what "^a" or "a:1" reads: the reference still names no node.
    ([("^a", "Placeholder", []), ("b", "Relu", ["^a"])], "node 'b' reads '^a', which names no node"),
    ([("a:1", "Placeholder", []), ("b", "Relu", ["a:1"])], "node 'b' reads 'a:1', which names no node"),
    ([("a", "Placeholder", []), ("b", "Relu", ["a", "gone:1"]), ("c", "Relu", ["^late"])],
     "node 'b' reads 'gone:1', which names no node"),
    ([("b", "Relu", ["a"]), ("a", "Placeholder", []), ("b", "Relu", [])], "two nodes are named 'b'"),
    ([("a", "Placeholder", []), ("", "Relu", ["a"])], "node #1 has no name"),
    ([("a", "", [])], "node #0 has no op"),
])
def test_check_graph_names_the_first_problem_however_it_is_found(specs, problem):
    with pytest.raises(InspectorError, match=problem.replace("^", r"\^")):
        check_graph(_nodes(*specs), path=Path("g.pb"))
