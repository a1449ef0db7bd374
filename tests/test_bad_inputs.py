"""Issue #5, part 1: a corpus of bad inputs against every command that reads a graph.

Every command × every bad input must end in ONE ``error: <file>: <problem>; <fix>``
line on stderr with exit code 2, no traceback, within a time bound, and leave
nothing behind: no output file, no log run, no ``.inspector-*.tmp``. The corpus
is generated here (nothing is downloaded); a real fixture graph is used where
present, a generated graph always.

What the corpus decided (documented in the README's "Bad inputs" notes too):

* A graph with a cycle and no loop ops, or with an op TensorFlow does not know
  (``MyCustomOp``), is *accepted* by the commands that never run the graph
  (``diff``, ``tb``, ``summarize``, ``scripts.graph_pb2tb``, two-graph
  ``compare``): they only read the protobuf, and TensorBoard drawing the cycle
  or the unknown op is how one finds it. Every command that imports the graph
  into TensorFlow (``optimize``, ``verify``, ``label``, ``check``, ``export``,
  ``bench``, one-graph ``compare``, ``scripts.label_image``) refuses it with
  exit 2, naming the file and what TensorFlow said. Two-graph ``compare`` with
  its TensorFlow Lite check reports the check as skipped in a note.
* Everything else in the corpus is refused by every command.

The module prints a tally (inputs tried, clean errors, accepted, crashes,
hangs, partial files) at its end.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef

from builders import op, placeholder, retrained_like
from conftest import DAISY, GRAPHS, ROOT

pytestmark = pytest.mark.slow

# A command that takes longer than this on a bad input counts as a hang.
HANG_SECONDS = 30.0

# The tally printed at the end of the module, and checked by the last test.
TALLY: Counter = Counter()


# --- the corpus -----------------------------------------------------------------


def real_graph_bytes() -> bytes | None:
    """A real retrain.py graph when ../shared/fixtures is present (else None)."""
    path = GRAPHS / "poets_pair" / "retrained_graph.pb"
    return path.read_bytes() if path.exists() else None


def generated_graph_bytes() -> bytes:
    return retrained_like().SerializeToString()


def cycle_graph() -> GraphDef:
    """input -> a -> b -> a: a cycle without Merge/NextIteration, which TensorFlow cannot import."""
    graph = retrained_like()
    # final_result reads the Add; make that Add also read a node that reads final_result.
    add = next(n for n in graph.node if n.name == "final_training_ops/Wx_plus_b/add")
    graph.node.append(op("loop_back", "Relu", "final_result"))
    add.input[1] = "loop_back"
    return graph


def custom_op_graph() -> GraphDef:
    graph = retrained_like()
    graph.node.append(NodeDef(name="postprocess", op="MyCustomOp", input=["final_result"]))
    return graph


def dangling_graph() -> GraphDef:
    graph = retrained_like()
    graph.node[-1].input[0] = "nowhere:0"
    return graph


def duplicate_graph() -> GraphDef:
    graph = retrained_like()
    graph.node.add().CopyFrom(graph.node[3])
    return graph


def event_file_bytes(folder: Path) -> bytes:
    from inspector.tblog import write_run

    written = write_run(retrained_like(), folder / "ev", "run")
    return written.event_file.read_bytes()


def jpeg_bytes() -> bytes:
    if DAISY.exists():
        return DAISY.read_bytes()
    from inspector import tfcompat

    tf = tfcompat.tf()
    pixels = np.random.default_rng(0).integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    return tf.io.encode_jpeg(pixels).numpy()


def tflite_bytes() -> bytes:
    """A real .tflite from a small Keras model (TFL3 at bytes 4-8)."""
    from inspector import tfcompat

    tf = tfcompat.tf()

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
    def model(x):
        return tf.nn.softmax(x * 2.0)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.get_concrete_function()], None)
    with contextlib.redirect_stderr(io.StringIO()):
        data = converter.convert()
    assert data[4:8] == b"TFL3"
    return data


def truncation_offsets(size: int, count: int, seed: int) -> list[int]:
    """Edges (1, 7, size-1) and ``count`` seeded offsets in between."""
    rng = np.random.default_rng(seed)
    inner = sorted({int(x) for x in rng.integers(8, size - 1, size=count)})
    return sorted({1, 7, *inner, size // 2, size - 1})


# (name, expected text in the error for commands that refuse it). The text is
# the problem part of the message; the file's path is checked separately.
GRAPH_INPUTS: dict[str, str] = {
    "empty.pb": "the file is empty; re-export the graph",
    "random.pb": "not a valid GraphDef: the protobuf is truncated or corrupt",
    "notes.txt": "a text file that is not a GraphDef in text format",
    "photo.jpg": "this is a JPEG image, not a TensorFlow GraphDef; pass a frozen graph (.pb)",
    "fake.tflite": "this is a TensorFlow Lite flatbuffer (.tflite), not a TensorFlow GraphDef",
    "model.tflite": "this is a TensorFlow Lite flatbuffer (.tflite), not a TensorFlow GraphDef",
    "events.out.tfevents.1.host": "this is a TensorBoard event file, not a TensorFlow GraphDef",
    "folder": "a folder without saved_model.pb, so not a SavedModel",
    "missing.pb": "no such file or folder",
    "huge.pb": "GiB is over protobuf's 2 GiB limit for one GraphDef; export it as a SavedModel folder instead",
    "dangling.pb": "node 'final_result' reads 'nowhere:0', which names no node in the graph",
    "duplicate.pb": "two nodes are named 'Net/Conv2d_0/Conv2D'; node names must be unique",
    "cycle.pb": "cannot import this graph (",
    "custom_op.pb": "MyCustomOp",
}
# Accepted by the commands that only read the protobuf (see the module docstring).
PROTOBUF_ONLY_OK = {"cycle.pb", "custom_op.pb"}
TRUNCATED_TEXT = ("not a valid GraphDef: the protobuf is truncated or corrupt", "which names no node in the graph")


@dataclass
class Corpus:
    root: Path
    good: Path  # a valid retrained-like graph (3 classes, 16x16 input)
    graphs: dict[str, Path] = field(default_factory=dict)
    truncated: dict[str, Path] = field(default_factory=dict)
    image: Path | None = None
    not_image: Path | None = None
    short_labels: Path | None = None


def build_corpus(root: Path) -> Corpus:
    root.mkdir(parents=True, exist_ok=True)
    good = root / "good" / "retrained_graph.pb"
    good.parent.mkdir()
    good.write_bytes(generated_graph_bytes())
    corpus = Corpus(root=root, good=good)
    bad = root / "bad"
    bad.mkdir()
    rng = np.random.default_rng(5)
    scratch = Path(tempfile.mkdtemp(prefix="inspector-corpus-"))
    try:
        contents = {
            "empty.pb": b"",
            "random.pb": rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes(),
            "notes.txt": b"These are my notes about the retrained graph.\nNot a graph.\n",
            "photo.jpg": jpeg_bytes(),
            "fake.tflite": b"\x1c\x00\x00\x00TFL3" + bytes(200),
            "model.tflite": tflite_bytes(),
            "events.out.tfevents.1.host": event_file_bytes(scratch),
            "dangling.pb": dangling_graph().SerializeToString(),
            "duplicate.pb": duplicate_graph().SerializeToString(),
            "cycle.pb": cycle_graph().SerializeToString(),
            "custom_op.pb": custom_op_graph().SerializeToString(),
        }
    finally:
        for path in sorted(scratch.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        scratch.rmdir()
    for name, data in contents.items():
        (bad / name).write_bytes(data)
    (bad / "folder").mkdir()
    (bad / "folder" / "variables.txt").write_text("not a SavedModel\n")
    with open(bad / "huge.pb", "wb") as handle:  # sparse: 2.1 GiB that cost no disk
        handle.truncate(int(2.1 * 2**30))
    for name in GRAPH_INPUTS:
        corpus.graphs[name] = bad / name
    for origin, data, count in (("gen", generated_graph_bytes(), 10), ("real", real_graph_bytes(), 14)):
        if data is None:
            continue
        for cut in truncation_offsets(len(data), count, seed=len(data)):
            path = bad / f"cut_{origin}_{cut}.pb"
            path.write_bytes(data[:cut])
            corpus.truncated[path.name] = path
    other = root / "other"
    other.mkdir()
    corpus.image = other / "photo.jpg"
    corpus.image.write_bytes(jpeg_bytes())
    corpus.not_image = other / "holiday.jpg"
    corpus.not_image.write_text("this file has a .jpg name but holds text\n")
    corpus.short_labels = other / "short_labels.txt"
    corpus.short_labels.write_text("daisy\nroses\n")  # the graph has 3 classes
    return corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


# --- running a command and judging what it did -----------------------------------------


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folders``: (size, mtime) by path."""
    seen: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            st = path.lstat()
            seen[str(path)] = (st.st_size if path.is_file() else -1, st.st_mtime_ns)
    return seen


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    seconds: float
    crash: str | None = None


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise _Hang()


