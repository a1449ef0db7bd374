"""The Graph diff tab's JSON: GraphDiff.to_json() plus both graphs as compact name-scope trees, encoded without recursion."""

from __future__ import annotations

import json
import re
from typing import Any

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.analysis.diff import GraphDiff
from inspector.analysis.stories import GROUP_WORDS

# Node status in a tree. A scope that is not itself a node has status -1 and op -1.
SAME, REMOVED, ADDED, CHANGED = 0, 1, 2, 3
# NodeChange.what, one letter each, so 140 rewritten nodes cost a few bytes each.
WHAT_CODES = {"op": "o", "inputs": "i", "value": "v", "attrs": "a", "device": "d"}

_DIGITS = re.compile(r"(\d+)")
_COMPACT = (",", ":")


def diff_payload(diff: GraphDiff, a: GraphDef, b: GraphDef, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the tab draws for one pair, in one JSON object (serialise it with :func:`payload_json`).

    ``diff`` keeps GraphDiff.to_json()'s keys, except that the node-name lists
    (only_a, only_b, changed) are replaced by ``counts``: the trees carry every
    node. ``trees`` is ``{"ops": [op names], "a": root, "b": root}`` where each
    tree node is ``[segment, op index, status, children, what]`` with trailing
    empty fields left out (see the module constants).
    """
    data = diff.to_json()
    counts = {"only_a": len(data.pop("only_a")), "only_b": len(data.pop("only_b")), "changed": len(data.pop("changed"))}
    data["changed_nodes"] = changed_details(diff, a, b)
    # The trees mark every node; a story keeps the first few of its nodes, to link to, and its counts.
    data["stories"] = [s | {k: s[k][:STORY_NODES_SHOWN] for k in ("removed", "added", "changed")} for s in data["stories"]]
    counts["renamed"] = len(data["renamed"])
    data["renamed"] = data["renamed"][:CHANGED_SHOWN]
    changed = {c.name: "".join(WHAT_CODES.get(w, "?") for w in c.what) for c in diff.changed}
    ops: dict[str, int] = {}
    trees = {
        "a": scope_tree(a, marked=set(diff.only_a), mark=REMOVED, changed=changed, ops=ops),
        "b": scope_tree(b, marked=set(diff.only_b), mark=ADDED, changed=changed, ops=ops),
    }
    return {
        "diff": data | {"counts": counts},
        "trees": {"ops": list(ops), **trees},
        "what_codes": {code: what for what, code in WHAT_CODES.items()},
        "story_words": dict(GROUP_WORDS),
        **(extra or {}),
    }


# Nodes changed in place (and renamed) listed with their details; past this, the trees still mark every one.
CHANGED_SHOWN = 2000
STORY_NODES_SHOWN = 5


def changed_details(diff: GraphDiff, a: GraphDef, b: GraphDef) -> list[dict[str, Any]]:
    """Each node changed in place (up to CHANGED_SHOWN): its name and op before and after, its inputs, the attributes that differ."""
    shown = diff.changed[:CHANGED_SHOWN]
    wanted_a = {c.before or c.name for c in shown}
    wanted_b = {c.name for c in shown}
    nodes_a = {n.name: n for n in a.node if n.name in wanted_a}
    nodes_b = {n.name: n for n in b.node if n.name in wanted_b}
    out = []
    for change in shown:
        before, after = nodes_a.get(change.before or change.name), nodes_b.get(change.name)
        if before is None or after is None:
            continue
        attrs = sorted(k for k in set(before.attr) | set(after.attr)
                       if not k.startswith("_") and k != "value" and before.attr.get(k) != after.attr.get(k))
        out.append({"name": change.name, "before": before.name, "op_before": before.op, "op": after.op,
                    "what": list(change.what), "inputs_before": list(before.input), "inputs": list(after.input),
                    "attrs": attrs})
    return out


def payload_json(payload: dict[str, Any]) -> str:
    """``json.dumps(payload, separators=(",", ":"))``, but the trees are written without recursion.

    A tree is as deep as a node name has scopes: a graph from anywhere can
    have 60,000, far past what json.dumps can nest.
    """
    parts = []
    for key, value in payload.items():
        if key == "trees":
            text = "{" + ",".join(
                json.dumps(name) + ":" + (tree_json(tree) if name in ("a", "b") else json.dumps(tree, separators=_COMPACT))
                for name, tree in value.items()
            ) + "}"
        else:
            text = json.dumps(value, separators=_COMPACT)
        parts.append(json.dumps(key) + ":" + text)
    return "{" + ",".join(parts) + "}"


def scope_tree(
    graph: GraphDef, *, marked: set[str], mark: int, changed: dict[str, str], ops: dict[str, int]
) -> list[Any]:
    """``graph``'s nodes nested by name scope under a root ``["", -1, -1, children]``.

    Nodes in ``marked`` get status ``mark``, those in ``changed`` get CHANGED
    and their what-letters; ``ops`` maps op names to indices and is extended.
    """
    root: dict[str, Any] = {"k": {}}
    for node in graph.node:
        here = root
        for part in node.name.split("/"):
            here = here["k"].setdefault(part, {"k": {}})
        here["op"] = ops.setdefault(node.op, len(ops))
        if node.name in marked:
            here["s"] = mark
        elif node.name in changed:
            here["s"] = CHANGED
            here["w"] = changed[node.name]
        else:
            here["s"] = SAME
    return _encode(root)


def tree_json(tree: list[Any]) -> str:
    """One encoded tree as compact JSON, walked with an explicit stack (any depth, linear time)."""
    out: list[str] = []
    dumps = json.dumps
    # Each frame: the node's trailing fields still to write after its children, and its children left.
    stack: list[tuple[str, list[Any], int]] = []
    node: list[Any] | None = tree
    while True:
        if node is not None:
            out.append(f"[{dumps(node[0])},{node[1]},{node[2]}")
            if len(node) > 3:
                tail = (f",{dumps(node[4])}]" if len(node) > 4 else "]")
                kids = node[3]
                out.append(",[")
                stack.append(("]" + tail, kids, 0))
            else:
                out.append("]")
            node = None
        if not stack:
            break
        close, kids, i = stack[-1]
        if i < len(kids):
            if i:
                out.append(",")
            stack[-1] = (close, kids, i + 1)
            node = kids[i]
        else:
            stack.pop()
            out.append(close)
    return "".join(out)


def _encode(root: dict[str, Any]) -> list[Any]:
    # Parents before children with an explicit stack: each node's list is made
    # (and put in its parent's) before its own children are filled in.
    encoded, kids = _node("", root)
    stack = [(root, kids)]
    while stack:
        entry, into = stack.pop()
        for name, child in sorted(entry["k"].items(), key=lambda kv: _natural(kv[0])):
            out, child_kids = _node(name, child)
            into.append(out)
            if child["k"]:
                stack.append((child, child_kids))
    return encoded


def _node(segment: str, entry: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    kids: list[Any] = []
    out: list[Any] = [segment, entry.get("op", -1), entry.get("s", -1), kids, entry.get("w", "")]
    # Trailing empty fields left out; the children list is empty exactly when the entry has none.
    if not out[4]:
        out.pop()
        if not entry["k"]:
            out.pop()
    return out, kids


def _natural(name: str) -> tuple:
    # conv2d_2 before conv2d_10, as a person reads them.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _DIGITS.split(name) if p)
