"""What a running command feeds a graph: --input and --feed parsed, and each placeholder's value decided (photo, random data, inference value, given)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector.errors import InspectorError
from inspector.files import read_limited, size_text
from inspector.graph.settings import PURPOSE_WORDS
from inspector.graph.signature import Signature

# A .npy given with --feed or --image is read whole; this keeps one to what a model input plausibly holds.
MAX_NPY_BYTES = 256 * 2**20

# TensorFlow's dtype names as graph/signature.py spells them -> NumPy's.
_NUMPY_DTYPES = {"float": "float32", "half": "float16", "double": "float64", "bfloat16": "float32"}
_DTYPE_SPELLINGS = {
    "float32": "float", "float": "float", "f32": "float", "float16": "half", "half": "half", "float64": "double",
    "double": "double", "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "uint8": "uint8",
    "uint16": "uint16", "bool": "bool", "string": "string",
}
_FLOAT_NAMES = frozenset({"float", "half", "double", "bfloat16"})
_DTYPES_SHOWN = "float32, float16, float64, int8, int16, int32, int64, uint8, uint16, bool"


def numpy_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype a placeholder of TensorFlow dtype ``dtype`` ("float", "int32", ...) is fed."""
    if dtype == "string":
        return np.dtype(object)
    return np.dtype(_NUMPY_DTYPES.get(dtype, dtype))


def shape_text(shape: Sequence[int] | None) -> str:
    return "unknown shape" if shape is None else "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


# --- the options ------------------------------------------------------------------------


@dataclass(frozen=True)
class InputOption:
    """``--input NAME[:SHAPE[:DTYPE]]``: a model input, with the shape and dtype to feed it when the graph leaves them open."""

    name: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None  # graph/signature.py's spelling: "float", "int32", ...

    @classmethod
    def parse(cls, text: str | InputOption) -> InputOption:
        if isinstance(text, InputOption):
            return text
        parts = text.strip().split(":")
        name = parts[0].strip()
        if not name or len(parts) > 3:
            raise InspectorError(f"--input {text!r}: expected NAME[:SHAPE[:DTYPE]], e.g. --input images:1,64,64,1:float32")
        shape_part = parts[1].strip() if len(parts) > 1 else ""
        if shape_part == "0" and len(parts) == 2:
            shape_part = ""  # "name:0" is the tensor of node "name", as TensorFlow writes it
        shape = _parse_shape(shape_part, text) if shape_part else None
        dtype = None
        if len(parts) == 3 and parts[2].strip():
            spelled = parts[2].strip().lower()
            if spelled not in _DTYPE_SPELLINGS:
                raise InspectorError(f"--input {text!r}: unknown dtype {parts[2].strip()!r}; pass one of {_DTYPES_SHOWN}")
            dtype = _DTYPE_SPELLINGS[spelled]
        return cls(name=name, shape=shape, dtype=dtype)


def _parse_shape(text: str, option: str) -> tuple[int, ...]:
    dims = [d.strip() for d in re.split(r"[,x]", text.strip("[]() ")) if d.strip()]
    shape: list[int] = []
    for dim in dims:
        if dim in ("?", "-1", "None"):
            shape.append(-1)
        elif dim.isdigit() and int(dim) > 0:
            shape.append(int(dim))
        else:
            raise InspectorError(f"--input {option!r}: {dim!r} is not a dimension; write the shape as 1,64,64,1 (? for any)")
    return tuple(shape)


@dataclass(frozen=True)
class Feed:
    """``--feed NAME=VALUE|FILE.npy``: a fixed value fed to a placeholder (or any tensor) on every run."""

    name: str
    value: np.ndarray = field(compare=False)
    source: str  # the value as given, or the .npy's path

    @classmethod
    def parse(cls, text: str | Feed) -> Feed:
        if isinstance(text, Feed):
            return text
        name, sep, raw = text.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name or not raw:
            raise InspectorError(f"--feed {text!r}: expected NAME=VALUE or NAME=FILE.npy, e.g. --feed keep_prob=1.0")
        if raw.lower().endswith(".npy"):
            return cls(name=name, value=read_npy(Path(raw)), source=raw)
        return cls(name=name, value=_parse_value(raw, text), source=raw)


def _parse_value(raw: str, option: str) -> np.ndarray:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return np.asarray(lowered == "true")
    items = [v.strip() for v in raw.strip("[]").split(",")]
    try:
        numbers = [int(v) if re.fullmatch(r"[+-]?\d+", v) else float(v) for v in items]
    except ValueError:
        raise InspectorError(
            f"--feed {option!r}: {raw!r} is not a number, true/false, a list like 1,2,3 or a .npy file; pass one of those"
        ) from None
    return np.asarray(numbers[0] if len(numbers) == 1 and "," not in raw else numbers)