def invoke(argv: list[str]) -> Outcome:
    """Run ``inspector`` (or ``scripts.X`` when argv[0] is "scripts.X") in-process, capturing output."""
    from inspector.cli import main as inspector_main

    if argv[0].startswith("scripts."):
        import importlib

        entry: Callable = importlib.import_module(argv[0]).main
        argv = argv[1:]
    else:
        entry = inspector_main
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(HANG_SECONDS * 4))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = entry(argv)
        crash = None
    except _Hang:
        code, crash = None, "hang"
    except BaseException as exc:  # a crash: anything but a return code
        code, crash = None, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return Outcome(code=code, out=out.getvalue(), err=err.getvalue(), seconds=time.monotonic() - start, crash=crash)


def judge(outcome: Outcome, *, before: dict, after: dict, tmp_left: list[Path]) -> str:
    """Count the outcome in TALLY and return its kind: clean_error, accepted, crash, hang, partial, unclean."""
    TALLY["inputs tried"] += 1
    if outcome.crash == "hang" or outcome.seconds > HANG_SECONDS:
        kind = "hangs"
    elif outcome.crash is not None or "Traceback" in outcome.err:
        kind = "crashes"
    elif tmp_left:
        kind = "partial files"
    elif outcome.code == 0:
        kind = "accepted"
    elif outcome.code in (1, 2) and error_lines(outcome.err) and before == after:
        kind = "clean errors"
    elif outcome.code in (1, 2) and before != after:
        kind = "partial files"
    else:
        kind = "unclean errors"
    TALLY[kind] += 1
    return kind


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def assert_clean_error(outcome: Outcome, *, names: Path | str, problem: str | tuple[str, ...], code: int = 2) -> str:
    assert outcome.crash is None, outcome.crash
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.code == code, (outcome.code, outcome.err, outcome.out[-2000:])
    lines = error_lines(outcome.err)
    assert len(lines) == 1, outcome.err
    # The error line is the last thing said (only indented detail lines may follow).
    tail = outcome.err.rstrip("\n").split("\n")
    index = tail.index(lines[0])
    assert all(line.startswith("    ") for line in tail[index + 1 :]), outcome.err
    line = lines[0]
    assert str(names) in line, (str(names), line)
    problems = (problem,) if isinstance(problem, str) else problem
    assert any(p in line for p in problems), (problems, line)
    return line


