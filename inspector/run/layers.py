"""Where two models' outputs part: every matched intermediate tensor of a graph and its optimized graph (or its .tflite), layer by layer against the noise floor."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph
from inspector.graph.ops import CONST_OPS, FEED_OPS
from inspector.graph.refs import CONTROL, split_ref
from inspector.run.feeds import Feed, InputOption
from inspector.run.inputs import image_size_for
from inspector.run.noise import FACTOR, Reference, judge
from inspector.run.runners import GraphRunner, TFLiteRunner, graph_pair, one_name
from inspector.run.samples import samples
from inspector.run.verify import check_options

# Bytes of tensors fetched from each model at once: the rest waits for the next run, so memory stays bounded.
CHUNK_BYTES = 64 << 20
# Layers named where the difference grows most.
GROWS_SHOWN = 3
# Ops whose output is not a layer's: constants, fed values, and what only forwards or reshapes one.
_NOT_LAYERS = CONST_OPS | FEED_OPS | frozenset({"Identity", "NoOp", "Shape", "Reshape", "Squeeze", "ExpandDims"})


@dataclass(frozen=True)
class Layer:
    """One intermediate tensor of both models: its largest difference over the inputs, against the noise floor."""

    a: str                          # the node in a
    b: str                          # what it matches in b: a node, or a .tflite tensor
    op: str                         # a's op
    shape: tuple[int, ...]          # static, -1 where known only at run time
    max_abs: float                  # largest |a - b| over every input
    max_rel: float                  # largest |a - b| / max |a|, over every input
    floor: float                    # the noise floor where the ratio was largest
    ratio: float                    # max over inputs of |a - b| / floor: over 1 is not rounding
    growth: float = 0.0             # ratio minus the largest ratio of the layers it reads

    @property
    def within(self) -> bool:
        return self.ratio <= 1.0

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "op": self.op, "shape": list(self.shape), "max_abs_diff": self.max_abs,
                "max_rel_diff": self.max_rel, "noise_floor": self.floor, "ratio": self.ratio, "growth": self.growth,
                "within": self.within}


@dataclass(frozen=True)
class LayersReport:
    """Every layer both models compute, in a's dataflow order, judged on the same inputs."""

    a: str
    b: str
    inputs: tuple[str, ...]           # what was fed, as verify names it ("daisy.jpg", "random #1")
    layers: tuple[Layer, ...]
    unmatched: int                    # a's layers with no counterpart in b (folded away, fused)
    factor: float = FACTOR
    notes: tuple[str, ...] = field(default=())

    @property
    def first_out(self) -> Layer | None:
        """The first layer, in dataflow order, whose difference leaves the noise."""
        return next((layer for layer in self.layers if not layer.within), None)

    @property
    def grows_most(self) -> tuple[Layer, ...]:
        """The layers out of the noise where the difference grows most over what they read."""
        out = sorted((layer for layer in self.layers if not layer.within and layer.growth > 0),
                     key=lambda layer: -layer.growth)
        return tuple(out[:GROWS_SHOWN])

    @property
    def ok(self) -> bool:
        return self.first_out is None

    @property
    def message(self) -> str:
        first = self.first_out
        if first is None:
            return f"all {len(self.layers)} layers within the noise floor"
        return (f"the outputs part at {first.a} ({first.op}): {first.max_abs:.3g} apart, {first.ratio:.3g}x the noise "
                f"floor of {first.floor:.3g}; {sum(not layer.within for layer in self.layers)} of "
                f"{len(self.layers)} layers leave the noise")

    def to_json(self) -> dict:
        first = self.first_out
        return {"a": self.a, "b": self.b, "inputs": list(self.inputs), "factor": self.factor, "ok": self.ok,
                "first_out": first.a if first else None, "grows_most": [layer.a for layer in self.grows_most],
                "unmatched": self.unmatched, "layers": [layer.to_json() for layer in self.layers],
                "notes": list(self.notes), "message": self.message}


