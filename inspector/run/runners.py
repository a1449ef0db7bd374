"""Running a classifier: a frozen graph in TensorFlow, or a .tflite in TensorFlow Lite, with its names from graph/signature.py."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, Sequence, Union

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
from inspector.run.feeds import Feed, FedInput, FeedPlan, InputOption, mark_image, plan_feeds, shape_text
from inspector.run.inputs import image_size

_FLOAT_DTYPES = ("float32", "float")

# What run() takes: one value per model input by name, or (a graph with one input) the bare array.
Inputs = Union[Mapping[str, np.ndarray], np.ndarray]


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
    plan: FeedPlan  # what each run feeds: the model inputs, and values fed every time (inference values, --feed)
    engine = "TensorFlow"  # the runtime and what it runs, for errors
    noun = "graph"

    def run(self, inputs: Inputs) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def timed_run(self, inputs: Inputs) -> tuple[np.ndarray, float]:
        """``run`` and the seconds it took, as the codelab measures it."""
        start = time.perf_counter()
        out = self.run(inputs)
        return out, time.perf_counter() - start

    def values(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Every value one run feeds, by name: the fixed ones, then this run's model inputs.

        Another model's run (a graph's, for this .tflite) may name its one input
        differently; with one input on each side, it is the same input.
        """
        given = {self.input_name: inputs} if isinstance(inputs, np.ndarray) else dict(inputs)
        wanted = {item.name for item in self.plan.inputs}
        values = dict(self.plan.fixed)
        missing = wanted - given.keys() - values.keys()
        if len(missing) == 1 and len(given) == 1 and not given.keys() & wanted:
            given = {missing.pop(): next(iter(given.values()))}
            missing = set()
        if missing:
            raise InspectorError(
                f"{self.what}: no value for input {sorted(missing)[0]!r} (the other model has no such input); "
                "compare two versions of the same model, or feed it with --feed NAME=VALUE"
            )
        values.update((name, value) for name, value in given.items() if name in wanted)
        return values

    def _cannot_run(self, values: Mapping[str, np.ndarray], exc: BaseException) -> InspectorError:
        fed = ", ".join(f"{name} {shape_text(np.shape(v))}" for name, v in values.items())
        return InspectorError(
            f"{self.what}: {self.engine} cannot run the {self.noun} fed {fed} ({tfcompat.error_line(exc)}); "
            "check the input shapes (--input NAME:SHAPE, --input_height/--input_width) and the input and output names"
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GraphRunner(Runner):
    """One frozen graph imported once into its own tf.Graph and CPU Session, run many times.

    Its inputs are the graph's signature's model inputs, or the ones given
    (``input_names``, each ``inputs`` option: ``name``, ``name:0`` or the codelab's
    ``import/name``); the first float input of rank 4 is the image input, which
    photos are fed to. A needed auxiliary input (a dropout keep probability, a
    training flag) is fed its inference value on every run, and each ``feeds`` value
    replaces what would be fed (see run/feeds.py). ``threads`` fixes TensorFlow's
    intra- and inter-op thread pools (None: TensorFlow's default, one per core).
    ``what`` names the graph in error messages; ``flags`` are the name options as the
    caller spells them. A graph holding an op the op policy refuses (graph/trust.py:
    it reads or writes files, runs Python, ...) is an InspectorError before
    TensorFlow sees it, unless ``allow_unsafe_ops``.
    """

    def __init__(
        self,
        graph: LoadedGraph | GraphDef,
        *,
        input_name: str | None = None,
        input_names: Sequence[str] | str | None = None,
        output_name: str | None = None,
        inputs: Sequence[InputOption | str] = (),
        feeds: Sequence[Feed | str] = (),
        threads: int | None = None,
        what: str | None = None,
        flags: tuple[str, str] = INSPECTOR_FLAGS,
        allow_unsafe_ops: bool = False,
        strict_feeds: bool = True,
    ) -> None:
        if isinstance(graph, LoadedGraph):
            graph_def, self.path = graph.graph, graph.path
        else:
            graph_def, self.path = graph, None
        self.what = what or (str(self.path) if self.path is not None else "the graph")
        # Before anything imports it: TensorFlow's shape inference would already evaluate a ReadFile.
        refuse_to_run(graph_def, what=self.what, allow_unsafe_ops=allow_unsafe_ops)
        self.graph_def = graph_def
        self.allow_unsafe_ops = allow_unsafe_ops  # what a float64 reference of the same graph may run
        names = Resolver(graph_def, what=self.what, flags=flags)
        options = tuple(InputOption.parse(o) for o in inputs)
        given = [*(parse_names(input_names) or ()), *((input_name,) if input_name is not None else ())]
        given += [o.name for o in options]
        self.detected: dict[str, str] = {}
        if given:
            resolved = names.inputs(given)
            options = tuple(InputOption(names.resolve(o.name, role="input"), o.shape, o.dtype) for o in options)
        else:
            resolved = ()
            if not names.signature.inputs:
                raise names.no_input()
        self.output_name = names.output(output_name)
        if output_name is None:
            self.detected["output"] = self.output_name
        self.signature: Signature = names.signature
        node_names = {node.name for node in graph_def.node}
        plan = plan_feeds(
            self.signature, node_names=node_names, what=self.what, input_names=resolved or None, inputs=options,
            feeds=[Feed.parse(f) for f in feeds], strict=strict_feeds,
        )
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
        self._output = self._graph.get_tensor_by_name(f"{self.output_name}:0")
        self.plan = _with_static_shapes(plan, self._graph)
        primary = self.plan.primary
        if primary is None:
            raise InspectorError(f"{self.what}: every input is given with --feed, so there is nothing to vary; "
                                 "feed the model input from images or random data (drop its --feed)")
        self.input_name = primary.name
        if not given:
            self.detected["input"] = ",".join(item.name for item in self.plan.inputs)
        self.input_spec: InputSpec | None = self.signature.spec(self.input_name)
        self.input_dtype: str = primary.dtype
        if given and not primary.image and primary.dtype == "string":
            decoded = next((s.name for s in self.signature.inputs if s.decoded_from == self.input_name), None)
            hint = f" (the image decoded from it is {decoded!r})" if decoded else ""
            raise InspectorError(
                f"{self.what}: input {self.input_name!r} takes string, not a float image; "
                f"pass the float image tensor with {flags[0]}{hint}"
            )
        self.input_shape: tuple[int, ...] | None = primary.shape
        self.input_size: tuple[int, int] | None = image_size(primary.shape) if primary.image else None
        output_shape = _static_shape(self._output)
        self.classes: int | None = output_shape[-1] if output_shape and output_shape[-1] > 0 else None
        self._tensors = {name: self._graph.get_tensor_by_name(f"{name}:0")
                         for name in [*(i.name for i in self.plan.inputs), *self.plan.fixed]}

        # GPU off: inspector answers "what will the phone's CPU build compute", and
        # a GPU's kernels would add their own rounding differences.
        config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
        if threads is not None:
            config.intra_op_parallelism_threads = threads
            config.inter_op_parallelism_threads = threads
        self.threads = threads
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)

    def run(self, inputs: Inputs) -> np.ndarray:
        """The output for one run's inputs (see Runner.values), flattened to one score per class."""
        tf = tfcompat.tf()
        values = self.values(inputs)
        try:
            out = self._session.run(self._output, {self._tensors[name]: value for name, value in values.items()})
        except (tf.errors.OpError, ValueError) as exc:
            raise self._cannot_run(values, exc) from None
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def tensor(self, name: str) -> Any | None:
        """The TensorFlow tensor ``name`` (a node's output 0, or ``name:N``), or None when the graph has none."""
        try:
            return self._graph.get_tensor_by_name(name if ":" in name else f"{name}:0")
        except (KeyError, ValueError):
            return None

    def fetch(self, inputs: Inputs, names: Sequence[str]) -> list[np.ndarray]:
        """The values of ``names`` (nodes' outputs 0) for one run's inputs, in one session run."""
        tf = tfcompat.tf()
        values = self.values(inputs)
        fetches = [self._graph.get_tensor_by_name(n if ":" in n else f"{n}:0") for n in names]
        try:
            return list(self._session.run(fetches, {self._tensors[name]: value for name, value in values.items()}))
        except (tf.errors.OpError, ValueError) as exc:
            raise self._cannot_run(values, exc) from None

    def close(self) -> None:
        self._session.close()


