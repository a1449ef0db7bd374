"""Fuzzing inspector's commands: mutants of real and generated graphs, run in a worker process, judged.

Shared by ``tests/test_fuzz.py`` (hypothesis, a few hundred examples in CI) and
``fuzz/run_fuzz.py`` (a long run outside CI). A mutation is written against a
small ``Draw`` interface, so the same code is driven by hypothesis (which
shrinks a failing case) or by a plain seeded ``random.Random`` (fast, for hours).

The commands run in a worker subprocess that imports inspector (and
TensorFlow) once and then takes one command line after another: a crash in
TensorFlow's C++ (an abort or a segfault) kills the worker, not the test run,
and counts as a crash; a command that has not answered after ``timeout``
seconds is a hang: the worker is killed (by its pid) and started again.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.graph_pb2 import GraphDef

from fuzz import hostile

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = ROOT.parent / "shared" / "fixtures" / "graphs"

# Real graphs mutated when ../shared/fixtures is present: small ones, of three kinds.
REAL_SEEDS = (
    "poets_pair/optimized_graph.pb",
    "mobilenet_v1_0.25_128/quantized_graph.pb",
    "codelab_android/mobilenet_v3.pb",
)

# Ops a mutation may switch a node to: real ones with other signatures, and made-up ones.
OPS = (
    "Const", "Identity", "Placeholder", "Add", "AddV2", "Mul", "MatMul", "Conv2D", "Relu6", "Softmax", "Reshape",
    "Mean", "Merge", "Switch", "NextIteration", "NoOp", "RandomUniform", "Dequantize", "FusedBatchNorm",
    "VariableV2", "MyCustomOp", "", "_Retval", "Const ", "Conv2D\x00",
)


# --- drawing -----------------------------------------------------------------------


class Draw(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...

    def choice(self, items: Sequence): ...

    def data(self, max_size: int) -> bytes: ...


class RandomDraw:
    """Draw from a seeded random.Random (the long run)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, items: Sequence):
        return items[self.rng.randrange(len(items))]

    def data(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


class HypothesisDraw:
    """Draw through hypothesis's ``data.draw`` (CI; failing cases shrink)."""

    def __init__(self, data) -> None:
        from hypothesis import strategies as st

        self._data, self._st = data, st

    def integer(self, lo: int, hi: int) -> int:
        return self._data.draw(self._st.integers(lo, hi))

    def choice(self, items: Sequence):
        return self._data.draw(self._st.sampled_from(list(items)))

    def data(self, max_size: int) -> bytes:
        return self._data.draw(self._st.binary(max_size=max_size))


# --- seeds ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Seed:
    name: str
    data: bytes

    def __repr__(self) -> str:  # hypothesis prints the draws: not megabytes of graph
        return f"Seed({self.name!r}, {len(self.data)} bytes)"

    @property
    def graph(self) -> GraphDef:
        return GraphDef.FromString(self.data)


def generated_seeds() -> list[Seed]:
    sys.path.insert(0, str(ROOT / "tests"))
    from builders import retrained_like, without_identities

    graph = retrained_like()
    return [
        Seed("generated/retrained_graph.pb", graph.SerializeToString()),
        Seed("generated/optimized_graph.pb", without_identities(retrained_like(blocks=1, seed=3)).SerializeToString()),
    ]


def real_seeds() -> list[Seed]:
    return [Seed(rel, (GRAPHS / rel).read_bytes()) for rel in REAL_SEEDS if (GRAPHS / rel).exists()]


def all_seeds() -> list[Seed]:
    return generated_seeds() + real_seeds()


def write_seeds(folder: Path) -> tuple[list[Seed], dict[str, Path], Path]:
    """Every seed as a file under ``folder/seeds`` (the second graph of two-graph commands), and a photo.

    Returns ``(seeds, file of each seed by name, the photo)``.
    """
    seeds = all_seeds()
    files = {}
    for seed in seeds:
        path = folder / "seeds" / seed.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(seed.data)
        files[seed.name] = path
    image = folder / "photo.bmp"
    image.write_bytes(bmp_bytes())
    return seeds, files, image


def bmp_bytes(size: int = 24) -> bytes:
    """A 24-bit BMP photo stand-in, written by hand (TensorFlow's decode_image reads BMP)."""
    import struct

    import numpy as np

    pixels = np.random.default_rng(1).integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    row = size * 3
    pad = (4 - row % 4) % 4
    body = b"".join(pixels[y, :, ::-1].tobytes() + bytes(pad) for y in reversed(range(size)))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(body), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, size, size, 1, 24, 0, len(body), 2835, 2835, 0, 0)
    return header + info + body