def layers(
    a: LoadedGraph,
    b: LoadedGraph | Path,
    *,
    images: Sequence[Path] = (),
    image_dirs: Sequence[Path] = (),
    random_inputs: int = 3,
    seed: int = 0,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    inputs: Sequence[InputOption | str] = (),
    feeds: Sequence[Feed | str] = (),
    input_height: int | None = None,
    input_width: int | None = None,
    input_mean: float = 127.5,
    input_std: float = 127.5,
    progress: Callable[[int, int], None] | None = None,
    allow_unsafe_ops: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
) -> LayersReport:
    """Run ``a`` and ``b`` (a frozen graph, or a .tflite file) on the same inputs and compare every layer both compute.

    Layers are a's nodes that compute a float tensor (not constants, inputs or
    what only forwards one), paired with b's by the diff's matching (the same
    node, or its renamed or rewritten self: a batch norm's last Add matches the
    BiasAdd it became); a .tflite's tensors are paired by the graph node their
    name holds (a fused op's output: the last node it fused). Each is judged
    against the noise floor of a's float64 twin and float32 siblings, as verify
    judges the output. Inputs and feeds as for verify. Tensors are fetched
    ``chunk_bytes`` at a time, compared and dropped. ``progress(done, total)``
    after each chunk.
    """
    files = check_options(images=images, image_dirs=image_dirs, decimals=None, top_k=1, random_inputs=random_inputs,
                          input_std=input_std)
    with contextlib.ExitStack() as stack:
        if isinstance(b, LoadedGraph):
            runner_a, runner_b = stack.enter_context(graph_pair(
                a, b, input_names=input_names, output_names=output_names, inputs=inputs, feeds=feeds,
                allow_unsafe_ops=allow_unsafe_ops))
            pairs = _graph_pairs(a.graph, b.graph, runner_a, runner_b)
            what_b = str(b.path)
        else:
            runner_a = stack.enter_context(GraphRunner(
                a, input_names=input_names, output_name=one_name(output_names, "--output_names"), inputs=inputs, feeds=feeds,
                what=f"a ({a.path})", allow_unsafe_ops=allow_unsafe_ops))
            runner_b = stack.enter_context(TFLiteRunner(
                b, input_name=runner_a.input_name, output_name=runner_a.output_name, what=f"tflite ({b})",
                feeds=feeds, source_values=runner_a.plan.fixed, preserve_all_tensors=True))
            pairs = _tflite_pairs(a.graph, runner_a, runner_b)
            what_b = str(b)
        if not pairs:
            raise InspectorError(f"{runner_b.what}: no layer of {runner_a.what} has a counterpart to compare; "
                                 "compare a graph with its optimized graph or its .tflite")
        if runner_a.random_ops:
            raise InspectorError(f"{runner_a.what} draws random values ({runner_a.random_ops[0]}), so its layers' "
                                 "rounding cannot be told from them; pass --strip-dropout to optimize, then compare that graph")
        reference = stack.enter_context(Reference(a.graph, what=runner_a.what, allow_unsafe_ops=allow_unsafe_ops))
        size, notes = image_size_for([runner_a, runner_b], input_height=input_height, input_width=input_width)
        runs = list(samples(runner_a.plan, files=files, image_dirs=image_dirs, random_inputs=random_inputs, seed=seed,
                            size=size, mean=input_mean, std=input_std, what=runner_a.what))
        chunks = _chunks(pairs, chunk_bytes)
        worst: dict[str, list[float]] = {}  # a's node -> [max_abs, max_rel, floor, ratio]
        done, total = 0, len(runs) * len(chunks)
        for sample in runs:
            fed = runner_a.values(sample.feeds)
            for chunk in chunks:
                got_a = runner_a.fetch(sample.feeds, [p.a for p in chunk])
                got_b = runner_b.fetch(sample.feeds, [p.b for p in chunk])
                refs = reference.outputs_of(fed, [p.a for p in chunk])
                for pair, x, y, ref in zip(chunk, got_a, got_b, refs):
                    _score(worst.setdefault(pair.a, [0.0, 0.0, 0.0, 0.0]), x, y, ref)
                del got_a, got_b, refs
                done += 1
                if progress is not None:
                    progress(done, total)
    growth = _growth(a.graph, {p.a for p in pairs}, {name: w[3] for name, w in worst.items()})
    found = tuple(Layer(a=p.a, b=p.b_name, op=p.op, shape=p.shape, max_abs=worst[p.a][0], max_rel=worst[p.a][1],
                        floor=worst[p.a][2], ratio=worst[p.a][3], growth=growth.get(p.a, 0.0)) for p in pairs)
    return LayersReport(a=str(a.path), b=what_b, inputs=tuple(s.source for s in runs), layers=found,
                        unmatched=_candidates(a.graph, runner_a) - len(pairs),
                        notes=tuple(dict.fromkeys((*runner_a.plan.notes, *notes))))


