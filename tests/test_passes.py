"""Tests for the optimizer's pass registry: order and names, --skip-pass, and each pass's record (what, and why)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import retrained_like
from conftest import fixture_path
from inspector.errors import InspectorError
from inspector.graph import samples
from inspector.graph.io import load_graph
from inspector.optimizer.passes import PASSES, Pass, checked_skip
from inspector.optimizer.pipeline import OptimizeResult, PassReport, optimize
from tf_helpers import run_as_written

# What the generated graph's ImageNet logits and new final layer are called (retrain.py's names).
LOGITS_CONV = "MobilenetV1/Logits/Conv2d_1c_1x1/convolution"
FINAL_MATMUL = "final_training_ops/Wx_plus_b/MatMul"
CONV_0 = "MobilenetV1/MobilenetV1/Conv2d_0/convolution"
BN_0 = "MobilenetV1/MobilenetV1/Conv2d_0/BatchNorm/batchnorm"


@pytest.fixture(scope="module")
def generated() -> GraphDef:
    return samples.retrain_shaped_mobilenet()


@pytest.fixture(scope="module")
def generated_result(generated: GraphDef) -> OptimizeResult:
    return optimize(generated, what="generated.pb")


def _image(seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).uniform(-1.0, 1.0, (1, 128, 128, 3)).astype(np.float32)


def _report(result: OptimizeResult, name: str) -> PassReport:
    (report,) = [p for p in result.passes if p.name == name]
    return report


def _ops(graph: GraphDef) -> dict[str, str]:
    return {node.name: node.op for node in graph.node}


# --- the registry -------------------------------------------------------------------


def test_registry_order_and_names() -> None:
    assert [p.name for p in PASSES] == [
        "strip_unused", "inference_values", "fold_cond", "remove_identity", "fold_constants", "dropout",
        "fold_batch_norm", "merge_linear", "simplify", "fuse_resize_conv",
    ]
    for p in PASSES:
        assert isinstance(p, Pass) and callable(p.run)
        # One line for optimize --help.
        assert p.summary and "\n" not in p.summary and len(p.summary) <= 100, p.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        PASSES[0].name = "renamed"  # type: ignore[misc]


def test_unknown_skip_name_is_a_clean_error() -> None:
    # Refused before anything is read of the graph, so a typo costs no TensorFlow start-up.
    with pytest.raises(InspectorError) as caught:
        optimize(retrained_like(), skip=("merge_linear", "merge_lineer"))
    assert caught.value.message == (
        "--skip-pass 'merge_lineer': no such optimizer pass; pass one of strip_unused, inference_values, fold_cond, "
        "remove_identity, fold_constants, dropout, fold_batch_norm, merge_linear, simplify, fuse_resize_conv"
    )
    assert checked_skip("simplify") == frozenset({"simplify"})
    assert checked_skip(()) == frozenset()


@pytest.mark.slow
def test_skipping_merge_linear_leaves_the_merge_undone(generated: GraphDef, generated_result: OptimizeResult) -> None:
    merged = generated_result
    assert _report(merged, "merge_linear").removed_nodes and LOGITS_CONV not in _ops(merged.graph)

    kept = optimize(generated, skip=("merge_linear",))
    report = _report(kept, "merge_linear")
    assert report.skipped == "--skip-pass" and report.notes == ("skipped: --skip-pass",)
    assert report.removed == report.added == 0 and not report.rewired_nodes and not report.reasons
    assert [p.name for p in kept.passes] == [p.name for p in PASSES]
    assert [p.skipped for p in kept.passes if p.name != "merge_linear"] == [None] * (len(PASSES) - 1)
    # The ImageNet logits conv and the 1001-wide MatMul are both still there.
    assert _ops(kept.graph)[LOGITS_CONV] == "Conv2D" and _ops(kept.graph)[FINAL_MATMUL] == "MatMul"
    assert kept.nodes_after > merged.nodes_after
    as_json = json.loads(json.dumps(kept.to_json()))
    assert [p["skipped"] for p in as_json["passes"] if p["name"] == "merge_linear"] == ["--skip-pass"]

    x = _image()
    want = run_as_written(generated, "final_result", {"input": x})
    assert np.abs(run_as_written(kept.graph, "final_result", {"input": x}) - want).max() < 5e-6
    assert np.abs(run_as_written(merged.graph, "final_result", {"input": x}) - want).max() < 5e-6


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in PASSES])
def test_any_one_pass_can_be_skipped(name: str, generated: GraphDef) -> None:
    # The passes after it cope without it (fold_batch_norm finds its candidates itself when fold_constants is skipped).
    result = optimize(generated, skip=[name])
    assert [p.name for p in result.passes if p.skipped] == [name]
    x = _image(1)
    want = run_as_written(generated, "final_result", {"input": x})
    assert np.abs(run_as_written(result.graph, "final_result", {"input": x}) - want).max() < 5e-6


@pytest.mark.slow
def test_toco_compatible_skips_the_fusion_with_its_own_reason() -> None:
    result = optimize(retrained_like(), toco_compatible=True, skip=["dropout"])
    assert {p.name: p.skipped for p in result.passes if p.skipped} == {
        "dropout": "--skip-pass", "fuse_resize_conv": "toco_compatible (its fused ops are not TFLite ops)",
    }


# --- each pass's record ---------------------------------------------------------------


def _assert_accounted(original: GraphDef, result: OptimizeResult) -> None:
    """Replaying every pass's removed and added names turns the original's names into the result's, and each
    node the run removed or added is in exactly one pass's record; every node in a record has a reason."""
    names = {node.name for node in original.node}
    for p in result.passes:
        removed, added, rewired = set(p.removed_nodes), set(p.added_nodes), set(p.rewired_nodes)
        assert len(removed) == p.removed == len(p.removed_nodes) and len(added) == p.added == len(p.added_nodes)
        assert removed <= names, (p.name, sorted(removed - names)[:5])
        names -= removed
        assert not added & names, (p.name, sorted(added & names)[:5])
        names |= added
        # Rewired: kept its name and op, reads other inputs.
        assert rewired <= names and not rewired & (removed | added), p.name
        assert set(p.reasons) == removed | added | rewired, p.name
        assert all(why.strip() for why in p.reasons.values()), p.name
    final = {node.name for node in result.graph.node}
    assert names == final

    before = {node.name for node in original.node}
    gone = Counter(n for p in result.passes for n in p.removed_nodes if n not in p.added_nodes)
    came = Counter(n for p in result.passes for n in p.added_nodes if n not in p.removed_nodes)
    assert {n: gone[n] for n in before - final if gone[n] != 1} == {}
    assert {n: came[n] for n in final - before if came[n] != 1} == {}
    assert result.nodes_after + sum(p.removed - p.added for p in result.passes) == result.nodes_before

    as_json = json.loads(json.dumps(result.to_json()))
    for p, data in zip(result.passes, as_json["passes"]):
        assert data["removed_nodes"] == list(p.removed_nodes) and data["added_nodes"] == list(p.added_nodes)
        assert data["rewired_nodes"] == list(p.rewired_nodes) and data["reasons"] == dict(p.reasons)
        assert data["removed"] == p.removed and data["added"] == p.added and data["skipped"] == p.skipped


