"""Issue 10: hostile inputs meet bounded work: no read without a limit, no memory bomb, no recursion crash.

Every bomb is made here, small: a FIFO, /dev/zero and a link to it, files over a
size limit (sparse, so they cost no disk), a "splat" Const (one float_val and a
huge shape), a Const claiming 10^13 elements, text and binary graphs nested
past protobuf's 100 levels, image headers claiming giant sizes, names with
thousands of scope levels. Each command on each bomb ends in its one exact
``error:`` line or in the right result, in-process through ``inspector.cli.main``;
peak memory is measured in child processes (each one's own high-water mark,
its ``VmHWM``) and must stay under 1 GB. Outputs are byte-for-byte reproducible
across processes with different hash seeds.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType

from builders import retrained_like
from conftest import DAISY, GRAPHS, ROOT

import inspector
from inspector.cli import main
from inspector.errors import InspectorError

GB = 2**30
# No test here takes this long (the slowest, two children optimizing twice, take ~30 s).
HANG_SECONDS = 300
FLOAT = AttrValue(type=DataType.DT_FLOAT)


# --- the bombs ------------------------------------------------------------------


def float_const(name: str, dims: list[int], values: list[float]) -> NodeDef:
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in dims])
    tensor = TensorProto(dtype=DataType.DT_FLOAT, tensor_shape=shape, float_val=values)
    return NodeDef(name=name, op="Const", attr={"dtype": FLOAT, "value": AttrValue(tensor=tensor)})


def splat_graph(dims: list[int]) -> GraphDef:
    """input + big * 2.0, where ``big`` is one float_val spread over ``dims``: a few hundred bytes."""
    graph = GraphDef()
    graph.node.extend([
        float_const("big", dims, [1.0]),
        float_const("two", [], [2.0]),
        NodeDef(name="mul", op="Mul", input=["big", "two"], attr={"T": FLOAT}),
        NodeDef(name="input", op="Placeholder", attr={"dtype": FLOAT}),
        NodeDef(name="out", op="Add", input=["mul", "input"], attr={"T": FLOAT}),
    ])
    return graph


def deep_text(levels: int) -> str:
    """A text GraphDef whose one attr nests ``levels`` functions deep (3 messages each)."""
    inner = "s: 'x'"
    for _ in range(levels):
        inner = "func { name: 'f' attr { key: 'k' value { " + inner + " } } }"
    return "node { name: 'a' op: 'NoOp' attr { key: 'deep' value { " + inner + " } } }\n"


def deep_graph(levels: int, *, extra: int = 0) -> GraphDef:
    """The same graph built in Python (no parser involved): nesting 3 + 3 * ``levels`` + ``extra`` (0, 1 or 2)."""
    graph = GraphDef()
    node = graph.node.add(name="a", op="NoOp")
    value = node.attr["deep"]  # node 1, attr entry 2, AttrValue 3
    for _ in range(levels):
        value = value.func.attr["k"]  # NameAttrList, its attr entry, the AttrValue
    if extra == 1:
        value.list.s.append(b"x")  # a ListValue
    elif extra == 2:
        value.list.func.add(name="f")  # a ListValue holding a NameAttrList
    else:
        value.s = b"x"
    return graph


DEEP_SCOPES = "/".join(f"s{i}" for i in range(1500)) + "/x"
DEEP_A = "a/" * 60000 + "x"


def deep_name_graph() -> GraphDef:
    """input -> Identity (1,500 scope levels) -> Relu ("a/" * 60000 + "x") -> Softmax."""
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=1), TensorShapeProto.Dim(size=4)])
    graph = GraphDef()
    graph.node.extend([
        NodeDef(name="input", op="Placeholder", attr={"dtype": FLOAT, "shape": AttrValue(shape=shape)}),
        NodeDef(name=DEEP_SCOPES, op="Identity", input=["input"], attr={"T": FLOAT}),
        NodeDef(name=DEEP_A, op="Relu", input=[DEEP_SCOPES], attr={"T": FLOAT}),
        NodeDef(name="out", op="Softmax", input=[DEEP_A], attr={"T": FLOAT}),
    ])
    return graph


def png(width: int, height: int, *, rows: bytes | None = None) -> bytes:
    """A PNG with this IHDR; without ``rows`` its IDAT is a few bytes, all a header check needs."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def real_png(size: int) -> bytes:
    rows = b"".join(b"\x00" + bytes((x * 13 + y * 7) % 256 for x in range(size) for _ in range(3)) for y in range(size))
    return png(size, size, rows=rows)


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def gif_frames(width: int, height: int, frames: int) -> bytes:
    """A GIF whose every frame fills the canvas; each frame's LZW data is one byte (giflib would fail on it)."""
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x08\x01\x00\x00"
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0) + frame * frames + b"\x3b"


