"""Running a classifier: a frozen graph in TensorFlow, or a .tflite in TensorFlow Lite, with its names from graph/signature.py."""

from __future__ import annotations

import contextlib

import time
import warnings
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.files import read_limited, size_text
from inspector.graph import tfcompat
from inspector.graph.io import LoadedGraph
from inspector.graph.ops import is_random
from inspector.graph.refs import upstream
from inspector.graph.names import INSPECTOR_FLAGS, Resolver, parse_names, tflite_input, tflite_output
from inspector.graph.signature import InputSpec, Signature
from inspector.graph.trust import refuse_to_run
from inspector.run.inputs import image_size

_FLOAT_DTYPES = ("float32", "float")


class Runner:
    """What comparing and timing need from a model; GraphRunner and TFLiteRunner are the two kinds."""

    what: str
    path: Path | None
    input_name: str
    output_name: str
    input_shape: tuple[int, ...] | None
    input_size: tuple[int, int] | None
    classes: int | None
    random_ops: tuple[str, ...]
    engine = "TensorFlow"  # the runtime and what it runs, for errors
    noun = "graph"

    def run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def timed_run(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """``run`` and the seconds it took, as the codelab measures it."""
        start = time.perf_counter()
        out = self.run(batch)
        return out, time.perf_counter() - start

    def _cannot_run(self, batch: np.ndarray, exc: BaseException) -> InspectorError:
        shape = "x".join(str(d) for d in batch.shape[1:3])
        return InspectorError(
            f"{self.what}: {self.engine} cannot run the {self.noun} on a {shape} image ({tfcompat.error_line(exc)}); "
            "check --input_height/--input_width and the input and output names"
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GraphRunner(Runner):
    """One frozen graph imported once into its own tf.Graph and CPU Session, run many times.

    ``input_name``/``output_name`` left out are the graph's signature's image input
    and output; given ones may be ``name``, ``name:0`` or the codelab's ``import/name``.
    ``threads`` fixes TensorFlow's intra- and inter-op thread pools (None: TensorFlow's
    default, one per core). ``what`` names the graph in error messages; ``flags`` are
    the name options as the caller spells them. A graph holding an op the op policy
    refuses (graph/trust.py: it reads or writes files, runs Python, ...) is an
    InspectorError before TensorFlow sees it, unless ``allow_unsafe_ops``.
    """

    def __init__(
        self,
        graph: LoadedGraph | GraphDef,
        *,
        input_name: str | None = None,
        output_name: str | None = None,
        threads: int | None = None,
        what: str | None = None,
        flags: tuple[str, str] = INSPECTOR_FLAGS,
        allow_unsafe_ops: bool = False,
    ) -> None:
        if isinstance(graph, LoadedGraph):
            graph_def, self.path = graph.graph, graph.path
        else:
            graph_def, self.path = graph, None
        self.what = what or (str(self.path) if self.path is not None else "the graph")
        # Before anything imports it: TensorFlow's shape inference would already evaluate a ReadFile.
        refuse_to_run(graph_def, what=self.what, allow_unsafe_ops=allow_unsafe_ops)
        self.graph_def = graph_def
        names = Resolver(graph_def, what=self.what, flags=flags)
        self.detected: dict[str, str] = {}
        self.input_name = names.image_input(input_name)
        if input_name is None:
            self.detected["input"] = self.input_name
        self.output_name = names.output(output_name)
        if output_name is None:
            self.detected["output"] = self.output_name
        self.signature: Signature = names.signature
        # The signature's view of the input: decoded_from says the graph decodes image bytes before it.
        self.input_spec: InputSpec | None = self.signature.spec(self.input_name)
        self.random_ops = random_ops_upstream(graph_def, self.output_name)

        tf = tfcompat.tf()
        self._graph = tf.Graph()
        try:
            with self._graph.as_default():
                tf.compat.v1.import_graph_def(tfcompat.to_tf(graph_def), name="")
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise InspectorError(
                f"{self.what}: TensorFlow {tf.__version__} cannot import this graph ({tfcompat.error_line(exc)}); "
                "export it again with the TensorFlow that runs it"
            ) from None
        self._input = self._graph.get_tensor_by_name(f"{self.input_name}:0")
        self._output = self._graph.get_tensor_by_name(f"{self.output_name}:0")
        self.input_dtype: str = self._input.dtype.name
        if self.input_dtype not in _FLOAT_DTYPES:
            decoded = next((s.name for s in names.signature.inputs if s.decoded_from == self.input_name), None)
            hint = f" (the image decoded from it is {decoded!r})" if decoded else ""
            raise InspectorError(
                f"{self.what}: input {self.input_name!r} takes {self.input_dtype}, not a float image; "
                f"pass the float image tensor with {flags[0]}{hint}"
            )
        self.input_shape: tuple[int, ...] | None = _static_shape(self._input)
        self.input_size: tuple[int, int] | None = image_size(self.input_shape, what=self.what, name=self.input_name)
        output_shape = _static_shape(self._output)
        self.classes: int | None = output_shape[-1] if output_shape and output_shape[-1] > 0 else None

        # GPU off: inspector answers "what will the phone's CPU build compute", and
        # a GPU's kernels would add their own rounding differences.
        config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
        if threads is not None:
            config.intra_op_parallelism_threads = threads
            config.inter_op_parallelism_threads = threads
        self.threads = threads
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The output for a [1, H, W, 3] batch, flattened to one score per class."""
        tf = tfcompat.tf()
        try:
            out = self._session.run(self._output, {self._input: batch})
        except (tf.errors.OpError, ValueError) as exc:
            raise self._cannot_run(batch, exc) from None
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def close(self) -> None:
        self._session.close()


# The .tflite header: a flatbuffer whose file identifier (bytes 4-8) is TFL3.
TFLITE_IDENTIFIER = b"TFL3"


class TFLiteRunner(Runner):
    """A TensorFlow Lite model in TensorFlow's Lite interpreter, run like a GraphRunner.

    ``model`` is the .tflite file or its bytes. Tensor names are the frozen
    graph's (the converter keeps them), so ``input_name``/``output_name`` take
    the same names; left out, the input is the only (float) one and the output
    the only one, or the one among ``source_outputs`` (the graph's signature
    outputs). ``threads`` is the interpreter's thread count (None: its default).
    ``random_ops`` names the source graph's random ops upstream of the output,
    for verify's blame line.
    """

    engine = "TensorFlow Lite"
    noun = "model"

    def __init__(
        self,
        model: bytes | Path | str,
        *,
        input_name: str | None = None,
        output_name: str | None = None,
        threads: int | None = None,
        what: str | None = None,
        random_ops: tuple[str, ...] = (),
        flags: tuple[str, str] = INSPECTOR_FLAGS,
        source_outputs: Collection[str] = (),
    ) -> None:
        if isinstance(model, (str, Path)):
            self.path: Path | None = Path(model)
            data = _read_model(self.path)
        else:
            self.path, data = None, bytes(model)
        self.what = what or (str(self.path) if self.path is not None else "the TensorFlow Lite model")
        if data[4:8] != TFLITE_IDENTIFIER:
            raise InspectorError(f"{self.what}: not a TensorFlow Lite model (no TFL3 header); pass a .tflite file")
        self.threads = threads
        self.random_ops = tuple(random_ops)
        self.detected: dict[str, str] = {}
        tf = tfcompat.tf()
        try:
            with warnings.catch_warnings():
                # tf.lite.Interpreter warns it moves to the ai_edge_litert package; it still runs the same kernels.
                warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
                self._interpreter = tf.lite.Interpreter(model_content=data, num_threads=threads)
            self._allocate()
        except (ValueError, RuntimeError) as exc:
            raise _load_error(self.what, exc) from None
        inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
        outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
        dtypes = {name: np.dtype(d["dtype"]).name for name, d in inputs.items()}
        self.input_name = tflite_input(dtypes, input_name, what=self.what, flag=flags[0])
        if input_name is None:
            self.detected["input"] = self.input_name
        self.output_name = tflite_output(list(outputs), output_name, what=self.what, flag=flags[1], source=source_outputs)
        if output_name is None:
            self.detected["output"] = self.output_name
        source, sink = inputs[self.input_name], outputs[self.output_name]
        self.input_dtype: str = dtypes[self.input_name]
        if self.input_dtype not in _FLOAT_DTYPES:
            raise InspectorError(
                f"{self.what}: input {self.input_name!r} takes {self.input_dtype}, not a float image "
                "(a fully integer-quantized model?); export with float input and output"
            )
        self._input_index, self._output_index = int(source["index"]), int(sink["index"])
        self._fed_shape = tuple(int(d) for d in source["shape"])
        self.input_shape: tuple[int, ...] | None = tuple(int(d) for d in source["shape_signature"])
        self.input_size: tuple[int, int] | None = image_size(self.input_shape, what=self.what, name=self.input_name)
        output_shape = tuple(int(d) for d in sink["shape_signature"])
        self.classes: int | None = output_shape[-1] if output_shape and output_shape[-1] > 0 else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The output for a [1, H, W, 3] batch, flattened to one score per class."""
        batch = np.asarray(batch, dtype=np.float32)
        try:
            if tuple(batch.shape) != self._fed_shape:
                self._interpreter.resize_tensor_input(self._input_index, list(batch.shape), strict=True)
                self._allocate()
                self._fed_shape = tuple(batch.shape)
            self._interpreter.set_tensor(self._input_index, batch)
            self._interpreter.invoke()
            out = self._interpreter.get_tensor(self._output_index)
        except (ValueError, RuntimeError) as exc:
            raise self._cannot_run(batch, exc) from None
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def close(self) -> None:
        # The interpreter has no close; dropping it frees its arena now rather than at exit.
        self._interpreter = None

    def _allocate(self) -> None:
        # Creating the XNNPACK delegate logs an INFO line straight to fd 2.
        with tfcompat.quiet_stderr():
            self._interpreter.allocate_tensors()


# A FlatBuffer addresses at most 2 GiB, so no bigger file is a TensorFlow Lite model.
_FLATBUFFER_LIMIT = 2**31 - 1


def _read_model(path: Path) -> bytes:
    return read_limited(
        path, limit=_FLATBUFFER_LIMIT, itself="pass the .tflite file itself",
        too_big=lambda size: f"{size_text(size)} is over the 2 GiB limit of a TensorFlow Lite model (a FlatBuffer); "
        "pass a .tflite file",
        folder="is a folder; pass a .tflite file",
    )


def _load_error(what: str, exc: BaseException) -> InspectorError:
    text = str(exc)
    if "Select TensorFlow op" in text or "Flex" in text:
        return InspectorError(
            f"{what}: the model uses TensorFlow Select ops, which this TensorFlow's Lite interpreter cannot run; "
            "test it in an app that links tensorflow-lite-select-tf-ops, or export without Select ops"
        )
    return InspectorError(f"{what}: TensorFlow Lite cannot load this model ({tfcompat.error_line(exc)}); convert it again")


@contextlib.contextmanager
def graph_pair(
    a: LoadedGraph,
    b: LoadedGraph,
    *,
    input_names: Sequence[str] | str | None,
    output_names: Sequence[str] | str | None,
    threads: int | None = None,
    allow_unsafe_ops: bool = False,
) -> Iterator[tuple[GraphRunner, GraphRunner]]:
    """Runners for ``a`` and ``b`` (named "a (path)" and "b (path)" in errors) with one input and one output name; both closed after."""
    input_name = one_name(input_names, "--input_names")
    output_name = one_name(output_names, "--output_names")
    options = dict(input_name=input_name, output_name=output_name, threads=threads, allow_unsafe_ops=allow_unsafe_ops)
    with GraphRunner(a, what=f"a ({a.path})", **options) as runner_a, GraphRunner(b, what=f"b ({b.path})", **options) as runner_b:
        yield runner_a, runner_b


def one_name(names: Sequence[str] | str | None, flag: str) -> str | None:
    """One tensor name from a name, a comma-separated list or a sequence; none given is None, several an error."""
    parsed = parse_names(names)
    if parsed is None:
        return None
    if not parsed:
        raise InspectorError(f"{flag} is empty; pass one node name, or leave {flag} out to read it from the graph")
    if len(parsed) > 1:
        raise InspectorError(f"{flag}: one image input and one output are compared, not {len(parsed)} ({', '.join(parsed)}); pass one name")
    return parsed[0]


def random_ops_upstream(graph: GraphDef, output: str) -> tuple[str, ...]:
    """Names of random ops the output depends on (training dropout left in, typically)."""
    needed = upstream(graph, [output])
    return tuple(sorted(node.name for node in graph.node if node.name in needed and is_random(node.op)))


def _static_shape(tensor: Any) -> tuple[int, ...] | None:
    shape = tensor.shape
    if shape.rank is None:
        return None
    return tuple(-1 if d is None else int(d) for d in shape.as_list())


__all__ = [
    "Runner",
    "GraphRunner",
    "TFLiteRunner",
    "TFLITE_IDENTIFIER",
    "one_name",
    "random_ops_upstream",
]
