"""Tests for inspector.analysis.summary: inputs, outputs and flags read from the protobuf alone, on real and hand-built graphs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType

from builders import const, op, placeholder, retrained_like
from conftest import REAL_GRAPHS, ROOT, fixture_path
from inspector.graph.io import LoadedGraph, load_graph
from inspector.analysis.summary import MAX_FLAG_NODES, GraphSummary, summarize

BOTTLENECK = "input_1/BottleneckInputPlaceholder"
# MANIFEST.md's input shapes (None: the input declares no shape).
SHAPES = {
    "poets_pair/retrained_graph.pb": (1, 128, 128, 3),
    "poets_pair/optimized_graph.pb": None,
    "poets_224/retrained_graph.pb": (1, 224, 224, 3),
    "poets_tf2/retrained_graph.pb": (1, 128, 128, 3),
    "dropout_active/retrained_graph.pb": (1, 224, 224, 3),
    "mobilenet_v1_0.25_128/frozen_graph.pb": (1, 128, 128, 3),
    "mobilenet_v1_0.25_128/quantized_graph.pb": (1, 128, 128, 3),
    "codelab_android/mobilenet_v3.pb": (-1, 224, 224, 3),
}


def _summary(graph: GraphDef, name: str = "hand_built.pb") -> GraphSummary:
    return summarize(LoadedGraph(path=Path(name), graph=graph, size_bytes=graph.ByteSize(), format="pb"))


def _kinds(summary: GraphSummary) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(f.kind, f.op): f.nodes for f in summary.flags}


# --- real graphs ---------------------------------------------------------------------


@pytest.mark.parametrize("relative,input_name,output_name,nodes", REAL_GRAPHS, ids=[r[0] for r in REAL_GRAPHS])
def test_real_graph_inputs_and_outputs(relative: str, input_name: str, output_name: str, nodes: int) -> None:
    loaded = load_graph(fixture_path(relative))
    summary = summarize(loaded)
    assert [s.name for s in summary.inputs] == [input_name]
    (main,) = summary.inputs
    assert main.op == "Placeholder" and main.dtype == "float"
    assert main.shape == SHAPES[relative]
    assert [o.name for o in summary.outputs] == [output_name]
    assert summary.nodes == nodes
    assert summary.path == loaded.path and summary.size_bytes == loaded.size_bytes and summary.format == "pb"
    assert summary.params > 200_000 and summary.const_bytes > 800_000
    assert sum(summary.ops.values()) == nodes
    if relative.startswith(("poets_", "dropout_active")):
        # retrain.py's bottleneck input: optional (it has a default), never the main input.
        (optional,) = summary.optional_inputs
        assert optional.name == BOTTLENECK and optional.op == "PlaceholderWithDefault"
        assert optional.shape == (-1, 1001)
        assert summary.outputs[0].op == "Softmax"
    else:
        assert summary.optional_inputs == ()
    json.dumps(summary.to_json())


def test_dropout_active_is_flagged() -> None:
    summary = summarize(load_graph(fixture_path("dropout_active/retrained_graph.pb")))
    (flag,) = summary.flags
    assert flag.kind == "dropout" and flag.op == "RandomUniform" and flag.training_only
    assert flag.nodes == ("final_training_ops/drop/dropout/random_uniform/RandomUniform",) and flag.count == 1
    # The where (the Mul that applies the Floor'd mask) and the fix are in the one line.
    assert "final_training_ops/drop/dropout/mul" in flag.why and "is_training=False" in flag.why
    assert not summary.inference_ready and summary.training_flags == (flag,)
    data = json.loads(json.dumps(summary.to_json()))
    assert data["inference_ready"] is False and data["flags"][0]["kind"] == "dropout"


@pytest.mark.parametrize(
    "relative",
    ["poets_pair/retrained_graph.pb", "poets_224/retrained_graph.pb", "poets_tf2/retrained_graph.pb",
     "mobilenet_v1_0.25_128/frozen_graph.pb", "mobilenet_v1_0.25_128/quantized_graph.pb"],
)
def test_clean_graphs_have_no_flags(relative: str) -> None:
    summary = summarize(load_graph(fixture_path(relative)))
    assert summary.flags == () and summary.inference_ready


def test_unknown_input_dims_are_flagged() -> None:
    optimized = summarize(load_graph(fixture_path("poets_pair/optimized_graph.pb")))
    (flag,) = optimized.flags
    assert (flag.kind, flag.op, flag.nodes) == ("unknown_dims", "Placeholder", ("input",))
    assert "no shape" in flag.why and "--input_height" in flag.why
    assert optimized.inference_ready  # a missing shape is no training leftover
    android = summarize(load_graph(fixture_path("codelab_android/mobilenet_v3.pb")))
    (flag,) = android.flags
    assert flag.kind == "unknown_dims" and flag.nodes == ("input_image",)
    assert "batch size unknown" in flag.why and "[?,224,224,3]" in flag.why


# --- hand-built graphs ---------------------------------------------------------------


def test_retrained_like_graph_is_clean() -> None:
    summary = _summary(retrained_like())
    assert [s.name for s in summary.inputs] == ["input"] and summary.inputs[0].shape == (1, 16, 16, 3)
    assert [(o.name, o.op) for o in summary.outputs] == [("final_result", "Softmax")]
    assert summary.flags == ()


def test_float64_is_flagged() -> None:
    double = AttrValue(type=DataType.DT_DOUBLE)
    graph = GraphDef(node=[
        placeholder("input", (1, 4)),
        NodeDef(name="to_double", op="Cast", input=["input"],
                attr={"SrcT": AttrValue(type=DataType.DT_FLOAT), "DstT": double}),
        NodeDef(name="scale", op="Const", attr={"dtype": double, "value": AttrValue(tensor={"dtype": DataType.DT_DOUBLE, "double_val": [2.0]})}),
        NodeDef(name="scaled", op="Mul", input=["to_double", "scale"], attr={"T": double}),
        NodeDef(name="back", op="Cast", input=["scaled"], attr={"SrcT": double, "DstT": AttrValue(type=DataType.DT_FLOAT)}),
        op("final_result", "Softmax", "back"),
    ])
    summary = _summary(graph)
    flags = {f.op: f for f in summary.flags}
    assert set(flags) == {"Cast", "Const", "Mul"}
    assert all(f.kind == "float64" for f in flags.values())
    assert flags["Cast"].nodes == ("to_double", "back") and flags["Cast"].count == 2
    assert "float32" in flags["Mul"].why
    assert summary.inference_ready  # float64 is worth a flag, not a training leftover
    assert [o.name for o in summary.outputs] == ["final_result"]


def test_control_flow_is_flagged() -> None:
    boolean = AttrValue(type=DataType.DT_BOOL)
    graph = GraphDef(node=[
        placeholder("input", (1, 4)),
        NodeDef(name="is_training", op="PlaceholderWithDefault", input=["flag_default"],
                attr={"dtype": boolean, "shape": AttrValue(shape=TensorShapeProto())}),
        NodeDef(name="flag_default", op="Const", attr={"dtype": boolean, "value": AttrValue(tensor={"dtype": DataType.DT_BOOL, "bool_val": [False]})}),
        op("cond/Switch", "Switch", "input", "is_training"),
        op("cond/train", "Relu", "cond/Switch:1"),
        op("cond/infer", "Identity", "cond/Switch"),
        NodeDef(name="cond/Merge", op="Merge", input=["cond/infer", "cond/train"],
                attr={"T": AttrValue(type=DataType.DT_FLOAT), "N": AttrValue(i=2)}),
        op("final_result", "Softmax", "cond/Merge"),
        NodeDef(name="loop/If", op="StatelessIf", input=["is_training", "input"]),
    ])
    summary = _summary(graph)
    kinds = _kinds(summary)
    assert kinds[("control_flow", "Switch")] == ("cond/Switch",)
    assert kinds[("control_flow", "Merge")] == ("cond/Merge",)
    assert kinds[("control_flow", "StatelessIf")] == ("loop/If",)
    switch = next(f for f in summary.flags if f.op == "Switch")
    assert "tf.cond" in switch.why and not switch.training_only
    # The flag placeholder has a default: optional, not a main input.
    assert [s.name for s in summary.inputs] == ["input"]
    assert [s.name for s in summary.optional_inputs] == ["is_training"]


def test_training_leftovers_are_flagged_and_not_outputs() -> None:
    nodes = [
        placeholder("input", (1, 4)),
        NodeDef(name="w", op="VariableV2", attr={"dtype": AttrValue(type=DataType.DT_FLOAT)}),
        op("w/read", "Identity", "w"),
        const("w/initial_value", np.ones((1, 4), dtype=np.float32)),
        op("w/Assign", "Assign", "w", "w/initial_value"),
        op("mul", "Mul", "input", "w/read"),
        op("final_result", "Softmax", "mul"),
        # The backward pass and the optimizer step.
        op("gradients/mul_grad/Mul", "Mul", "final_result", "input"),
        op("gradients/final_result_grad/SoftmaxGrad", "SoftmaxGrad", "final_result", "final_result"),
        const("learning_rate", np.float32(0.01)),
        op("train/update_w/ApplyGradientDescent", "ApplyGradientDescent", "w", "learning_rate", "gradients/mul_grad/Mul"),
        # Checks and a saver.
        op("check", "CheckNumerics", "mul"),
        NodeDef(name="save/SaveV2", op="SaveV2", input=["w"]),
        NodeDef(name="save/RestoreV2", op="RestoreV2"),
    ]
    # More asserts than a flag lists by name.
    nodes += [NodeDef(name=f"assert_{i}", op="Assert", input=["mul"]) for i in range(MAX_FLAG_NODES + 3)]
    summary = _summary(GraphDef(node=nodes))
    kinds = _kinds(summary)
    assert kinds[("training", "VariableV2")] == ("w",)
    assert kinds[("training", "Assign")] == ("w/Assign",)
    assert kinds[("training", "ApplyGradientDescent")] == ("train/update_w/ApplyGradientDescent",)
    assert kinds[("training", "SoftmaxGrad")] == ("gradients/final_result_grad/SoftmaxGrad",)
    assert kinds[("training", "Mul")] == ("gradients/mul_grad/Mul",)  # by its gradients/ scope
    assert kinds[("training", "CheckNumerics")] == ("check",)
    assert kinds[("training", "SaveV2")] == ("save/SaveV2",)
    assert kinds[("training", "RestoreV2")] == ("save/RestoreV2",)
    asserts = next(f for f in summary.flags if f.op == "Assert")
    assert asserts.count == MAX_FLAG_NODES + 3 and len(asserts.nodes) == MAX_FLAG_NODES
    assert ("training", "Mul") in kinds and ("training", "Softmax") not in kinds  # the forward pass is not flagged
    variable = next(f for f in summary.flags if f.op == "VariableV2")
    assert "freeze" in variable.why
    # Only the model's output is a likely output, not the training sinks.
    assert [o.name for o in summary.outputs] == ["final_result"]
    assert not summary.inference_ready
    json.dumps(summary.to_json())


def test_unknown_rank_and_unknown_size() -> None:
    unknown_rank = NodeDef(name="image", op="Placeholder", attr={
        "dtype": AttrValue(type=DataType.DT_FLOAT), "shape": AttrValue(shape=TensorShapeProto(unknown_rank=True))})
    graph = GraphDef(node=[
        unknown_rank,
        placeholder("other", (1, -1, -1, 3)),
        op("sum", "Add", "image", "other"),
        op("final_result", "Softmax", "sum"),
    ])
    summary = _summary(graph)
    flags = {f.nodes[0]: f for f in summary.flags}
    assert set(flags) == {"image", "other"} and all(f.kind == "unknown_dims" for f in flags.values())
    assert "no shape" in flags["image"].why
    assert "unknown dimensions" in flags["other"].why and "[1,?,?,3]" in flags["other"].why
    assert summary.inputs[0].shape is None and summary.inputs[1].shape == (1, -1, -1, 3)


def test_random_op_outside_a_dropout_is_a_training_flag() -> None:
    graph = GraphDef(node=[
        placeholder("input", (1, 4)),
        const("noise/shape", np.array([1, 4], dtype=np.int32)),
        NodeDef(name="noise/RandomStandardNormal", op="RandomStandardNormal", input=["noise/shape"],
                attr={"dtype": AttrValue(type=DataType.DT_FLOAT), "T": AttrValue(type=DataType.DT_INT32)}),
        op("noisy", "Add", "input", "noise/RandomStandardNormal"),
        op("final_result", "Softmax", "noisy"),
    ])
    (flag,) = _summary(graph).flags
    assert (flag.kind, flag.op) == ("training", "RandomStandardNormal") and "random" in flag.why


# --- no TensorFlow ---------------------------------------------------------------------


def test_summarize_never_imports_tensorflow(tmp_path: Path, no_tf_env: dict[str, str]) -> None:
    path = tmp_path / "retrained_graph.pb"
    path.write_bytes(retrained_like().SerializeToString())
    code = (
        "import json, sys\n"
        "from inspector.graph.io import load_graph\n"
        "from inspector.analysis.summary import summarize\n"
        f"summary = summarize(load_graph({str(path)!r}))\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "print(json.dumps(summary.to_json()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=no_tf_env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["inputs"][0]["name"] == "input" and data["outputs"] == [{"name": "final_result", "op": "Softmax"}]


# --- generated graphs (TensorFlow builds them) ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dropout", [False, True])
def test_generated_retrain_graph(dropout: bool) -> None:
    from inspector.graph.samples import retrain_shaped_mobilenet

    summary = _summary(retrain_shaped_mobilenet(blocks=1, dropout=dropout), "retrained_graph.pb")
    assert [(s.name, s.shape) for s in summary.inputs] == [("input", (1, 128, 128, 3))]
    assert [s.name for s in summary.optional_inputs] == [BOTTLENECK]
    assert [o.name for o in summary.outputs] == ["final_result"]
    if dropout:
        (flag,) = summary.flags
        assert flag.kind == "dropout" and flag.nodes[0].startswith("final_training_ops/drop/")
    else:
        assert summary.flags == ()