def bmp_header(width: int, height: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)


def webp_header(width: int, height: int) -> bytes:
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture
def bombs(tmp_path: Path) -> dict[str, Path]:
    """Every bomb as a file, and a good graph and image beside them."""
    folder = tmp_path / "bombs"
    folder.mkdir()
    files = {
        "splat.pb": splat_graph([25000, 40000]).SerializeToString(),
        "claim.pb": splat_graph([100000, 100000, 1000]).SerializeToString(),
        "deep.pbtxt": deep_text(120).encode(),
        "deep.pb": deep_graph(40).SerializeToString(),
        "deepname.pb": deep_name_graph().SerializeToString(),
        "giant.png": png(23000, 23000),
        "good.pb": retrained_like().SerializeToString(),
        "good.png": real_png(16),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    paths = {name: folder / name for name in files}
    os.mkfifo(folder / "fifo")
    paths["fifo"] = folder / "fifo"
    (folder / "zero").symlink_to("/dev/zero")
    paths["zero-link"] = folder / "zero"
    paths["/dev/zero"] = Path("/dev/zero")
    return paths


@pytest.fixture(autouse=True)
def no_hang():
    """A read that blocks (a FIFO opened without O_NONBLOCK) fails the test instead of hanging it."""
    def expire(signum, frame):
        raise TimeoutError(f"a test ran {HANG_SECONDS} s: a command blocked on a hostile input?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(argv: list[str], capsys) -> str:
    """The command's one ``error:`` line (exit 2, nothing else on stderr), without ``error: ``."""
    code, _, err = run(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err[len("error: "):-1]


# --- FIFOs, devices, links to devices ------------------------------------------


def special(path: Path, what: str) -> str:
    if path.is_symlink():
        return f"{path}: is a symlink to a character device (/dev/zero), not a regular file; pass the {what} itself"
    kind = "a FIFO (named pipe)" if path.name == "fifo" else "a character device"
    return f"{path}: is {kind}, not a regular file; pass the {what} itself"


@pytest.mark.parametrize("which", ["fifo", "/dev/zero", "zero-link"])
def test_a_fifo_or_device_as_a_graph_is_refused_without_reading(which, bombs, tmp_path: Path, capsys):
    bad, good = bombs[which], bombs["good.pb"]
    expected = special(bad, "graph file")
    assert one_error(["summarize", bad], capsys) == expected
    assert one_error(["diff", good, bad], capsys) == expected
    assert one_error(["tb", bad, "--logdir", tmp_path / "logs"], capsys) == expected
    assert one_error(["optimize", bad, "--output", tmp_path / "o.pb"], capsys) == expected
    assert one_error(["check", bad], capsys) == expected
    assert not (tmp_path / "o.pb").exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize("which", ["fifo", "/dev/zero", "zero-link"])
def test_a_fifo_or_device_as_an_image_or_labels_file_is_refused(which, bombs, capsys):
    bad, graph, image = bombs[which], bombs["good.pb"], bombs["good.png"]
    assert one_error(["label", "--graph", graph, "--image", bad], capsys) == special(bad, "image file")
    assert one_error(["label", "--graph", graph, "--image", image, "--labels", bad], capsys) == special(bad, "labels file")


@pytest.mark.parametrize("which", ["fifo", "/dev/zero", "zero-link"])
def test_a_fifo_or_device_as_a_tflite_model_or_an_event_file_is_refused(which, bombs):
    from inspector.run.runners import TFLiteRunner
    from inspector.tb.events import read_graph_events

    bad = bombs[which]
    with pytest.raises(InspectorError) as caught:
        TFLiteRunner(bad)
    assert caught.value.message == special(bad, ".tflite file")
    with pytest.raises(InspectorError) as caught:
        read_graph_events(bad)
    assert caught.value.message == special(bad, "event file")


def test_a_file_swapped_for_a_fifo_after_the_check_is_refused_on_its_descriptor(tmp_path: Path, monkeypatch):
    """The check runs again on the open descriptor (opened non-blocking, so the open itself cannot hang)."""
    from inspector import files

    fifo = tmp_path / "graph.pb"
    os.mkfifo(fifo)
    regular = os.stat(ROOT / "README.md")
    real_stat = os.stat
    monkeypatch.setattr(files.os, "stat", lambda path, *a, **k: regular if Path(path) == fifo else real_stat(path, *a, **k))
    with pytest.raises(InspectorError) as caught:
        files.read_limited(fifo, limit=100, itself="pass the graph file itself", too_big=str)
    assert caught.value.message == f"{fifo}: is a FIFO (named pipe), not a regular file; pass the graph file itself"


# --- size limits ----------------------------------------------------------------


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk (a hole): only its size is ever looked at."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def test_files_over_their_limit_are_refused_by_size_before_reading(bombs, tmp_path: Path, capsys):
    graph = sparse(tmp_path / "huge.pb", 2**31 + 2**20)
    image = sparse(tmp_path / "huge.png", 65 * 2**20)
    labels = sparse(tmp_path / "huge.txt", 17 * 2**20)
    model = sparse(tmp_path / "huge.tflite", 2**31)
    assert one_error(["summarize", graph], capsys) == (
        f"{graph}: 2.0 GiB is over protobuf's 2 GiB limit for one GraphDef; export it as a SavedModel folder instead"
    )
    good, photo = bombs["good.pb"], bombs["good.png"]
    assert one_error(["label", "--graph", good, "--image", image], capsys) == (
        f"{image}: 65.0 MiB is over the 64.0 MiB limit for an input image; pass a photo (resize or re-encode it first)"
    )
    assert one_error(["label", "--graph", good, "--image", photo, "--labels", labels], capsys) == (
        f"{labels}: 17.0 MiB is over the 16.0 MiB limit for a labels file; pass the labels retrain.py wrote (one label per line)"
    )
    from inspector.run.runners import TFLiteRunner

    with pytest.raises(InspectorError) as caught:
        TFLiteRunner(model)
    assert caught.value.message == (
        f"{model}: 2.0 GiB is over the 2 GiB limit of a TensorFlow Lite model (a FlatBuffer); pass a .tflite file"
    )


def test_a_file_bigger_than_its_size_says_is_read_only_to_the_limit():
    """/proc files say size 0 and still have bytes: the read stops one byte past the limit."""
    from inspector.files import read_limited

    path = Path("/proc/self/maps")
    with pytest.raises(InspectorError) as caught:
        read_limited(path, limit=100, itself="pass the file itself", too_big=lambda size: f"{size} bytes, over 100")
    assert caught.value.message == f"{path}: 101 bytes, over 100"
    assert read_limited(path, limit=10**7, itself="", too_big=str).count(b"\n") > 3


def test_an_event_record_longer_than_the_file_is_refused_before_it_is_read(tmp_path: Path):
    from inspector.tb.events import masked_crc32c, read_graph_events

    length = struct.pack("<Q", 2**60)
    path = tmp_path / "events.out.tfevents.1.x"
    path.write_bytes(length + struct.pack("<I", masked_crc32c(length)) + b"\x00" * 8)
    with pytest.raises(InspectorError) as caught:
        read_graph_events(path)
    assert caught.value.message == f"{path}: record 0 is corrupt (the file ends inside a record); write the run again"


# --- splats and huge claims ------------------------------------------------------


def splat_note(tensor_bytes: int, dims: str, size: str) -> str:
    return (
        f"kept big unevaluated: its {tensor_bytes}-byte value claims a {dims} DT_FLOAT tensor, {size} as an array, "
        "over the 64.0 MiB limit for a constant the optimizer expands; nothing it feeds is folded"
    )


@pytest.mark.parametrize("name,dims,size", [
    ("splat.pb", "25000x40000", "3.7 GiB"),
    ("claim.pb", "100000x100000x1000", "37252.9 GiB"),
])
def test_optimize_leaves_a_splat_const_unexpanded_and_says_so(name, dims, size, bombs, tmp_path: Path, capsys):
    from inspector.graph.io import load_graph

    source = bombs[name]
    target = tmp_path / "optimized.pb"
    code, out, err = run(["optimize", source, "--output", target], capsys)
    assert code == 0, err
    tensor = load_graph(source).graph.node[0].attr["value"].tensor
    notes = {p.name: list(p.notes) for p in inspector.optimize(source).passes}
    assert notes["fold_constants"] == [splat_note(tensor.ByteSize(), dims, size)]
    optimized = {node.name: node for node in load_graph(target).graph.node}
    assert optimized["big"].attr["value"].tensor == tensor  # still one value, not expanded
    assert optimized["mul"].op == "Mul" and optimized["out"].input[:] == ["mul", "input"]
    for command in (["summarize", source], ["diff", source, source], ["tb", source, "--logdir", tmp_path / "logs"]):
        assert run(command, capsys)[0] == 0


def test_no_const_value_is_expanded_past_the_limit_unless_the_file_spells_it_out(monkeypatch):
    from inspector.graph import workgraph

    monkeypatch.setattr(workgraph, "CONST_VALUE_LIMIT", 16)
    splat = float_const("s", [10], [1.0])
    spelled = float_const("f", [10], [float(i) for i in range(10)])
    small = float_const("t", [4], [3.0])
    assert workgraph.unexpanded_bytes(splat.attr["value"].tensor) == 40
    assert workgraph.const_value(splat) is None
    assert workgraph.const_value(spelled).tolist() == [float(i) for i in range(10)]
    assert workgraph.const_value(small).tolist() == [3.0] * 4


def test_shape_inference_sees_a_placeholder_for_a_const_too_big_to_expand():
    from inspector.optimizer.passes import tfrun

    light = {node.name: node for node in tfrun.light(splat_graph([100000, 100000, 1000])).node}
    assert light["big"].op == "Placeholder" and light["big"].attr["dtype"].type == DataType.DT_FLOAT
    assert [d.size for d in light["big"].attr["shape"].shape.dim] == [100000, 100000, 1000]
    assert tfrun.static_outputs(splat_graph([100000, 100000, 1000]))["mul"] == [(DataType.DT_FLOAT, (100000, 100000, 1000))]


# --- nesting ----------------------------------------------------------------------


def too_deep(path: Path, depth: int) -> str:
    return (
        f"{path}: messages nested {depth} levels deep, over the 100-level limit for a GraphDef "
        "(protobuf and TensorFlow read no deeper); export the graph again"
    )


def test_a_graph_nested_past_100_levels_is_one_error_line_in_every_command(bombs, tmp_path: Path, capsys):
    text, binary, good = bombs["deep.pbtxt"], bombs["deep.pb"], bombs["good.pb"]
    for path, depth in ((text, 363), (binary, 123)):
        expected = too_deep(path, depth)
        assert one_error(["summarize", path], capsys) == expected
        assert one_error(["diff", path, good], capsys) == expected
        assert one_error(["tb", path, "--logdir", tmp_path / "logs"], capsys) == expected
        assert one_error(["optimize", path, "--output", tmp_path / "o.pb"], capsys) == expected
        assert one_error(["check", path], capsys) == expected
        assert one_error(["verify", good, path], capsys) == expected
        assert one_error(["label", "--graph", path, "--image", bombs["good.png"]], capsys) == expected


def test_nesting_is_measured_as_protobuf_counts_it(tmp_path: Path):
    """100 levels is what upb (and TensorFlow) read; 101 is refused, in text and in binary alike."""
    from google.protobuf import text_format

    from inspector.graph.io import load_graph, save_graph
    from inspector.graph.nesting import text_depth, wire_depth

    at_limit, over = deep_graph(32, extra=1), deep_graph(32, extra=2)  # 100 and 101 levels
    assert wire_depth(at_limit.SerializeToString()) == 100 == text_depth(text_format.MessageToString(at_limit))
    assert wire_depth(over.SerializeToString()) == 101 == text_depth(text_format.MessageToString(over))
    for suffix in (".pb", ".pbtxt"):
        ok = save_graph(at_limit, tmp_path / f"ok{suffix}")
        assert load_graph(ok).graph == at_limit
        bad = save_graph(over, tmp_path / f"bad{suffix}")
        with pytest.raises(InspectorError) as caught:
            load_graph(bad)
        assert caught.value.message == too_deep(bad, 101)
    # Braces in strings and comments are no nesting.
    assert text_depth("node { name: 'a{{{' op: \"}}{\" } # {{{{\n") == 1


def test_text_nesting_within_the_limit_but_short_of_stack_is_a_clean_error(tmp_path: Path):
    """A caller deep in its own stack (or a low recursion limit) meets Python's text parser's recursion."""
    from inspector.graph.io import parse_graph_bytes

    data = deep_text(30).encode()  # 93 levels
    path = tmp_path / "g.pbtxt"
    limit = sys.getrecursionlimit()

    def deep_call(levels: int):
        return parse_graph_bytes(data, path=path) if levels == 0 else deep_call(levels - 1)

    try:
        sys.setrecursionlimit(400)
        with pytest.raises(InspectorError) as caught:
            deep_call(250)
    finally:
        sys.setrecursionlimit(limit)
    assert caught.value.message == (
        f"{path}: messages nested 93 levels deep, more than Python's text parser can read here; "
        "write the graph as a binary .pb (tf.io.write_graph(..., as_text=False))"
    )
    assert parse_graph_bytes(data, path=path)[1] == "pbtxt"


# --- images -------------------------------------------------------------------------


def test_a_giant_image_is_refused_from_its_header_before_decoding(bombs, tmp_path: Path, capsys):
    graph = bombs["good.pb"]
    giant = bombs["giant.png"]
    assert one_error(["label", "--graph", graph, "--image", giant], capsys) == (
        f"{giant}: 23000x23000 pixels, over the 50-megapixel limit for an input photo; resize it first"
    )
    bigger = tmp_path / "bigger.png"
    bigger.write_bytes(png(30000, 30000))
    assert one_error(["label", "--graph", graph, "--image", bigger], capsys) == (
        f"{bigger}: 30000x30000 pixels, over the 50-megapixel limit for an input photo; resize it first"
    )
    assert one_error(["verify", graph, graph, "--image", giant], capsys) == (
        f"{giant}: 23000x23000 pixels, over the 50-megapixel limit for an input photo; resize it first"
    )
    frames = tmp_path / "frames.gif"
    frames.write_bytes(gif_frames(7000, 7000, 2))
    assert one_error(["label", "--graph", graph, "--image", frames], capsys) == (
        f"{frames}: a GIF of 2 frames, 147 megapixels in all (TensorFlow decodes every frame), "
        "over the 50-megapixel limit for an input photo; pass its first frame as a still image"
    )
    for name, data, size in (("j.jpg", jpeg_header(60000, 50000), "60000x50000"),
                             ("b.bmp", bmp_header(10000, -9000), "10000x9000"),
                             ("w.webp", webp_header(16000, 16000), "16000x16000")):
        path = tmp_path / name
        path.write_bytes(data)
        assert one_error(["label", "--graph", graph, "--image", path], capsys) == (
            f"{path}: {size} pixels, over the 50-megapixel limit for an input photo; resize it first"
        )


def test_image_headers_give_the_sizes_decoders_fill():
    from inspector.run.imageheader import image_header

    assert (image_header(real_png(16)).width, image_header(real_png(16)).height) == (16, 16)
    assert image_header(jpeg_header(640, 480)).decoded_pixels == 640 * 480
    gif = image_header(gif_frames(100, 50, 3))
    assert (gif.format, gif.frames, gif.decoded_pixels) == ("GIF", 3, 4 * 100 * 50)
    assert image_header(bmp_header(7, -5)).to_json() == {
        "format": "BMP", "width": 7, "height": 5, "decoded_pixels": 35, "frames": 1,
    }
    assert image_header(webp_header(300, 200)).decoded_pixels == 60000
    assert image_header(b"\x89PNG\r\n\x1a\n\x00\x00") is None  # cut short: TensorFlow says what is wrong
    assert image_header(b"not an image") is None
    if DAISY.exists():
        daisy = image_header(DAISY.read_bytes())
        assert (daisy.format, daisy.width, daisy.height) == ("JPEG", 500, 375)


def test_a_good_image_still_labels(bombs, capsys):
    code, out, err = run(["label", "--graph", bombs["good.pb"], "--image", bombs["good.png"], "--json"], capsys)
    assert code == 0, err
    scores = [p["score"] for p in json.loads(out)["top"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and abs(sum(scores) - 1.0) < 1e-5


# --- deep names -----------------------------------------------------------------------


def test_names_with_thousands_of_scope_levels_go_through_every_command(bombs, tmp_path: Path, capsys):
    from inspector.analysis.diff import diff_loaded
    from inspector.graph.io import load_graph
    from inspector.tb.events import read_graph_events
    from inspector.tb.textsummary import diff_markdown, write_text_summary

    source = bombs["deepname.pb"]
    code, out, err = run(["summarize", source, "--json"], capsys)
    assert code == 0 and json.loads(out)["nodes"] == 4, err
    code, out, err = run(["tb", source, "--logdir", tmp_path / "logs", "--keep-weights"], capsys)
    assert code == 0, err
    (event_file,) = (tmp_path / "logs" / "deepname").glob("events.out.tfevents.*")
    logged = GraphDef.FromString(read_graph_events(event_file)[1].graph_def)
    assert [n.name for n in logged.node] == ["input", DEEP_SCOPES, DEEP_A, "out"]
    target = tmp_path / "optimized.pb"
    assert run(["optimize", source, "--output", target], capsys)[0] == 0
    optimized = load_graph(target)
    assert [n.name for n in optimized.graph.node] == ["input", DEEP_A, "out"]  # the Identity spliced out
    code, out, err = run(["diff", source, target, "--json"], capsys)
    assert code == 0 and json.loads(out)["b"]["nodes"] == 3, err
    diff = diff_loaded(load_graph(source), optimized)
    markdown = diff_markdown(diff)
    assert f"`{'/'.join(DEEP_SCOPES.split('/')[:1])}`: 1 node removed (Identity)" in markdown
    written = write_text_summary(tmp_path / "logs", diff, wall_time=1.0)
    text = read_graph_events(written.event_file)[1].summary.value[0].tensor.string_val[0].decode()
    assert text == markdown


# --- reproducible outputs -----------------------------------------------------------


def test_optimize_and_tb_write_the_same_bytes_in_processes_with_different_hash_seeds(tmp_path: Path):
    sources = [tmp_path / "retrained_graph.pb"]
    sources[0].write_bytes(retrained_like().SerializeToString())
    real = GRAPHS / "poets_pair" / "retrained_graph.pb"
    if real.exists():
        sources.append(real)
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from inspector.cli import main
        from inspector.graph.io import load_graph
        from inspector.tb.events import write_run
        out = Path(sys.argv[1])
        for index, source in enumerate(sys.argv[2:]):
            assert main(["optimize", source, "--output", str(out / f"{index}.pb")]) == 0
            write_run(load_graph(source).graph, out / "logs", str(index), wall_time=1.0)
    """)
    outputs = []
    for seed in ("1", "2"):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", code, str(folder), *map(str, sources)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append({
            str(p.relative_to(folder).parent / p.name.split(".")[0]): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".json")
        })
    assert len(outputs[0]) == 2 * len(sources)
    assert outputs[0] == outputs[1]


# --- peak memory --------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import contextlib, io, json, sys
    from inspector.cli import main
    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(argv)
        results.append([code, err.getvalue().splitlines()[-1:]])
    # VmHWM is this process's own high-water mark since exec. (wait4's ru_maxrss is not: Linux carries the
    # peak of the mm an exec replaces into it, and a vfork child's is pytest's own, gigabytes late in a run.)
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"results": results, "peak_kib": hwm}))
""")


def peak_run(argvs: list[list[str]]) -> tuple[list, int]:
    """Run the commands in one child; its results and its own peak RSS in bytes (its VmHWM)."""
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(argvs)], cwd=ROOT, stdout=write,
                            stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            output = pipe.read()
    except BaseException:  # the hang alarm: the child goes too
        proc.kill()
        raise
    proc.wait()
    assert proc.returncode == 0, output[-2000:]
    report = json.loads(output)
    return report["results"], report["peak_kib"] * 1024


@pytest.mark.parametrize("command", ["optimize", "diff", "tb", "summarize"])
def test_every_bomb_stays_under_a_gigabyte(command, bombs, tmp_path: Path):
    names = ["splat.pb", "claim.pb", "deep.pbtxt", "deep.pb", "deepname.pb", "giant.png", "fifo", "/dev/zero", "zero-link"]
    argvs = []
    for index, name in enumerate(names):
        path = str(bombs[name])
        argvs.append({
            "optimize": ["optimize", path, "--output", str(tmp_path / f"o{index}.pb")],
            "diff": ["diff", path, str(bombs["good.pb"])],
            "tb": ["tb", path, "--logdir", str(tmp_path / "logs"), "--run", f"r{index}"],
            "summarize": ["summarize", path],
        }[command])
    results, peak = peak_run(argvs)
    accepted = {"splat.pb", "claim.pb", "deepname.pb"}
    for name, (code, last) in zip(names, results):
        if name in accepted:
            assert code == 0, (name, last)
        else:
            assert code == 2 and last[0].startswith(f"error: {bombs[name]}: "), (name, last)
    assert peak < GB, f"inspector {command} peaked at {peak / 2**20:.0f} MiB on the bombs"


def test_label_on_image_bombs_stays_under_a_gigabyte(bombs, tmp_path: Path):
    frames = tmp_path / "frames.gif"
    frames.write_bytes(gif_frames(7000, 7000, 40))
    images = [bombs["good.png"], bombs["giant.png"], frames, bombs["fifo"], bombs["/dev/zero"], bombs["zero-link"]]
    results, peak = peak_run([["label", "--graph", str(bombs["good.pb"]), "--image", str(image)] for image in images])
    assert [code for code, _ in results] == [0, 2, 2, 2, 2, 2]
    assert all(last[0].startswith(f"error: {image}: ") for image, (_, last) in zip(images[1:], results[1:]))
    assert peak < GB, f"inspector label peaked at {peak / 2**20:.0f} MiB on the image bombs"


def test_commands_that_run_a_graph_refuse_a_splat_before_tensorflow_expands_it(bombs, capsys):
    """TensorFlow builds a splat's whole array when it runs it: 224 bytes of graph once took verify to 4.6 GB."""
    from inspector.graph.io import load_graph

    source = bombs["splat.pb"]
    tensor = load_graph(source).graph.node[0].attr["value"].tensor
    why = (f": node 'big' is a 25000x40000 DT_FLOAT constant written as {tensor.ByteSize():,} bytes that would take "
           "3.7 GiB when run, over the 64.0 MiB inspector lets a constant expand to; re-export the graph with its "
           "weights written out, or pass --allow-unsafe-ops if you trust it")
    for argv, what in (
        (["verify", source, bombs["good.pb"]], f"a ({source})"),
        (["label", "--graph", source, "--image", bombs["good.png"]], f"{source}"),
        (["check", source], f"{source}"),
    ):
        code, out, err = run(argv, capsys)
        assert (code, err.strip().splitlines()) == (2, [f"error: {what}{why}"]), argv
