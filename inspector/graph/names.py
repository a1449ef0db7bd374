"""Names a user gives (``--input_names``, the codelab's ``--input_layer``), resolved against a graph's signature or a .tflite's tensors: the one resolver."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.graph.ops import FEED_OPS
from inspector.graph.refs import CONTROL, split_ref
from inspector.graph.signature import Signature, signature

# How inspector and the codelab's label_image spell the name options, for messages.
INSPECTOR_FLAGS = ("--input_names", "--output_names")
CODELAB_FLAGS = ("--input_layer", "--output_layer")

_SHOWN = 6  # names listed in a message before "..."


def parse_names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """None (not given), else the names in a comma-separated string or a sequence, stripped, once each."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


def _spellings(name: str) -> list[str]:
    """``name``, ``name:0`` and the codelab's ``import/name`` all name the node ``name``."""
    node, port = split_ref(name)
    found = [node] if port == 0 else [name]
    if found[0].startswith("import/"):
        # The codelab's label_image imports under "import/"; people copy those names.
        found.append(found[0].removeprefix("import/"))
    return found


def _pick_image(candidates: Sequence[tuple[str, bool]]) -> str | None:
    """The image input among (name, is float) candidates: the only one, else the only float one."""
    if len(candidates) == 1:
        return candidates[0][0]
    floats = [name for name, is_float in candidates if is_float]
    return floats[0] if len(floats) == 1 else None


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (" ..." if len(names) > _SHOWN else "")


def _several_outputs(what: str, names: Sequence[str], flag: str) -> InspectorError:
    return InspectorError(f"{what}: several possible outputs ({_listed(names)}); pick one with {flag}")


def _several_inputs(what: str, names: Sequence[str], flag: str) -> InspectorError:
    return InspectorError(f"{what}: several model inputs ({_listed(names)}); pick the image input with {flag}")


class Resolver:
    """Names for one graph: given ones resolved to nodes, missing ones read from its signature.

    ``what`` names the graph in messages; ``flags`` are the input and output
    options as the caller spells them (INSPECTOR_FLAGS, CODELAB_FLAGS).
    """

    def __init__(self, graph: GraphDef, *, what: str, flags: tuple[str, str] = INSPECTOR_FLAGS,
                 sig: Signature | None = None) -> None:
        self.graph, self.what, self.flags = graph, what, flags
        self._signature = sig
        self._nodes: set[str] | None = None

    @property
    def signature(self) -> Signature:
        if self._signature is None:
            self._signature = signature(self.graph)
        return self._signature

    def inputs(self, given: str | Sequence[str] | None = None) -> tuple[str, ...]:
        """The given input names resolved, else every model input (one at least)."""
        names = parse_names(given)
        if names is not None:
            return self._resolve_all(names, role="input")
        if not self.signature.inputs:
            raise self.no_input()
        return self.signature.input_names

    def outputs(self, given: str | Sequence[str] | None = None) -> tuple[str, ...]:
        """The given output names resolved, else the graph's one output."""
        names = parse_names(given)
        if names is not None:
            return self._resolve_all(names, role="output")
        found = self.signature.output_names
        if not found:
            raise self._no_output()
        if len(found) > 1:
            raise _several_outputs(self.what, found, self.flags[1])
        return found

    def image_input(self, given: str | None = None) -> str:
        """One image input: the given one, else the only model input, else the only float one."""
        if given is not None:
            return self.resolve(given, role="input")
        inputs = self.signature.inputs
        if not inputs:
            raise self.no_input()
        picked = _pick_image([(s.name, s.is_float) for s in inputs])
        if picked is None:
            raise _several_inputs(self.what, [s.name for s in inputs], self.flags[0])
        return picked

    def output(self, given: str | None = None) -> str:
        return self.resolve(given, role="output") if given is not None else self.outputs()[0]

    def resolve(self, raw: str, *, role: str) -> str:
        """The node a given name means (``name``, ``name:0``, ``import/name``), or an error with a hint."""
        return self._resolve_all((raw,), role=role)[0]

    def _resolve_all(self, names: tuple[str, ...], *, role: str) -> tuple[str, ...]:
        flag = self.flags[0] if role == "input" else self.flags[1]
        if not names:
            raise InspectorError(f"{self.what}: {flag} is empty; pass at least one node name")
        found: list[str] = []
        missing: list[str] = []
        for raw in names:
            name = self._lookup(raw, flag)
            if name is None:
                missing.append(raw)
            elif name not in found:
                found.append(name)
        if missing:
            first = missing[0].strip()
            default = ", the codelab's default for Inception v3" if role == "input" and first == "Mul" else ""
            shown = ", ".join(repr(m) for m in missing)
            raise InspectorError(f"{self.what}: no node named {shown} ({flag}{default}){self._hint(first, role, flag)}")
        return tuple(found)

    def _lookup(self, raw: str, flag: str) -> str | None:
        name = raw.strip()
        node, port = split_ref(name)
        if port not in (0, CONTROL) and node in self._names():
            raise InspectorError(f"{self.what}: {raw!r} names a tensor, not a node; pass the node name to {flag}")
        return next((c for c in _spellings(name) if c in self._names()), None)

    def _hint(self, name: str, role: str, flag: str) -> str:
        sig = self.signature
        if role == "input":
            detected = _pick_image([(s.name, s.is_float) for s in sig.inputs]) if sig.inputs else None
        else:
            detected = sig.output_names[0] if len(sig.outputs) == 1 else None
        close = difflib.get_close_matches(_spellings(name)[-1], sorted(self._names()), n=1)
        if close and (detected is None or close[0] == detected):
            return f"; did you mean {close[0]!r}?"
        if detected is not None:
            return f"; this graph's {role} is {detected!r}: pass {flag} {detected} or leave {flag} out"
        return f"; pass the {role} node's name with {flag}"

    def _names(self) -> set[str]:
        if self._nodes is None:
            self._nodes = {node.name for node in self.graph.node}
        return self._nodes

    def _nonempty(self, names: tuple[str, ...], flag: str) -> tuple[str, ...]:
        if not names:
            raise InspectorError(f"{self.what}: {flag} is empty; pass at least one node name")
        return names

    def no_input(self) -> InspectorError:
        """The error for a graph with no model input: what its placeholders are instead."""
        flag = self.flags[0]
        sig = self.signature
        others = [f"{s.name} ({s.role})" for s in sig.auxiliary + sig.optional]
        others += [f"{x.name} (no output depends on it)" for x in sig.left_out if x.op in FEED_OPS]
        if not others:
            return InspectorError(f"{self.what}: found no input placeholder; pass the input with {flag}")
        return InspectorError(f"{self.what}: found no model input among its placeholders ({_listed(others)}); "
                              f"pass the input with {flag}")

    def _no_output(self) -> InspectorError:
        flag = self.flags[1]
        sinks = [x for x in self.signature.left_out if x.op not in FEED_OPS]
        if not sinks:
            return InspectorError(f"{self.what}: found no output (every node is read by another); pass it with {flag}")
        shown = "; ".join(f"{x.name}: {x.reason}" for x in sinks[:3]) + ("; ..." if len(sinks) > 3 else "")
        return InspectorError(f"{self.what}: found no output ({shown}); pass it with {flag}")