# --- mutations -------------------------------------------------------------------------


@dataclass
class Mutant:
    seed: Seed
    data: bytes
    steps: list[str] = field(default_factory=list)
    labels: bytes | None = None  # a labels file for the label command, when one was drawn

    def describe(self) -> str:
        return f"{self.seed.name}: " + "; ".join(self.steps)


def flip_bytes(data: bytes, draw: Draw, steps: list[str]) -> bytes:
    out = bytearray(data)
    for _ in range(draw.integer(1, 8)):
        at = draw.integer(0, len(out) - 1)
        mask = draw.integer(1, 255)
        out[at] ^= mask
        steps.append(f"xor byte {at} with {mask:#04x}")
    return bytes(out)


def truncate(data: bytes, draw: Draw, steps: list[str]) -> bytes:
    cut = draw.integer(0, len(data) - 1)
    steps.append(f"cut at {cut}")
    return data[:cut]


def splice(data: bytes, draw: Draw, steps: list[str], *, seeds: Sequence[Seed]) -> bytes:
    other = draw.choice(seeds)
    a = draw.integer(0, len(data))
    b = draw.integer(0, len(other.data))
    steps.append(f"first {a} bytes + {other.name} from byte {b}")
    return data[:a] + other.data[b:]


def insert_bytes(data: bytes, draw: Draw, steps: list[str]) -> bytes:
    at = draw.integer(0, len(data))
    junk = draw.data(64)
    steps.append(f"insert {junk[:16].hex()}... ({len(junk)} bytes) at {at}")
    return data[:at] + junk + data[at:]


BYTE_MUTATIONS = ("flip", "truncate", "splice", "insert")


def _node(graph: GraphDef, draw: Draw):
    index = draw.integer(0, len(graph.node) - 1)
    return index, graph.node[index]


def _const(graph: GraphDef, draw: Draw):
    consts = [n for n in graph.node if "value" in n.attr and n.attr["value"].HasField("tensor")]
    return draw.choice(consts) if consts else None


