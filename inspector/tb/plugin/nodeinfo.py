"""The Graph diff tab's node panel: one node's op, inputs, attributes, output shapes and weight digest, before and after, and its story."""

from __future__ import annotations

from typing import Any

from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType

from inspector.analysis.matching import DIGEST_ATTR, local_digest
from inspector.graph.ops import CONST_OPS
from inspector.tb.plugin.drawing import Drawing

# Past this many nodes the panel shows only the shapes a graph records (TensorFlow's import would take seconds).
SHAPES_MAX_NODES = 200_000

# Characters of one attribute's text and items of one list, at most: a graph's strings can be any size.
TEXT_SHOWN = 200
LIST_SHOWN = 16
INPUTS_SHOWN = 64


def node_info(drawing: Drawing, graphs: tuple[GraphDef, GraphDef], which: str, name: str) -> dict[str, Any]:
    """The panel for node ``name`` of side ``which`` and its partner on the other side."""
    side = drawing.side(which)
    if name not in side.nodes:
        raise KeyError(name)
    other_side, other, partner = drawing.other(which)
    match = partner.get(name)
    names = {which: name, other_side: match}
    out: dict[str, Any] = {"side": which, "name": name}
    for key, graph in (("a", graphs[0]), ("b", graphs[1])):
        wanted = names[key]
        node = _find(graph, wanted) if wanted is not None else None
        if node is None:
            out[key] = None
            continue
        out[key] = describe(node, drawing.side(key).status[drawing.side(key).nodes[wanted]])
        if out[key]["shapes"] is None:
            inferred = inferred_shapes(drawing, key, graph)
            out[key]["shapes"] = inferred.get(wanted) if isinstance(inferred, dict) else None
            out[key]["shapes_note"] = inferred if isinstance(inferred, str) else "inferred by TensorFlow"
    change = next((c for c in drawing.facts.changed if c.name == names["b"]), None) if names["b"] else None
    out["what"] = list(change.what) if change else []
    index = drawing.story_of.get((which, name))
    if index is None and match is not None:
        index = drawing.story_of.get((other_side, match))
    if index is not None:
        story = drawing.facts.stories[index]
        out["story"] = {"index": index, "kind": story.kind, "text": story.text, "scope": story.scope,
                        "passes": list(story.passes)}
    return out


def inferred_shapes(drawing: Drawing, which: str, graph: GraphDef) -> dict[str, list[str]] | str:
    """Each node's output shapes by TensorFlow's shape inference, once per side; or why there are none.

    The import leaves out unsafe nodes and what reads them, and the values of
    big constants (optimizer/passes/tfrun.py), so nothing from the graph runs
    but the shape functions of the ops that only compute.
    """
    cached = drawing.shapes.get(which)
    if cached is not None:
        return cached
    if len(graph.node) > SHAPES_MAX_NODES:
        found: dict[str, list[str]] | str = f"not recorded in the graph (not inferred past {SHAPES_MAX_NODES:,} nodes)"
    else:
        from inspector.optimizer.passes import tfrun

        try:
            found = {name: [_dims_text(dims) for _, dims in outputs[:LIST_SHOWN]]
                     for name, outputs in tfrun.static_outputs(graph).items()}
        except tfrun.ImportFailed as exc:
            found = f"not recorded in the graph, and TensorFlow could not import it to infer them ({_clip(str(exc))})"
    drawing.shapes[which] = found
    return found


def _dims_text(dims) -> str:
    if dims is None:
        return "?"
    return "(" + ", ".join("?" if d is None or d < 0 else str(d) for d in dims[:LIST_SHOWN]) + ")"


def _find(graph: GraphDef, name: str) -> NodeDef | None:
    return next((n for n in graph.node if n.name == name), None)


def describe(node: NodeDef, status: str) -> dict[str, Any]:
    """One node as the panel shows it; every text bounded."""
    attrs = {key: attr_text(node.attr[key]) for key in sorted(node.attr)
             if not key.startswith("_") and key != "value"}
    value = node.attr["value"] if "value" in node.attr else None
    if value is not None:
        attrs["value"] = attr_text(value)
    out: dict[str, Any] = {
        "name": node.name, "op": node.op, "status": status, "device": node.device[:TEXT_SHOWN],
        "inputs": list(node.input[:INPUTS_SHOWN]), "inputs_total": len(node.input), "attrs": attrs,
        "shapes": output_shapes(node),
    }
    if node.op in CONST_OPS or DIGEST_ATTR in node.attr:
        out["digest"] = local_digest(node).hex()
    return out


def output_shapes(node: NodeDef) -> list[str] | None:
    """The shapes the graph records for the node's outputs (``_output_shapes``, a Const's tensor, a Placeholder's shape)."""
    if "_output_shapes" in node.attr and node.attr["_output_shapes"].list.shape:
        return [shape_text(s) for s in node.attr["_output_shapes"].list.shape[:LIST_SHOWN]]
    if "value" in node.attr and node.attr["value"].HasField("tensor"):
        return [shape_text(node.attr["value"].tensor.tensor_shape)]
    if "shape" in node.attr and node.attr["shape"].HasField("shape"):
        return [shape_text(node.attr["shape"].shape)]
    return None


def shape_text(shape: TensorShapeProto) -> str:
    if shape.unknown_rank:
        return "?"
    return "(" + ", ".join("?" if d.size < 0 else str(d.size) for d in shape.dim[:LIST_SHOWN]) + ")"


def _dtype(value: int) -> str:
    try:
        return DataType.Name(value).removeprefix("DT_").lower()
    except ValueError:
        return f"dtype {value}"


def attr_text(attr: AttrValue) -> str:
    """One attribute value as short text: a tensor by its dtype and shape, a list by its first items."""
    kind = attr.WhichOneof("value")
    if kind == "s":
        return _clip(attr.s.decode("utf-8", "replace"))
    if kind in ("i", "f", "b"):
        return str(getattr(attr, kind))
    if kind == "type":
        return _dtype(attr.type)
    if kind == "shape":
        return shape_text(attr.shape)
    if kind == "tensor":
        t = attr.tensor
        small = t.float_val or t.int_val or t.int64_val or t.double_val or t.bool_val
        values = f" = {_clip(', '.join(str(v) for v in small[:LIST_SHOWN]))}" if small and not t.tensor_content else ""
        return f"{_dtype(t.dtype)} {shape_text(t.tensor_shape)}{values}"
    if kind == "list":
        lst = attr.list
        for field in ("i", "f", "b", "s", "type", "shape"):
            items = getattr(lst, field)
            if items:
                shown = [(_dtype(v) if field == "type" else shape_text(v) if field == "shape"
                          else v.decode("utf-8", "replace") if field == "s" else str(v)) for v in items[:LIST_SHOWN]]
                more = f", … ({len(items)} in all)" if len(items) > LIST_SHOWN else ""
                return _clip("[" + ", ".join(shown) + more + "]")
        return "[]"
    if kind == "func":
        return _clip(attr.func.name)
    if kind == "placeholder":
        return _clip("$" + attr.placeholder)
    return ""


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"
