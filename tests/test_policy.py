"""The op policy (issue 10): a graph from the internet never reads or writes a file, nor runs Python, through inspector.

Each hostile graph is a small classifier (input [1,8,8,3] -> 4 classes, output
``probs``) with one unsafe op added: its value feeds the output's arithmetic
(multiplied by 0, so the scores stay meaningful), or it is a control input of the
output, so that a Session.run of the output would really run it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue, NameAttrList
from tensorboard.compat.proto.function_pb2 import FunctionDef
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.op_def_pb2 import OpDef
from tensorboard.compat.proto.types_pb2 import DataType

from builders import retrained_like
from conftest import DAISY, REAL_GRAPHS, fixture_path
from inspector.analysis.summary import UNSAFE, summarize
from inspector.errors import InspectorError
from inspector.graph import ops, tfcompat, trust
from inspector.graph.io import LoadedGraph, load_graph
from inspector.graph.ops import UnsafeNode, unsafe_nodes, unsafe_op
from inspector.optimizer import pipeline
from inspector.optimizer.passes import constfold, tfrun
from inspector.run.label import label_image
from inspector.run.latency import bench
from inspector.run.runners import GraphRunner
from inspector.run.verify import verify
from inspector.tflite.check import check
from inspector.tflite.export import export

SECRET = b"PRIVATE-KEY-7f3a9c1e5b"  # what ~/.ssh/id_rsa would hold
FIX = "inspector runs no such op unless you trust the graph: pass --allow-unsafe-ops"
NAMES = {"input_names": "input", "output_names": "probs"}


# --- hostile graphs ---------------------------------------------------------------


def _classifier(extra: Callable[[object, object], tuple[object | None, list]]) -> GraphDef:
    """The classifier, with ``extra(tf, x)`` -> (a scalar float fed into the logits, or None; control inputs of the output)."""
    tf = tfcompat.tf()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="input")
        pooled = tf.reduce_mean(x, axis=[1, 2], name="pool")
        weights = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, name="weights")
        logits = tf.matmul(pooled, weights, name="logits")
        value, controls = extra(tf, x)
        if value is not None:
            logits = tf.add(logits, tf.multiply(value, 0.0, name="times_zero"), name="biased")
        with tf.control_dependencies(controls):
            tf.nn.softmax(logits, name="probs")
    return tfcompat.from_tf(graph.as_graph_def())


def _leak(tf, x, secret_string) -> object:
    """A scalar float from ``secret_string`` joined with the input: a constant subgraph feeding a non-constant node."""
    joined = tf.strings.join([secret_string, tf.strings.as_string(tf.reduce_sum(x))], name="joined")
    return tf.cast(tf.strings.length(joined), tf.float32)


def read_file_graph(secret: Path) -> GraphDef:
    def extra(tf, x):
        contents = tf.raw_ops.ReadFile(filename=tf.constant(str(secret), name="loader/path"), name="loader/ReadFile")
        return _leak(tf, x, contents), []
    return _classifier(extra)


def matching_files_graph(folder: Path) -> GraphDef:
    def extra(tf, x):
        found = tf.raw_ops.MatchingFiles(pattern=tf.constant(str(folder / "*.key")), name="lister")
        return _leak(tf, x, tf.strings.reduce_join(found)), []
    return _classifier(extra)


def write_file_graph(target: Path) -> GraphDef:
    def extra(tf, x):
        write = tf.raw_ops.WriteFile(filename=tf.constant(str(target)), contents=tf.constant("pwned"), name="dropper")
        return None, [write]
    return _classifier(extra)


def print_v2_graph(target: Path) -> GraphDef:
    def extra(tf, x):
        message = tf.strings.format("{}", tf.reduce_sum(x))
        printed = tf.raw_ops.PrintV2(input=message, output_stream=f"file://{target}", name="printer")
        return None, [printed]
    return _classifier(extra)


def immutable_const_graph(secret: Path) -> GraphDef:
    def extra(tf, x):
        mapped = tf.raw_ops.ImmutableConst(dtype=tf.uint8, shape=[16], memory_region_name=str(secret), name="mapped")
        return tf.cast(tf.reduce_sum(tf.cast(mapped, tf.int32)), tf.float32), []
    return _classifier(extra)


def py_func_graph() -> GraphDef:
    def extra(tf, x):
        (out,) = tf.raw_ops.PyFuncStateless(input=[tf.constant(1.0)], token="pyfunc_404", Tout=[tf.float32], name="callback")
        return out, []
    return _classifier(extra)


def function_graph(secret: Path) -> GraphDef:
    """A PartitionedCall of a library function whose body reads the file."""
    def extra(tf, x):
        path = tf.constant(str(secret), name="fn_path")
        return _leak(tf, x, tf.identity(path, name="call")), []  # the stand-in "call" becomes the PartitionedCall

    graph = _classifier(extra)
    function = FunctionDef(
        signature=OpDef(
            name="read_secret",
            input_arg=[OpDef.ArgDef(name="path", type=DataType.DT_STRING)],
            output_arg=[OpDef.ArgDef(name="contents", type=DataType.DT_STRING)],
        ),
        node_def=[NodeDef(name="reader", op="ReadFile", input=["path"])],
        ret={"contents": "reader:contents:0"},
    )
    graph.library.function.append(function)
    call = next(node for node in graph.node if node.name == "call")
    call.CopyFrom(NodeDef(name="call", op="PartitionedCall", input=["fn_path"], attr={
        "Tin": AttrValue(list=AttrValue.ListValue(type=[DataType.DT_STRING])),
        "Tout": AttrValue(list=AttrValue.ListValue(type=[DataType.DT_STRING])),
        "f": AttrValue(func=NameAttrList(name="read_secret")),
    }))
    return graph


def fill_shape_graph(number: Path) -> GraphDef:
    """A shape read from a file: TensorFlow's shape inference evaluates the ReadFile at import."""
    def extra(tf, x):
        count = tf.strings.to_number(tf.raw_ops.ReadFile(filename=tf.constant(str(number)), name="count_file"), out_type=tf.int32)
        filled = tf.fill(tf.reshape(count, [1]), 1.0, name="filled")
        return tf.cast(tf.raw_ops.Size(input=filled, name="size"), tf.float32), []
    return _classifier(extra)