@pytest.mark.slow
@pytest.mark.parametrize("relative", ["poets_pair/retrained_graph.pb", "poets_pair/optimized_graph.pb"])
def test_every_change_is_in_one_pass_record_on_the_codelab_pair(relative: str) -> None:
    graph = load_graph(fixture_path(relative)).graph
    result = optimize(graph, what=relative)
    _assert_accounted(graph, result)
    assert sum(p.removed for p in result.passes) > 250


@pytest.mark.slow
def test_every_change_is_in_one_pass_record_on_a_generated_graph() -> None:
    graph = samples.retrain_shaped_mobilenet(dropout=True)
    result = optimize(graph, strip_dropout=True)
    _assert_accounted(graph, result)

    identity = _report(result, "remove_identity")
    assert identity.reasons["MobilenetV1/Conv2d_0/weights/read"] == (
        "Identity spliced out: readers now read MobilenetV1/Conv2d_0/weights"
    )
    assert identity.reasons["input_1/BottleneckInputPlaceholder"] == (
        "PlaceholderWithDefault spliced out: readers now read MobilenetV1/Predictions/Reshape"
    )
    # Read off the snapshots: the pass gave no reason for the readers it rewired.
    assert identity.reasons[CONV_0] == "reads MobilenetV1/Conv2d_0/weights instead of MobilenetV1/Conv2d_0/weights/read"

    folded = _report(result, "fold_constants")
    assert folded.reasons[f"{BN_0}/mul"] == "Mul folded into Const: its value depends on constants only"
    assert f"{BN_0}/mul" in folded.removed_nodes and f"{BN_0}/mul" in folded.added_nodes
    assert folded.reasons[f"{BN_0}/Rsqrt"] == f"part of the constant subgraph folded at {BN_0}/mul"

    dropout = _report(result, "dropout")
    applied = "final_training_ops/drop/dropout/SelectV2"
    assert dropout.reasons[applied] == (
        "training-mode dropout, the identity at inference: readers now read MobilenetV1/Predictions/Reshape"
    )
    assert dropout.reasons["final_training_ops/drop/dropout/random_uniform/RandomUniform"] == (
        f"drew the random mask of the dropout at {applied}"
    )
    assert dropout.reasons["final_training_ops/drop/dropout/Mul"] == (
        f"the 1/keep_prob scaling of the dropout at {applied}, which inference does not do"
    )

    merge = _report(result, "merge_linear")
    assert merge.reasons[LOGITS_CONV] == f"merged into the MatMul {FINAL_MATMUL}: nothing non-linear sits between them"
    assert merge.reasons[FINAL_MATMUL] == (
        f"does the work of {LOGITS_CONV} too: {LOGITS_CONV} (32->1001) and {FINAL_MATMUL} (1001->5) are one 32->5 MatMul"
    )
    assert FINAL_MATMUL in merge.rewired_nodes and f"{FINAL_MATMUL}/merged_weights" in merge.added_nodes