def read_npy(path: Path) -> np.ndarray:
    """A NumPy array from a .npy file: bounded, and never unpickled (a .npy can carry Python objects)."""
    data = read_limited(
        path, limit=MAX_NPY_BYTES, itself="pass the .npy file itself",
        too_big=lambda size: f"{size_text(size)} is over the {size_text(MAX_NPY_BYTES)} limit for a fed array; pass a smaller one",
        missing="no such .npy file; check the path", folder="is a folder; pass a .npy file",
    )
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InspectorError(f"{path}: not a NumPy .npy array ({str(exc).splitlines()[0][:120]}); save one with numpy.save") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise InspectorError(f"{path}: holds {getattr(array, 'dtype', type(array).__name__)} data; feed numbers (numpy.save of a numeric array)")
    return array


# --- the plan: what each placeholder gets -------------------------------------------------


@dataclass(frozen=True)
class FedInput:
    """A model input fed new data on every run: photos (the image input) or seeded random data."""

    name: str
    dtype: str                       # graph/signature.py's spelling
    shape: tuple[int, ...] | None    # as declared, or as --input gave it; -1 for an open dimension
    image: bool                      # photos are fed here (rank 4, float)

    @property
    def channels(self) -> int | None:
        return self.shape[3] if self.image and self.shape is not None and len(self.shape) == 4 and self.shape[3] > 0 else None

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape) if self.shape is not None else None,
                "image": self.image}


@dataclass(frozen=True)
class FeedPlan:
    """For one graph: the inputs fed per run, the values fed the same on every run, and a note on each automatic one."""

    inputs: tuple[FedInput, ...]
    fixed: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)
    notes: tuple[str, ...] = ()

    @property
    def image(self) -> FedInput | None:
        return next((i for i in self.inputs if i.image), None)

    @property
    def primary(self) -> FedInput | None:
        """The input errors and reports name: the image input, else the first."""
        return self.image or (self.inputs[0] if self.inputs else None)

    def to_json(self) -> dict:
        return {"inputs": [i.to_json() for i in self.inputs],
                "fixed": {k: np.asarray(v).tolist() for k, v in self.fixed.items()}, "notes": list(self.notes)}


def plan_feeds(
    sig: Signature,
    *,
    node_names: Mapping[str, str] | set[str],
    what: str,
    input_names: Sequence[str] | None = None,
    inputs: Sequence[InputOption] = (),
    feeds: Sequence[Feed] = (),
    strict: bool = True,
) -> FeedPlan:
    """What to feed one graph, from its signature and the user's --input_names, --input and --feed.

    The model inputs are the named ones (``input_names``, then each --input), else the
    signature's. A needed auxiliary input (a dropout keep probability, a training flag)
    gets its inference value, with a note saying so; one whose value the structure does
    not tell must be given with --feed. A --feed value replaces whatever would be fed
    there. ``node_names`` are the graph's node names (or node name -> op), for
    checking --feed names; with ``strict=False`` a feed the graph has no node for is
    left out rather than an error (the other graph of a pair may still have it).
    """
    given = {f.name.removesuffix(":0"): f for f in feeds}
    unknown = [name for name in given if name not in node_names]
    if unknown and strict:
        raise InspectorError(f"{what}: --feed {unknown[0]}: no such node in the graph; pass a placeholder's name "
                             f"(the graph's inputs: {', '.join(_all_placeholders(sig)) or 'none'})")
    options = {o.name.removesuffix(":0"): o for o in inputs}
    names = list(dict.fromkeys([*(input_names or ()), *options]))
    specs = [sig.spec(n) for n in names] if names else list(sig.inputs)
    fed: list[FedInput] = []
    for name, spec in zip(names or [s.name for s in sig.inputs], specs):
        if name in given:
            continue
        option = options.get(name)
        dtype = (option.dtype if option and option.dtype else None) or (spec.dtype if spec else "float")
        shape = option.shape if option and option.shape is not None else (spec.shape if spec else None)
        fed.append(FedInput(name=name, dtype=dtype, shape=shape, image=False))
    fed = list(mark_image(fed))

    fixed: dict[str, np.ndarray] = {}
    notes: list[str] = []
    values = sig.inference_values
    for spec in sig.auxiliary + sig.optional:
        if spec.name in given or spec.name in names or not spec.needed:
            continue
        if spec.name in values:
            fixed[spec.name] = np.asarray(values[spec.name], dtype=numpy_dtype(spec.dtype))
            words = PURPOSE_WORDS.get(spec.purpose, spec.role)
            notes.append(f"fed {spec.name} = {value_text(values[spec.name])}, the value it takes at inference as a {words}; "
                         f"--feed {spec.name}=VALUE feeds another")
        elif spec.role != "optional":
            raise InspectorError(
                f"{what}: {spec.name} ({spec.role}, {spec.dtype} {shape_text(spec.shape)}) must be fed and its value at "
                f"inference cannot be read from the graph; pass --feed {spec.name}=VALUE"
            )
    for name, feed in given.items():
        if name not in node_names:
            continue
        spec = sig.spec(name)
        value = feed.value
        if spec is not None and spec.dtype != "string":
            value = _cast(value, spec.dtype, name=name, what=what)
            batched = value[np.newaxis] if spec.shape and value.ndim == len(spec.shape) - 1 else value
            if not _fits(batched, spec.shape):
                raise InspectorError(f"{what}: --feed {name}={feed.source}: {name} takes {shape_text(spec.shape)}, "
                                     f"not {shape_text(value.shape)}; pass an array of that shape")
            value = batched  # the batch dimension may be left out
        fixed[name] = value
    return FeedPlan(inputs=tuple(fed), fixed=fixed, notes=tuple(notes))