def dangling_graph(secret: Path) -> GraphDef:
    """A ReadFile nothing the output needs reads."""
    def extra(tf, x):
        tf.identity(tf.raw_ops.ReadFile(filename=tf.constant(str(secret)), name="unused/ReadFile"), name="unused/out")
        return None, []
    return _classifier(extra)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "id_rsa"
    path.write_bytes(SECRET)
    return path


def _save(tmp_path: Path, graph: GraphDef, name: str = "hostile.pb") -> LoadedGraph:
    path = tmp_path / name
    path.write_bytes(graph.SerializeToString())
    return load_graph(path)


def _refusal(what: str, node: str, describe: str) -> str:
    return f"{what}: node {node!r} {describe}; {FIX}"


READS = "is a ReadFile op, which reads files on this machine"


# --- optimize: never folded, never in the output bytes ------------------------------


def _fold_notes(result) -> tuple[str, ...]:
    return next(p.notes for p in result.passes if p.name == "fold_constants")


def _hostile_cases(tmp_path: Path, secret: Path) -> dict[str, tuple[GraphDef, str]]:
    """Case -> (graph, the fold_constants note that says what was kept)."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "PRIVATE-KEY-7f3a9c1e5b.key").write_bytes(b"")
    number = tmp_path / "count.txt"
    number.write_text("5")
    return {
        "read_file": (read_file_graph(secret), "kept 1 ReadFile (reads files on this machine): never evaluated"),
        "matching_files": (matching_files_graph(tmp_path / "keys"), "kept 1 MatchingFiles (reads files on this machine): never evaluated"),
        "immutable_const": (immutable_const_graph(secret), "kept 1 ImmutableConst (reads files on this machine): never evaluated"),
        "function": (function_graph(secret), "kept 1 PartitionedCall (reads files on this machine): never evaluated"),
        "py_func": (py_func_graph(), "kept 1 PyFuncStateless (runs Python code): never evaluated"),
        "fill_shape": (fill_shape_graph(number), "kept 1 ReadFile (reads files on this machine): never evaluated"),
        "write_file": (write_file_graph(tmp_path / "dropped.txt"), "kept 1 WriteFile (writes files): never evaluated"),
        "print_v2": (print_v2_graph(tmp_path / "printed.txt"), "kept 1 PrintV2 (writes files): never evaluated"),
    }


@pytest.mark.parametrize("case", [
    "read_file", "matching_files", "immutable_const", "function", "py_func", "fill_shape", "write_file", "print_v2",
])
def test_optimize_never_evaluates_an_unsafe_op(case: str, tmp_path: Path, secret: Path) -> None:
    graph, note = _hostile_cases(tmp_path, secret)[case]
    result = pipeline.optimize(graph, **{k: [v] for k, v in NAMES.items()})
    data = result.graph.SerializeToString()
    assert SECRET not in data
    assert note in _fold_notes(result)
    # The outputs need the unsafe node, so the optimized graph keeps it (unevaluated) ...
    kept = unsafe_nodes(result.graph)
    assert [u.op for u in kept] == [u.op for u in unsafe_nodes(graph)]
    # ... and nothing it feeds was folded: no Const stands where its value flows.
    assert not any(node.op == "Const" and node.name in ("joined", "size", "Cast", "Sum") for node in result.graph.node)
    assert not (tmp_path / "dropped.txt").exists() and not (tmp_path / "printed.txt").exists()


@pytest.mark.parametrize("case", ["read_file", "matching_files", "fill_shape"])
def test_without_the_policy_the_secret_would_be_folded_in(
    case: str, tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hostile graphs do exercise the bug: with the policy switched off, optimize copies what it read."""
    graph, _ = _hostile_cases(tmp_path, secret)[case]
    monkeypatch.setattr(tfrun, "without_unsafe", lambda graph: graph)
    if case != "fill_shape":
        monkeypatch.setattr(constfold, "unsafe_nodes", lambda graph: ())
    result = pipeline.optimize(graph, **{k: [v] for k, v in NAMES.items()})
    if case == "fill_shape":
        # Folding still skips the ReadFile, but TensorFlow's shape inference read the file (it
        # says 5) when the graph was imported, and Size became a Const holding that number.
        fold = next(p for p in result.passes if p.name == "fold_constants")
        assert fold.reasons["size"].startswith("Size of a statically known shape [5] folded into Const")
    else:
        assert SECRET in result.graph.SerializeToString()


