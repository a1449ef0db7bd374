"""Tests for hand-written TF1 CNNs (inspector.graph.customcnn): every placeholder told by structure, every dropout form stripped, the loss never an output."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from builders import const, op, placeholder
from conftest import fixture_path
from inspector.analysis.summary import DROPOUT, DROPOUT_OFF, summarize
from inspector.errors import InspectorError
from inspector.graph.customcnn import DROPOUT_FORMS, CustomNames, custom_cnn
from inspector.graph.io import LoadedGraph, load_graph
from inspector.graph.ops import LOSS_OPS, PLACEHOLDER_OPS, V1_CONTROL_FLOW_OPS, is_random
from inspector.graph.settings import DROPOUT_RATE, KEEP_PROB, TRAINING_FLAG
from inspector.graph.signature import LABEL, SCALAR, signature
from inspector.graph.workgraph import WorkGraph
from inspector.optimizer.passes.dropout import ON, find_dropout
from inspector.optimizer.pipeline import OptimizeResult, optimize
from tf_helpers import run_as_written

# Names that lie: a rule reading names would take the keep probability for the image, the image for the keep
# probability, and the label for the output.
LYING = CustomNames(image="keep_prob", keep="input", label="final_result", flag="labels", output="is_training")
SIZE = 16
BOOL = AttrValue(type=DataType.DT_BOOL)

# (dropout form, channels, label and training flag, names): every form plain on a grayscale image, and with a
# label, a loss, a metric and a training flag on a 6-channel input under lying names.
CASES = [(form, 1, False, CustomNames()) for form in DROPOUT_FORMS] + [
    (form, 6, True, LYING) for form in DROPOUT_FORMS if form != "none"
]
IDS = [f"{form}-{channels}ch-{'label+flag' if extra else 'plain'}" for form, channels, extra, _ in CASES]


@functools.lru_cache(maxsize=None)
def _graph(form: str, channels: int, extra: bool, names: CustomNames) -> GraphDef:
    return custom_cnn(channels=channels, size=SIZE, dropout=form, label=extra, training_flag=extra, names=names)


@functools.lru_cache(maxsize=None)
def _optimized(form: str, channels: int, extra: bool, names: CustomNames, strip: bool = False) -> OptimizeResult:
    return optimize(_graph(form, channels, extra, names), strip_dropout=strip, what=f"{form}.pb")


def _images(channels: int, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).uniform(0.0, 1.0, (2, SIZE, SIZE, channels)).astype(np.float32)


def _ops(graph: GraphDef) -> set[str]:
    return {node.op for node in graph.node}


def _loaded(graph: GraphDef, name: str = "custom.pb") -> LoadedGraph:
    from pathlib import Path

    return LoadedGraph(path=Path(name), graph=graph, size_bytes=graph.ByteSize(), format="pb")


# --- the signature ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form,channels,extra,names", CASES, ids=IDS)
def test_signature_tells_every_placeholder_by_structure(form: str, channels: int, extra: bool, names: CustomNames) -> None:
    sig = signature(_graph(form, channels, extra, names))
    (image,) = sig.inputs
    assert (image.name, image.shape, image.channels, image.role) == (names.image, (-1, SIZE, SIZE, channels), channels, "model")
    assert sig.output_names == (names.output,)
    roles = {s.name: s for s in sig.auxiliary}
    want: dict[str, float | bool] = {}
    if form in ("keep_prob", "rate"):
        keep = roles.pop(names.keep)
        # Declared without a shape (TF1's tf.placeholder(tf.float32)): still told a setting, not an image.
        assert keep.shape is None and keep.role == SCALAR and keep.needed
        if form == "keep_prob":
            assert (keep.purpose, keep.value) == (KEEP_PROB, 1.0)
            assert keep.why.startswith("a dropout keep probability (read from the graph: it sets the random mask applied at ")
        else:
            assert (keep.purpose, keep.value) == (DROPOUT_RATE, 0.0)
            assert keep.why.startswith("a dropout rate (read from the graph: it sets the random mask applied at ")
        assert "at 1 the mask keeps every value" in keep.why or "at 0 the mask keeps every value" in keep.why
        want[names.keep] = keep.value
    if extra:
        flag = roles.pop(names.flag)
        assert (flag.role, flag.purpose, flag.value, flag.dtype, flag.needed) == (SCALAR, TRAINING_FLAG, False, "bool", True)
        assert flag.why.startswith("a training flag (read from the graph: it only picks tf.cond branches, at ")
        assert "when it is true the graph draws random numbers at " in flag.why and "so false is its inference value" in flag.why
        want[names.flag] = False
        label = roles.pop(names.label)
        assert (label.role, label.dtype, label.needed, label.value, label.purpose) == (LABEL, "int32", False, None, "")
        assert "reaches only the labels of softmax_cross_entropy_with_logits (SoftmaxCrossEntropyWithLogits)" in label.why
        reasons = {(x.op, x.reason) for x in sig.left_out}
        assert ("Reshape", "computed only for the loss softmax_cross_entropy_with_logits (SoftmaxCrossEntropyWithLogits), "
                "which inference does not compute") in reasons
        assert ("ArgMax", f"computed only for a loss or a metric on the label {names.label}, which inference cannot compute") in reasons
        assert ("Mean", "part of a loss or the training step") in reasons  # the loss, cost
        assert ("Mean", f"reads the label {names.label}: a loss or a metric, which inference cannot compute") in reasons
    assert roles == {}
    assert sig.inference_values == want and sig.unfed == ()
    data = sig.to_json()
    assert data["inference_values"] == want and data["unfed"] == []


def test_a_loss_without_softmax_falls_back_to_the_logits_it_reads() -> None:
    """Logits read only by a loss and its metric: no other output is left, so the logits are it (not none)."""
    int32 = AttrValue(type=DataType.DT_INT32)
    graph = GraphDef(node=[
        placeholder("x", (1, 4)),
        NodeDef(name="y", op="Placeholder", attr={"dtype": int32}),
        const("w", np.ones((4, 3), dtype=np.float32)),
        op("logits", "MatMul", "x", "w"),
        const("flat", np.array([-1, 3], dtype=np.int32)),
        NodeDef(name="xent/Reshape", op="Reshape", input=["logits", "flat"], attr={"T": AttrValue(type=DataType.DT_FLOAT)}),
        NodeDef(name="xent", op="SparseSoftmaxCrossEntropyWithLogits", input=["xent/Reshape", "y"]),
        const("axis", np.array([0], dtype=np.int32)),
        op("loss", "Mean", "xent", "axis"),
    ])
    sig = signature(graph)
    assert sig.output_names == ("logits",) and sig.input_names == ("x",)
    assert [(s.name, s.role) for s in sig.auxiliary] == [("y", LABEL)]
    left = {x.name: x.reason for x in sig.left_out}
    assert left["xent/Reshape"] == "computed only for the loss xent (SparseSoftmaxCrossEntropyWithLogits), which inference does not compute"
    assert left["loss"] == "part of a loss or the training step"


def _switch_graph(*, random_branch: int | None, negate: bool = False) -> GraphDef:
    """data -> Switch(pred = flag or not flag); port ``random_branch`` adds uniform noise; Merge -> out."""
    f32, i32 = AttrValue(type=DataType.DT_FLOAT), AttrValue(type=DataType.DT_INT32)
    pred = "flag"
    nodes = [
        placeholder("data", (1, 4)),
        NodeDef(name="flag", op="Placeholder", attr={"dtype": BOOL, "shape": AttrValue(shape={})}),
    ]
    if negate:
        nodes.append(NodeDef(name="not_flag", op="LogicalNot", input=["flag"]))
        pred = "not_flag"
    nodes.append(NodeDef(name="switch", op="Switch", input=["data", pred], attr={"T": f32}))
    branches = ["switch", "switch:1"]
    if random_branch is not None:
        port = "switch:1" if random_branch else "switch"
        nodes += [
            NodeDef(name="shape", op="Shape", input=[port], attr={"T": f32, "out_type": i32}),
            NodeDef(name="noise", op="RandomUniform", input=["shape"], attr={"T": i32, "dtype": f32}),
            op("noisy", "AddV2", port, "noise"),
        ]
        branches[random_branch] = "noisy"
    nodes += [NodeDef(name="merge", op="Merge", input=branches, attr={"T": f32, "N": AttrValue(i=2)}),
              op("out", "Softmax", "merge")]
    return GraphDef(node=nodes)


@pytest.mark.parametrize("random_branch,negate,value", [(1, False, False), (0, False, True), (1, True, True)],
                         ids=["noise-when-true", "noise-when-false", "through-LogicalNot"])
def test_a_training_flag_takes_the_value_whose_branches_draw_no_random_numbers(
    random_branch: int, negate: bool, value: bool
) -> None:
    sig = signature(_switch_graph(random_branch=random_branch, negate=negate))
    (flag,) = sig.auxiliary
    assert (flag.name, flag.purpose, flag.value, flag.needed) == ("flag", TRAINING_FLAG, value, True)
    assert sig.inference_values == {"flag": value} and sig.input_names == ("data",)


def test_a_flag_whose_branches_both_just_compute_has_no_known_value() -> None:
    sig = signature(_switch_graph(random_branch=None))
    (flag,) = sig.auxiliary
    assert (flag.purpose, flag.value, flag.needed) == (TRAINING_FLAG, None, True)
    assert flag.why == ("a bool that only picks tf.cond branches (at switch); neither branch draws random numbers or runs an "
                        "op in training mode, so which value inference takes is not in the graph")
    assert sig.unfed == (flag,) and sig.inference_values == {}


def test_a_scalar_that_also_scales_the_data_is_no_keep_probability() -> None:
    """keep_prob-shaped, but it multiplies the data outside any dropout: a setting whose value is unknown."""
    graph = GraphDef(node=[
        placeholder("x", (1, 4)),
        placeholder("keep", ()),
        NodeDef(name="shape", op="Shape", input=["x"]),
        NodeDef(name="u", op="RandomUniform", input=["shape"], attr={"dtype": AttrValue(type=DataType.DT_FLOAT)}),
        op("keep_u", "Add", "keep", "u"),
        op("mask", "Floor", "keep_u"),
        op("scaled", "RealDiv", "x", "keep"),
        op("dropped", "Mul", "scaled", "mask"),
        op("gain", "Mul", "dropped", "keep"),
        op("out", "Softmax", "gain"),
    ])
    sig = signature(graph)
    (keep,) = sig.auxiliary
    assert (keep.role, keep.purpose, keep.value, keep.needed) == (SCALAR, "", None, True)
    assert sig.unfed == (keep,)


# --- optimize -----------------------------------------------------------------------------------------


def _assert_inference_only(result: OptimizeResult, names: CustomNames) -> None:
    graph = result.graph
    assert [n.name for n in graph.node if n.op in PLACEHOLDER_OPS] == [names.image]
    assert not any(is_random(n.op) for n in graph.node), sorted(n.op for n in graph.node if is_random(n.op))
    ops = _ops(graph)
    assert not ops & LOSS_OPS and not ops & V1_CONTROL_FLOW_OPS and not ops & {"OneHot", "ArgMax", "Equal", "Mean"}
    assert result.output_names == (names.output,) and result.input_names == (names.image,)


@pytest.mark.slow
@pytest.mark.parametrize("form,channels,extra,names", CASES, ids=IDS)
def test_optimize_leaves_the_inference_graph_equal_at_the_inference_values(
    form: str, channels: int, extra: bool, names: CustomNames
) -> None:
    graph = _graph(form, channels, extra, names)
    sig = signature(graph)
    active = form in ("constant", "keras") and not extra  # dropout no setting turns off: training mode
    result = _optimized(form, channels, extra, names, strip=active)
    _assert_inference_only(result, names)
    assert dict(result.fed) == sig.inference_values
    x = _images(channels)
    fed = {names.image: x, **sig.inference_values}
    if active:
        # The original draws a new mask each run; at inference its dropout is the identity: fed its input.
        (d,) = [d for d in find_dropout(WorkGraph(graph), inputs=sig.input_names)[0]]
        assert d.state == ON and result.dropout == (d.output,) and result.dropout_stripped
        fed[d.output] = run_as_written(graph, d.source, {names.image: x})
    else:
        assert result.dropout == () and not result.dropout_stripped
    want = run_as_written(graph, names.output, fed)
    got = run_as_written(result.graph, names.output, {names.image: x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["constant", "keras"])
def test_dropout_in_training_mode_is_left_in_and_reported_unless_stripped(form: str) -> None:
    result = _optimized(form, 1, False, CustomNames())
    assert len(result.dropout) == 1 and not result.dropout_stripped and result.dropout_off == ()
    assert any(is_random(n.op) for n in result.graph.node)
    (report,) = [p for p in result.passes if p.name == "dropout"]
    assert f"{result.dropout[0]}: training-mode dropout, left in (strip_dropout removes it)" in report.notes


@pytest.mark.slow
@pytest.mark.parametrize("form", ["keep_prob", "rate"])
def test_dropout_its_setting_turns_off_is_cut_out_with_its_scaling(form: str) -> None:
    names = CustomNames()
    result = _optimized(form, 1, False, names)
    assert result.dropout == () and len(result.dropout_off) == 1
    (values,) = [p for p in result.passes if p.name == "inference_values"]
    shown = "1 (dropout keep probability)" if form == "keep_prob" else "0 (dropout rate)"
    assert values.notes == (f"{names.keep} = {shown}, its inference value",)
    assert values.reasons[names.keep].startswith("the dropout ")
    assert values.reasons[names.keep].endswith(" as a constant (as every runner feeds it)")
    (report,) = [p for p in result.passes if p.name == "dropout"]
    applied = result.dropout_off[0]
    assert report.notes[0] == f"{applied}: dropout that keeps every value as the graph stands (keep probability 1 or rate 0), cut out"
    assert report.reasons[applied].startswith("dropout that keeps every value as the graph stands (keep probability 1 or rate 0): ")
    # The x / keep (or x / (1 - rate)) scaling goes too: the 1.0 it divides by is gone with it.
    assert not {"RealDiv", "Floor", "GreaterEqual", "SelectV2"} & _ops(result.graph)


@pytest.mark.slow
def test_strip_dropout_alone_cuts_the_keep_prob_division_too() -> None:
    """The issue's case: with inference_values skipped, --strip-dropout left RealDiv(x, keep_prob) behind."""
    names = CustomNames()
    graph = _graph("keep_prob", 1, False, names)
    left = optimize(graph, skip=["inference_values"])
    (report,) = [p for p in left.passes if p.name == "dropout"]
    assert report.notes == (f"Mul: dropout off at the inference value of {names.keep} (which runners feed), left in "
                            "(strip_dropout removes it)",)
    assert left.dropout == () and names.keep in {n.name for n in left.graph.node}
    stripped = optimize(graph, skip=["inference_values"], strip_dropout=True)
    _assert_inference_only(stripped, names)
    assert "RealDiv" not in _ops(stripped.graph) and stripped.dropout_off == ("Mul",)
    (report,) = [p for p in stripped.passes if p.name == "dropout"]
    assert report.reasons["RealDiv"] == f"the scaling of the dropout at Mul, by exactly 1 at the inference value of {names.keep}"
    assert report.notes[0] == f"Mul: dropout off at the inference value of {names.keep}, cut out"
    x = _images(1, seed=3)
    np.testing.assert_allclose(run_as_written(stripped.graph, names.output, {names.image: x}),
                               run_as_written(graph, names.output, {names.image: x, names.keep: 1.0}), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_fold_cond_keeps_the_branch_the_training_flag_takes_at_inference() -> None:
    result = _optimized("keep_prob", 6, True, LYING)
    (cond,) = [p for p in result.passes if p.name == "fold_cond"]
    assert cond.notes == ("Switch: predicate always false, 6 nodes of the branch never taken removed, 1 Merge forwarded",)
    assert cond.reasons["Switch"] == "Switch on a constant predicate (false): readers of the branch taken read Relu_2"
    assert cond.reasons["Merge"] == "Merge of the tf.cond at Switch: only the branch taken reaches it, readers now read Relu_2"
    assert cond.reasons["RandomUniform"] == "in the tf.cond branch Switch's constant predicate (false) never takes"


@pytest.mark.slow
@pytest.mark.parametrize("random_branch,negate", [(1, False), (0, False), (1, True)])
def test_fold_cond_takes_the_branch_without_noise(random_branch: int, negate: bool) -> None:
    graph = _switch_graph(random_branch=random_branch, negate=negate)
    result = optimize(graph, what="cond.pb")
    assert _ops(result.graph) == {"Placeholder", "Softmax"}
    x = np.random.RandomState(0).normal(size=(1, 4)).astype(np.float32)
    np.testing.assert_allclose(run_as_written(result.graph, "out", {"data": x}),
                               run_as_written(graph, "out", {"data": x, **signature(graph).inference_values}), rtol=1e-6)


@pytest.mark.slow
def test_fold_cond_reads_an_unfed_default_as_its_value() -> None:
    """Keras' learning phase: a PlaceholderWithDefault(false) picks the branch; unfed, it is its default."""
    graph = _switch_graph(random_branch=1)
    default = NodeDef(name="flag/default", op="Const", attr={
        "dtype": BOOL, "value": AttrValue(tensor={"dtype": DataType.DT_BOOL, "bool_val": [False], "tensor_shape": {}})})
    flag = NodeDef(name="flag", op="PlaceholderWithDefault", input=["flag/default"],
                   attr={"dtype": BOOL, "shape": AttrValue(shape={})})
    graph.node[1].CopyFrom(flag)
    graph.node.insert(1, default)
    sig = signature(graph)
    assert [s.name for s in sig.optional] == ["flag"] and sig.auxiliary == ()
    result = optimize(graph, what="cond.pb")
    assert _ops(result.graph) == {"Placeholder", "Softmax"}
    x = np.ones((1, 4), dtype=np.float32)
    np.testing.assert_allclose(run_as_written(result.graph, "out", {"data": x}), run_as_written(graph, "out", {"data": x}), rtol=1e-6)


def test_telling_settings_leaves_the_graph_as_it_was() -> None:
    graph = _graph("keras", 6, True, LYING)
    before = graph.SerializeToString(deterministic=True)
    signature(graph)
    summarize(_loaded(graph))
    find_dropout(WorkGraph(graph), inputs=(LYING.image,))
    assert graph.SerializeToString(deterministic=True) == before


@pytest.mark.slow
def test_a_flag_of_unknown_value_stays_a_placeholder_and_its_cond_stays() -> None:
    graph = _switch_graph(random_branch=None)
    result = optimize(graph, what="cond.pb")
    (values,) = [p for p in result.passes if p.name == "inference_values"]
    assert values.notes == ("flag (training flag, bool, shape []) stays a placeholder: its value at inference is not in "
                            "the graph, so it must be fed (--feed flag=VALUE)",)
    assert {"Switch", "Merge"} <= _ops(result.graph) and "flag" in {n.name for n in result.graph.node}


@pytest.mark.slow
def test_the_real_dropout_fixture_still_strips() -> None:
    graph = load_graph(fixture_path("graphs/dropout_active/retrained_graph.pb")).graph
    sig = signature(graph)
    found, _ = find_dropout(WorkGraph(graph), inputs=sig.input_names, values=sig.inference_values)
    # keep_prob is a Const 0.8 there: dropout on, with no setting to turn it off.
    assert [(d.output, d.state) for d in found] == [("final_training_ops/drop/dropout/mul", ON)]
    kept = optimize(graph)
    assert kept.dropout == ("final_training_ops/drop/dropout/mul",) and not kept.dropout_stripped
    result = optimize(graph, strip_dropout=True)
    assert result.dropout_stripped and result.dropout_off == ()
    assert not any(is_random(n.op) for n in result.graph.node)
    assert not {"Floor", "RealDiv"} & _ops(result.graph)


# --- summarize ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["keep_prob", "rate"])
def test_summarize_calls_the_dropout_off_at_its_setting_not_noise(form: str) -> None:
    names = CustomNames()
    summary = summarize(_loaded(_graph(form, 1, False, names)))
    assert [s.name for s in summary.inputs] == [names.image]
    (flag,) = [f for f in summary.flags if f.kind in (DROPOUT, DROPOUT_OFF, "training")]
    value = "1 (dropout keep probability)" if form == "keep_prob" else "0 (dropout rate)"
    assert flag.kind == DROPOUT_OFF and not flag.training_only and flag.op == "RandomUniform"
    assert flag.why.endswith(f"is off at inference, where {names.keep} = {value}: every inspector command feeds that, "
                             "so outputs are not random; an app must feed it too; inspector optimize cuts it and its "
                             "random ops out")
    assert "initializer or noise" not in flag.why
    # Only the image is an input a shape is asked for.
    assert [f.nodes for f in summary.flags if f.kind == "unknown_dims"] == [(names.image,)]
    assert summary.inference_values == {names.keep: 1.0 if form == "keep_prob" else 0.0} and summary.unfed == ()
    assert not summary.inference_ready


def test_summarize_names_the_flag_that_fixes_a_cond_and_leaves_the_loss_out() -> None:
    summary = summarize(_loaded(_graph("keep_prob", 6, True, LYING)))
    assert [o.name for o in summary.outputs] == [LYING.output]
    (switch,) = [f for f in summary.flags if f.kind == "control_flow" and f.op == "Switch"]
    assert switch.why == (f"TF1 tf.cond on a predicate fixed at inference ({LYING.flag} = false): inspector optimize keeps "
                          "the branch taken and removes the Switch and Merge, which TensorFlow Lite converts only after lowering")
    (loss,) = [f for f in summary.flags if f.op == "SoftmaxCrossEntropyWithLogits"]
    assert loss.why.startswith("a loss, computed only while training (it reads the labels, which inference has none of); ")
    assert {x.name for x in summary.left_out} >= {"cost", "accuracy", "softmax_cross_entropy_with_logits/Reshape"}
    data = summary.to_json()
    assert data["inference_values"] == {LYING.keep: 1.0, LYING.flag: False}
    assert [a["purpose"] for a in data["auxiliary_inputs"]] == [KEEP_PROB, TRAINING_FLAG, ""]


def test_summarize_keeps_training_mode_dropout_a_warning() -> None:
    summary = summarize(_loaded(_graph("constant", 1, False, CustomNames())))
    (flag,) = [f for f in summary.flags if f.kind in (DROPOUT, DROPOUT_OFF)]
    assert flag.kind == DROPOUT and flag.training_only and "training dropout still active" in flag.why


# --- the builder ----------------------------------------------------------------------------------------


def test_custom_cnn_refuses_what_it_cannot_build() -> None:
    with pytest.raises(InspectorError) as caught:
        custom_cnn(dropout="spatial")
    assert caught.value.message == (
        "custom_cnn: no dropout form 'spatial'; pick one of keep_prob, rate, constant, keras, none")
    with pytest.raises(InspectorError) as caught:
        custom_cnn(channels=0, size=4, classes=1)
    assert caught.value.message == (
        "custom_cnn: channels=0, size=4, classes=1; pass channels >= 1, size >= 8, classes >= 2")