def no_temp_files(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob(".inspector-*.tmp")]


# --- the commands ----------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str
    argv: Callable[[Path, Corpus, Path], list[str]]  # (bad graph, corpus, workspace) -> argv
    tensorflow: bool  # imports the graph into TensorFlow


def _logs(ws: Path) -> str:
    return str(ws / "logs")


def _opt(ws: Path) -> str:
    return str(ws / "out" / "optimized_graph.pb")


COMMANDS: list[Command] = [
    Command("diff", lambda g, c, ws: ["diff", str(g), str(c.good)], False),
    Command("diff-b", lambda g, c, ws: ["diff", str(c.good), str(g), "--json"], False),
    Command("tb", lambda g, c, ws: ["tb", str(c.good), str(g), "--logdir", _logs(ws)], False),
    Command("compare", lambda g, c, ws: ["compare", str(g), str(c.good), "--logdir", _logs(ws), "--no-board", "--no-check"], False),
    Command("compare-b", lambda g, c, ws: ["compare", str(c.good), str(g), "--logdir", _logs(ws), "--no-board", "--no-check"], False),
    Command("compare-one", lambda g, c, ws: ["compare", str(g), "--output", _opt(ws), "--logdir", _logs(ws), "--no-board", "--no-check"], True),
    Command("optimize", lambda g, c, ws: ["optimize", "--input", str(g), "--output", _opt(ws)], True),
    Command("verify", lambda g, c, ws: ["verify", str(g), str(c.good), "--random", "1"], True),
    Command("verify-b", lambda g, c, ws: ["verify", str(c.good), str(g), "--random", "1"], True),
    Command("label", lambda g, c, ws: ["label", "--graph", str(g), "--image", str(c.image)], True),
    Command("bench", lambda g, c, ws: ["bench", str(g), str(c.good), "--runs", "1", "--warmup", "0"], True),
    Command("summarize", lambda g, c, ws: ["summarize", str(g)], False),
    Command("check", lambda g, c, ws: ["check", str(g)], True),
    Command("export", lambda g, c, ws: ["export", str(g), "--tflite", str(ws / "out" / "model.tflite"), "--runs", "0", "--random", "1"], True),
    Command("graph_pb2tb", lambda g, c, ws: ["scripts.graph_pb2tb", str(ws / "logs" / "run"), str(g)], False),
    Command("label_image", lambda g, c, ws: ["scripts.label_image", "--graph", str(g), "--image", str(c.image)], True),
]
COMMAND_NAMES = [c.name for c in COMMANDS]
BY_NAME = {c.name: c for c in COMMANDS}