def mark_image(fed: Sequence[FedInput]) -> tuple[FedInput, ...]:
    """The inputs, the first float one of rank 4 (or of unknown rank) marked as the image input that takes the photos."""
    marked = [FedInput(name=i.name, dtype=i.dtype, shape=i.shape, image=False) for i in fed]
    for index, item in enumerate(marked):
        if item.dtype in _FLOAT_NAMES and (item.shape is None or len(item.shape) == 4):
            marked[index] = FedInput(name=item.name, dtype=item.dtype, shape=item.shape, image=True)
            break
    return tuple(marked)


def _all_placeholders(sig: Signature) -> list[str]:
    return [s.name for s in sig.inputs + sig.auxiliary + sig.optional]


def value_text(value: object) -> str:
    """A fed value as a note shows it: true/false, 1 rather than 1.0, an array by its dtype and shape."""
    array = np.asarray(value)
    if array.size != 1:
        return f"a {array.dtype} array of shape {list(array.shape)}"
    item = array.reshape(()).item()
    return str(item).lower() if isinstance(item, bool) else f"{item:g}" if isinstance(item, float) else str(item)


def _cast(value: np.ndarray, dtype: str, *, name: str, what: str) -> np.ndarray:
    target = numpy_dtype(dtype)
    if target.kind in "iub" and value.dtype.kind == "f" and not np.all(np.equal(np.mod(value, 1), 0)):
        raise InspectorError(f"{what}: --feed {name}: {name} takes {dtype}, not fractions like {value.flat[0]:g}; pass whole numbers")
    return value.astype(target)


def _fits(value: np.ndarray, shape: tuple[int, ...] | None) -> bool:
    return shape is None or (len(shape) == value.ndim and all(d < 0 or d == v for d, v in zip(shape, value.shape)))


def concrete_shape(item: FedInput, *, size: tuple[int, int] | None, what: str) -> tuple[int, ...]:
    """The shape one run feeds ``item``: batch 1, an image's size from ``size``; any other open dimension is an error."""
    shape = item.shape
    if shape is None:
        if item.image and size is not None:
            return (1, size[0], size[1], 3)
        raise InspectorError(f"{what}: input {item.name!r} declares no shape; pass it as --input {item.name}:SHAPE (e.g. 1,32)")
    dims = list(shape)
    if dims and dims[0] < 0:
        dims[0] = 1
    if item.image and len(dims) == 4 and size is not None:
        dims[1], dims[2] = size
        if dims[3] < 0:
            dims[3] = 3
    if any(d < 0 for d in dims):
        raise InspectorError(f"{what}: input {item.name!r} has shape {shape_text(shape)}; give the open dimensions "
                             f"with --input {item.name}:{','.join('N' if d < 0 else str(d) for d in dims)}")
    return tuple(dims)


def random_value(item: FedInput, shape: tuple[int, ...], *, rng: np.random.Generator, mean: float, std: float) -> np.ndarray:
    """Seeded random data for one input: a photo's pixels normalised like one, else a range that fits its dtype."""
    dtype = numpy_dtype(item.dtype)
    if item.image:
        return ((rng.uniform(0.0, 255.0, size=shape) - mean) / std).astype(dtype)
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(size=shape) < 0.5
    if dtype == np.uint8:
        return rng.integers(0, 256, size=shape).astype(dtype)
    if dtype.kind in "iu":
        # Small non-negative integers: valid class ids, token ids and indices for any table of ten or more.
        return rng.integers(0, 10, size=shape).astype(dtype)
    raise InspectorError(f"input {item.name!r} takes {item.dtype}, which inspector cannot make up; pass it with --feed {item.name}=VALUE")


__all__ = [
    "InputOption", "Feed", "FedInput", "FeedPlan", "plan_feeds", "mark_image", "read_npy", "numpy_dtype", "shape_text",
    "concrete_shape", "random_value", "value_text", "MAX_NPY_BYTES",
]