@dataclass(frozen=True)
class _Pair:
    a: str
    b: str | int       # what b's runner fetches: a node name, or a .tflite tensor index
    op: str
    shape: tuple[int, ...]
    b_name: str        # b's node or tensor, as the report names it

    @property
    def bytes(self) -> int:
        # A size known only at run time counts as 1 (the batch, as verify feeds it).
        return 4 * int(np.prod([max(d, 1) for d in self.shape])) if self.shape else 4


def _score(worst: list[float], x: np.ndarray, y: np.ndarray, ref: Any) -> None:
    j = judge(x, y, ref)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    rel = j.max_abs_diff / scale if scale > 0 else (0.0 if j.max_abs_diff == 0 else float("inf"))
    worst[0] = max(worst[0], j.max_abs_diff)
    worst[1] = max(worst[1], rel)
    if j.ratio >= worst[3]:
        worst[2], worst[3] = j.floor, j.ratio


def _order(graph: GraphDef) -> list[str]:
    """a's node names in dataflow order (Kahn's; a node of a cycle where the cycle is met)."""
    nodes = {}
    for node in graph.node:
        nodes.setdefault(node.name, node)
    readers: dict[str, list[str]] = {}
    waiting = dict.fromkeys(nodes, 0)
    for name, node in nodes.items():
        for ref in node.input:
            source = split_ref(ref)[0]
            if source in nodes:
                readers.setdefault(source, []).append(name)
                waiting[name] += 1
    ready = [name for name, n in waiting.items() if n == 0]
    out, seen = [], set()
    queue = list(reversed(ready))
    pending = iter(nodes)
    while len(out) < len(nodes):
        if not queue:
            queue.append(next(n for n in pending if n not in seen))
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        out.append(name)
        for reader in reversed(readers.get(name, ())):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                queue.append(reader)
    return out


def _layer_shape(runner: GraphRunner, name: str) -> tuple[int, ...] | None:
    """The static shape of a float32 output 0 (-1 for a size known only at run time), else None: not a layer to compare."""
    tensor = runner.tensor(name)
    if tensor is None or tensor.dtype.name != "float32" or tensor.shape.rank is None:
        return None
    return tuple(-1 if d is None else d for d in tensor.shape.as_list())


def _same_shape(x: tuple[int, ...] | None, y: tuple[int, ...] | None) -> bool:
    return x is not None and y is not None and len(x) == len(y) and all(p == q or -1 in (p, q) for p, q in zip(x, y))


def _candidates(graph: GraphDef, runner: GraphRunner) -> int:
    return sum(1 for node in graph.node if node.op not in _NOT_LAYERS and _layer_shape(runner, node.name) is not None)


def _graph_pairs(a: GraphDef, b: GraphDef, runner_a: GraphRunner, runner_b: GraphRunner) -> list[_Pair]:
    """a's layers and their matches in b that are expected to hold the same value (see :func:`_same_values`)."""
    from inspector.analysis.diff import diff_graphs
    from inspector.analysis.matching import match

    matching = match(a, b)
    partner = {p.a: p.b for p in matching.pairs}
    same = _same_values(a, b, matching, diff_graphs(a, b, matching=matching).stories)
    ops = {node.name: node.op for node in a.node}
    out = []
    for name in _order(a):
        if ops[name] in _NOT_LAYERS or partner.get(name) not in same:
            continue
        shape = _layer_shape(runner_a, name)
        if _same_shape(shape, _layer_shape(runner_b, partner[name])):
            out.append(_Pair(name, partner[name], ops[name], shape, partner[name]))
    return out