# --- TensorFlow Lite: the same preferences over a .tflite's tensors ---------------------------


def tflite_input(tensors: Mapping[str, str], given: str | None, *, what: str, flag: str) -> str:
    """The image input among a .tflite's inputs (name -> NumPy dtype name): the given, the only, or the only float one."""
    if given is not None:
        return _tflite_resolve(given, tensors, what=what, role="input", flag=flag)
    if not tensors:
        raise InspectorError(f"{what}: found no input tensor; convert the model again")
    picked = _pick_image([(name, dtype.startswith(("float", "bfloat"))) for name, dtype in tensors.items()])
    if picked is None:
        raise _several_inputs(what, sorted(tensors), flag)
    return picked


def tflite_output(tensors: Sequence[str], given: str | None, *, what: str, flag: str, source: Collection[str] = ()) -> str:
    """The output among a .tflite's outputs: the given, the only, or the one the source graph's signature names."""
    if given is not None:
        return _tflite_resolve(given, tensors, what=what, role="output", flag=flag)
    if len(tensors) == 1:
        return tensors[0]
    matching = [name for name in tensors if name in source]
    if len(matching) == 1:
        return matching[0]
    if not tensors:
        raise InspectorError(f"{what}: found no output tensor; convert the model again")
    raise _several_outputs(what, sorted(tensors), flag)


def _tflite_resolve(name: str, tensors: Collection[str], *, what: str, role: str, flag: str) -> str:
    for candidate in [name.strip(), *_spellings(name.strip())]:
        if candidate in tensors:
            return candidate
    have = ", ".join(sorted(tensors)) or "none"
    raise InspectorError(f"{what}: no {role} tensor named {name!r} (the model's {role}s: {have}); pass one of them with {flag}")



__all__ = ["Resolver", "parse_names", "tflite_input", "tflite_output", "INSPECTOR_FLAGS", "CODELAB_FLAGS"]