def run_case(command: Command, graph: Path, corpus: Corpus, ws: Path, monkeypatch) -> tuple[Outcome, str]:
    """One command on one bad graph, with cwd in the workspace so default output paths land there too."""
    ws.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(ws)
    watched = (ws, corpus.root)
    before = snapshot(*watched)
    outcome = invoke(command.argv(graph, corpus, ws))
    after = snapshot(*watched)
    kind = judge(outcome, before=before, after=after, tmp_left=no_temp_files(*watched))
    return outcome, kind


# --- the tests -------------------------------------------------------------------


@pytest.mark.parametrize("input_name", list(GRAPH_INPUTS))
@pytest.mark.parametrize("command_name", COMMAND_NAMES)
def test_bad_graph(command_name: str, input_name: str, corpus: Corpus, tmp_path: Path, monkeypatch):
    command = BY_NAME[command_name]
    graph = corpus.graphs[input_name]
    if input_name == "missing.pb":
        assert not graph.exists()
    outcome, kind = run_case(command, graph, corpus, tmp_path / "ws", monkeypatch)
    if input_name in PROTOBUF_ONLY_OK and not command.tensorflow:
        assert outcome.code == 0, outcome.err
        assert kind == "accepted", outcome.err
        assert not error_lines(outcome.err)
        return
    assert_clean_error(outcome, names=graph, problem=GRAPH_INPUTS[input_name])
    assert kind == "clean errors", kind
    assert not (tmp_path / "ws" / "logs").exists()
    assert not (tmp_path / "ws" / "out").exists()


def test_truncations_are_refused_by_every_command(corpus: Corpus, tmp_path: Path, monkeypatch):
    """Real and generated graphs cut at many offsets: one clean line each, nothing written."""
    assert len(corpus.truncated) >= 10
    kinds: Counter = Counter()
    for index, (name, graph) in enumerate(sorted(corpus.truncated.items())):
        for command in COMMANDS:
            ws = tmp_path / f"ws{index}-{command.name}"
            outcome, kind = run_case(command, graph, corpus, ws, monkeypatch)
            kinds[kind] += 1
            assert_clean_error(outcome, names=graph, problem=TRUNCATED_TEXT)
            assert kind == "clean errors", (name, command.name, kind)
            assert not (ws / "logs").exists() and not (ws / "out").exists()
    assert kinds == Counter({"clean errors": len(corpus.truncated) * len(COMMANDS)})