def test_optimize_keeps_a_shape_read_from_a_file_unknown(tmp_path: Path) -> None:
    number = tmp_path / "count.txt"
    number.write_text("5")
    result = pipeline.optimize(fill_shape_graph(number), **{k: [v] for k, v in NAMES.items()})
    ops_by_name = {node.name: node.op for node in result.graph.node}
    assert ops_by_name["size"] == "Size" and ops_by_name["count_file"] == "ReadFile"


def test_optimize_drops_an_unsafe_node_the_outputs_do_not_need(tmp_path: Path, secret: Path) -> None:
    result = pipeline.optimize(dangling_graph(secret), **{k: [v] for k, v in NAMES.items()})
    assert not unsafe_nodes(result.graph)
    assert "unused/ReadFile" in next(p.removed_nodes for p in result.passes if p.name == "strip_unused")
    assert SECRET not in result.graph.SerializeToString()


# --- running: refused with one message, allowed when trusted ------------------------------


def test_every_runner_refuses_a_graph_that_reads_a_file(tmp_path: Path, secret: Path) -> None:
    loaded = _save(tmp_path, read_file_graph(secret))
    path = loaded.path
    with pytest.raises(InspectorError) as exc:
        verify(loaded, loaded, **NAMES)
    assert str(exc.value) == _refusal(f"a ({path})", "loader/ReadFile", READS)
    assert str(exc.value) == (
        f"a ({path}): node 'loader/ReadFile' is a ReadFile op, which reads files on this machine; "
        "inspector runs no such op unless you trust the graph: pass --allow-unsafe-ops"
    )
    with pytest.raises(InspectorError) as exc:
        bench(loaded, loaded, runs=1, warmup=0, **NAMES)
    assert str(exc.value) == _refusal(f"a ({path})", "loader/ReadFile", READS)
    with pytest.raises(InspectorError) as exc:
        label_image(loaded, DAISY, input_name="input", output_name="probs")
    assert str(exc.value) == _refusal(str(path), "loader/ReadFile", READS)
    with pytest.raises(InspectorError) as exc:
        check(loaded, **NAMES)
    assert str(exc.value) == _refusal(str(path), "loader/ReadFile", READS)
    out = tmp_path / "hostile.tflite"
    with pytest.raises(InspectorError) as exc:
        export(loaded, out, latency_runs=0, random_inputs=1, **NAMES)
    assert str(exc.value) == _refusal(f"graph ({path})", "loader/ReadFile", READS)
    assert not out.exists()