def graph_mutation(graph: GraphDef, draw: Draw, steps: list[str], *, kinds: Sequence[str] | None = None) -> None:
    """One protobuf-level change to ``graph`` in place, of one of ``kinds`` (default: GRAPH_MUTATIONS)."""
    kind = draw.choice(kinds or GRAPH_MUTATIONS)
    if not graph.node:
        graph.node.add(name="x", op="NoOp")
    if kind == "delete_node":
        index, node = _node(graph, draw)
        steps.append(f"delete node {node.name!r}")
        del graph.node[index]
    elif kind == "rename_input":
        readers = [n for n in graph.node if n.input]
        if not readers:
            return
        node = draw.choice(readers)
        at = draw.integer(0, len(node.input) - 1)
        other = draw.choice(graph.node).name
        new = draw.choice([other, f"{other}:{draw.integer(0, 9)}", f"^{other}", "nowhere", "", f"{other}:-1", ":"])
        steps.append(f"{node.name!r} input {at} -> {new!r}")
        node.input[at] = new
    elif kind == "change_op":
        _, node = _node(graph, draw)
        new = draw.choice(OPS)
        steps.append(f"{node.name!r} op {node.op!r} -> {new!r}")
        node.op = new
    elif kind == "tensor_shape":
        node = _const(graph, draw)
        if node is None:
            return
        dims = [draw.choice([-2, -1, 0, 1, 3, 7, 1000, 2**31, 2**40, 2**62]) for _ in range(draw.integer(0, 5))]
        steps.append(f"{node.name!r} value shape -> {dims}")
        shape = node.attr["value"].tensor.tensor_shape
        del shape.dim[:]
        for d in dims:
            shape.dim.add(size=d)
        if draw.integer(0, 3) == 0:
            shape.unknown_rank = True
            steps.append("unknown_rank")
    elif kind == "tensor_content":
        node = _const(graph, draw)
        if node is None:
            return
        tensor = node.attr["value"].tensor
        content = tensor.tensor_content
        delta = draw.choice([-8, -4, -1, 1, 3, 4, 1024])
        tensor.tensor_content = content[:delta] if delta < 0 else content + bytes(delta)
        steps.append(f"{node.name!r} tensor_content {len(content)} -> {len(tensor.tensor_content)} bytes")
    elif kind == "dtype":
        _, node = _node(graph, draw)
        value = draw.choice([-1, 0, 23, 30, 99, 101, 120, 2**20, 2**31 - 1])
        keys = [k for k, v in node.attr.items() if v.WhichOneof("value") == "type"]
        if node.op == "Const" and "value" in node.attr and draw.integer(0, 1):
            node.attr["value"].tensor.dtype = value
            steps.append(f"{node.name!r} value tensor dtype -> {value}")
        elif keys:
            key = draw.choice(sorted(keys))
            node.attr[key].type = value
            steps.append(f"{node.name!r} attr {key} type -> {value}")
        else:
            node.attr["T"].type = value
            steps.append(f"{node.name!r} new attr T type -> {value}")
    elif kind == "attr_kind":
        _, node = _node(graph, draw)
        if not node.attr:
            return
        key = draw.choice(sorted(node.attr))
        node.attr[key].Clear()
        which = draw.choice(["s", "i", "f", "b", "list", "none"])
        if which == "s":
            node.attr[key].s = b"junk"
        elif which == "i":
            node.attr[key].i = -7
        elif which == "f":
            node.attr[key].f = float("nan")
        elif which == "b":
            node.attr[key].b = True
        elif which == "list":
            node.attr[key].list.i.extend([1, -1, 2**40])
        steps.append(f"{node.name!r} attr {key} -> {which}")
    elif kind == "drop_attr":
        _, node = _node(graph, draw)
        if not node.attr:
            return
        key = draw.choice(sorted(node.attr))
        del node.attr[key]
        steps.append(f"{node.name!r} drop attr {key}")
    elif kind == "duplicate_node":
        _, node = _node(graph, draw)
        graph.node.add().CopyFrom(node)
        steps.append(f"duplicate node {node.name!r}")
    elif kind == "rename_node":
        _, node = _node(graph, draw)
        new = draw.choice(["", "input", "final_result", node.name + "/x", "a:0", "^b", "x" * 300, "ü/名"])
        steps.append(f"rename node {node.name!r} -> {new!r}")
        node.name = new
    elif kind == "swap_nodes":
        i, _ = _node(graph, draw)
        j, _ = _node(graph, draw)
        a, b = GraphDef(), GraphDef()
        a.node.add().CopyFrom(graph.node[i])
        b.node.add().CopyFrom(graph.node[j])
        graph.node[i].CopyFrom(b.node[0])
        graph.node[j].CopyFrom(a.node[0])
        steps.append(f"swap nodes {i} and {j}")
    elif kind == "add_cycle":
        readers = [n for n in graph.node if n.input]
        if not readers:
            return
        node = draw.choice(readers)
        steps.append(f"{node.name!r} also reads final node {graph.node[-1].name!r} (a cycle?)")
        node.input.append(graph.node[-1].name)
    elif kind in hostile.MUTATIONS:
        hostile.mutate_graph(kind, graph, draw, steps)
    elif kind == "versions":
        graph.versions.producer = draw.choice([0, 27, 2000, 2**31 - 1])
        graph.versions.min_consumer = draw.choice([0, 12, 5000])
        steps.append(f"versions producer {graph.versions.producer} min_consumer {graph.versions.min_consumer}")