@pytest.mark.slow
def test_reasons_for_a_folded_batch_norm(generated_result: OptimizeResult) -> None:
    report = _report(generated_result, "fold_batch_norm")
    scale, shift = f"{BN_0}/mul_1", f"{BN_0}/add_1"
    assert scale in report.removed_nodes and scale not in report.added_nodes
    assert report.reasons[scale] == f"batch norm scale folded into the weights of {CONV_0}"
    assert CONV_0 in report.rewired_nodes
    assert report.reasons[CONV_0] == f"its weights now include the batch norm scale of {scale}"
    assert report.reasons[f"{CONV_0}/folded_weights"] == f"the weights of {CONV_0} times the batch norm scale of {scale}"
    assert report.reasons["MobilenetV1/Conv2d_0/weights"] == (
        f"replaced by {CONV_0}/folded_weights, with the batch norm scale of {scale} folded in"
    )
    # The Add of the shift keeps its name and becomes a BiasAdd: removed as an Add, added as a BiasAdd.
    assert shift in report.removed_nodes and shift in report.added_nodes
    assert report.reasons[shift] == f"per-channel Add after {CONV_0} became a BiasAdd (the batch norm shift)"
    assert _ops(generated_result.graph)[shift] == "BiasAdd"


@pytest.mark.slow
def test_reasons_name_a_fused_batch_norm_not_the_mul_it_became() -> None:
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    rng = np.random.RandomState(0)
    graph = tensorflow.Graph()
    with graph.as_default():
        x = tensorflow.compat.v1.placeholder(tensorflow.float32, [1, 8, 8, 4], name="input")
        conv = tensorflow.nn.conv2d(x, rng.normal(size=(3, 3, 4, 6)).astype(np.float32), 1, "SAME", name="conv")
        stats = [rng.uniform(0.5, 1.5, 6).astype(np.float32) for _ in range(4)]
        bn = tensorflow.compat.v1.nn.fused_batch_norm(
            conv, stats[0], stats[1], mean=stats[2], variance=stats[3], is_training=False, name="bn")[0]
        tensorflow.nn.relu(bn, name="out")
    result = optimize(from_tf(graph.as_graph_def()))
    report = _report(result, "fold_batch_norm")
    assert report.reasons["bn"] == "inference-mode FusedBatchNormV3 split into a Mul by its scale and this BiasAdd of its offset"
    assert "bn" in report.removed_nodes and "bn" in report.added_nodes
    assert report.reasons["conv"] == "its weights now include the batch norm scale of bn"
    assert not result.unfolded


