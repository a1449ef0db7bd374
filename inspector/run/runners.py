"""Running a classifier (a frozen graph, or a .tflite in TensorFlow Lite): input/output detection, codelab-style image reading, labels, top-k."""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.graph import tfcompat
from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph, load_graph
from inspector.graph.ops import is_random
from inspector.graph.refs import node_of, upstream
from inspector.graph.stats import graph_stats

# retrain.py's MobileNet models are trained on (x - 127.5) / 127.5; its Inception v3 on
# (x - 128) / 128. The codelab's label_image defaults to 128 for both, which is close
# but not what retrain.py used for MobileNet.
MOBILENET_MEAN = 127.5
MOBILENET_STD = 127.5
INCEPTION_MEAN = 128.0
INCEPTION_STD = 128.0

# Where retrain.py (and the model zoo) leave the labels next to a graph.
LABEL_FILE_NAMES = ("retrained_labels.txt", "output_labels.txt", "labels.txt")

# How label_image and inspector call the name options, for error messages.
CODELAB_FLAGS = ("--input_layer", "--output_layer")
INSPECTOR_FLAGS = ("--input_names", "--output_names")

_FLOAT_DTYPES = ("float32", "float")


@dataclass(frozen=True)
class Prediction:
    """One class of a classifier's output: its index, its label (the index as text without labels) and score."""

    index: int
    label: str
    score: float

    def to_json(self) -> dict:
        return {"index": self.index, "label": self.label, "score": self.score}


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

    ``input_name``/``output_name`` left out are read from the graph (``name``,
    ``name:0`` and the codelab's ``import/name`` are all accepted). ``threads``
    fixes TensorFlow's intra- and inter-op thread pools (None: TensorFlow's default,
    one per core). ``what`` names the graph in error messages.
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
    ) -> None:
        if isinstance(graph, LoadedGraph):
            graph_def, self.path = graph.graph, graph.path
        else:
            graph_def, self.path = graph, None
        self.what = what or (str(self.path) if self.path is not None else "the graph")
        self.graph_def = graph_def
        names = {node.name for node in graph_def.node}
        self.detected: dict[str, str] = {}
        if input_name:
            self.input_name = _resolve_name(input_name, names, what=self.what, role="input", flag=flags[0], graph=graph_def)
        else:
            self.input_name = _detect_input(graph_def, what=self.what, flag=flags[0])
            self.detected["input"] = self.input_name
        if output_name:
            self.output_name = _resolve_name(output_name, names, what=self.what, role="output", flag=flags[1], graph=graph_def)
        else:
            self.output_name = _detect_output(graph_def, what=self.what, flag=flags[1])
            self.detected["output"] = self.output_name
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
            raise InspectorError(
                f"{self.what}: input {self.input_name!r} takes {self.input_dtype}, not a float image; "
                f"pass the float image tensor with {flags[0]} (for retrain.py's Inception v3 graphs: Mul)"
            )
        self.input_shape: tuple[int, ...] | None = _static_shape(self._input)
        self.input_size: tuple[int, int] | None = _image_size(self.input_shape, what=self.what, name=self.input_name)
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
    the same names, and left out they are read from the model. ``threads`` is
    the interpreter's thread count (None: its default). ``random_ops`` names the
    source graph's random ops upstream of the output, for verify's blame line.
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
        if input_name:
            self.input_name = _resolve_tflite_name(input_name, inputs, what=self.what, role="input", flag=flags[0])
        else:
            self.input_name = _detect_tflite_input(inputs, what=self.what, flag=flags[0])
            self.detected["input"] = self.input_name
        if output_name:
            self.output_name = _resolve_tflite_name(output_name, outputs, what=self.what, role="output", flag=flags[1])
        else:
            self.output_name = _detect_tflite_output(outputs, what=self.what, flag=flags[1])
            self.detected["output"] = self.output_name
        source, sink = inputs[self.input_name], outputs[self.output_name]
        self.input_dtype: str = np.dtype(source["dtype"]).name
        if self.input_dtype not in _FLOAT_DTYPES:
            raise InspectorError(
                f"{self.what}: input {self.input_name!r} takes {self.input_dtype}, not a float image "
                "(a fully integer-quantized model?); export with float input and output"
            )
        self._input_index, self._output_index = int(source["index"]), int(sink["index"])
        self._fed_shape = tuple(int(d) for d in source["shape"])
        self.input_shape: tuple[int, ...] | None = tuple(int(d) for d in source["shape_signature"])
        self.input_size: tuple[int, int] | None = _image_size(self.input_shape, what=self.what, name=self.input_name)
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