GRAPH_MUTATIONS = (
    "delete_node", "rename_input", "change_op", "tensor_shape", "tensor_content", "dtype", "attr_kind",
    "drop_attr", "duplicate_node", "rename_node", "swap_nodes", "add_cycle", "versions", *hostile.MUTATIONS,
)


def mutate(seed: Seed, draw: Draw, *, seeds: Sequence[Seed], kinds: Sequence[str] | None = None) -> Mutant:
    """One to three mutations of ``seed``: byte-level (flip, cut, splice, insert) or protobuf-level.

    ``kinds`` limits them to those protobuf-level ones; some mutants also get a labels file.
    """
    mutant = _mutate(seed, draw, seeds=seeds, kinds=kinds)
    # Drawn last, so the draws before it make the same graph mutants they always did.
    if draw.integer(0, 3) == 0:
        mutant.labels = hostile.labels_file(draw, mutant.steps)
    return mutant


def _mutate(seed: Seed, draw: Draw, *, seeds: Sequence[Seed], kinds: Sequence[str] | None) -> Mutant:
    mutant = Mutant(seed=seed, data=seed.data)
    if kinds is None and draw.integer(0, 2) == 0:
        kind = draw.choice(BYTE_MUTATIONS)
        if kind == "flip":
            mutant.data = flip_bytes(mutant.data, draw, mutant.steps)
        elif kind == "truncate":
            mutant.data = truncate(mutant.data, draw, mutant.steps)
        elif kind == "splice":
            mutant.data = splice(mutant.data, draw, mutant.steps, seeds=seeds)
        else:
            mutant.data = insert_bytes(mutant.data, draw, mutant.steps)
        return mutant
    graph = seed.graph
    for _ in range(draw.integer(1, 3)):
        graph_mutation(graph, draw, mutant.steps, kinds=kinds)
    try:
        mutant.data = graph.SerializeToString()
    except Exception as exc:  # e.g. a name that is not valid UTF-8: written as the bytes it was
        mutant.steps.append(f"(serialize failed: {exc}; kept the seed)")
        mutant.data = seed.data
    return mutant


# --- commands --------------------------------------------------------------------------

# Each: (name, argv builder (graph, other, workspace) -> argv, the files the command writes).
ArgvBuilder = Callable[[Path, Path, Path], list[str]]


@dataclass(frozen=True)
class FuzzCommand:
    name: str
    argv: ArgvBuilder
    outputs: Callable[[Path], list[Path]]  # workspace -> paths that must not exist after an error


def _none(ws: Path) -> list[Path]:
    return []


COMMANDS: dict[str, FuzzCommand] = {
    c.name: c
    for c in (
        FuzzCommand("diff", lambda g, o, ws: ["diff", str(g), str(o), "--json"], _none),
        FuzzCommand("tb", lambda g, o, ws: ["tb", str(g), "--logdir", str(ws / "logs"), "--json"], lambda ws: [ws / "logs"]),
        FuzzCommand("summarize", lambda g, o, ws: ["summarize", str(g), "--json"], _none),
        FuzzCommand("graph_pb2tb", lambda g, o, ws: ["scripts.graph_pb2tb", str(ws / "run"), str(g)], lambda ws: [ws / "run"]),
        FuzzCommand("optimize", lambda g, o, ws: ["optimize", str(g), "--output", str(ws / "out" / "opt.pb"), "--json"],
                    lambda ws: [ws / "out"]),
        FuzzCommand("verify", lambda g, o, ws: ["verify", str(g), str(o), "--random", "1", "--json"], _none),
        FuzzCommand("label", lambda g, o, ws: ["label", "--graph", str(g), "--image", str(ws.parent / "image.jpg"), "--json",
                                               *_labels_flag(ws)], _none),
        FuzzCommand("compare", lambda g, o, ws: ["compare", str(o), str(g), "--logdir", str(ws / "logs"), "--no-board",
                                                 "--no-check", "--json"], lambda ws: [ws / "logs"]),
    )
}
PROTOBUF_COMMANDS = ("diff", "tb", "summarize", "graph_pb2tb", "compare")