def test_compare_with_its_tflite_check_on_graphs_tensorflow_cannot_import(corpus: Corpus, tmp_path: Path, monkeypatch):
    """compare with the check: the diff and runs are written, the check says in a note why it was skipped."""
    for name in ("cycle.pb", "custom_op.pb"):
        ws = tmp_path / name
        graph = corpus.graphs[name]
        argv = ["compare", str(graph), str(corpus.good), "--logdir", str(ws / "logs"), "--no-board"]
        ws.mkdir()
        monkeypatch.chdir(ws)
        outcome = invoke(argv)
        TALLY["inputs tried"] += 1
        TALLY["accepted" if outcome.code == 0 and outcome.crash is None else "crashes"] += 1
        assert outcome.crash is None and outcome.code == 0, outcome.err
        assert f"note: TensorFlow Lite check skipped: {graph}: TensorFlow" in outcome.err
        assert "cannot import this graph (" in outcome.err
        assert not no_temp_files(ws)
    # And with the check on a bad file: refused before anything is written.
    ws = tmp_path / "bad"
    ws.mkdir()
    graph = corpus.graphs["random.pb"]
    before = snapshot(ws, corpus.root)
    outcome = invoke(["compare", str(graph), str(corpus.good), "--logdir", str(ws / "logs"), "--no-board"])
    assert judge(outcome, before=before, after=snapshot(ws, corpus.root), tmp_left=no_temp_files(ws)) == "clean errors"
    assert_clean_error(outcome, names=graph, problem=GRAPH_INPUTS["random.pb"])


def test_over_the_limit_is_refused_before_reading(corpus: Corpus, tmp_path: Path, monkeypatch):
    """The size check runs before the read (a lowered limit stands in for 2 GiB)."""
    from inspector import graphio

    monkeypatch.setattr(graphio, "PROTOBUF_LIMIT", 1000)
    outcome, kind = run_case(BY_NAME["summarize"], corpus.good, corpus, tmp_path / "ws", monkeypatch)
    size = corpus.good.stat().st_size
    line = assert_clean_error(outcome, names=corpus.good, problem="over protobuf's 2 GiB limit")
    assert line == (
        f"error: {corpus.good}: {size / 2**30:.1f} GiB is over protobuf's 2 GiB limit for one GraphDef; "
        "export it as a SavedModel folder instead"
    )
    assert kind == "clean errors"


# Names not in the graph: (command, argv builder, expected problem text).
WRONG_NAMES = [
    ("optimize --input_names", lambda c, ws: ["optimize", str(c.good), "--output", _opt(ws), "--input_names", "nope"],
     "no node named 'nope' (--input_names)"),
    ("optimize --output_names", lambda c, ws: ["optimize", str(c.good), "--output", _opt(ws), "--output_names", "final_reslt"],
     "no node named 'final_reslt' (--output_names); did you mean 'final_result'?"),
    ("compare one-graph --output_names", lambda c, ws: ["compare", str(c.good), "--output", _opt(ws), "--logdir", _logs(ws),
                                                        "--no-board", "--no-check", "--output_names", "nope"],
     "no node named 'nope' (--output_names)"),
    ("verify --input_names", lambda c, ws: ["verify", str(c.good), str(c.good), "--input_names", "nope", "--random", "1"],
     "no node named 'nope'; this graph's input is 'input': pass --input_names input or leave --input_names out"),
    ("verify --output_names", lambda c, ws: ["verify", str(c.good), str(c.good), "--output_names", "nope", "--random", "1"],
     "no node named 'nope'; this graph's output is 'final_result'"),
    ("bench --input_names", lambda c, ws: ["bench", str(c.good), str(c.good), "--input_names", "nope", "--runs", "1"],
     "no node named 'nope'"),
    ("label --input_layer", lambda c, ws: ["label", "--graph", str(c.good), "--image", str(c.image), "--input_layer", "Mul"],
     "no node named 'Mul' (the codelab's default, for Inception v3); this graph's input is 'input'"),
    ("label --output_layer", lambda c, ws: ["label", "--graph", str(c.good), "--image", str(c.image), "--output_layer", "nope"],
     "no node named 'nope'; this graph's output is 'final_result': pass --output_layer final_result"),
    ("label_image --input_layer", lambda c, ws: ["scripts.label_image", "--graph", str(c.good), "--image", str(c.image),
                                                 "--input_layer", "nope"],
     "no node named 'nope'; this graph's input is 'input': pass --input_layer input or leave --input_layer out"),
    ("check --input_names", lambda c, ws: ["check", str(c.good), "--input_names", "nope"], "no node named 'nope'"),
    ("export --output_names", lambda c, ws: ["export", str(c.good), "--tflite", str(ws / "out" / "m.tflite"),
                                             "--output_names", "nope", "--runs", "0"],
     "no node named 'nope'"),
]


