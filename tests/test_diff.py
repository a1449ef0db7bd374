"""GraphDiff facts and the terminal table, on generated graphs and the real codelab pair."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import op, retrained_like, without_identities
from conftest import ROOT, fixture_path
from inspector.cli import main
from inspector.analysis.diff import diff_graphs, run_names, summarise_scopes
from inspector.graph.io import load_graph
from inspector.graph.ops import BATCH_NORM_CORE_OPS, BATCH_NORM_OPS
from inspector.graph.stats import graph_stats


def test_stats_of_generated_graph():
    stats = graph_stats(retrained_like(channels=8, blocks=2, classes=3))
    assert stats.ops["Identity"] == 2 * 5 + 2
    assert [s.name for s in stats.inputs] == ["input"]
    assert stats.inputs[0].shape == (1, 16, 16, 3) and stats.inputs[0].dtype == "float"
    assert stats.outputs == ("final_result",)
    # conv weights 3x3x3x8 + 3x3x8x8, 4x8 per batch norm x2, 2 eps, 2 pool indices, 8x3 + 3 final
    assert stats.params == 216 + 576 + 64 + 2 + 2 + 24 + 3
    assert stats.const_bytes == stats.params * 4


def test_real_pair_identity_140_to_0_and_totals():
    a = load_graph(fixture_path("poets_pair/retrained_graph.pb"))
    b = load_graph(fixture_path("poets_pair/optimized_graph.pb"))
    diff = diff_graphs(a.graph, b.graph, labels=("retrained", "optimized"))
    assert diff.rows[0].op == "Identity" and (diff.rows[0].before, diff.rows[0].after) == (140, 0)
    assert (diff.a.stats.nodes, diff.b.stats.nodes) == (560, 420)
    assert len(diff.only_a) == 140 and not diff.only_b
    assert sum(c.nodes for c in diff.removed) == 140
    assert all(set(c.ops) == {"Identity"} for c in diff.removed)
    # Consumers now read the Consts directly: changed inputs, same parameters.
    assert sum("inputs" in c.what for c in diff.changed) == 139
    assert diff.a.stats.params == diff.b.stats.params


def test_folded_batch_norm_is_one_scope_line():
    graph = retrained_like(blocks=2)
    bn_names = {n.name for n in graph.node if "/BatchNorm" in n.name}
    changes = summarise_scopes(graph, bn_names, kind="removed")
    assert [(c.scope, c.kind, c.nodes) for c in changes] == [
        ("Net/Conv2d_0/BatchNorm", "folded", 16),
        ("Net/Conv2d_1/BatchNorm", "folded", 16),
    ]


def test_scattered_nodes_grouped_by_op_and_added_side():
    graph = retrained_like()
    stripped = without_identities(graph)
    diff = diff_graphs(stripped, graph, labels=("opt", "orig"))
    assert not diff.only_a
    assert [c.kind for c in diff.added] == ["added"] * len(diff.added)
    assert sum(c.nodes for c in diff.added) == 12
    identical = diff_graphs(graph, graph)
    assert identical.identical and all(r.delta == 0 for r in identical.rows)


def test_rows_sorted_biggest_change_first():
    graph = retrained_like()
    diff = diff_graphs(graph, without_identities(graph))
    deltas = [abs(r.delta) for r in diff.rows]
    assert deltas == sorted(deltas, reverse=True)


def test_run_names_rule(tmp_path: Path):
    assert run_names(Path("tf_files/retrained_graph.pb"), Path("tf_files/optimized_graph.pb")) == ("retrained", "optimized")
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    assert run_names(tmp_path / "v1" / "graph.pb", tmp_path / "v2" / "graph.pb") == ("v1-graph", "v2-graph")
    assert run_names(tmp_path / "g.pb", tmp_path / "g.pb") == ("g-a", "g-b")


def test_cli_diff_table(small_pair, capsys):
    a, b = small_pair
    assert main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "retrained -> optimized" in out
    assert "Identity" in out and "Total nodes" in out and "File size" in out
    assert "12 Identity removed (12 of them /read): their readers read their inputs" in out


def test_cli_diff_json(small_pair, capsys):
    a, b = small_pair
    assert main(["diff", str(a), str(b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    identity = next(r for r in data["ops"] if r["op"] == "Identity")
    assert identity == {"op": "Identity", "a": 12, "b": 0, "delta": -12}
    assert data["totals"]["delta"] == -12
    assert data["a"]["label"] == "retrained" and data["b"]["label"] == "optimized"
    assert data["a"]["size_bytes"] == a.stat().st_size


def test_cli_diff_bad_input_exit_2(tmp_path: Path, small_pair, capsys):
    a, _ = small_pair
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"")
    assert main(["diff", str(a), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}: the file is empty; re-export the graph (retrain.py writes tf_files/retrained_graph.pb)\n"
    assert main(["diff", str(a)]) == 2
    assert capsys.readouterr().err.startswith("error: inspector diff: the following arguments are required: B.pb")


def test_diff_runs_without_tensorflow(small_pair, no_tf_env):
    a, b = small_pair
    proc = subprocess.run([sys.executable, "-m", "inspector", "diff", str(a), str(b), "--json"],
                          capture_output=True, text=True, env=no_tf_env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["totals"] == {"a": 50, "b": 38, "delta": -12}


def test_console_script_smoke(small_pair):
    exe = Path(sys.executable).parent / "inspector"
    a, b = small_pair
    proc = subprocess.run([str(exe), "diff", str(a), str(b)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Identity" in proc.stdout


def test_removed_node_with_surviving_children_stands_alone():
    """Keras names a node `x/ReadVariableOp` and another `x/ReadVariableOp/resource`."""
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    import numpy as np

    from builders import const, op

    a = GraphDef(node=[const("v/ReadVariableOp/resource", np.float32([1.0])), op("v/ReadVariableOp", "Identity", "v/ReadVariableOp/resource")])
    b = GraphDef(node=[const("v/ReadVariableOp/resource", np.float32([1.0]))])
    diff = diff_graphs(a, b)
    assert [(c.scope, c.nodes) for c in diff.removed] == [("", 1)]


def test_the_signatures_a_caller_has_give_the_diff_it_would_compute(tmp_path):
    """optimize and compare hand the diff the input's signature the optimizer read; the diff is the one it computes itself."""
    from inspector.analysis.diff import diff_loaded
    from inspector.graph.signature import signature
    from inspector.workflows.optimize import optimize_file

    a = load_graph(fixture_path("poets_pair/retrained_graph.pb"))
    done = optimize_file(a, tmp_path / "optimized_graph.pb")
    assert done.result.signature == signature(a.graph)
    b = done.written
    given = diff_loaded(a, b, signatures=(done.result.signature, signature(b.graph)))
    assert given.to_json() == diff_loaded(a, b).to_json() == done.diff.to_json() | {"stories": given.to_json()["stories"]}