# --- errors: a user's are InspectorErrors, a pass's bugs are not ---------------------------


def test_a_bad_tensor_dtype_is_a_user_error_every_import_reports() -> None:
    from inspector.graph.tfcompat import BadTensorDtype, to_tf

    graph = retrained_like()
    graph.node[1].attr["value"].tensor.dtype = -1
    with pytest.raises(BadTensorDtype) as caught:
        to_tf(graph)
    # An InspectorError, so nothing shows it as a traceback; a ValueError, as TensorFlow's import errors are.
    assert isinstance(caught.value, InspectorError) and isinstance(caught.value, ValueError)
    assert caught.value.message == (
        "node 'Net/Conv2d_0/weights': its 'value' tensor has dtype -1, which is no TensorFlow type (a damaged file?)"
    )


@pytest.mark.slow
def test_a_bad_tensor_dtype_stops_the_optimizer_before_any_pass() -> None:
    from inspector.optimizer.baselines import tensorflow_optimize

    graph = retrained_like()
    graph.node[1].attr["value"].tensor.dtype = -1
    with pytest.raises(InspectorError) as caught:
        optimize(graph, what="g.pb")
    assert caught.value.message == (
        "g.pb: TensorFlow cannot import this graph (node 'Net/Conv2d_0/weights': its 'value' tensor has dtype -1, "
        "which is no TensorFlow type (a damaged file?)); check that it loads with tf.graph_util.import_graph_def "
        "(a custom op, or a graph from a newer TensorFlow?)"
    )
    with pytest.raises(InspectorError, match="no TensorFlow type"):
        tensorflow_optimize(graph, input_names=["input"], output_names=["final_result"])


def test_impossible_graph_edits_are_bugs_not_user_errors() -> None:
    from tensorboard.compat.proto.node_def_pb2 import NodeDef

    from inspector.graph.workgraph import GraphEditError, WorkGraph

    g = WorkGraph(retrained_like())
    with pytest.raises(GraphEditError, match=r"^node 'input' already exists$") as caught:
        g.add(NodeDef(name="input", op="Placeholder"))
    assert not isinstance(caught.value, InspectorError)
    g.add(NodeDef(name="split", op="Split", input=["input"]))
    g.add(NodeDef(name="copy", op="Identity", input=["split"]))
    g.add(NodeDef(name="second", op="Relu", input=["copy:1"]))
    with pytest.raises(GraphEditError, match=r"^second reads a second output of copy, which has only one to forward$"):
        g.splice_out("copy", to="split")


# --- constant folding in NumPy ------------------------------------------------------------