def test_every_runner_refuses_a_graph_that_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "dropped.txt"
    loaded = _save(tmp_path, write_file_graph(target))
    path = loaded.path
    writes = "is a WriteFile op, which writes files"
    calls = [
        (lambda: verify(loaded, loaded, **NAMES), f"a ({path})"),
        (lambda: bench(loaded, loaded, runs=1, warmup=0, **NAMES), f"a ({path})"),
        (lambda: label_image(loaded, DAISY, input_name="input", output_name="probs"), str(path)),
        (lambda: check(loaded, **NAMES), str(path)),
        (lambda: export(loaded, tmp_path / "x.tflite", latency_runs=0, random_inputs=1, **NAMES), f"graph ({path})"),
    ]
    for call, what in calls:
        with pytest.raises(InspectorError) as exc:
            call()
        assert str(exc.value) == _refusal(what, "dropper", writes)
        assert not target.exists()
    assert str(exc.value) == (
        f"graph ({path}): node 'dropper' is a WriteFile op, which writes files; "
        "inspector runs no such op unless you trust the graph: pass --allow-unsafe-ops"
    )


@pytest.mark.parametrize("case, node, describe", [
    ("matching_files", "lister", "is a MatchingFiles op, which reads files on this machine"),
    ("immutable_const", "mapped", "is an ImmutableConst op, which reads files on this machine"),
    ("function", "call", "is a PartitionedCall op that calls function 'read_secret', whose node 'reader' is a ReadFile op, "
                         "which reads files on this machine"),
    ("py_func", "callback", "is a PyFuncStateless op, which runs Python code"),
    ("print_v2", "printer", "is a PrintV2 op, which writes files"),
    ("fill_shape", "count_file", READS),
])
def test_graph_runner_refuses(case: str, node: str, describe: str, tmp_path: Path, secret: Path) -> None:
    graph, _ = _hostile_cases(tmp_path, secret)[case]
    loaded = _save(tmp_path, graph)
    with pytest.raises(InspectorError) as exc:
        GraphRunner(loaded, input_name="input", output_name="probs")
    assert str(exc.value) == _refusal(str(loaded.path), node, describe)
    assert not (tmp_path / "printed.txt").exists()


def test_the_exact_messages_for_a_function_call_and_a_python_callback(tmp_path: Path, secret: Path) -> None:
    loaded = _save(tmp_path, function_graph(secret))
    with pytest.raises(InspectorError) as exc:
        GraphRunner(loaded, input_name="input", output_name="probs")
    assert str(exc.value) == (
        f"{loaded.path}: node 'call' is a PartitionedCall op that calls function 'read_secret', whose node 'reader' "
        "is a ReadFile op, which reads files on this machine; inspector runs no such op unless you trust the graph: "
        "pass --allow-unsafe-ops"
    )


def test_an_unsafe_node_the_output_does_not_need_still_refuses_the_graph(tmp_path: Path, secret: Path) -> None:
    """One rule for the whole graph: importing it would already evaluate a ReadFile for shape inference."""
    loaded = _save(tmp_path, dangling_graph(secret))
    with pytest.raises(InspectorError) as exc:
        GraphRunner(loaded, input_name="input", output_name="probs")
    assert str(exc.value) == _refusal(str(loaded.path), "unused/ReadFile", READS)


def test_several_unsafe_nodes_are_counted(tmp_path: Path, secret: Path) -> None:
    graph = read_file_graph(secret)
    graph.node.extend([
        NodeDef(name="more/WriteFile", op="WriteFile", input=["loader/path", "loader/path"]),
        NodeDef(name="more/py", op="PyFunc", attr={"token": AttrValue(s=b"x")}),
    ])
    with pytest.raises(InspectorError) as exc:
        trust.refuse_unsafe(graph, what="x.pb")
    assert str(exc.value) == (
        "x.pb: node 'loader/ReadFile' is a ReadFile op, which reads files on this machine (and 2 other unsafe nodes); "
        "inspector runs no such op unless you trust the graph: pass --allow-unsafe-ops"
    )
    graph.node.pop()
    with pytest.raises(InspectorError, match=r"\(and 1 other unsafe node\); "):
        trust.refuse_unsafe(graph, what="x.pb")


