"""The op vocabulary: which TensorFlow ops feed, hold state, branch, draw random numbers or only serve training; dtype widths.

Every rule elsewhere that asks "is this op a ...?" reads it here, so the
commands agree on what a graph holds.
"""

from __future__ import annotations

from tensorboard.compat.proto.types_pb2 import DataType

# Ops whose ``value`` attr carries a tensor; HostConst is Const pinned to host memory.
CONST_OPS = frozenset({"Const", "HostConst"})
# What a caller feeds: placeholders fed by nothing, and those with a default value.
PLACEHOLDER_OPS = frozenset({"Placeholder", "PlaceholderV2"})
DEFAULT_PLACEHOLDER_OPS = frozenset({"PlaceholderWithDefault"})
FEED_OPS = PLACEHOLDER_OPS | DEFAULT_PLACEHOLDER_OPS

# Ops that hold a variable's state (a graph with any is not frozen).
VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp", "TemporaryVariable"})
VARIABLE_READ_OPS = frozenset({"ReadVariableOp"})
# Everything that touches variables, for the summary's "not frozen" flag.
VARIABLE_ACCESS_OPS = VARIABLE_OPS | VARIABLE_READ_OPS | frozenset({
    "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    "VarIsInitializedOp", "IsVariableInitialized", "DestroyTemporaryVariable",
})
CHECKPOINT_OPS = frozenset({
    "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename",
})
# Checks that cost time on every run and guard nothing at inference.
DEBUG_OPS = frozenset({"Assert", "CheckNumerics", "CheckNumericsV2", "Print", "PrintV2"})
ASSERT_OPS = frozenset({"Assert"})
# Losses and the gradient helpers TensorFlow adds next to a backward pass. (StopGradient is
# left out: inference graphs keep it, and TensorFlow Lite converts it as an identity.)
BACKWARD_OPS = frozenset({"BroadcastGradientArgs", "SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits"})
# Losses, and for those that take labels the input index of the labels (input 0 is the logits):
# a placeholder that reaches only that input is a label, never a model input.
LOSS_LABEL_INPUT = {"SoftmaxCrossEntropyWithLogits": 1, "SparseSoftmaxCrossEntropyWithLogits": 1}
LOSS_OPS = frozenset(LOSS_LABEL_INPUT) | frozenset({"L2Loss"})
GRADIENT_SUFFIXES = ("Grad", "GradV2", "GradV3", "GradGrad")
OPTIMIZER_PREFIXES = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")

# One data input, passed through unchanged at inference time.
IDENTITY_OPS = frozenset({"Identity", "CheckNumerics", "StopGradient", "PreventGradient", "Snapshot", "Print", "DebugIdentity"})

# TF1 control flow (tf.cond / tf.while_loop as dataflow), and the functional kind.
V1_CONTROL_FLOW_OPS = frozenset({
    "Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit", "NextIteration",
    "RefNextIteration", "LoopCond",
})
FUNCTIONAL_CONTROL_FLOW_OPS = frozenset({"If", "StatelessIf", "While", "StatelessWhile", "Case", "StatelessCase"})
CONTROL_FLOW_OPS = V1_CONTROL_FLOW_OPS | FUNCTIONAL_CONTROL_FLOW_OPS | frozenset({"ControlTrigger"})

# Their value is the shape of their input, not its data.
SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank"})
# Function-call plumbing that only exists inside a function body.
FUNCTION_ARG_OPS = frozenset({"_Arg", "_Retval"})

# TensorBoard summaries a training graph writes.
SUMMARY_OPS = frozenset({
    "ScalarSummary", "HistogramSummary", "ImageSummary", "AudioSummary", "AudioSummaryV2", "TensorSummary",
    "TensorSummaryV2", "MergeSummary", "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary",
    "WriteImageSummary", "WriteAudioSummary",
})

# Sinks that are not model outputs.
NOT_OUTPUT_OPS = CONST_OPS | VARIABLE_OPS | SUMMARY_OPS | frozenset({"NoOp", "Assert", "SaveV2", "RestoreV2", "Save", "Restore"})

# Image bytes in, pixels out (retrain.py's Inception v3 graphs start with DecodeJpeg), and the
# preprocessing between them and the float image a network reads.
DECODE_OPS = frozenset({"DecodeJpeg", "DecodeAndCropJpeg", "DecodePng", "DecodeBmp", "DecodeGif", "DecodeImage"})
RESIZE_OPS = frozenset({"ResizeBilinear", "ResizeBicubic", "ResizeArea", "ResizeNearestNeighbor"})
ELEMENTWISE_ARITHMETIC_OPS = frozenset({"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum"})

_RANDOM_EXTRA = frozenset({
    "TruncatedNormal", "StatelessTruncatedNormal", "StatelessTruncatedNormalV2", "ParameterizedTruncatedNormal",
    "Multinomial", "StatelessMultinomial", "RandomShuffle", "RandomGamma", "RandomPoisson", "RandomPoissonV2",
})


def is_random(op: str) -> bool:
    """Ops that draw random numbers (stateless ones too: folding them would bake one draw into the graph)."""
    return op.startswith(("Random", "StatelessRandom")) or op in _RANDOM_EXTRA


def is_training_step(op: str) -> bool:
    """Gradient and optimizer-update ops: only a training step runs them."""
    return op.endswith(GRADIENT_SUFFIXES) or op.startswith(OPTIMIZER_PREFIXES) or op in BACKWARD_OPS


def dtype_name(value: int) -> str:
    """``1`` -> ``"DT_FLOAT"``; a number that is no DataType (a damaged file) -> ``"DT_INVALID_ENUM_99"``."""
    try:
        return DataType.Name(value)
    except ValueError:
        return f"DT_INVALID_ENUM_{value}"


# Byte width of each dtype as stored in tensor_content.
DTYPE_BYTES = {
    DataType.DT_FLOAT: 4, DataType.DT_DOUBLE: 8, DataType.DT_INT32: 4, DataType.DT_UINT8: 1,
    DataType.DT_INT16: 2, DataType.DT_INT8: 1, DataType.DT_INT64: 8, DataType.DT_BOOL: 1,
    DataType.DT_QINT8: 1, DataType.DT_QUINT8: 1, DataType.DT_QINT32: 4, DataType.DT_BFLOAT16: 2,
    DataType.DT_QINT16: 2, DataType.DT_QUINT16: 2, DataType.DT_UINT16: 2, DataType.DT_HALF: 2,
    DataType.DT_UINT32: 4, DataType.DT_UINT64: 8, DataType.DT_COMPLEX64: 8, DataType.DT_COMPLEX128: 16,
}
