"""What the Graph diff tab draws: items nested by scope, groups of many siblings, edges per level, peers, search, stories, the node panel."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import const, op, placeholder, retrained_like, without_identities
from conftest import fixture_path
from inspector.analysis.diff import diff_graphs
from inspector.graph.samples import renamed
from inspector.tb.events import write_run
from inspector.tb.plugin.drawing import LIMIT, MAX_DEPTH, build
from test_plugin import get_json, plugin_client


def graph_of(*nodes) -> GraphDef:
    g = GraphDef()
    g.node.extend(nodes)
    return g


def drawing_of(a: GraphDef, b: GraphDef):
    return build(diff_graphs(a, b), a, b)


def walk(drawing, side: str) -> dict[str, dict]:
    """Every node item of one side, opened level by level as the tab opens them: {name: item}."""
    found, todo = {}, [0]
    while todo:
        level = drawing.level(side, todo.pop())
        for item in level["items"]:
            if item["kind"] == "node":
                found[item["name"]] = item
            else:
                todo.append(item["id"])
    return found


def level_of(drawing, side: str, scope: str) -> dict:
    return drawing.level(side, drawing.side(side).scopes[scope])


def labels(level: dict) -> list[str]:
    return [i["label"] for i in level["items"]]


# --- items and statuses -------------------------------------------------------------


def test_every_node_is_drawn_once_with_its_status():
    a = retrained_like()
    b = without_identities(a)
    diff = diff_graphs(a, b)
    drawing = build(diff, a, b)
    left, right = walk(drawing, "a"), walk(drawing, "b")
    assert set(left) == {n.name for n in a.node} and set(right) == {n.name for n in b.node}
    assert {n for n, i in left.items() if i["status"] == "removed"} == set(diff.only_a)
    assert {n for n, i in right.items() if i["status"] == "changed"} == {c.name for c in diff.changed}
    assert not any(i["status"] == "added" for i in left.values())
    assert left["Net/Conv2d_0/weights/read"]["op"] == "Identity"
    # A scope says what is inside it, by status.
    (net,) = [i for i in drawing.level("a", 0)["items"] if i["label"] == "Net"]
    inside = [n.name for n in a.node if n.name.startswith("Net/")]
    assert net["kind"] == "scope" and net["status"] == "changed" and net["nodes"] == len(inside)
    assert net["counts"][1] == len([n for n in diff.only_a if n.startswith("Net/")]) > 0


def test_a_node_named_like_a_scope_is_drawn_inside_it():
    g = graph_of(placeholder("x", (1, 2)), const("w", np.ones(2, np.float32)), op("w/read", "Identity", "w"),
                 op("y", "Mul", "x", "w/read"))
    drawing = drawing_of(g, g)
    assert labels(drawing.level("a", 0)) == ["w", "x", "y"]
    assert labels(level_of(drawing, "a", "w")) == ["(w)", "read"]
    assert set(walk(drawing, "a")) == {"x", "w", "w/read", "y"}


def test_many_siblings_are_grouped_so_no_layout_takes_more_than_limit():
    count = LIMIT * LIMIT + 7  # two levels of groups
    nodes = [placeholder("input", (1,))] + [op(f"s/n_{i}", "Relu", "input") for i in range(count)]
    g = graph_of(*nodes)
    drawing = drawing_of(g, g)
    todo, groups, seen = [0], 0, 0
    while todo:
        level = drawing.level("a", todo.pop())
        assert len(level["items"]) <= LIMIT
        for item in level["items"]:
            groups += item["kind"] == "group"
            seen += item["kind"] == "node"
            if item["kind"] != "node":
                todo.append(item["id"])
    assert seen == count + 1 and groups > LIMIT
    # Groups keep natural order and say what they hold: n_2 before n_10.
    top = level_of(drawing, "a", "s")["items"]
    assert top[0]["label"].startswith("n_0 … ") and top[0]["kind"] == "group"
    first = drawing.level("a", top[0]["id"])["items"][0]
    # 10,007 siblings: two groups of 5,004 and 5,003, each in 51 groups of 99 or 98.
    assert first["kind"] == "group" and first["label"] == "n_0 … n_98" and first["nodes"] == 99
    inner = [i["label"] for i in drawing.level("a", first["id"])["items"]]
    assert inner[:12] == [f"n_{i}" for i in range(12)]


def test_groups_follow_the_dataflow_not_the_alphabet():
    # 250 layers in a chain whose names sort in another order than they compute (as Keras numbers its layers).
    rng = np.random.default_rng(0)
    order = rng.permutation(250)
    nodes, prev = [placeholder("input", (1,))], "input"
    for i in order:
        nodes.append(op(f"model/layer_{i}/Relu", "Relu", prev))
        prev = f"model/layer_{i}/Relu"
    g = graph_of(*nodes)
    drawing = drawing_of(g, g)
    level = level_of(drawing, "a", "model")
    assert [i["kind"] for i in level["items"]] == ["group"] * 3
    # Each group is a run of the chain, so the groups themselves form a chain: 0 -> 1 -> 2.
    assert sorted((i, j) for i, j, _, _ in level["edges"]) == [(0, 1), (1, 2)]
    first = drawing.level("a", level["items"][0]["id"])["items"]
    assert {i["label"] for i in first} == {f"layer_{i}" for i in order[:84]}
    assert level["items"][0]["label"] == f"layer_{order[0]} … layer_{order[83]}"


def test_a_name_deeper_than_max_depth_keeps_its_tail_as_its_label():
    deep = "/".join(["a"] * 5000 + ["x"])
    g = graph_of(placeholder("input", (1,)), op(deep, "Relu", "input"))
    drawing = drawing_of(g, g)
    side = drawing.side("a")
    item = side.nodes[deep]
    assert side.depth[item] == MAX_DEPTH
    assert side.label[item] == "/".join(["a"] * (5000 - MAX_DEPTH + 1) + ["x"])
    assert walk(drawing, "a")[deep]["op"] == "Relu"


# --- edges --------------------------------------------------------------------------


def test_edges_are_drawn_between_the_items_of_each_level_and_counted():
    g = graph_of(
        placeholder("input", (1, 4)),
        const("s/w", np.ones((4, 4), np.float32)),
        op("s/m", "MatMul", "input", "s/w"),
        op("s/r", "Relu", "s/m"),
        op("t/out", "Add", "s/r:0", "s/m"),
        op("t/done", "NoOp", "^t/out"),
    )
    drawing = drawing_of(g, g)
    top = drawing.level("a", 0)
    names = labels(top)
    edges = {(names[i], names[j]): (count, data) for i, j, count, data in top["edges"]}
    # Two edges from s into t (s/r:0 and s/m), one from input into s; inside t, a control edge only.
    assert edges == {("input", "s"): (1, 1), ("s", "t"): (2, 2)}
    inner = level_of(drawing, "a", "s")
    names = labels(inner)
    assert {(names[i], names[j]) for i, j, _, _ in inner["edges"]} == {("w", "m"), ("m", "r")}
    t = level_of(drawing, "a", "t")
    assert [(labels(t)[i], labels(t)[j], count, data) for i, j, count, data in t["edges"]] == [("out", "done", 1, 0)]


# --- peers: what the other pane opens and selects ----------------------------------------


def test_peers_of_a_renamed_graph_follow_the_matching_not_the_names():
    a = retrained_like()
    b = renamed(a, "v2/")
    drawing = drawing_of(a, b)
    side_b = drawing.side("b")
    net = next(i for i in drawing.level("a", 0)["items"] if i["label"] == "Net")
    # Net has no scope of its name in b: its peer is the scope that holds its nodes' partners.
    assert net["peer"]["exact"] and side_b.name[net["peer"]["path"][-1]] == "v2/Net"
    conv = walk(drawing, "a")["Net/Conv2d_0/Conv2D"]
    assert conv["status"] == "renamed"
    assert side_b.name[conv["peer"]["path"][-1]] == "v2/Net/Conv2d_0/Conv2D"


def test_a_removed_scope_points_to_the_nearest_scope_the_other_side_has():
    a = retrained_like()
    b = without_identities(a)
    drawing = drawing_of(a, b)
    read = level_of(drawing, "a", "Net/Conv2d_0/weights")
    (item,) = [i for i in read["items"] if i["label"] == "read"]
    assert item["status"] == "removed" and not item["peer"]["exact"]
    assert drawing.side("b").name[item["peer"]["path"][-1]] == "Net/Conv2d_0/weights"


# --- search, stories, the node panel ----------------------------------------------------


def test_search_finds_by_name_part_or_op_on_both_sides_exact_first():
    a = retrained_like()
    b = without_identities(a)
    drawing = drawing_of(a, b)
    found = drawing.search("Net/Conv2d_0/Conv2D")
    assert [(f["side"], f["name"]) for f in found[:2]] == [("a", "Net/Conv2d_0/Conv2D"), ("b", "Net/Conv2d_0/Conv2D")]
    assert found[0]["path"][-1] == drawing.side("a").nodes["Net/Conv2d_0/Conv2D"]
    assert found[0]["peer"] == {"path": found[1]["path"], "exact": True}
    by_op = drawing.search("identity")
    assert by_op and all(f["op"] == "Identity" and f["side"] == "a" for f in by_op)
    # Part of an op finds it too; the nodes of that very op come before names that hold the words.
    small = graph_of(placeholder("x", (1, 2)), op("layer", "Conv2D", "x"), op("conv2d_out", "Relu", "layer"))
    assert sorted(f["name"] for f in drawing_of(small, small).search("conv")) == ["conv2d_out"] * 2 + ["layer"] * 2
    assert [f["name"] for f in drawing_of(small, small).search("conv2d")][:2] == ["layer", "layer"]
    scope = drawing.search("Net/Conv2d_1")
    assert scope[0]["kind"] == "scope" and scope[0]["name"] == "Net/Conv2d_1"
    assert drawing.search("no such thing") == []


def test_a_story_lights_its_nodes_and_what_holds_them_on_both_sides():
    a = retrained_like()
    b = without_identities(a)
    diff = diff_graphs(a, b)
    drawing = build(diff, a, b)
    index = next(i for i, s in enumerate(diff.stories) if s.kind == "identity_removed")
    story = drawing.story(index)
    side_a = drawing.side("a")
    lit = {side_a.name[k] for k in story["a"]["lit"]}
    assert set(diff.stories[index].removed) <= lit and "Net" in lit
    assert side_a.name[story["a"]["first"][-1]] in diff.stories[index].removed
    lit_b = {drawing.side("b").name[k] for k in story["b"]["lit"]}
    assert set(diff.stories[index].changed) <= lit_b


# --- the routes -----------------------------------------------------------------------


def route(path: str, **params) -> str:
    return f"/{path}?" + urllib.parse.urlencode({"a": "retrained", "b": "optimized", **params})


@pytest.fixture
def real_logdir(tmp_path: Path) -> Path:
    logdir = tmp_path / "logs"
    write_run(GraphDef.FromString(fixture_path("poets_pair/retrained_graph.pb").read_bytes()), logdir, "retrained")
    write_run(GraphDef.FromString(fixture_path("poets_pair/optimized_graph.pb").read_bytes()), logdir, "optimized")
    return logdir


def test_routes_draw_search_light_and_describe_the_codelab_pair(real_logdir: Path):
    plugin, client = plugin_client(real_logdir)
    status, top = get_json(client, route("level", side="a", id=0))
    assert status == 200 and top["side"] == "a"
    assert {i["label"] for i in top["items"]} == {"MobilenetV1", "final_result", "final_training_ops", "input", "input_1"}
    status, found = get_json(client, route("search", q="Conv2d_0/convolution"))
    hit = next(f for f in found["found"] if f["side"] == "a")
    assert hit["name"] == "MobilenetV1/MobilenetV1/Conv2d_0/convolution" and hit["status"] == "changed"
    status, node = get_json(client, route("node", side="a", name=hit["name"]))
    assert status == 200
    assert node["a"]["op"] == node["b"]["op"] == "Conv2D"
    assert node["a"]["inputs"] == ["input", "MobilenetV1/Conv2d_0/weights/read"]
    assert node["b"]["inputs"] == ["input", "MobilenetV1/Conv2d_0/weights"]
    assert node["what"] == ["inputs"] and node["story"]["kind"] == "identity_removed"
    assert node["a"]["attrs"]["padding"] == "SAME" and node["a"]["attrs"]["T"] == "float"
    status, weights = get_json(client, route("node", side="b", name="MobilenetV1/Conv2d_0/weights"))
    # A Const's shape and the digest of its weights, though the log left the weights out.
    assert weights["b"]["shapes"] == ["(3, 3, 3, 8)"] and len(weights["b"]["digest"]) == 32
    assert weights["a"]["digest"] == weights["b"]["digest"]
    status, story = get_json(client, route("story", i=0))
    assert status == 200 and len(story["a"]["lit"]) > 140
    # The drawing came from the same diff as the summary: one diff computed for all of it.
    get_json(client, route("diff"))
    assert plugin.stats().diffs_computed == 1


@pytest.mark.parametrize(
    "url, fragment",
    [
        (route("level", side="c", id=0), "side must be a or b, not 'c'"),
        (route("level", side="a", id=10**9), "run 'retrained' has no scope with id '1000000000'; reload the tab"),
        (route("level", side="b", id="x"), "run 'optimized' has no scope with id 'x'; reload the tab"),
        (route("story", i=-1), "there is no story '-1' in this diff; reload the tab"),
        (route("story", i=10**6), "there is no story '1000000' in this diff; reload the tab"),
        (route("node", side="a", name="nope"), "has no node 'nope'"),
        ("/level?a=retrained", "pass two runs: /level?a=RUN&b=RUN"),
    ],
)
def test_bad_drawing_requests_are_400_with_a_message(real_logdir: Path, url: str, fragment: str):
    _, client = plugin_client(real_logdir)
    status, body = get_json(client, url)
    assert status == 400 and fragment in body["error"], body


def test_a_node_is_not_a_level(real_logdir: Path):
    plugin, client = plugin_client(real_logdir)
    drawing = plugin.drawing("retrained", "optimized")[0]
    status, body = get_json(client, route("level", side="a", id=drawing.side("a").nodes["final_result"]))
    assert status == 400 and "no scope with id" in body["error"]


def test_levels_are_small_json_whatever_the_graph(tmp_path: Path):
    graph = retrained_like(blocks=60, channels=2, size=8)
    logdir = tmp_path / "logs"
    write_run(graph, logdir, "retrained")
    write_run(without_identities(graph), logdir, "optimized")
    plugin, client = plugin_client(logdir)
    drawing = plugin.drawing("retrained", "optimized")[0]
    for scope in ("Net", "Net/Conv2d_7"):
        status, body = get_json(client, route("level", side="a", id=drawing.side("a").scopes[scope]))
        assert status == 200
        size = len(json.dumps(body))
        assert size < 400 * max(len(body["items"]), 1), (scope, size)


def test_the_first_diff_is_served_before_the_drawing_is_made(real_logdir: Path, monkeypatch):
    """/diff answers with the summary, stories and tables once the diff is done; the drawing is made on the first
    /level, from the same diff (one diff computed), and once however many panes ask."""
    from inspector.tb.plugin import backend

    built = []
    real_build = backend.build
    monkeypatch.setattr(backend, "build", lambda *args: built.append(1) or real_build(*args))
    plugin, client = plugin_client(real_logdir)
    status, body = get_json(client, route("diff"))
    assert status == 200 and body["diff"]["stories"] and built == []
    for side in "ab":
        status, top = get_json(client, route("level", side=side, id=0))
        assert status == 200 and top["items"]
    assert built == [1] and plugin.stats().diffs_computed == 1
    # Drawn first, diffed once all the same: the drawing's request makes the diff /diff then serves.
    plugin, client = plugin_client(real_logdir)
    assert get_json(client, route("level", side="a", id=0))[0] == 200
    assert get_json(client, route("diff"))[1] == body and plugin.stats().diffs_computed == 1


# --- the diff compare stored -----------------------------------------------------------


def test_the_diff_compare_stored_is_drawn_without_diffing_again(tmp_path: Path, capsys):
    from inspector.cli import main
    from inspector.tb.plugin.pair import DIFF

    a, b = fixture_path("poets_pair/retrained_graph.pb"), fixture_path("poets_pair/optimized_graph.pb")
    logdir = tmp_path / "logs"
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--no-board", "--no-check", "--json"]) == 0
    capsys.readouterr()
    assert (logdir / DIFF).is_file()

    def served(expect_computed: int) -> tuple[dict, dict]:
        plugin, client = plugin_client(logdir)
        status, body = get_json(client, "/diff?a=retrained&b=optimized")
        assert status == 200, body
        status, top = get_json(client, route("level", side="b", id=0))
        assert status == 200 and top["items"]
        assert plugin.stats().diffs_computed == expect_computed
        return body, top

    stored, top = served(0)
    # The same tab as a diff of the logged runs, but for where the graphs came from (.pb files, not event files).
    (logdir / DIFF).unlink()
    computed, top_computed = served(1)
    for side in "ab":
        for key in ("path", "size_bytes"):
            stored["diff"][side].pop(key)
            computed["diff"][side].pop(key)
    assert stored == computed and top == top_computed

    # Stored facts that are not what compare writes are ignored: the tab diffs the runs itself.
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--no-board", "--no-check", "--json"]) == 0
    record = json.loads((logdir / DIFF).read_text())
    record["facts"]["changed"] = [["x"]]
    (logdir / DIFF).write_text(json.dumps(record))
    served(1)
    # A run written again (another event file) is no longer the graph the stored diff is of.
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--no-board", "--no-check", "--json"]) == 0
    write_run(GraphDef.FromString(b.read_bytes()), logdir, "optimized")
    served(1)