def test_a_stateful_op_outside_the_allow_list_is_refused_where_tensorflow_is_loaded(tmp_path: Path) -> None:
    def extra(tf, x):
        queue = tf.raw_ops.FIFOQueueV2(component_types=[tf.float32], name="queue")
        return tf.cast(tf.raw_ops.QueueSizeV2(handle=queue, name="queue_size"), tf.float32), []

    loaded = _save(tmp_path, _classifier(extra))
    with pytest.raises(InspectorError) as exc:
        GraphRunner(loaded, input_name="input", output_name="probs")
    assert str(exc.value) == (
        f"{loaded.path}: node 'queue' is a FIFOQueueV2 op, which acts outside the graph (TensorFlow marks it stateful, "
        "and it is no op inspector knows to only compute) (and 1 other unsafe node); "
        "inspector runs no such op unless you trust the graph: pass --allow-unsafe-ops"
    )
    # The protobuf-only policy (summarize's) does not know queues; TensorFlow's registry does.
    assert unsafe_nodes(loaded.graph) == ()
    assert [u.node for u in trust.unsafe_to_run(loaded.graph)] == ["queue", "queue_size"]


def _batch() -> np.ndarray:
    return np.full((1, 8, 8, 3), 0.5, dtype=np.float32)


def test_a_trusted_graph_runs_and_really_does_what_it_says(tmp_path: Path, secret: Path) -> None:
    """allow_unsafe_ops=True runs them: the WriteFile writes, the PrintV2 prints to its file (both under tmp_path)."""
    cases = _hostile_cases(tmp_path, secret)
    for case in ("read_file", "matching_files", "immutable_const", "function", "fill_shape", "write_file", "print_v2"):
        loaded = _save(tmp_path, cases[case][0], f"{case}.pb")
        with GraphRunner(loaded, input_name="input", output_name="probs", allow_unsafe_ops=True) as runner:
            scores = runner.run(_batch())
        assert scores.shape == (4,) and abs(scores.sum() - 1) < 1e-5, case
    assert (tmp_path / "dropped.txt").read_text() == "pwned"
    assert (tmp_path / "printed.txt").read_text().strip() == "96"


def test_trusted_verify_label_bench_check_run(tmp_path: Path) -> None:
    target = tmp_path / "dropped.txt"
    loaded = _save(tmp_path, write_file_graph(target))
    report = verify(loaded, loaded, random_inputs=1, allow_unsafe_ops=True, **NAMES)
    assert report.ok and target.read_text() == "pwned"
    target.unlink()
    timing = bench(loaded, loaded, runs=1, warmup=0, allow_unsafe_ops=True, **NAMES)
    assert timing.runs == 1 and target.exists()
    target.unlink()
    result = label_image(loaded, DAISY, input_name="input", output_name="probs", allow_unsafe_ops=True)
    assert len(result.top) == 4 and target.exists()
    verdict = check(loaded, allow_unsafe_ops=True, **NAMES)
    assert verdict.path == loaded.path


def test_export_never_folds_an_unsafe_op_even_when_trusted(tmp_path: Path, secret: Path) -> None:
    """Export computes constant Dequantize-style nodes in TensorFlow; a value that depends on a file is none of them."""
    from inspector.tflite.convert import is_constant

    graph = read_file_graph(secret)
    assert not is_constant(graph, "joined")
    assert not is_constant(graph, "loader/ReadFile")
    assert is_constant(graph, "weights")


# --- summarize: a security finding ---------------------------------------------------