def _awkward_floats(dtype, shape, seed: int) -> np.ndarray:
    """Random floats of ``dtype`` with subnormals, signed zeros, infinities and NaN among them."""
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    values = rng.standard_normal(shape).astype(dtype) * rng.choice([1e-3, 1, 1e3], size=shape).astype(dtype)
    flat = values.reshape(-1)
    specials = np.array([info.tiny / 4, -info.tiny / 3, 0.0, -0.0, np.inf, -np.inf, np.nan, info.max, info.tiny], dtype=dtype)
    flat[: min(len(flat), len(specials))] = specials[: len(flat)]
    return values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_folding_gives_tensorflows_bits_for_every_op_it_computes(dtype):
    """What constant folding computes in NumPy (constfold._EXACT) equals TensorFlow's CPU kernels bit for bit,
    subnormals (which TensorFlow flushes to zero), infinities, NaN and broadcasting included."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue

    from inspector.graph.workgraph import WorkGraph, make_const
    from inspector.optimizer.passes import constfold, tfrun

    graph = GraphDef()
    # Two of each shape: the nodes of one op and shapes are computed stacked, and must each get their own bits.
    for suffix, seed in (("", 1), ("2", 11)):
        graph.node.append(make_const("x" + suffix, _awkward_floats(dtype, (3, 4, 5), seed)))
        graph.node.append(make_const("y" + suffix, _awkward_floats(dtype, (4, 5), seed + 1)))  # broadcast against x
        graph.node.append(make_const("z" + suffix, _awkward_floats(dtype, (3, 4, 5), seed + 2)))
        graph.node.append(make_const("s" + suffix, _awkward_floats(dtype, (), seed + 3)))  # a scalar, stacked to one axis
    t = AttrValue(type=1 if dtype == np.float32 else 2)
    fetches = []
    for op in sorted(constfold._EXACT):
        arity = 1 if op in ("Identity", "Neg", "Sqrt", "Square") else 2
        for left, right in (("x", "y"), ("z", "x"), ("y", "z"), ("x2", "y2"), ("z2", "x"), ("y", "z2"), ("s", "y"), ("y2", "s2"),
                            ("s", "s2"), ("s2", "s")):
            name = f"{op}_{left}_{right}"
            graph.node.add(name=name, op=op, input=[left, right][:arity], attr={"T": t})
            fetches.append(name)
    # A second wave, fed by the first: stacked again, from values computed stacked.
    for left, right in (("Mul_x_y", "Sub_z_x"), ("Mul_x2_y2", "Sub_z2_x")):
        graph.node.add(name=f"Add_{left}_{right}", op="Add", input=[left, right], attr={"T": t})
        fetches.append(f"Add_{left}_{right}")
    ours = constfold._numpy_values(WorkGraph(graph), [n.name for n in graph.node])
    assert set(fetches) <= set(ours)
    theirs = tfrun.evaluate(graph, [f"{name}:0" for name in fetches])
    for name, expected in zip(fetches, theirs):
        got = ours[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        nan = np.isnan(expected)
        assert (np.isnan(got) == nan).all(), name
        assert got[~nan].tobytes() == expected[~nan].tobytes(), name  # signed zeros and flushed subnormals included


def test_tensor_proto_is_byte_for_byte_what_tensorflow_makes():
    """A folded value's TensorProto, built without tf.make_tensor_proto for plain numeric arrays, has its bytes:
    every dtype, scalars and one-element arrays (TensorFlow's *_val fields), empty, Fortran-ordered and strided arrays."""
    from tensorboard.compat.proto.tensor_pb2 import TensorProto

    from inspector.graph import tfcompat
    from inspector.optimizer.passes import tfrun

    tf = tfcompat.tf()
    rng = np.random.default_rng(0)

    def made(make):
        try:
            return make()
        except (TypeError, ValueError) as exc:  # both must refuse what one refuses (a big-endian array)
            return type(exc)

    cases = 0
    for dtype in [np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.int16, np.int8, np.bool_,
                  np.uint16, np.uint32, np.complex64, ">f4"]:
        for shape in [(), (1,), (2,), (3, 4), (0,), (2, 0, 3), (1, 1, 1, 5), (7,)]:
            value = (rng.standard_normal(shape) * 100).astype(dtype)
            for array in (value, np.asfortranarray(value), value[::-1] if value.ndim else value):
                ours = made(lambda: tfrun.tensor_proto(array).SerializeToString())
                theirs = made(lambda: TensorProto.FromString(tf.make_tensor_proto(array).SerializeToString()).SerializeToString())
                assert ours == theirs, (dtype, shape)
                cases += 1
    assert cases == 13 * 8 * 3


def test_make_const_is_byte_for_byte_what_tensorboard_makes():
    """A Const made for a folded weight or bias has the TensorProto TensorBoard's make_tensor_proto makes, built without
    it for plain numeric arrays: every dtype (float16 in half_val), scalars, empty, Fortran-ordered, strided, big-endian."""
    from tensorboard.util import tensor_util

    from inspector.graph.workgraph import make_const

    def made(make):
        try:
            return make()
        except (TypeError, ValueError) as exc:
            return type(exc)

    rng = np.random.default_rng(2)
    cases = 0
    for dtype in [np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.int16, np.int8, np.bool_,
                  np.uint16, np.uint32, ">f4", ">i8"]:
        for shape in [(), (1,), (2,), (3, 4), (0,), (2, 0, 3), (1, 1, 1, 5)]:
            value = (rng.standard_normal(shape) * 100).astype(dtype)
            for array in (value, np.asfortranarray(value), value[::-1] if value.ndim else value):
                ours = made(lambda: make_const("c", array).attr["value"].tensor.SerializeToString())
                theirs = made(lambda: tensor_util.make_tensor_proto(array).SerializeToString())
                assert ours == theirs, (dtype, shape)
                cases += 1
    assert cases == 13 * 7 * 3


def test_a_folded_value_of_another_kind_has_the_tensor_proto_tensorflow_makes():
    """Beyond plain numeric arrays (above), tfrun.tensor_proto asks TensorFlow only for bfloat16 and byte-swapped
    arrays: strings, booleans, 64-bit unsigned and complex values, scalars among them, get make_tensor_proto's bytes."""
    import ml_dtypes

    from inspector.graph import tfcompat
    from inspector.optimizer.passes import tfrun

    tf = tfcompat.tf()
    values = [np.full(shape, 3, dtype=dtype) for dtype in [np.uint64, np.complex128, np.bool_, ml_dtypes.bfloat16]
              for shape in [(), (1,), (0,), (1, 1), (2,), (0, 3)]]
    values += [np.array([b"a", b"bc"], dtype=object), np.array(b"a", dtype=object), np.array(["x", "yz"]),
               np.array([], dtype=object), np.array(float("nan"), dtype=np.float32), np.array(-0.0, dtype=np.float32)]
    for value in values:
        assert tfrun.tensor_proto(value).SerializeToString() == tf.make_tensor_proto(value).SerializeToString(), value.dtype


def test_const_value_reads_what_make_ndarray_reads():
    """A Const's raw bytes are read without make_ndarray: the same dtype, shape and bytes over every dtype and
    layout, *_val fields, splats, and None where make_ndarray refuses (bytes that do not fill the shape)."""
    from tensorboard.compat.proto.node_def_pb2 import NodeDef
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.types_pb2 import DataType
    from tensorboard.util import tensor_util

    from inspector.graph.workgraph import const_from_proto, const_value

    def theirs(tensor):
        try:
            return tensor_util.make_ndarray(tensor)
        except (TypeError, ValueError):
            return None

    rng = np.random.default_rng(1)
    tensors = []
    for dtype in [np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.int16, np.int8, np.bool_]:
        for shape in [(), (1,), (2,), (3, 4), (0,), (2, 0, 3), (1, 1, 1, 5)]:
            tensors.append(tensor_util.make_tensor_proto((rng.standard_normal(shape) * 100).astype(dtype)))
    short = TensorProto()
    short.CopyFrom(tensors[10])  # float32 (3, 4): drop a byte, then a whole element
    for cut in (1, 4):
        damaged = TensorProto()
        damaged.CopyFrom(short)
        damaged.tensor_content = short.tensor_content[:-cut]
        tensors.append(damaged)
    splat = TensorProto(dtype=DataType.DT_FLOAT, float_val=[2.5])
    splat.tensor_shape.dim.add(size=6)
    tensors.append(splat)
    assert sum(bool(t.tensor_content) for t in tensors) >= 20 and tensors[10].tensor_content
    for tensor in tensors:
        ours, expected = const_value(const_from_proto("c", tensor)), theirs(tensor)
        if expected is None:
            assert ours is None, tensor
            continue
        assert ours.dtype == expected.dtype and ours.shape == expected.shape and ours.tobytes() == expected.tobytes(), tensor
        assert ours.flags.writeable  # a copy, as make_ndarray's, not a view of the proto's bytes
    assert const_value(NodeDef(name="x", op="Identity")) is None


def test_eager_evaluation_gives_the_bits_a_session_gives(dtype=np.float32):
    """Constant folding runs what NumPy cannot compute exactly one node at a time, eagerly (tfrun.evaluate_each):
    each value equals what a session computes for the same node, bit for bit (subnormals, infinities and NaN
    included), over ops with type, int, float, bool, string, shape and list attributes and list inputs; what it
    cannot run that way (a tensor attribute, inputs the op refuses) is None, for the session to run."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue
    from tensorboard.compat.proto.node_def_pb2 import NodeDef

    from inspector.graph.workgraph import make_const
    from inspector.optimizer.passes import tfrun

    x = _awkward_floats(dtype, (3, 4), 5)
    y = _awkward_floats(dtype, (3, 4), 6)
    t = AttrValue(type=1)
    i32 = AttrValue(type=3)
    ints = lambda *v: AttrValue(list=AttrValue.ListValue(i=list(v)))  # noqa: E731
    cases = [  # (op, input values, attrs)
        *[(op, [x], {"T": t}) for op in ("Rsqrt", "Exp", "Log", "Tanh", "Sigmoid", "Reciprocal", "Softplus", "Erf", "Relu6")],
        *[(op, [x, y], {"T": t}) for op in ("Pow", "Maximum", "Minimum", "FloorMod", "SquaredDifference")],
        ("Sum", [x, np.int32([1])], {"T": t, "Tidx": i32, "keep_dims": AttrValue(b=True)}),
        ("Mean", [x, np.int32([0, 1])], {"T": t, "Tidx": i32, "keep_dims": AttrValue(b=False)}),
        ("LeakyRelu", [x], {"T": t, "alpha": AttrValue(f=0.3)}),
        ("Cast", [x], {"SrcT": t, "DstT": AttrValue(type=2), "Truncate": AttrValue(b=False)}),
        ("Squeeze", [x.reshape(1, 3, 4)], {"T": t, "squeeze_dims": ints(0)}),
        ("ConcatV2", [x, y, np.int32(1)], {"N": AttrValue(i=2), "T": t, "Tidx": i32}),
        ("Pack", [x, y, x], {"N": AttrValue(i=3), "T": t, "axis": AttrValue(i=-1)}),
        ("Transpose", [x, np.int32([1, 0])], {"T": t, "Tperm": i32}),
        ("Cumsum", [x, np.int32(0)], {"T": t, "Tidx": i32, "exclusive": AttrValue(b=True), "reverse": AttrValue(b=True)}),
        ("StridedSlice", [x, np.int32([0, 1]), np.int32([3, 4]), np.int32([2, 1])],
         {"T": t, "Index": i32, "shrink_axis_mask": AttrValue(i=0), "begin_mask": AttrValue(i=1)}),
        ("EnsureShape", [x], {"T": t, "shape": AttrValue(shape=make_const("s", x).attr["value"].tensor.tensor_shape)}),
        ("Bucketize", [x], {"T": t, "boundaries": AttrValue(list=AttrValue.ListValue(f=[-1.0, 0.0, 2.5]))}),
    ]
    nodes, args, graph = [], [], GraphDef()
    for index, (op, values, attrs) in enumerate(cases):
        names = [f"in{index}_{k}" for k in range(len(values))]
        graph.node.extend(make_const(name, value) for name, value in zip(names, values))
        node = NodeDef(name=f"{op}_{index}", op=op, input=names, attr=attrs)
        graph.node.append(node)
        nodes.append(node)
        args.append(values)
    eager = tfrun.evaluate_each(nodes, args)
    session = tfrun.evaluate(graph, [f"{node.name}:0" for node in nodes])
    for node, got, expected in zip(nodes, eager, session):
        assert got is not None, node.op
        assert got.dtype == expected.dtype and got.shape == expected.shape, node.op
        if expected.dtype.kind == "f":
            nan = np.isnan(expected)
            assert (np.isnan(got) == nan).all(), node.op
            assert got[~nan].tobytes() == expected[~nan].tobytes(), node.op  # signed zeros and flushed subnormals
        else:
            assert got.tobytes() == expected.tobytes(), node.op

    tensor_attr = NodeDef(name="q", op="Identity", input=["in0_0"], attr={"T": t, "x": AttrValue(tensor=make_const("c", x).attr["value"].tensor)})
    refused = NodeDef(name="r", op="Rsqrt", input=["in0_0"], attr={"T": t})
    assert tfrun.evaluate_each([tensor_attr, refused], [[x], [np.int8([1, 2])]]) == [None, None]


@pytest.mark.slow
def test_folding_in_a_program_that_turned_eager_execution_off(tmp_path):
    """A TF1 program that called disable_eager_execution() and then optimizes gets the same graph, through the
    session, and nothing joins its default graph."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "g.pb"
    path.write_bytes(retrained_like().SerializeToString())
    script = (
        "import sys, hashlib\n"
        "import tensorflow as tf\n"
        "from tensorboard.compat.proto.graph_pb2 import GraphDef\n"
        "from inspector.optimizer.pipeline import optimize\n"
        "if sys.argv[2] == 'off':\n"
        "    tf.compat.v1.disable_eager_execution()\n"
        "graph = GraphDef.FromString(open(sys.argv[1], 'rb').read())\n"
        "result = optimize(graph)\n"
        "print(hashlib.sha256(result.graph.SerializeToString(deterministic=True)).hexdigest(),"
        " len(tf.compat.v1.get_default_graph().get_operations()), tf.executing_eagerly())\n"
    )
    runs = [subprocess.run([sys.executable, "-c", script, str(path), mode], cwd=ROOT, capture_output=True, text=True,
                           timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            for mode in ("on", "off")]
    assert all(run.returncode == 0 for run in runs), [run.stderr[-500:] for run in runs]
    (on_sha, _, on_eager), (off_sha, off_ops, off_eager) = (run.stdout.split() for run in runs)
    assert on_sha == off_sha and (on_eager, off_eager) == ("True", "False") and off_ops == "0"


def test_simplify_and_merge_linear_import_for_shapes_only_when_a_node_asks(monkeypatch):
    """Each shape-inference import of a 100k-node graph costs seconds: simplify imports only for a reshape or an op
    with its neutral constant, merge_linear only for a conv-MatMul pair; without them neither imports, and with them
    the no-op still goes."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue

    from builders import const, op, placeholder
    from inspector.graph.workgraph import WorkGraph
    from inspector.optimizer.passes import linear, simplify, tfrun

    imports = []
    real = tfrun.shapes
    monkeypatch.setattr(tfrun, "shapes", lambda g, **kw: imports.append(1) or real(g, **kw))

    def graph(*middle):
        return GraphDef(node=[placeholder("x", (1, 4)), const("bias", np.float32([1, 2, 3, 4])), *middle])

    plain = WorkGraph(graph(op("b", "BiasAdd", "x", "bias"), op("y", "Relu", "b")))
    linear.merge_linear(plain, keep=["y", "x"])
    simplify.simplify(plain, keep=["y", "x"])
    assert imports == [] and {n.op for n in plain} == {"Placeholder", "Const", "BiasAdd", "Relu"}

    shape = const("shape", np.int32([1, 4]))
    reshaped = WorkGraph(graph(shape, op("r", "Reshape", "x", "shape", Tshape=AttrValue(type=3)),
                               op("y", "Relu", "r")))
    simplify.simplify(reshaped, keep=["y", "x"])
    assert imports == [1] and "Reshape" not in {n.op for n in reshaped}  # the same shape in and out: a no-op
    zero = WorkGraph(graph(const("zero", np.float32(0)), op("a", "AddV2", "x", "zero"), op("y", "Relu", "a")))
    simplify.simplify(zero, keep=["y", "x"])
    assert imports == [1, 1] and "AddV2" not in {n.op for n in zero}