@pytest.mark.parametrize("case", WRONG_NAMES, ids=[c[0] for c in WRONG_NAMES])
def test_names_not_in_the_graph(case, corpus: Corpus, tmp_path: Path, monkeypatch):
    _, argv, problem = case
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)
    before = snapshot(ws, corpus.root)
    outcome = invoke(argv(corpus, ws))
    assert judge(outcome, before=before, after=snapshot(ws, corpus.root), tmp_left=no_temp_files(ws, corpus.root)) == "clean errors", outcome.err
    assert_clean_error(outcome, names=corpus.good, problem=problem)


# An image that is not an image, and labels with fewer lines than classes.
OTHER_FILES = [
    ("label not-an-image", lambda c, ws: ["label", "--graph", str(c.good), "--image", str(c.not_image)],
     "not_image", "not an image TensorFlow can decode; pass a JPEG, PNG, GIF or BMP photo"),
    ("label_image not-an-image", lambda c, ws: ["scripts.label_image", "--graph", str(c.good), "--image", str(c.not_image)],
     "not_image", "not an image TensorFlow can decode; pass a JPEG, PNG, GIF or BMP photo"),
    ("label graph-as-image", lambda c, ws: ["label", "--graph", str(c.good), "--image", str(c.good)],
     "good", "not an image TensorFlow can decode; this looks like a graph: are --graph and --image swapped?"),
    ("verify not-an-image", lambda c, ws: ["verify", str(c.good), str(c.good), "--image", str(c.not_image)],
     "not_image", "not an image TensorFlow can decode"),
    ("export not-an-image", lambda c, ws: ["export", str(c.good), "--tflite", str(ws / "out" / "m.tflite"),
                                           "--image", str(c.not_image), "--runs", "0"],
     "not_image", "not an image TensorFlow can decode"),
    ("compare one-graph not-an-image", lambda c, ws: ["compare", str(c.good), "--output", _opt(ws), "--logdir", _logs(ws),
                                                      "--no-board", "--no-check", "--image", str(c.not_image)],
     "not_image", "not an image TensorFlow can decode"),
    ("label short labels", lambda c, ws: ["label", "--graph", str(c.good), "--image", str(c.image), "--labels", str(c.short_labels)],
     "short_labels", "2 labels but "),
    ("label_image short labels", lambda c, ws: ["scripts.label_image", "--graph", str(c.good), "--image", str(c.image),
                                                "--labels", str(c.short_labels)],
     "short_labels", "2 labels but "),
    ("verify short labels", lambda c, ws: ["verify", str(c.good), str(c.good), "--labels", str(c.short_labels), "--random", "1"],
     "short_labels", "2 labels but "),
    ("export short labels", lambda c, ws: ["export", str(c.good), "--tflite", str(ws / "out" / "m.tflite"),
                                           "--labels", str(c.short_labels), "--runs", "0", "--random", "1"],
     "short_labels", "2 labels but "),
]


@pytest.mark.parametrize("case", OTHER_FILES, ids=[c[0] for c in OTHER_FILES])
def test_bad_images_and_labels(case, corpus: Corpus, tmp_path: Path, monkeypatch):
    _, argv, which, problem = case
    named = getattr(corpus, which)
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)
    before = snapshot(ws, corpus.root)
    outcome = invoke(argv(corpus, ws))
    kind = judge(outcome, before=before, after=snapshot(ws, corpus.root), tmp_left=no_temp_files(ws, corpus.root))
    assert_clean_error(outcome, names=named, problem=problem)
    if "labels" in which:
        assert "classes; pass the labels file written with this graph (retrain.py --output_labels)" in outcome.err
    assert kind == "clean errors", (kind, sorted(set(snapshot(ws)) - set(before)))


# --- an unreadable file, in a child that is not root -------------------------------