def _with_static_shapes(plan: FeedPlan, graph: Any) -> FeedPlan:
    """The plan with each input's dtype and shape as TensorFlow sees them where the GraphDef did not say.

    A named input that is no placeholder (the float image Inception v3 graphs decode
    to) has its shape only from TensorFlow's shape inference.
    """
    fed: list[FedInput] = []
    for item in plan.inputs:
        tensor = graph.get_tensor_by_name(f"{item.name}:0")
        dtype = _SIGNATURE_DTYPES.get(tensor.dtype.base_dtype.name, tensor.dtype.base_dtype.name)
        shape = item.shape if item.shape is not None else _static_shape(tensor)
        fed.append(FedInput(name=item.name, dtype=item.dtype if item.shape is not None else dtype, shape=shape, image=False))
    return FeedPlan(inputs=mark_image(fed), fixed=plan.fixed, notes=plan.notes)


# TensorFlow's dtype names -> graph/signature.py's.
_SIGNATURE_DTYPES = {"float32": "float", "float16": "half", "float64": "double"}


# The .tflite header: a flatbuffer whose file identifier (bytes 4-8) is TFL3.
TFLITE_IDENTIFIER = b"TFL3"


class TFLiteRunner(Runner):
    """A TensorFlow Lite model in TensorFlow's Lite interpreter, run like a GraphRunner.

    ``model`` is the .tflite file or its bytes. Tensor names are the frozen
    graph's (the converter keeps them), so ``input_name``/``output_name`` take
    the same names; left out, the image input is the only (float) one and the output
    the only one, or the one among ``source_outputs`` (the graph's signature
    outputs). Other inputs get random data per run like a graph's; ``feeds`` and
    ``source_values`` (the source graph's auxiliary inputs' inference values, should
    the model still take them) are fed to the inputs of those names on every run.
    ``threads`` is the interpreter's thread count (None: its default).
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
        feeds: Sequence[Feed | str] = (),
        source_values: Mapping[str, object] | None = None,
        preserve_all_tensors: bool = False,
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
                # Asked for on purpose (layers.py reads every intermediate tensor); the memory is bounded there.
                warnings.filterwarnings("ignore", message=r".*experimental_preserve_all_tensors")
                # Preserved, every intermediate tensor can be read after a run (layers.py); else their memory is reused.
                self._interpreter = tf.lite.Interpreter(model_content=data, num_threads=threads,
                                                        experimental_preserve_all_tensors=preserve_all_tensors)
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
        self.input_dtype: str = dtypes[self.input_name]
        if self.input_dtype not in _FLOAT_DTYPES:
            raise InspectorError(
                f"{self.what}: input {self.input_name!r} takes {self.input_dtype}, not a float image "
                "(a fully integer-quantized model?); export with float input and output"
            )
        fixed: dict[str, np.ndarray] = {}
        for name, value in (source_values or {}).items():
            if name in inputs:
                fixed[name] = np.asarray(value, dtype=inputs[name]["dtype"])
        for feed in (Feed.parse(f) for f in feeds):
            name = feed.name.removesuffix(":0")
            if name in inputs:
                fixed[name] = feed.value.astype(inputs[name]["dtype"])
        fed = [FedInput(name=name, dtype=_SIGNATURE_DTYPES.get(dtypes[name], dtypes[name]),
                        shape=tuple(int(d) for d in detail["shape_signature"]), image=False)
               for name, detail in inputs.items() if name not in fixed]
        # The image input is the one chosen above, first.
        fed.sort(key=lambda item: item.name != self.input_name)
        self.plan = FeedPlan(inputs=mark_image(fed), fixed=fixed)
        self._indices = {name: int(d["index"]) for name, d in inputs.items()}
        self._dtypes = {name: np.dtype(d["dtype"]) for name, d in inputs.items()}
        self._fed_shapes = {name: tuple(int(x) for x in d["shape"]) for name, d in inputs.items()}
        self._output_index = int(outputs[self.output_name]["index"])
        self.input_shape: tuple[int, ...] | None = tuple(int(d) for d in inputs[self.input_name]["shape_signature"])
        self.input_size: tuple[int, int] | None = image_size(self.input_shape)
        output_shape = tuple(int(d) for d in outputs[self.output_name]["shape_signature"])
        self.classes: int | None = output_shape[-1] if output_shape and output_shape[-1] > 0 else None

    def run(self, inputs: Inputs) -> np.ndarray:
        """The output for one run's inputs (see Runner.values), flattened to one score per class."""
        values = {name: np.asarray(value, dtype=self._dtypes[name]) for name, value in self.values(inputs).items()}
        try:
            resized = False
            for name, value in values.items():
                if tuple(np.shape(value)) != self._fed_shapes[name]:
                    self._interpreter.resize_tensor_input(self._indices[name], list(np.shape(value)), strict=True)
                    self._fed_shapes[name] = tuple(np.shape(value))
                    resized = True
            if resized:
                self._allocate()
            for name, value in values.items():
                self._interpreter.set_tensor(self._indices[name], value)
            self._interpreter.invoke()
            out = self._interpreter.get_tensor(self._output_index)
        except (ValueError, RuntimeError) as exc:
            raise self._cannot_run(values, exc) from None
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def tensors(self) -> list[tuple[str, int, tuple[int, ...]]]:
        """Every float32 tensor of the model: (name, index, shape)."""
        return [(d["name"], int(d["index"]), tuple(int(x) for x in d["shape"]))
                for d in self._interpreter.get_tensor_details() if np.dtype(d["dtype"]) == np.float32]

    def fetch(self, inputs: Inputs, indices: Sequence[int]) -> list[np.ndarray]:
        """The tensors at ``indices`` after one run on ``inputs`` (the model made with ``preserve_all_tensors``)."""
        self.run(inputs)
        try:
            return [np.array(self._interpreter.get_tensor(int(i))) for i in indices]
        except (ValueError, RuntimeError) as exc:
            raise self._cannot_run(self.values(inputs), exc) from None

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
    inputs: Sequence[InputOption | str] = (),
    feeds: Sequence[Feed | str] = (),
    threads: int | None = None,
    allow_unsafe_ops: bool = False,
) -> Iterator[tuple[GraphRunner, GraphRunner]]:
    """Runners for ``a`` and ``b`` (named "a (path)" and "b (path)" in errors) fed alike, with one output name; both closed after.

    A --feed needs a node of its name in one graph at least: the optimizer may
    have folded a placeholder the other still has.
    """
    parsed = [Feed.parse(f) for f in feeds]
    for feed in parsed:
        name = feed.name.removesuffix(":0")
        if not any(node.name == name for graph in (a.graph, b.graph) for node in graph.node):
            raise InspectorError(f"--feed {name}: neither {a.path} nor {b.path} has a node of that name; "
                                 "pass a placeholder's name (inspector summarize lists them)")
    output_name = one_name(output_names, "--output_names")
    options = dict(input_names=input_names, output_name=output_name, inputs=inputs, feeds=parsed, threads=threads,
                   allow_unsafe_ops=allow_unsafe_ops, strict_feeds=False)
    with GraphRunner(a, what=f"a ({a.path})", **options) as runner_a, GraphRunner(b, what=f"b ({b.path})", **options) as runner_b:
        _check_same_inputs(runner_a, runner_b)
        yield runner_a, runner_b


def _check_same_inputs(a: Runner, b: Runner) -> None:
    names_a, names_b = [i.name for i in a.plan.inputs], [i.name for i in b.plan.inputs]
    if len(names_a) == len(names_b) == 1 or set(names_a) == set(names_b):
        return
    raise InspectorError(
        f"{b.what}: mismatched inputs: takes {', '.join(names_b) or 'nothing'} where {a.what} takes "
        f"{', '.join(names_a) or 'nothing'}; compare two versions of the same model, or name the inputs with --input"
    )


def one_name(names: Sequence[str] | str | None, flag: str) -> str | None:
    """One output name from a name, a comma-separated list or a sequence; none given is None, several an error."""
    parsed = parse_names(names)
    if parsed is None:
        return None
    if not parsed:
        raise InspectorError(f"{flag} is empty; pass one node name, or leave {flag} out to read it from the graph")
    if len(parsed) > 1:
        raise InspectorError(f"{flag}: one output is compared, not {len(parsed)} ({', '.join(parsed)}); pass one name")
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