def test_summarize_flags_unsafe_ops(tmp_path: Path, secret: Path) -> None:
    summary = summarize(_save(tmp_path, read_file_graph(secret)))
    (flag,) = summary.unsafe_flags
    assert flag.kind == UNSAFE == "unsafe" and flag.op == "ReadFile" and flag.nodes == ("loader/ReadFile",)
    assert flag.why == (
        "reads files on this machine: inspector never runs it nor evaluates it (verify, label, bench, check and export "
        "refuse the graph, optimize never folds it); remove it from the graph, or pass --allow-unsafe-ops to run a graph "
        "you trust"
    )
    assert not summary.inference_ready
    assert not flag.training_only and summary.training_flags == ()
    assert summary.to_json()["inference_ready"] is False


@pytest.mark.parametrize("case, op, text", [
    ("write_file", "WriteFile", "writes files"),
    ("print_v2", "PrintV2", "writes files"),
    ("py_func", "PyFuncStateless", "runs Python code"),
    ("immutable_const", "ImmutableConst", "reads files on this machine"),
    ("matching_files", "MatchingFiles", "reads files on this machine"),
    ("function", "PartitionedCall", "calls function 'read_secret', which holds a ReadFile op, which reads files on this machine"),
])
def test_summarize_flags_each_hostile_graph(case: str, op: str, text: str, tmp_path: Path, secret: Path) -> None:
    summary = summarize(_save(tmp_path, _hostile_cases(tmp_path, secret)[case][0]))
    (flag,) = summary.unsafe_flags
    assert flag.op == op and flag.why.startswith(text + ": inspector never runs it nor evaluates it")
    assert not summary.inference_ready


@pytest.mark.parametrize("relative", [g[0] for g in REAL_GRAPHS])
def test_no_real_graph_is_refused(relative: str) -> None:
    """The policy refuses hostile graphs, not retrain.py's: every fixture passes the run-time check too."""
    loaded = load_graph(fixture_path(relative))
    assert trust.unsafe_to_run(loaded.graph) == ()
    assert not summarize(loaded).unsafe_flags


# --- the policy itself ----------------------------------------------------------------


def _node(name: str, op: str, *inputs: str, **attr: AttrValue) -> NodeDef:
    return NodeDef(name=name, op=op, input=list(inputs), attr=attr)


def _function(name: str, *nodes: NodeDef) -> FunctionDef:
    return FunctionDef(signature=OpDef(name=name), node_def=list(nodes))


def _call(name: str, function: str, op: str = "PartitionedCall") -> NodeDef:
    return _node(name, op, f=AttrValue(func=NameAttrList(name=function)))


def test_unsafe_op_reads_attrs_where_they_decide() -> None:
    stream = lambda s: {"output_stream": AttrValue(s=s.encode())}  # noqa: E731
    assert unsafe_op("PrintV2") is None  # default: stderr
    assert unsafe_op("PrintV2", stream("log(warning)")) is None
    assert unsafe_op("PrintV2", stream("file:///tmp/x")) == ops.WRITES_FILES
    source = lambda s: {"descriptor_source": AttrValue(s=s.encode())}  # noqa: E731
    assert unsafe_op("DecodeProtoV2") is None and unsafe_op("EncodeProto", source("local://")) is None
    assert unsafe_op("DecodeProtoV2", source("bytes://\x0a\x00")) is None
    assert unsafe_op("DecodeProtoV2", source("/etc/descriptors.bin")) == ops.READS_FILES
    assert unsafe_op("MyCustomPyFunc") == ops.RUNS_PYTHON
    assert unsafe_op("TFRecordDataset") == unsafe_op("MapDataset") == unsafe_op("IteratorGetNext") == ops.RUNS_DATASET
    assert unsafe_op("CollectiveReduceV2") == unsafe_op("RpcCall") == ops.NETWORK
    assert unsafe_op("DebugIdentity") == ops.DEBUG_SINK and unsafe_op("Abort") == ops.ENDS_PROCESS
    assert unsafe_op("SaveV2") == unsafe_op("WriteScalarSummary") == unsafe_op("CreateSummaryFileWriter") == ops.WRITES_FILES
    assert unsafe_op("RestoreV2") == unsafe_op("InitializeTableFromTextFileV2") == unsafe_op("WholeFileReaderV2") == ops.READS_FILES
    for safe in ("Conv2D", "Identity", "Const", "DecodeJpeg", "ShardedFilename", "Print", "RandomUniform", "Assert"):
        assert unsafe_op(safe) is None, safe