_UNREADABLE_CHILD = r"""
import contextlib, io, json, os, sys
import importlib, pkgutil
import inspector.cli, scripts.graph_pb2tb, scripts.label_image  # import before dropping privileges
for module in pkgutil.iter_modules(inspector.__path__):
    if module.name not in ("__main__", "demo"):
        importlib.import_module("inspector." + module.name)
argv_list, warm = json.loads(sys.argv[1]), json.loads(sys.argv[2])
# Runs on a good graph first, still as root, so every module they import is loaded
# (the interpreter's own files may be unreadable for "nobody").
for argv in warm:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        assert inspector.cli.main(argv) == 0, argv
if os.geteuid() == 0:
    os.setgid(65534); os.setuid(65534)
results = []
for argv in argv_list:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if argv[0].startswith("scripts."):
                code = sys.modules[argv[0]].main(argv[1:])
            else:
                code = inspector.cli.main(argv)
    except BaseException as exc:
        code = "crash: %r" % (exc,)
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def test_unreadable_graph_every_command():
    """Root reads anything, so every command runs in one child that dropped to "nobody"."""
    folder = Path(tempfile.mkdtemp(prefix="inspector-unreadable-"))
    try:
        folder.chmod(0o777)
        graph = folder / "secret_graph.pb"
        graph.write_bytes(generated_graph_bytes())
        graph.chmod(0)
        corpus = Corpus(root=folder, good=folder / "good_graph.pb", image=folder / "photo.jpg")
        corpus.good.write_bytes(generated_graph_bytes())
        corpus.image.write_bytes(b"\xff\xd8\xff")  # never reached
        for path in (corpus.good, corpus.image):
            path.chmod(0o644)
        ws = folder / "ws"
        ws.mkdir()
        ws.chmod(0o777)
        argvs = [c.argv(graph, corpus, ws) for c in COMMANDS]
        warm = [["diff", str(corpus.good), str(corpus.good)], ["summarize", str(corpus.good)],
                ["tb", str(corpus.good), "--logdir", str(folder / "warm")]]
        before = snapshot(ws) | {str(p): p.stat().st_mtime_ns for p in (graph, corpus.good, corpus.image)}
        proc = subprocess.run([sys.executable, "-c", _UNREADABLE_CHILD, json.dumps(argvs), json.dumps(warm)],
                              capture_output=True, text=True,
                              cwd=ws, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        results = json.loads(proc.stdout.strip().splitlines()[-1])
        for command, (code, err) in zip(COMMANDS, results):
            outcome = Outcome(code=code if isinstance(code, int) else None, out="", err=err, seconds=0.0,
                              crash=None if isinstance(code, int) else code)
            after = snapshot(ws) | {str(p): p.stat().st_mtime_ns for p in (graph, corpus.good, corpus.image)}
            kind = judge(outcome, before=before, after=after, tmp_left=no_temp_files(folder))
            assert_clean_error(outcome, names=graph, problem="permission denied; make the file readable (chmod +r)")
            assert kind == "clean errors", (command.name, kind)
    finally:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        folder.rmdir()


# --- the tally ---------------------------------------------------------------------


class _Summary:
    """A plugin registered at run time: its lines go into pytest's closing summary."""

    def __init__(self, title: str, lines: Callable[[], list[str]]) -> None:
        self.title, self.lines = title, lines

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.section(self.title)
        for line in self.lines():
            terminalreporter.write_line(line)


def report_in_summary(config: pytest.Config, title: str, lines: Callable[[], list[str]]) -> None:
    name = f"inspector-summary-{title}"
    if config.pluginmanager.get_plugin(name) is None:
        config.pluginmanager.register(_Summary(title, lines), name)


def tally_line() -> str:
    keys = ("inputs tried", "clean errors", "accepted", "crashes", "hangs", "partial files", "unclean errors")
    return ", ".join(f"{k} {TALLY[k]}" for k in keys)


def test_zz_tally(request):
    """Runs last in this module: the figures go into the closing summary; no crash, hang or partial file anywhere."""
    report_in_summary(request.config, "bad-input corpus", lambda: [tally_line()])
    print(tally_line())
    if TALLY["inputs tried"]:
        assert TALLY["crashes"] == TALLY["hangs"] == TALLY["partial files"] == TALLY["unclean errors"] == 0, tally_line()
        assert TALLY["clean errors"] + TALLY["accepted"] == TALLY["inputs tried"]