def test_optimize_prints_the_op_table_without_matching_nodes(tmp_path, monkeypatch, capsys):
    """`inspector optimize` shows the op table only, so it leaves out the node-level diff (seconds on a big graph):
    the table is the one the full diff has, and --json still carries the whole diff."""
    import inspector.analysis.diff as diff_module
    from inspector.analysis.diff import OpTable, diff_loaded
    from inspector.workflows.optimize import optimize_file

    a = load_graph(fixture_path("poets_pair/retrained_graph.pb"))
    light = optimize_file(a, tmp_path / "light.pb", diff=False)
    full = optimize_file(a, tmp_path / "full.pb")
    assert light.diff is None and full.diff is not None
    assert light.ops.rows == full.diff.rows == full.ops.rows and light.ops.rows
    assert (light.ops.a, light.ops.b.stats) == (full.ops.a, full.ops.b.stats)
    assert light.ops == OpTable(*(lambda d: (d.a, d.b, d.rows))(diff_loaded(a, light.written)))

    def no_matching(*args, **kwargs):
        raise AssertionError("the text output matched nodes")

    monkeypatch.setattr(diff_module, "diff_graphs", no_matching)
    assert main(["optimize", str(a.path), "--output", str(tmp_path / "cli.pb")]) == 0
    text = capsys.readouterr().out
    assert "Total nodes" in text and "Rsqrt" in text
    monkeypatch.undo()
    assert main(["optimize", str(a.path), "--output", str(tmp_path / "cli.pb"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["diff"]["ops"] == full.diff.to_json()["ops"]


def _scopes_by_definition(graph: GraphDef, members: set[str], rewritten: set[str], kind: str) -> list[tuple]:
    """summarise_scopes written as its docstring says it, with strings and a scan per scope: slow and plain."""
    names = [n.name for n in graph.node]
    ops = {n.name: n.op for n in graph.node}

    def under(prefix: str) -> list[str]:
        return [n for n in names if n == prefix or n.startswith(prefix + "/")]

    groups: dict[str, list[str]] = {}
    for name in names:
        if name not in members:
            continue
        parts = name.split("/")
        enclosing = ("/".join(parts[:depth]) for depth in range(1, len(parts)))
        top = next((s for s in enclosing if all(n in members or n in rewritten for n in under(s))), name)
        groups.setdefault(top, []).append(name)
    out, loose = [], {}
    for top, group in groups.items():
        if group == [top]:
            loose.setdefault(ops[top], []).append(top)
            continue
        out.append((top, group, sum(n in rewritten for n in under(top))))
    out += [("", group, 0) for group in loose.values()]
    rows = []
    for scope, group, changed in out:
        counts = Counter(ops[n] for n in group)
        folded = kind == "removed" and set(counts) <= BATCH_NORM_OPS and bool(set(counts) & BATCH_NORM_CORE_OPS)
        rows.append((scope, "folded" if folded else kind, len(group), dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
                     tuple(group[:3]), changed))
    rows.sort(key=lambda r: (-r[2], r[0] == "", r[0]))
    return rows


@pytest.mark.parametrize("seed", range(60))
def test_scope_summaries_are_what_their_definition_says_on_random_scope_trees(seed):
    # Names that are scopes too (w beside w/read), deep and shallow, members and rewritten nodes at random.
    rng = random.Random(seed)
    graph, seen = GraphDef(), []
    for i in range(rng.randint(1, 80)):
        if seen and rng.random() < 0.25:
            name = f"{rng.choice(seen)}/{rng.choice(['read', 'y'])}"
        else:
            name = "/".join([*(rng.choice("abc") for _ in range(rng.randint(0, 4))), rng.choice(["w", "x", f"n{i}"])])
        if name not in seen:
            seen.append(name)
            graph.node.append(op(name, rng.choice(["Rsqrt", "Mul", "Identity", "Const", "Add"])))
    members = {n for n in seen if rng.random() < rng.random()}
    rewritten = {n for n in seen if n not in members and rng.random() < 0.2}
    kind = rng.choice(["removed", "added"])
    got = [(c.scope, c.kind, c.nodes, c.ops, c.examples, c.changed)
           for c in summarise_scopes(graph, members, kind=kind, rewritten=rewritten)]
    assert got == _scopes_by_definition(graph, members, rewritten, kind)


def test_one_pass_commands_run_without_the_cycle_collector_and_give_it_back(monkeypatch):
    import gc

    import inspector.cli.graphs as graphs_cli
    import inspector.cli.run as run_cli

    seen: list[tuple[str, bool]] = []
    monkeypatch.setattr(graphs_cli, "cmd_diff", lambda args, out: seen.append(("diff", gc.isenabled())) or 0)
    monkeypatch.setattr(run_cli, "cmd_verify", lambda args, out: seen.append(("verify", gc.isenabled())) or 0)
    assert gc.isenabled()
    assert main(["diff", "a.pb", "b.pb"]) == 0 and gc.isenabled()  # called in-process: given back
    assert main(["verify", "a.pb", "b.pb"]) == 0 and gc.isenabled()
    # As the program, the process ends with the command: the collector stays off rather than walk the heap again.
    monkeypatch.setattr(sys, "argv", ["inspector", "diff", "a.pb", "b.pb"])
    try:
        assert main() == 0 and not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [("diff", False), ("verify", True), ("diff", False)]
