"""Names in a GraphDef: what an input reference (``^ctrl``, ``name:1``) points at, and walking those references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef

CONTROL = -1  # the "port" of a ^control input


def split_ref(ref: str) -> tuple[str, int]:
    """``^a`` -> (a, CONTROL), ``a:2`` -> (a, 2), ``a`` -> (a, 0)."""
    if ref[:1] == "^":
        return ref[1:], CONTROL
    colon = ref.rfind(":")
    # Most references are a bare name: one search, no slicing (this runs for every edge of every graph read).
    if colon < 0:
        return ref, 0
    tail = ref[colon + 1:]
    if tail.isdigit():
        return ref[:colon], int(tail)
    return ref, 0


def data_ref(node: str, port: int = 0) -> str:
    return node if port == 0 else f"{node}:{port}"


def node_of(ref: str) -> str:
    """``^ctrl`` -> ``ctrl``, ``name:1`` -> ``name``."""
    if ref[:1] != "^" and ":" not in ref:
        return ref
    return split_ref(ref)[0]


def upstream(graph: GraphDef, outputs: Iterable[str], *, stop: Iterable[str] = ()) -> set[str]:
    """Names of the nodes ``outputs`` depend on (data and control inputs), the outputs included.

    Nodes in ``stop`` (fed inputs) are included but not walked past: what they read is not needed.
    """
    return reach({node.name: node for node in graph.node}, outputs, stop=stop)


def reach(nodes: Mapping[str, NodeDef], starts: Iterable[str], *, stop: Iterable[str] = ()) -> set[str]:
    """:func:`upstream` over nodes already indexed by name: the names in ``nodes`` that ``starts`` read, directly or not."""
    fed = set(stop)
    seen: set[str] = set()
    stack = list(starts)
    push = stack.append
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        if name in fed:
            continue
        for raw in nodes[name].input:
            source = node_of(raw)
            if source not in seen:
                push(source)
    return seen