def _same_values(a: GraphDef, b: GraphDef, matching, stories) -> set[str]:
    """b's matched nodes expected to compute their partner's value, found forward in b's dataflow order.

    A story that computes new values (a folded batch norm, a merged layer, a
    ReLU moved past a concat) claims the nodes between its own; its outputs
    (those read from outside it) are asserted equal to their partners again,
    and what it claims inside (the convolution reading rescaled weights) is
    not compared. Any other node is compared when each data input (past
    Identities, on either side) is the partner of its partner's input at that
    slot and is compared itself: a concat now of pre-activations is not. A
    change no story claims (weights edited by hand) is compared: that is the
    drift to find.
    """
    from inspector.analysis.stories import BYPASSED, IDENTITY, UNUSED
    from inspector.graph.ops import IDENTITY_OPS

    nodes_a = {n.name: n for n in a.node}
    nodes_b = {n.name: n for n in b.node}
    pairs = {p.b: p for p in matching.pairs}
    back = {p.b: p.a for p in matching.pairs}
    inputs: dict[str, list[str]] = {}
    readers: dict[str, list[str]] = {}
    for node in b.node:
        for ref in node.input:
            source, port = split_ref(ref)
            if port != CONTROL:
                inputs.setdefault(node.name, []).append(source)
                readers.setdefault(source, []).append(node.name)
    changed_b = {name for name, p in pairs.items() if {"value", "op"} & set(p.what)} | set(matching.added)
    outputs: set[str] = set()
    claimed: set[str] = set()
    for story in stories:
        own = set(story.added) | set(story.changed)
        # Removing Identities and no-ops, or pruning, only rewires; a value it lists changed is another story's.
        if story.kind in (IDENTITY, BYPASSED, UNUSED) or not own & changed_b:
            continue
        region = own | (_reach(own, readers) & _reach(own, inputs))
        region |= {r for name in own if nodes_b[name].op in CONST_OPS for r in readers.get(name, ())}
        outputs |= {name for name in region if not readers.get(name) or any(r not in region for r in readers[name])}
        claimed |= region

    def data_inputs(node, nodes) -> list[tuple[str, int]]:
        out = []
        for ref in node.input:
            source, port = split_ref(ref)
            if port == CONTROL:
                continue
            while source in nodes and nodes[source].op in IDENTITY_OPS and port == 0 and nodes[source].input:
                source, port = split_ref(nodes[source].input[0])
            out.append((source, port))
        return out

    same: set[str] = set()
    for name in _order(b):
        pair = pairs.get(name)
        if name in outputs:
            same.add(name)
            continue
        # Inside a story the value is the optimizer's to change; a change no story claims is what to look for.
        if pair is None or name in claimed:
            continue
        xs, ys = data_inputs(nodes_a[pair.a], nodes_a), data_inputs(nodes_b[name], nodes_b)
        # An input with a partner must be that very partner's; one without (a story's new output) stands where it is.
        if len(xs) == len(ys) and all(
            port_x == port_y and y in same and (back.get(y) == x if y in back else y in outputs)
            for (x, port_x), (y, port_y) in zip(xs, ys)
        ):
            same.add(name)
    return same


def _reach(starts: set[str], edges: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _tflite_pairs(a: GraphDef, runner_a: GraphRunner, runner_b: TFLiteRunner) -> list[_Pair]:
    order = _order(a)
    rank = {name: i for i, name in enumerate(order)}
    ops = {node.name: node.op for node in a.node}
    # A fused op's output is named after every node it fused (";"-joined): it is the last of them that computes.
    by_node: dict[str, tuple[int, str]] = {}
    for name, index, shape in runner_b.tensors():
        parts = [p.removesuffix(":0") for p in name.split(";")]
        known = [p for p in parts if p in rank and ops[p] not in _NOT_LAYERS]
        if not known:
            continue
        last = max(known, key=rank.__getitem__)
        if _same_shape(_layer_shape(runner_a, last), shape):
            by_node.setdefault(last, (index, name))
    return [_Pair(name, by_node[name][0], ops[name], _layer_shape(runner_a, name) or (), by_node[name][1])
            for name in order if name in by_node]


def _chunks(pairs: Sequence[_Pair], budget: int) -> list[list[_Pair]]:
    chunks: list[list[_Pair]] = [[]]
    used = 0
    for pair in pairs:
        if chunks[-1] and used + pair.bytes > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(pair)
        used += pair.bytes
    return chunks


def _growth(graph: GraphDef, layers: set[str], ratio: Mapping[str, float]) -> dict[str, float]:
    """Each layer's ratio minus the largest ratio of the layers it reads (through what is not a layer)."""
    inputs: dict[str, list[str]] = {}
    for node in graph.node:
        refs = [split_ref(r) for r in node.input]
        inputs.setdefault(node.name, [source for source, port in refs if port != CONTROL])
    out = {}
    for name in layers:
        seen, stack, upstream = {name}, list(inputs.get(name, ())), 0.0
        while stack:
            source = stack.pop()
            if source in seen:
                continue
            seen.add(source)
            if source in layers:
                upstream = max(upstream, ratio.get(source, 0.0))
            else:
                stack.extend(inputs.get(source, ()))
        out[name] = ratio.get(name, 0.0) - upstream
    return out


__all__ = ["Layer", "LayersReport", "layers", "CHUNK_BYTES"]

