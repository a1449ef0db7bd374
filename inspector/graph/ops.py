"""The op vocabulary: which TensorFlow ops feed, hold state, branch, draw random numbers, only serve training, or are never run (the op policy); dtype widths.

Every rule elsewhere that asks "is this op a ...?" reads it here, so the
commands agree on what a graph holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from tensorboard.compat.proto.attr_value_pb2 import AttrValue, NameAttrList
from tensorboard.compat.proto.function_pb2 import FunctionDef
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
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
# A loop's back edge: the only ops through which a TensorFlow graph has a cycle.
LOOP_BACK_OPS = frozenset({"NextIteration", "RefNextIteration"})
V1_CONTROL_FLOW_OPS = LOOP_BACK_OPS | frozenset({
    "Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit", "LoopCond",
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
# One input, an output of its shape and dtype, element by element (the unary "cwise" ops of TensorFlow's math_ops).
ELEMENTWISE_UNARY_OPS = frozenset({
    "Rsqrt", "Sqrt", "Square", "Neg", "Abs", "Reciprocal", "Exp", "Log", "Tanh", "Sigmoid",
})

# Batch norm, fused or decomposed: the fused ops, and the normalisation a decomposed one computes
# (x * gamma * rsqrt(var + eps) + (beta - mean * ...)) from its arithmetic and constants.
FUSED_BATCH_NORM_OPS = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "BatchNormWithGlobalNormalization"})
BATCH_NORM_CORE_OPS = FUSED_BATCH_NORM_OPS | frozenset({"Rsqrt", "Sqrt"})
BATCH_NORM_OPS = BATCH_NORM_CORE_OPS | ELEMENTWISE_ARITHMETIC_OPS | CONST_OPS | IDENTITY_OPS
# Layers with weights a batch norm or a neighbouring linear layer can be folded into.
WEIGHTED_OPS = frozenset({"Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MatMul"})
# Between two linear layers without breaking linearity or reordering elements.
LINEAR_BETWEEN_OPS = frozenset({"BiasAdd", "Squeeze", "Reshape"})
PAD_OPS = frozenset({"Pad", "PadV2", "MirrorPad"})
FUSED_CONV_OPS = frozenset({"FusedResizeAndPadConv2D", "FusedPadConv2D"})
DEQUANTIZE_OPS = frozenset({"Dequantize"})

# TF1 tf.cond as dataflow: Switch sends its data to output 1 when its predicate (input 1) is true, else
# to output 0, and the other output is dead; Merge forwards whichever of its inputs is alive.
SWITCH_OPS = frozenset({"Switch", "RefSwitch"})
MERGE_OPS = frozenset({"Merge", "RefMerge"})
# TF1 while loops: a Switch on their LoopCond is no tf.cond to resolve.
LOOP_OPS = frozenset({"Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration", "LoopCond"})

# Random draws uniform on [0, 1): the noise a dropout mask thresholds (min and max are applied after, as arithmetic).
UNIFORM_RANDOM_OPS = frozenset({"RandomUniform", "StatelessRandomUniform", "StatelessRandomUniformV2"})
# A dropout mask is random values pushed through a threshold (floor(keep + U), U >= rate, then maybe a Cast),
# applied to the data by one of DROPOUT_APPLY_OPS.
DROPOUT_THRESHOLD_OPS = frozenset({"Floor", "Ceil", "Round", "GreaterEqual", "Greater", "Less", "LessEqual", "Cast"})
DROPOUT_APPLY_OPS = frozenset({"Mul", "Select", "SelectV2"})
# Ops a dropout's settings pass through on their way to the mask or the 1/keep scaling: scalar arithmetic,
# comparisons, floors, casts and reshapes of one value (graph/settings.py knows what each computes).
SETTING_OPS = frozenset({
    "Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Neg", "Reciprocal", "Inv", "Floor", "Cast", "LogicalNot",
    "GreaterEqual", "Greater", "Less", "LessEqual", "Reshape", "ExpandDims", "Squeeze",
}) | frozenset({"Identity", "StopGradient", "PreventGradient", "Snapshot"})

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


# --- The op policy: ops inspector never evaluates (constant folding) and never runs -------------
#
# A frozen GraphDef is a program, and TensorFlow runs any op in it, including ops that
# TensorFlow does not mark stateful (ReadFile, MatchingFiles, ImmutableConst, the Debug*
# ops), which constant folding and even TensorFlow's shape inference at import evaluate.
# So a graph from the internet must not reach TensorFlow holding any of these unless the
# user says they trust it. The classes below were drawn from TensorFlow 2.21's full op
# registry (TF_GetAllOpList, 1910 ops), grepping File|Reader|Writer|Save|Restore|PyFunc|
# Dataset|Debug|Print|Rpc|Collective and reading every non-stateful op with a string attr.
# Where TensorFlow is loaded, any other op it marks stateful is refused too unless it is in
# COMPUTE_STATEFUL_OPS, so an op this list misses (or a newer TensorFlow adds) fails closed.

# Why an op is unsafe, in the words the messages and the summary use.
READS_FILES = "reads files on this machine"
WRITES_FILES = "writes files"
RUNS_PYTHON = "runs Python code"
NETWORK = "talks to the network or other processes"
DEBUG_SINK = "writes files or talks to the network (its debug URLs)"
RUNS_DATASET = "runs a tf.data pipeline, which reads files and calls functions"
ENDS_PROCESS = "ends the process"
FILESYSTEM = "changes how TensorFlow reaches file systems"
STATEFUL = "acts outside the graph (TensorFlow marks it stateful, and it is no op inspector knows to only compute)"

_FILE_READ_OPS = frozenset({
    # Whole files and directory listings; ImmutableConst memory-maps a file as a tensor.
    "ReadFile", "MatchingFiles", "ImmutableConst",
    # TF1 input pipelines: a reader op opens the files a queue names, the Reader* ops drive it.
    "WholeFileReader", "WholeFileReaderV2", "TFRecordReader", "TFRecordReaderV2", "TextLineReader",
    "TextLineReaderV2", "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "IdentityReader",
    "IdentityReaderV2", "LMDBReader", "ReaderRead", "ReaderReadV2", "ReaderReadUpTo", "ReaderReadUpToV2",
    "ReaderReset", "ReaderResetV2", "ReaderRestoreState", "ReaderRestoreStateV2", "ReaderSerializeState",
    "ReaderSerializeStateV2", "ReaderNumRecordsProduced", "ReaderNumRecordsProducedV2",
    "ReaderNumWorkUnitsCompleted", "ReaderNumWorkUnitsCompletedV2", "RecordInput",
    # Checkpoint reads, and the warm-start ops that read checkpoints and vocabulary files.
    "Restore", "RestoreV2", "RestoreSlice", "DTensorRestoreV2", "LoadAndRemapMatrix", "GenerateVocabRemapping",
    # Lookup tables and samplers initialised from a text file.
    "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "FixedUnigramCandidateSampler",
})
_FILE_WRITE_OPS = frozenset({
    "WriteFile",
    # Checkpoint writes (MergeV2Checkpoints also deletes the shard files it merges).
    "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints",
    # TF2 summary writers: event files (and an SQLite database for the Db writer).
    "SummaryWriter", "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary",
    "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary",
    "ImportEvent", "FlushSummaryWriter", "CloseSummaryWriter", "StatsAggregatorSetSummaryWriter",
    # Datasets and tensors saved to disk, and calibration statistics.
    "SaveDataset", "SaveDatasetV2", "DistributedSave", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
    "DumpTensor", "CalibrationStatisticsSaver",
})
# Python callbacks (tf.py_function, tf.numpy_function): the graph names Python code to run.
_PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
# tfdbg's ops send the tensors they see to their debug_urls: file:// paths or a grpc:// server;
# Copy/CopyHost run debug ops from their debug_ops_spec. (DebugGradientIdentity and
# DebugNumericSummaryV2 only compute and are not here.)
_DEBUG_OPS = frozenset({
    "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary", "Copy", "CopyHost",
})
# RPC, cross-process send/receive and collectives (which also wait for peers that never come).
_NETWORK_OPS = frozenset({
    "RpcServer", "RpcServerStart", "RpcServerRegister", "RpcClient", "RpcCall", "RpcCheckStatus", "RpcGetValue",
    "DeleteRpcFutureResource", "RemoteCall", "Send", "Recv", "_Send", "_Recv", "_HostSend", "_HostRecv",
})
_NETWORK_PREFIXES = ("Collective", "Nccl", "_Nccl")

UNSAFE_OPS: dict[str, str] = {
    **{op: READS_FILES for op in _FILE_READ_OPS},
    **{op: WRITES_FILES for op in _FILE_WRITE_OPS},
    **{op: RUNS_PYTHON for op in _PYTHON_OPS},
    **{op: DEBUG_SINK for op in _DEBUG_OPS},
    **{op: NETWORK for op in _NETWORK_OPS},
    "Abort": ENDS_PROCESS,  # not stateful, and it exits the process that runs it
    "FileSystemSetConfiguration": FILESYSTEM,
}
# PrintV2 writes to its output_stream: a standard stream or the log is fine, file://PATH is a file write.
PRINT_STREAMS = frozenset({"stdout", "stderr", "log(info)", "log(warning)", "log(error)"})
# DecodeProto/EncodeProto read their descriptors from descriptor_source: a file path unless
# "local://" (the binary's own registry) or "bytes://..." (the descriptor inline).
_PROTO_OPS = frozenset({"DecodeProto", "DecodeProtoV2", "EncodeProto"})

# Stateful ops that only compute in this process's memory and cannot block: the run-time
# allow-list (TensorFlow marks an op stateful when it must not be folded, merged or pruned,
# which is true of ops that touch the outside world and of these alike). Queues, stages,
# barriers, mutexes, accumulators and session handles are left out: a dequeue from a queue
# nothing fills waits forever. Timestamp and the like are left out because no inference
# graph needs them; anything not listed is refused (fails closed).
COMPUTE_STATEFUL_OPS = frozenset({
    # Random numbers (stateful kernels hold a generator; they draw, nothing more).
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "ParameterizedTruncatedNormal",
    "RandomShuffle", "RandomGamma", "RandomPoisson", "RandomPoissonV2", "Multinomial", "RandomCrop",
    "SampleDistortedBoundingBox", "SampleDistortedBoundingBoxV2", "NonDeterministicInts", "StatefulUniform",
    "StatefulUniformInt", "StatefulUniformFullInt", "StatefulStandardNormal", "StatefulStandardNormalV2",
    "StatefulTruncatedNormal", "StatefulRandomBinomial", "RngSkip", "RngReadAndSkip", "AllCandidateSampler",
    "UniformCandidateSampler", "LogUniformCandidateSampler", "LearnedUnigramCandidateSampler",
    "ThreadUnsafeUnigramCandidateSampler", "StatelessRandomGetAlg",
    # Variables live in the process's resource manager; reading and assigning them only computes.
    *VARIABLE_ACCESS_OPS, "_VarHandlesOp", "_ReadVariablesOp", "VariableShape", "ResourceGather", "ResourceGatherNd",
    # Checks fail the run, Print logs to stderr; PrintV2 is judged by its output_stream above.
    "Assert", "CheckNumerics", "CheckNumericsV2", "Print", "PrintV2",
    # Function calls are judged by the functions they call; _Arg/_Retval are their plumbing.
    "If", "While", "Case", "StatefulPartitionedCall", "_If", "_While", "_Arg", "_Retval", "_DeviceArg", "_DeviceRetval",
    # TF1 dynamic_rnn's TensorArrays hold tensors for one step of one run.
    "TensorArray", "TensorArrayV2", "TensorArrayV3", "TensorArrayReadV3", "TensorArrayWriteV3", "TensorArrayGatherV3",
    "TensorArrayScatterV3", "TensorArrayConcatV3", "TensorArraySplitV3", "TensorArraySizeV3", "TensorArrayCloseV3",
    # Lookup tables filled from tensors in the graph (those filled from a file are unsafe above).
    "HashTable", "HashTableV2", "InitializeTable", "InitializeTableV2", "LookupTableFind", "LookupTableFindV2",
    "LookupTableSize", "LookupTableSizeV2",
    # Stateful only so that TensorFlow never merges or folds them.
    "GuaranteeConst", "Empty",
})


def unsafe_op(op: str, attr: Mapping[str, AttrValue] | None = None) -> str | None:
    """Why inspector never runs a node of type ``op`` with attrs ``attr`` (None: it may), from the protobuf alone.

    Function calls are judged by :func:`unsafe_nodes`, which reads the functions.
    """
    why = UNSAFE_OPS.get(op)
    if why is not None:
        return why
    attr = attr or {}
    if op == "PrintV2":
        stream = attr["output_stream"].s.decode("utf-8", "replace") if "output_stream" in attr else "stderr"
        return None if stream in PRINT_STREAMS else WRITES_FILES
    if op in _PROTO_OPS:
        source = attr["descriptor_source"].s.decode("utf-8", "replace") if "descriptor_source" in attr else "local://"
        return None if source == "local://" or source.startswith("bytes://") else READS_FILES
    if op.endswith("PyFunc"):
        return RUNS_PYTHON
    # Every tf.data op: sources read files (TFRecordDataset, TextLineDataset, ...), the rest
    # call functions or reach the tf.data service; iterators run them.
    if "Dataset" in op or "Iterator" in op:
        return RUNS_DATASET
    if op.startswith(_NETWORK_PREFIXES):
        return NETWORK
    return None


@dataclass(frozen=True)
class UnsafeNode:
    """A node inspector does not run, and why: itself, or the first unsafe node of a function it calls."""

    node: str                    # the node in the graph
    op: str
    why: str                     # READS_FILES, WRITES_FILES, ...
    runs: str = ""               # the unsafe op, when it is not ``op`` (in a function, or named by a func attr)
    # The functions called, outermost first, down to the one holding inner_node; of a chain
    # longer than MAX_VIA only the first MAX_VIA - 1 and the last (``depth`` counts them all).
    via: tuple[str, ...] = ()
    inner_node: str = ""         # the node in the last function of ``via`` that is (or runs) ``runs``
    inner_node_op: str = ""
    depth: int = 0

    @property
    def describe(self) -> str:
        """``is a ReadFile op, which reads files on this machine``, or what it calls that is."""
        if not self.runs:
            return f"is {_a(self.op)} op, which {self.why}"
        if not self.via:
            return f"is {_a(self.op)} op that runs the {self.runs} op, which {self.why}"
        inner = (f"is {_a(self.runs)} op" if self.inner_node_op == self.runs
                 else f"is {_a(self.inner_node_op)} op that runs the {self.runs} op")
        names = [repr(f) for f in self.via]
        if self.depth > len(self.via):
            names.insert(-1, "...")
        called = " -> ".join(names)
        return f"is {_a(self.op)} op that calls function {called}, whose node {self.inner_node!r} {inner}, which {self.why}"

    def to_json(self) -> dict:
        return {"node": self.node, "op": self.op, "why": self.why, "runs": self.runs or self.op, "via": list(self.via),
                "depth": self.depth, "inner_node": self.inner_node, "describe": self.describe}


# Functions named in an UnsafeNode's ``via`` (and so in a message): a chain is cut in the middle.
MAX_VIA = 4


def _a(op: str) -> str:
    return f"an {op}" if op[:1] and op[:1] in "AEIOU" else f"a {op}"


def unsafe_nodes(graph: GraphDef, *, stateful: Callable[[str], bool] | None = None) -> tuple[UnsafeNode, ...]:
    """The graph's nodes that inspector never runs nor evaluates, in graph order; protobuf only.

    A node is unsafe when its op is (:func:`unsafe_op`), or when it calls a function of
    the graph's library (as its op, or through a func attr: PartitionedCall, If, While,
    ...) that holds an unsafe node, at any depth; a func attr naming an op rather than a
    function runs that op. ``stateful`` (TensorFlow's op registry, where it is loaded) adds
    the ops it marks stateful that are not in COMPUTE_STATEFUL_OPS. Functions nothing
    calls never run and are not judged.
    """
    library = {f.signature.name: f for f in graph.library.function}

    def reason(op: str, attr: Mapping[str, AttrValue]) -> str | None:
        why = unsafe_op(op, attr)
        if why is None and stateful is not None and op not in COMPUTE_STATEFUL_OPS and stateful(op):
            why = STATEFUL
        return why

    # One pass over the library: each function's first unsafe node, and who calls whom.
    bad: dict[str, _Bad] = {}
    callers: dict[str, set[str]] = {}
    for name, function in library.items():
        for node in function.node_def:
            hit = _direct(node, library, reason)
            if hit is not None and name not in bad:
                bad[name] = _Bad(None, name, 1, node.name, node.op, *hit)
            for callee in _callees(node, library):
                callers.setdefault(callee, set()).add(name)
    # A function that calls an unsafe one is unsafe: spread up the call edges breadth first,
    # each function once (iterative and linear, however deep or recursive the library is).
    queue = deque(sorted(bad))
    while queue:
        callee = queue.popleft()
        found_in = bad[callee]
        for caller in sorted(callers.get(callee, ())):
            if caller not in bad:
                bad[caller] = found_in._replace(next=callee, depth=found_in.depth + 1)
                queue.append(caller)

    found: list[UnsafeNode] = []
    # One verdict per (op, attrs with a function in them): a graph has few distinct ops and almost no func attrs.
    plain: dict[str, bool] = {}  # op -> safe whatever its attrs, unless they name a function
    for node in graph.node:
        op = node.op
        safe = plain.get(op)
        if safe is None:
            safe = plain[op] = op not in library and op != "PrintV2" and op not in _PROTO_OPS and reason(op, {}) is None
        if safe and not any(_holds_func(v) for v in node.attr.values()):
            continue
        hit = _direct(node, library, reason)
        if hit is not None:
            runs, why = hit
            found.append(UnsafeNode(node.name, node.op, why, runs="" if runs == node.op else runs))
            continue
        callee = next((c for c in _callees(node, library) if c in bad), None)
        if callee is not None:
            leaf = bad[callee]
            via = [callee]
            while len(via) < min(leaf.depth, MAX_VIA - 1) and bad[via[-1]].next is not None:
                via.append(bad[via[-1]].next)
            if via[-1] != leaf.home:
                via.append(leaf.home)
            found.append(UnsafeNode(node.name, node.op, leaf.why, runs=leaf.runs, via=tuple(via), inner_node=leaf.node,
                                    inner_node_op=leaf.node_op, depth=leaf.depth))
    return tuple(found)


class _Bad(NamedTuple):
    """How a library function reaches an unsafe node: through ``next`` (None: it holds it), down to ``home``."""

    next: str | None
    home: str       # the function holding the unsafe node
    depth: int      # functions from this one to home, both counted
    node: str
    node_op: str
    runs: str
    why: str


def _func_attrs(node: NodeDef) -> Iterator[NameAttrList]:
    """Every function a node's attrs name, those nested in a func attr's own attrs included (iteratively)."""
    stack = [v for v in node.attr.values() if _holds_func(v)]
    while stack:
        value = stack.pop()
        for func in [value.func] if value.HasField("func") else value.list.func:
            yield func
            stack.extend(func.attr.values())


def _holds_func(value: AttrValue) -> bool:
    kind = value.WhichOneof("value")
    return kind == "func" or (kind == "list" and len(value.list.func) > 0)


def _callees(node: NodeDef, library: Mapping[str, FunctionDef]) -> list[str]:
    """The library functions ``node`` calls: its op, when that is a function, and its func attrs."""
    names = [node.op] if node.op in library else []
    return names + [func.name for func in _func_attrs(node) if func.name in library]


def _direct(
    node: NodeDef, library: Mapping[str, FunctionDef], reason: Callable[[str, Mapping[str, AttrValue]], str | None]
) -> tuple[str, str] | None:
    """(unsafe op, why) when the node is one, or a func attr of it names one rather than a function."""
    if node.op not in library:
        why = reason(node.op, node.attr)
        if why is not None:
            return node.op, why
    for func in _func_attrs(node):
        if func.name and func.name not in library:
            why = reason(func.name, func.attr)
            if why is not None:
                return func.name, why
    return None