def _labels_flag(ws: Path) -> list[str]:
    labels = ws.parent / "labels.txt"
    return ["--labels", str(labels)] if labels.exists() else []
TENSORFLOW_COMMANDS = ("optimize", "verify", "label")


# --- the worker ------------------------------------------------------------------------

_WORKER = r"""
import contextlib, io, json, os, sys, traceback
reply = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # anything written to fd 1 by C code goes to the log, not into the replies
import inspector.cli, scripts.graph_pb2tb, scripts.label_image
for line in sys.stdin:
    argv = json.loads(line)
    out, err = io.StringIO(), io.StringIO()
    crash = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if argv[0].startswith("scripts."):
                code = sys.modules[argv[0]].main(argv[1:])
            else:
                code = inspector.cli.main(argv)
    except BaseException as exc:
        code, crash = None, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    reply.write(json.dumps({"code": code, "out": out.getvalue()[-20000:], "err": err.getvalue()[-20000:], "crash": crash}) + "\n")
    reply.flush()
"""


@dataclass
class Result:
    code: int | None
    out: str
    err: str
    seconds: float
    crash: str | None = None  # a traceback, "died: ..." or "hang"


class Worker:
    """A subprocess running inspector commands one after another; restarted after a crash or a hang."""

    def __init__(self, *, timeout: float = 30.0, log: Path | None = None) -> None:
        self.timeout = timeout
        self.log = log or Path(tempfile.mkstemp(prefix="inspector-fuzz-worker-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=tempfile.gettempdir(), env=env,
            )
        return self.proc

    def call(self, argv: list[str], *, cwd: Path | None = None) -> Result:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        start = time.monotonic()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(argv) + "\n").encode())
            proc.stdin.flush()
        except BrokenPipeError:
            return self._died(start)
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            self.stop()
            return Result(code=None, out="", err="", seconds=time.monotonic() - start, crash="hang")
        line = proc.stdout.readline()
        if not line:
            return self._died(start)
        reply = json.loads(line)
        return Result(code=reply["code"], out=reply["out"], err=reply["err"], seconds=time.monotonic() - start,
                      crash=reply["crash"])

    def _died(self, start: float) -> Result:
        assert self.proc is not None
        code = self.proc.wait()
        self.proc = None
        self.restarts += 1
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return Result(code=None, out="", err=tail, seconds=time.monotonic() - start, crash=f"died: exit {code}")

    def stop(self) -> None:
        """Stop our worker, by its pid."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        self.restarts += 1
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        try:
            proc.stdin.close()
            proc.wait(timeout=15)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# --- judging -----------------------------------------------------------------------------

KINDS = ("success", "check failed", "clean error", "crash", "hang", "partial file", "unclean error", "slow")


def judge(result: Result, *, named: Sequence[Path], ws: Path, command: FuzzCommand, timeout: float) -> tuple[str, str]:
    """(kind, why): what the command did, against the rules; kind is one of KINDS."""
    temps = list(ws.rglob(".inspector-*.tmp")) if ws.exists() else []
    if result.crash == "hang":
        return "hang", f"no answer in {timeout:.0f} s"
    if result.crash is not None:
        return "crash", result.crash
    if "Traceback (most recent call last)" in result.err:
        return "crash", result.err
    if result.seconds > timeout:
        return "slow", f"{result.seconds:.1f} s"
    if temps:
        return "partial file", f"temp files left: {temps}"
    if result.code == 0:
        problem = _check_outputs(command, ws)
        return ("success", "") if problem is None else ("partial file", problem)
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    if result.code not in (1, 2):
        return "unclean error", f"exit {result.code}: {result.err[-500:]}"
    if len(errors) != 1:
        return "unclean error", f"{len(errors)} error lines: {result.err[-1500:]}"
    line = errors[0]
    trailing = result.err.rstrip("\n").split("\n")
    after = trailing[trailing.index(line) + 1 :]
    if any(not l.startswith("    ") for l in after):
        return "unclean error", f"lines after the error: {after[:3]}"
    if result.code == 2:
        if not any(str(p) in line for p in named):
            return "unclean error", f"names none of {[str(p) for p in named]}: {line}"
        left = [str(p) for p in command.outputs(ws) if p.exists()]
        if left:
            return "partial file", f"an error (exit 2) left {left}"
        return "clean error", line
    return "check failed", line


def _check_outputs(command: FuzzCommand, ws: Path) -> str | None:
    """After a success, every file written must read back whole."""
    from inspector.errors import InspectorError
    from inspector.graph.io import load_graph
    from inspector.tb.events import read_graph_events

    for folder in command.outputs(ws):
        if not folder.exists():
            return f"{folder} missing after a success"
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            try:
                if "tfevents" in path.name:
                    events = read_graph_events(path)
                    graphs = [e for e in events if e.HasField("graph_def")]
                    if path.name.endswith(".inspector-graph") and len(graphs) != 1:
                        return f"{path}: {len(graphs)} graphs in the event file"
                    for event in graphs:
                        GraphDef.FromString(event.graph_def)
                elif path.suffix == ".pb":
                    load_graph(path)
            except (InspectorError, DecodeError) as exc:
                return f"{path} does not read back: {exc}"
    return None


@dataclass
class Tally:
    counts: Counter = field(default_factory=Counter)
    by_command: dict[str, Counter] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    inputs: int = 0
    seconds: float = 0.0

    def add(self, command: str, kind: str, why: str, mutant: Mutant, argv: list[str], result: Result) -> None:
        self.counts[kind] += 1
        self.counts["calls"] += 1
        self.by_command.setdefault(command, Counter())[kind] += 1
        self.seconds += result.seconds
        if kind in ("crash", "hang", "partial file", "unclean error", "slow"):
            self.failures.append({"command": command, "kind": kind, "why": why[-3000:], "mutant": mutant.describe(), "argv": argv})

    @property
    def bad(self) -> int:
        return sum(self.counts[k] for k in ("crash", "hang", "partial file", "unclean error", "slow"))

    def line(self) -> str:
        c = self.counts
        return (
            f"mutants {self.inputs}, command runs {c['calls']}: successes {c['success']}, clean errors {c['clean error']}, "
            f"check failed {c['check failed']}, crashes {c['crash']}, hangs {c['hang']}, slow {c['slow']}, "
            f"partial files {c['partial file']}, unclean errors {c['unclean error']}"
        )


def run_mutant(worker: Worker, mutant: Mutant, commands: Sequence[str], *, root: Path, other: Path, tally: Tally,
               image: Path | None = None) -> list[tuple[str, str, str]]:
    """Write the mutant, run each command on it in a fresh workspace, judge; returns (command, kind, why)."""
    folder = Path(tempfile.mkdtemp(prefix="m", dir=root))
    try:
        graph = folder / "mutant_graph.pb"
        graph.write_bytes(mutant.data)
        if image is not None:
            shutil.copyfile(image, folder / "image.jpg")
        named = (graph, other)
        if mutant.labels is not None:
            (folder / "labels.txt").write_bytes(mutant.labels)
            named += (folder / "labels.txt",)
        tally.inputs += 1
        verdicts = []
        for name in commands:
            command = COMMANDS[name]
            ws = folder / f"ws-{name}"
            ws.mkdir()
            argv = command.argv(graph, other, ws)
            result = worker.call(argv)
            kind, why = judge(result, named=named, ws=ws, command=command, timeout=worker.timeout)
            tally.add(name, kind, why, mutant, argv, result)
            verdicts.append((name, kind, why))
            if kind in ("crash", "hang", "partial file", "unclean error", "slow"):
                keep = root / "failures"
                keep.mkdir(exist_ok=True)
                (keep / f"{len(tally.failures):04d}-{name}.pb").write_bytes(mutant.data)
                if mutant.labels is not None:
                    (keep / f"{len(tally.failures):04d}-{name}-labels.txt").write_bytes(mutant.labels)
        return verdicts
    finally:
        shutil.rmtree(folder, ignore_errors=True)