def _read_model(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InspectorError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise InspectorError(f"{path}: is a folder; pass a .tflite file") from None
    except PermissionError:
        raise InspectorError(f"{path}: permission denied; make the file readable (chmod +r)") from None
    except OSError as exc:
        raise InspectorError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None


def _load_error(what: str, exc: BaseException) -> InspectorError:
    text = str(exc)
    if "Select TensorFlow op" in text or "Flex" in text:
        return InspectorError(
            f"{what}: the model uses TensorFlow Select ops, which this TensorFlow's Lite interpreter cannot run; "
            "test it in an app that links tensorflow-lite-select-tf-ops, or export without Select ops"
        )
    return InspectorError(f"{what}: TensorFlow Lite cannot load this model ({tfcompat.error_line(exc)}); convert it again")


def _resolve_tflite_name(name: str, tensors: dict[str, Any], *, what: str, role: str, flag: str) -> str:
    candidates = [name, node_of(name)]
    if candidates[-1].startswith("import/"):
        candidates.append(candidates[-1].removeprefix("import/"))
    for candidate in candidates:
        if candidate in tensors:
            return candidate
    have = ", ".join(sorted(tensors)) or "none"
    raise InspectorError(f"{what}: no {role} tensor named {name!r} (the model's {role}s: {have}); pass one of them with {flag}")


def _detect_tflite_input(tensors: dict[str, Any], *, what: str, flag: str) -> str:
    if len(tensors) == 1:
        return next(iter(tensors))
    floats = [name for name, d in tensors.items() if np.dtype(d["dtype"]).name in _FLOAT_DTYPES]
    if len(floats) == 1:
        return floats[0]
    shown = ", ".join(sorted(tensors)) or "none"
    raise InspectorError(f"{what}: several model inputs ({shown}); pick the image input with {flag}")


def _detect_tflite_output(tensors: dict[str, Any], *, what: str, flag: str) -> str:
    if len(tensors) == 1:
        return next(iter(tensors))
    if "final_result" in tensors:
        return "final_result"
    shown = ", ".join(sorted(tensors)) or "none"
    raise InspectorError(f"{what}: several model outputs ({shown}); pick one with {flag}")


# --- names and sizes ----------------------------------------------------------


def _resolve_name(name: str, names: set[str], *, what: str, role: str, flag: str, graph: GraphDef) -> str:
    candidates = [node_of(name)]
    if candidates[0].startswith("import/"):
        # The codelab's label_image imports under "import/"; people copy those names.
        candidates.append(candidates[0].removeprefix("import/"))
    for candidate in candidates:
        if candidate in names:
            return candidate
    try:
        found = _detect_input(graph, what=what, flag=flag) if role == "input" else _detect_output(graph, what=what, flag=flag)
        hint = f"; this graph's {role} is {found!r}: pass {flag} {found} or leave {flag} out"
    except InspectorError:
        hint = f"; pass the {role} node's name with {flag}"
    default = " (the codelab's default, for Inception v3)" if role == "input" and name == "Mul" else ""
    raise InspectorError(f"{what}: no node named {name!r}{default}{hint}")


def one_name(names: Sequence[str] | str | None, flag: str) -> str | None:
    """One tensor name from a name, a comma-separated list or a sequence; several is an error."""
    if names is None:
        return None
    if isinstance(names, str):
        names = [n for n in (part.strip() for part in names.split(",")) if n]
    names = list(names)
    if not names:
        return None
    if len(names) > 1:
        raise InspectorError(f"{flag}: one image input and one output are compared, not {len(names)} ({', '.join(names)}); pass one name")
    return names[0]


def _detect_input(graph: GraphDef, *, what: str, flag: str) -> str:
    stats = graph_stats(graph)
    floats = [s for s in stats.inputs if s.dtype in _FLOAT_DTYPES]
    if len(floats) == 1:
        return floats[0].name
    if len(floats) > 1:
        shown = ", ".join(s.name for s in floats)
        raise InspectorError(f"{what}: several input placeholders ({shown}); pick one with {flag}")
    names = {node.name for node in graph.node}
    # retrain.py's Inception v3 graphs take JPEG bytes (DecodeJpeg/contents) and
    # resize inside; the float image the codelab feeds is the Mul after the resize.
    if "Mul" in names and any(s.dtype == "string" for s in stats.inputs):
        return "Mul"
    if stats.inputs:
        shown = ", ".join(f"{s.name} ({s.dtype})" for s in stats.inputs)
        raise InspectorError(f"{what}: no float image placeholder (found {shown}); pass the image input with {flag}")
    raise InspectorError(f"{what}: found no input placeholder; pass the image input with {flag}")


def _detect_output(graph: GraphDef, *, what: str, flag: str) -> str:
    names = {node.name for node in graph.node}
    # retrain.py always names its softmax final_result (the codelab's default too).
    if "final_result" in names:
        return "final_result"
    outputs = graph_stats(graph).outputs
    if len(outputs) == 1:
        return outputs[0]
    if not outputs:
        raise InspectorError(f"{what}: found no output (every node is read by another); pass it with {flag}")
    shown = ", ".join(outputs[:6]) + (" ..." if len(outputs) > 6 else "")
    raise InspectorError(f"{what}: several possible outputs ({shown}); pick one with {flag}")


def random_ops_upstream(graph: GraphDef, output: str) -> tuple[str, ...]:
    """Names of random ops the output depends on (training dropout left in, typically)."""
    needed = upstream(graph, [output])
    return tuple(sorted(node.name for node in graph.node if node.name in needed and is_random(node.op)))


def _static_shape(tensor: Any) -> tuple[int, ...] | None:
    shape = tensor.shape
    if shape.rank is None:
        return None
    return tuple(-1 if d is None else int(d) for d in shape.as_list())


def _image_size(shape: tuple[int, ...] | None, *, what: str, name: str) -> tuple[int, int] | None:
    """(H, W) of an NHWC image input, or None when the graph leaves it open."""
    if shape is None:
        return None
    if len(shape) != 4:
        raise InspectorError(
            f"{what}: input {name!r} has shape {list(shape)}, not an image batch [1, height, width, 3]; "
            "pass the image input's name"
        )
    if shape[3] not in (-1, 3):
        raise InspectorError(f"{what}: input {name!r} takes {shape[3]} channels; these tools feed RGB images (3)")
    if shape[1] > 0 and shape[2] > 0:
        return shape[1], shape[2]
    return None


def resolve_size(
    runners: Sequence[GraphRunner],
    *,
    input_height: int | None,
    input_width: int | None,
    flags: tuple[str, str] = ("--input_height", "--input_width"),
) -> tuple[tuple[int, int], tuple[str, ...]]:
    """The one image size to feed every runner, and notes on where it came from.

    Given sizes must match each graph that declares one; otherwise the declared
    size is used, and a graph whose input has no shape gets the other's size.
    """
    if (input_height is None) != (input_width is None):
        raise InspectorError(f"pass both {flags[0]} and {flags[1]}, or neither (they are read from the graph)")
    declared = [(r, r.input_size) for r in runners if r.input_size is not None]
    notes: list[str] = []
    if input_height is not None and input_width is not None:
        if input_height <= 0 or input_width <= 0:
            raise InspectorError(f"{flags[0]} and {flags[1]} must be positive, not {input_height}x{input_width}")
        size = (input_height, input_width)
        for runner, own in declared:
            if own != size:
                raise InspectorError(
                    f"{runner.what}: input {runner.input_name!r} takes {own[0]}x{own[1]} images, not "
                    f"{size[0]}x{size[1]}; leave {flags[0]}/{flags[1]} out to use the graph's size"
                )
        return size, ()
    if not declared:
        which = ", ".join(r.what for r in runners)
        inputs = " and ".join(repr(r.input_name) for r in runners)
        whose = "input" if len(runners) == 1 else "inputs"
        verb = "declares" if len(runners) == 1 else "declare"
        raise InspectorError(
            f"{which}: {whose} {inputs} {verb} no image size (no shape, as after TF 1.x "
            f"optimize_for_inference); pass {flags[0]} and {flags[1]} (the size retrain.py trained at, e.g. 128 or 224)"
        )
    sizes = {own for _, own in declared}
    if len(sizes) > 1:
        (first, one), (last, other) = declared[0], declared[-1]
        raise InspectorError(
            f"{last.what}: mismatched inputs: takes {other[0]}x{other[1]} images where {first.what} takes "
            f"{one[0]}x{one[1]}; compare two versions of the same model (e.g. retrained and optimized)"
        )
    (size,) = sizes
    source = declared[0][0]
    for runner in runners:
        if runner.input_size is None:
            notes.append(
                f"{runner.what}: input {runner.input_name!r} has no shape; fed {size[0]}x{size[1]} images, "
                f"the size {source.what} declares"
            )
    return size, tuple(notes)


# --- images -------------------------------------------------------------------


class _ImageReader:
    """The codelab's read_tensor_from_image_file as one graph, built once and fed per image."""

    def __init__(self) -> None:
        tf = tfcompat.tf()
        self._graph = tf.Graph()
        with self._graph.as_default():
            v1 = tf.compat.v1
            self._data = v1.placeholder(tf.string, [], name="file_contents")
            self._size = v1.placeholder(tf.int32, [2], name="size")
            self._mean = v1.placeholder(tf.float32, [], name="mean")
            self._std = v1.placeholder(tf.float32, [], name="std")
            # decode_image reads JPEG, PNG, GIF (first frame) and BMP by their bytes,
            # where the codelab goes by the file name's extension.
            image = tf.io.decode_image(self._data, channels=3, expand_animations=False)
            batch = tf.expand_dims(tf.cast(image, tf.float32), 0)
            # resize_bilinear without half-pixel centres: what the TF 1.x codelab ran
            # (tf.image.resize in TF 2 samples differently and shifts scores).
            resized = v1.image.resize_bilinear(batch, self._size)
            self._out = tf.divide(tf.subtract(resized, [self._mean]), [self._std])
        self._session = v1.Session(graph=self._graph, config=v1.ConfigProto(device_count={"GPU": 0}))

    def __call__(self, data: bytes, *, size: tuple[int, int], mean: float, std: float) -> np.ndarray:
        return self._session.run(
            self._out, {self._data: data, self._size: list(size), self._mean: mean, self._std: std}
        )


@functools.lru_cache(maxsize=1)
def _image_reader() -> _ImageReader:
    return _ImageReader()


def read_image(path: Path, *, size: tuple[int, int], mean: float, std: float) -> np.ndarray:
    """A [1, H, W, 3] float32 batch from an image file, preprocessed as the codelab's label_image does."""
    path = Path(path)
    if std == 0:
        raise InspectorError("the input std is 0; pass a non-zero --input_std (127.5 for retrain.py's MobileNet)")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InspectorError(f"{path}: no such image; check the path") from None
    except IsADirectoryError:
        raise InspectorError(f"{path}: is a folder, not an image; pass one image file") from None
    except PermissionError:
        raise InspectorError(f"{path}: permission denied; make the file readable (chmod +r)") from None
    except OSError as exc:
        raise InspectorError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None
    return decode_image(data, size=size, mean=mean, std=std, what=str(path))


def decode_image(data: bytes, *, size: tuple[int, int], mean: float, std: float, what: str = "the image") -> np.ndarray:
    """Image bytes -> [1, H, W, 3] float32: decode, cast, expand, resize_bilinear, (x - mean) / std."""
    tf = tfcompat.tf()
    try:
        return _image_reader()(data, size=size, mean=mean, std=std)
    except tf.errors.OpError:
        hint = "pass a JPEG, PNG, GIF or BMP photo"
        if data[:4] in (b"\x0a\x0c\x0a\x05", b"\x0a\x0b\x0a\x05") or what.endswith((".pb", ".pbtxt")):
            hint = "this looks like a graph: are --graph and --image swapped?"
        kind = "an empty file" if not data else "not an image TensorFlow can decode"
        raise InspectorError(f"{what}: {kind}; {hint}") from None


def random_batch(size: tuple[int, int], *, rng: np.random.Generator, mean: float, std: float) -> np.ndarray:
    """A random "photo": uniform 0..255 pixels, normalised like a real one."""
    pixels = rng.uniform(0.0, 255.0, size=(1, size[0], size[1], 3))
    return ((pixels - mean) / std).astype(np.float32)


# --- labels -------------------------------------------------------------------


def load_labels(path: Path, *, classes: int | None = None, output: str = "the output") -> tuple[str, ...]:
    """One label per line, as retrain.py writes them; fewer labels than classes is an error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InspectorError(f"{path}: no such labels file; pass the labels retrain.py wrote (tf_files/retrained_labels.txt)") from None
    except IsADirectoryError:
        raise InspectorError(f"{path}: is a folder, not a labels file; pass a text file with one label per line") from None
    except OSError as exc:
        raise InspectorError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None
    labels = [line.rstrip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if classes is not None and len(labels) < classes:
        raise InspectorError(
            f"{path}: {len(labels)} labels but {output} has {classes} classes; "
            "pass the labels file written with this graph (retrain.py --output_labels)"
        )
    return tuple(labels)


def find_labels(graph_path: Path | None) -> Path | None:
    """The labels file retrain.py (or the model zoo) left next to a graph, if any."""
    if graph_path is None:
        return None
    folder = graph_path if graph_path.is_dir() else graph_path.parent
    for name in LABEL_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def top_predictions(scores: np.ndarray, labels: Sequence[str] = (), *, k: int) -> tuple[Prediction, ...]:
    """The k best classes, best first (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")[: max(k, 0)]
    return tuple(
        Prediction(index=int(i), label=labels[i] if i < len(labels) else str(int(i)), score=float(scores[i]))
        for i in order
    )


# --- label one image ------------------------------------------------------------


@dataclass(frozen=True)
class LabelResult:
    """One image through one graph, as the codelab's label_image reports it, plus what was read from the graph."""

    graph: Path | None
    image: Path
    input_name: str
    output_name: str
    input_size: tuple[int, int]
    input_mean: float
    input_std: float
    labels: Path | None
    seconds: float
    top: tuple[Prediction, ...]
    # (option, value) pairs for each setting read from the graph rather than given,
    # e.g. ("input_layer", "input"), ("input_height", "128"); the caller words the note.
    detected: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict:
        return {
            "graph": str(self.graph) if self.graph is not None else None,
            "image": str(self.image),
            "input_name": self.input_name,
            "output_name": self.output_name,
            "input_size": list(self.input_size),
            "input_mean": self.input_mean,
            "input_std": self.input_std,
            "labels": str(self.labels) if self.labels is not None else None,
            "seconds": self.seconds,
            "top": [p.to_json() for p in self.top],
            "detected": dict(self.detected),
        }


def label_image(
    graph: LoadedGraph | Path | str,
    image: Path | str,
    *,
    labels: Path | str | None = None,
    top_k: int = 5,
    input_name: str | None = None,
    output_name: str | None = None,
    input_height: int | None = None,
    input_width: int | None = None,
    input_mean: float | None = None,
    input_std: float | None = None,
    find_labels_file: bool = True,
    flags: tuple[str, str] = CODELAB_FLAGS,
) -> LabelResult:
    """Classify one image the way the codelab's ``scripts/label_image.py`` does.

    Options left as None are read from the graph: input and output names, input
    size, and mean/std (127.5 for MobileNet, 128 when the input is Inception's
    ``Mul``). Without ``labels``, a labels file beside the graph is used
    (``find_labels_file``), else class indices stand in for names.
    """
    loaded = graph if isinstance(graph, LoadedGraph) else load_graph(graph)
    image = Path(image)
    if not image.exists():
        raise InspectorError(f"{image}: no such image; check the path")
    if top_k < 1:
        raise InspectorError(f"top_k must be at least 1, not {top_k}")
    detected: list[tuple[str, str]] = []
    with GraphRunner(loaded, input_name=input_name, output_name=output_name, flags=flags) as runner:
        if "input" in runner.detected:
            detected.append(("input_layer", runner.input_name))
        if "output" in runner.detected:
            detected.append(("output_layer", runner.output_name))
        size, _ = resolve_size([runner], input_height=input_height, input_width=input_width)
        if input_height is None:
            detected += [("input_height", str(size[0])), ("input_width", str(size[1]))]
        inception = runner.input_name == "Mul"
        mean = input_mean if input_mean is not None else (INCEPTION_MEAN if inception else MOBILENET_MEAN)
        std = input_std if input_std is not None else (INCEPTION_STD if inception else MOBILENET_STD)
        if input_mean is None:
            detected.append(("input_mean", f"{mean:g}"))
        if input_std is None:
            detected.append(("input_std", f"{std:g}"))
        labels_path = Path(labels) if labels is not None else None
        if labels_path is None and find_labels_file:
            labels_path = find_labels(loaded.path)
            if labels_path is not None:
                detected.append(("labels", str(labels_path)))
        label_list: tuple[str, ...] = ()
        if labels_path is not None:
            # Checked before running so a wrong labels file fails fast, when the
            # graph declares its class count.
            label_list = load_labels(labels_path, classes=runner.classes, output=f"{runner.what}'s output {runner.output_name!r}")
        batch = read_image(image, size=size, mean=mean, std=std)
        scores, seconds = runner.timed_run(batch)
    if labels_path is not None and len(label_list) < scores.size:
        load_labels(labels_path, classes=scores.size, output=f"{loaded.path}'s output {runner.output_name!r}")
    return LabelResult(
        graph=loaded.path,
        image=image,
        input_name=runner.input_name,
        output_name=runner.output_name,
        input_size=size,
        input_mean=mean,
        input_std=std,
        labels=labels_path,
        seconds=seconds,
        top=top_predictions(scores, label_list, k=top_k),
        detected=tuple(detected),
    )


__all__ = [
    "GraphRunner",
    "TFLiteRunner",
    "Runner",
    "TFLITE_IDENTIFIER",
    "LabelResult",
    "Prediction",
    "label_image",
    "load_labels",
    "find_labels",
    "read_image",
    "decode_image",
    "random_batch",
    "resolve_size",
    "one_name",
    "random_ops_upstream",
    "top_predictions",
]
