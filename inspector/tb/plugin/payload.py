"""The Graph diff tab's summary JSON: GraphDiff.to_json() with its long node lists cut to counts and details (drawing.py draws the nodes)."""

from __future__ import annotations

from typing import Any

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.analysis.diff import GraphDiff
from inspector.analysis.stories import GROUP_WORDS
from inspector.tb.plugin.drawing import DiffFacts


def diff_payload(diff: GraphDiff, a: GraphDef, b: GraphDef, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the tab draws for one pair, in one JSON object.

    ``diff`` keeps GraphDiff.to_json()'s keys, except that the node-name lists
    (only_a, only_b, changed) are replaced by ``counts``: the drawing
    (/level, /story) carries every node.
    """
    data = diff.to_json()
    counts = {"only_a": len(data.pop("only_a")), "only_b": len(data.pop("only_b")), "changed": len(data.pop("changed"))}
    data["changed_nodes"] = changed_details(diff, a, b)
    # The drawing marks every node; a story keeps the first few of its nodes, to link to, and its counts.
    data["stories"] = [s | {k: s[k][:STORY_NODES_SHOWN] for k in ("removed", "added", "changed")} for s in data["stories"]]
    counts["renamed"] = len(data["renamed"])
    data["renamed"] = data["renamed"][:CHANGED_SHOWN]
    return {
        "diff": data | {"counts": counts},
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


def diff_record(diff: GraphDiff, a: GraphDef, b: GraphDef) -> dict[str, Any]:
    """What `inspector compare` stores beside the runs (pair.record_pair's ``diff``): the tab then draws without diffing again."""
    return {"payload": diff_payload(diff, a, b), "facts": DiffFacts.of(diff).to_json()}