def test_every_listed_op_is_a_tensorflow_op() -> None:
    """The lists name real ops (no typo leaves a hole), and every stateful one is refused or known to compute."""
    tfcompat.tf()
    from tensorflow.python.framework import op_def_registry

    for op in (*ops.UNSAFE_OPS, *ops.COMPUTE_STATEFUL_OPS):
        assert op_def_registry.get(op) is not None, op
    for op in ("ReadFile", "MatchingFiles", "ImmutableConst", "DebugIdentity", "GenerateVocabRemapping", "Abort"):
        # TensorFlow does not mark these stateful: only the list catches them.
        assert not trust.tf_stateful(op) and unsafe_op(op) is not None, op


def test_function_calls_are_judged_by_their_bodies() -> None:
    graph = GraphDef()
    graph.library.function.extend([
        _function("safe", _node("relu", "Relu", "x")),
        _function("outer", _call("inner_call", "middle", op="StatefulPartitionedCall")),
        _function("middle", _node("w", "WriteFile", "a", "b")),
        _function("unused", _node("r", "ReadFile", "p")),  # nothing calls it: never runs
    ])
    graph.node.extend([
        _call("fine", "safe"),
        _call("nested", "outer"),
        _node("direct_call", "middle"),          # a node whose op is a library function
        _call("names_an_op", "ReadFile"),        # a func attr naming an op runs that op
        _node("branch", "If", then_branch=AttrValue(func=NameAttrList(name="safe")),
              else_branch=AttrValue(func=NameAttrList(name="outer"))),
    ])
    found = {u.node: u for u in unsafe_nodes(graph)}
    assert sorted(found) == ["branch", "direct_call", "names_an_op", "nested"]
    assert found["nested"] == UnsafeNode("nested", "PartitionedCall", ops.WRITES_FILES, runs="WriteFile",
                                         via=("outer", "middle"), inner_node="w", inner_node_op="WriteFile", depth=2)
    assert found["nested"].describe == (
        "is a PartitionedCall op that calls function 'outer' -> 'middle', whose node 'w' is a WriteFile op, which writes files"
    )
    assert found["names_an_op"].describe == "is a PartitionedCall op that runs the ReadFile op, which reads files on this machine"
    assert found["direct_call"].via == ("middle",)


def test_recursive_and_deep_libraries_are_walked_iteratively() -> None:
    graph = GraphDef()
    depth = 20_000  # far past Python's recursion limit
    graph.library.function.extend(_function(f"f{i}", _call("next", f"f{i + 1}")) for i in range(depth))
    graph.library.function.append(_function(f"f{depth}", _call("back", "f0"), _node("leak", "ReadFile", "p")))
    graph.node.append(_call("top", "f0"))
    (found,) = unsafe_nodes(graph)
    assert found.node == "top" and found.depth == depth + 1
    assert found.via == ("f0", "f1", "f2", f"f{depth}")  # a long chain is cut in the middle
    assert found.describe == (
        f"is a PartitionedCall op that calls function 'f0' -> 'f1' -> 'f2' -> ... -> 'f{depth}', whose node 'leak' "
        "is a ReadFile op, which reads files on this machine"
    )
    # A cycle with nothing unsafe in it ends too.
    cycle = GraphDef()
    cycle.library.function.extend([_function("a", _call("c", "b")), _function("b", _call("c", "a"))])
    cycle.node.append(_call("top", "a"))
    assert unsafe_nodes(cycle) == ()


def test_nested_func_attrs_are_read() -> None:
    inner = NameAttrList(name="ReadFile")
    outer = NameAttrList(name="SomeOp", attr={"body": AttrValue(func=inner)})
    graph = GraphDef(node=[_node("n", "MapDefun", fs=AttrValue(list=AttrValue.ListValue(func=[outer])))])
    (found,) = unsafe_nodes(graph)
    assert found.runs == "ReadFile" and found.why == ops.READS_FILES


def test_without_unsafe_cuts_what_reads_an_unsafe_node(secret: Path) -> None:
    graph = read_file_graph(secret)
    cut = {node.name for node in graph.node} - {node.name for node in trust.without_unsafe(graph).node}
    assert {"loader/ReadFile", "joined", "biased", "probs"} <= cut
    assert "loader/path" not in cut and "logits" not in cut
    clean = retrained_like()
    assert trust.without_unsafe(clean) is clean
