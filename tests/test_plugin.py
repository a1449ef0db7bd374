"""The Graph diff TensorBoard plugin: discovery, its routes on real and generated pairs, the text summary, the tab URL."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.meta_graph_pb2 import MetaGraphDef
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from builders import retrained_like, without_identities
from conftest import fixture_path, free_port
from helpers import http_get
from inspector.tb import board
from inspector.analysis.diff import diff_graphs
from inspector.errors import InspectorError
from inspector.tb.plugin import (
    MARKER,
    PLUGIN_NAME,
    TEXT_RUN,
    diff_tab_url,
    read_pair,
    record_pair,
)
from inspector.tb.textsummary import write_text_summary
from inspector.tb.plugin.backend import GraphDiffPlugin
from inspector.tb.plugin.loader import GraphDiffLoader
from inspector.tb.events import record
from inspector.tb.events import write_run

# --- helpers ------------------------------------------------------------------


def plugin_client(logdir: Path) -> tuple[GraphDiffPlugin, Client]:
    """The plugin on ``logdir`` and a WSGI client for its routes, as TensorBoard mounts them."""
    plugin = GraphDiffLoader().load(base_plugin.TBContext(logdir=str(logdir)))
    assert isinstance(plugin, GraphDiffPlugin)
    apps = plugin.get_plugin_apps()

    def app(environ, start_response):
        route = environ["PATH_INFO"]
        if route not in apps:
            start_response("404 NOT FOUND", [("Content-Type", "text/plain")])
            return [b"no route"]
        return apps[route](environ, start_response)

    return plugin, Client(app)


def get_json(client: Client, url: str) -> tuple[int, dict]:
    response = client.get(url)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return response.status_code, json.loads(response.get_data())


def diff_url(a: str, b: str) -> str:
    return "/diff?" + urllib.parse.urlencode({"a": a, "b": b})


def drawn_nodes(client: Client, a: str, b: str, side: str) -> dict[str, tuple[str, str]]:
    """Every node the tab can draw on one side, opening each scope through /level as the tab does: {name: (op, status)}."""
    found, todo = {}, [0]
    while todo:
        status, level = get_json(client, "/level?" + urllib.parse.urlencode({"a": a, "b": b, "side": side, "id": todo.pop()}))
        assert status == 200, level
        for item in level["items"]:
            if item["kind"] == "node":
                found[item["name"]] = (item["op"], item["status"])
            else:
                todo.append(item["id"])
    return found


@pytest.fixture
def pair_logdir(tmp_path: Path) -> Path:
    """The small generated pair written as runs `retrained` and `optimized`, as `inspector compare` does."""
    logdir = tmp_path / "logs"
    graph = retrained_like()
    write_run(graph, logdir, "retrained")
    write_run(without_identities(graph), logdir, "optimized")
    return logdir


def events_file(path: Path, events: list[Event]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(record(e.SerializeToString()) for e in events))
    return path


# --- discovery ----------------------------------------------------------------


def test_plugin_is_found_through_the_tensorboard_plugins_entry_point():
    from tensorboard import default

    found = default.get_dynamic_plugins()
    assert GraphDiffLoader in found, (
        "the tensorboard_plugins entry point is not installed: pyproject.toml needs\n"
        '  [project.entry-points.tensorboard_plugins]\n  graph_diff = "inspector.tb.plugin.loader:GraphDiffLoader"\n'
        "then reinstall: .venv/bin/pip install -e '.[test]'"
    )


def test_loader_builds_the_plugin_with_an_es_module_frontend(tmp_path: Path):
    plugin = GraphDiffLoader().load(base_plugin.TBContext(logdir=str(tmp_path)))
    assert plugin.plugin_name == PLUGIN_NAME == "graph_diff"
    meta = plugin.frontend_metadata()
    assert meta.es_module_path == "/index.js" and meta.tab_name == "Graph diff" and meta.element_name is None
    assert {"/index.js", "/style.css", "/runs", "/diff"} <= set(plugin.get_plugin_apps())


def test_static_module_is_served_and_exports_render(tmp_path: Path):
    _, client = plugin_client(tmp_path)
    js = client.get("/index.js")
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    source = js.get_data(as_text=True)
    assert "export async function render()" in source
    # Only this server: the module fetches its own routes and nothing else.
    assert "http://" not in source and "https://" not in source
    css = client.get("/style.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_is_active_only_with_event_files(tmp_path: Path, pair_logdir: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not GraphDiffPlugin(base_plugin.TBContext(logdir=str(empty))).is_active()
    assert not GraphDiffPlugin(base_plugin.TBContext(logdir="")).is_active()
    assert GraphDiffPlugin(base_plugin.TBContext(logdir=str(pair_logdir))).is_active()


def test_plugin_and_diff_run_without_tensorflow(tmp_path: Path, pair_logdir: Path, no_tf_env):
    script = f"""
import sys
from tensorboard.plugins import base_plugin
from inspector.tb.plugin.loader import GraphDiffLoader
plugin = GraphDiffLoader().load(base_plugin.TBContext(logdir={str(pair_logdir)!r}))
plugin.diff_json_bytes("retrained", "optimized")
assert "tensorflow" not in sys.modules, "the plugin imported TensorFlow"
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=no_tf_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# --- /runs ----------------------------------------------------------------------


def test_runs_lists_graph_runs_and_defaults_to_the_recorded_pair(pair_logdir: Path):
    _, client = plugin_client(pair_logdir)
    status, body = get_json(client, "/runs")
    assert status == 200
    assert [r["run"] for r in body["runs"]] == ["optimized", "retrained"]
    # Not recorded: the run with more nodes is before (the listing's first run is the optimized one).
    assert body["default"] == {"a": "retrained", "b": "optimized", "source": "more nodes first (an optimizer removes nodes)"}
    assert all(r["written_by_inspector"] and not r["weights_in_log"] for r in body["runs"])

    record_pair(pair_logdir, "retrained", "optimized")
    status, body = get_json(client, "/runs")
    assert body["default"] == {"a": "retrained", "b": "optimized", "source": "recorded"}


def test_runs_ignore_a_recorded_pair_whose_runs_are_gone(pair_logdir: Path):
    record_pair(pair_logdir, "retrained", "deleted-since")
    _, client = plugin_client(pair_logdir)
    _, body = get_json(client, "/runs")
    assert body["default"]["source"] == "more nodes first (an optimizer removes nodes)"


def test_runs_from_other_writers_nested_runs_and_unreadable_files(tmp_path: Path):
    logdir = tmp_path / "logs"
    graph = retrained_like()
    # What tf.compat.v1.summary.FileWriter writes: no inspector suffix, a file_version event, then the graph.
    events_file(
        logdir / "train" / "events.out.tfevents.1700000000.host",
        [Event(wall_time=1.0, file_version="brain.Event:2"), Event(wall_time=2.0, step=0, graph_def=graph.SerializeToString())],
    )
    # Only a MetaGraphDef (FileWriter.add_meta_graph).
    meta = MetaGraphDef()
    meta.graph_def.CopyFrom(without_identities(graph))
    events_file(logdir / "poets" / "meta" / "events.out.tfevents.1700000001.host", [Event(wall_time=3.0, meta_graph_def=meta.SerializeToString())])
    # A run with scalars only: not a graph run.
    events_file(logdir / "validation" / "events.out.tfevents.1700000002.host", [Event(wall_time=4.0, file_version="brain.Event:2")])
    # A truncated file: listed as a problem, not an error of the whole listing.
    broken = events_file(logdir / "broken" / "events.out.tfevents.1700000003.host", [Event(wall_time=5.0, graph_def=graph.SerializeToString())])
    broken.write_bytes(broken.read_bytes()[:-7])

    plugin, client = plugin_client(logdir)
    status, body = get_json(client, "/runs")
    assert status == 200
    assert [(r["run"], r["nodes"], r["written_by_inspector"], r["weights_in_log"]) for r in body["runs"]] == [
        ("poets/meta", len(without_identities(graph).node), False, True),
        ("train", len(graph.node), False, True),
    ]
    assert len(body["problems"]) == 1 and "broken" in body["problems"][0]
    status, body = get_json(client, diff_url("train", "poets/meta"))
    assert status == 200
    assert body["diff"]["a"]["label"] == "train" and body["diff"]["b"]["label"] == "poets/meta"
    assert body["diff"]["counts"]["only_a"] == sum(1 for n in graph.node if n.op == "Identity")


@pytest.mark.slow
def test_runs_written_by_tensorflow_itself(tmp_path: Path):
    from inspector.graph.tfcompat import tf, to_tf

    tensorflow = tf()
    logdir = tmp_path / "logs"
    graph = retrained_like()
    # The codelab's way: a TF1 FileWriter given the graph.
    with tensorflow.Graph().as_default():
        writer = tensorflow.compat.v1.summary.FileWriter(str(logdir / "filewriter"))
        writer.add_graph(graph=None, graph_def=to_tf(graph))
        writer.close()
    # TF2's summary API (what Keras' TensorBoard callback uses).
    with tensorflow.summary.create_file_writer(str(logdir / "tf2")).as_default():
        tensorflow.summary.graph(to_tf(without_identities(graph)))
    _, client = plugin_client(logdir)
    _, body = get_json(client, "/runs")
    assert [(r["run"], r["nodes"]) for r in body["runs"]] == [
        ("filewriter", len(graph.node)),
        ("tf2", len(without_identities(graph).node)),
    ]
    status, body = get_json(client, diff_url("filewriter", "tf2"))
    assert status == 200
    assert {r["op"]: (r["a"], r["b"]) for r in body["diff"]["ops"]}["Identity"][1] == 0


def test_the_last_graph_of_a_run_wins(tmp_path: Path):
    logdir = tmp_path / "logs"
    first, second = retrained_like(blocks=1), retrained_like(blocks=2)
    events_file(logdir / "run" / "events.out.tfevents.1700000000.host", [Event(graph_def=first.SerializeToString())])
    events_file(
        logdir / "run" / "events.out.tfevents.1700000005.host",
        [Event(graph_def=first.SerializeToString()), Event(graph_def=second.SerializeToString())],
    )
    _, client = plugin_client(logdir)
    _, body = get_json(client, "/runs")
    assert body["runs"][0]["nodes"] == len(second.node)


# --- /diff ----------------------------------------------------------------------


def test_diff_of_the_small_pair_has_the_table_scopes_and_every_node_drawn(pair_logdir: Path):
    graph = retrained_like()
    stripped = without_identities(graph)
    expected = diff_graphs(graph, stripped, labels=("retrained", "optimized"))
    _, client = plugin_client(pair_logdir)
    status, body = get_json(client, diff_url("retrained", "optimized"))
    assert status == 200
    diff = body["diff"]
    # The same facts as the terminal diff (GraphDiff.to_json), node lists replaced by counts.
    reference = expected.to_json()
    assert diff["ops"] == reference["ops"]
    assert diff["totals"] == reference["totals"]
    assert diff["removed_scopes"] == reference["removed_scopes"]
    assert diff["added_scopes"] == reference["added_scopes"]
    assert diff["counts"] == {"only_a": len(expected.only_a), "only_b": 0, "changed": len(expected.changed), "renamed": 0}
    assert {"only_a", "only_b", "changed"}.isdisjoint(diff)
    assert diff["a"]["params"] == reference["a"]["params"] and diff["a"]["const_bytes"] == reference["a"]["const_bytes"]
    identity = next(r for r in diff["ops"] if r["op"] == "Identity")
    identities = sum(1 for n in graph.node if n.op == "Identity")
    assert identities > 0 and (identity["a"], identity["b"], identity["delta"]) == (identities, 0, -identities)

    left = drawn_nodes(client, "retrained", "optimized", "a")
    right = drawn_nodes(client, "retrained", "optimized", "b")
    assert set(left) == {n.name for n in graph.node}
    assert set(right) == {n.name for n in stripped.node}
    assert {name for name, (_, st) in left.items() if st == "removed"} == set(expected.only_a)
    assert not any(st == "added" for _, st in left.values())
    changed = {c.name: c.what for c in expected.changed}
    assert {name for name, (_, st) in right.items() if st == "changed"} == set(changed)
    conv = "Net/Conv2d_0/Conv2D"
    assert right[conv] == ("Conv2D", "changed") and left[conv][1] == "changed"
    assert right["input"] == ("Placeholder", "same")
    assert left["Net/Conv2d_0/weights/read"] == ("Identity", "removed")
    assert "trees" not in body  # the drawing sends the nodes a scope at a time
    assert body["logged"]["a"]["weights_in_log"] is False


def test_diff_of_the_real_pair_removes_140_identities(tmp_path: Path):
    a = GraphDef.FromString(fixture_path("poets_pair/retrained_graph.pb").read_bytes())
    b = GraphDef.FromString(fixture_path("poets_pair/optimized_graph.pb").read_bytes())
    logdir = tmp_path / "logs"
    write_run(a, logdir, "retrained")
    write_run(b, logdir, "optimized")
    _, client = plugin_client(logdir)
    status, body = get_json(client, diff_url("retrained", "optimized"))
    assert status == 200
    rows = {r["op"]: (r["a"], r["b"]) for r in body["diff"]["ops"]}
    assert rows["Identity"] == (140, 0)
    assert body["diff"]["totals"] == {"a": 560, "b": 420, "delta": -140}
    assert len(drawn_nodes(client, "retrained", "optimized", "a")) == 560
    assert len(drawn_nodes(client, "retrained", "optimized", "b")) == 420


def test_diff_answers_gzipped_and_warm_answers_come_from_the_cache(pair_logdir: Path):
    plugin, client = plugin_client(pair_logdir)
    response = client.get(diff_url("retrained", "optimized"), headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    body = json.loads(gzip.decompress(response.get_data()))
    assert body["diff"]["totals"]["a"] == len(retrained_like().node)
    first = plugin.diff_json_bytes("retrained", "optimized")
    assert plugin.diff_json_bytes("retrained", "optimized") is first

    # Writing a run again (a new event file) is seen on the next request.
    write_run(retrained_like(blocks=1), pair_logdir, "retrained")
    again = plugin.diff_json_bytes("retrained", "optimized")
    assert again is not first
    assert json.loads(gzip.decompress(again))["diff"]["totals"]["a"] == len(retrained_like(blocks=1).node)


@pytest.mark.parametrize(
    "query, fragment",
    [
        ({"a": "../outside", "b": "optimized"}, "inside the logdir"),
        ({"a": "/etc", "b": "optimized"}, "relative to the logdir"),
        ({"a": "nope", "b": "optimized"}, "no such run"),
        ({"a": "retrained", "b": TEXT_RUN}, "hold no graph"),
        ({"a": "retrained"}, "pass two runs"),
        ({"a": "retrained/events.out.tfevents.1", "b": "optimized"}, "no such run"),
    ],
)
def test_bad_run_names_are_400_with_a_json_error(pair_logdir: Path, query: dict, fragment: str):
    graph = retrained_like()
    write_text_summary(pair_logdir, diff_graphs(graph, without_identities(graph), labels=("retrained", "optimized")))
    _, client = plugin_client(pair_logdir)
    status, body = get_json(client, "/diff?" + urllib.parse.urlencode(query))
    assert status == 400
    assert fragment in body["error"], body


def test_a_run_file_instead_of_folder_is_400(pair_logdir: Path):
    (pair_logdir / "afile").write_text("not a run")
    _, client = plugin_client(pair_logdir)
    status, body = get_json(client, diff_url("afile", "optimized"))
    assert status == 400 and "not a run folder" in body["error"]


def test_without_logdir_the_routes_say_so(tmp_path: Path):
    plugin = GraphDiffPlugin(base_plugin.TBContext(logdir=""))
    apps = plugin.get_plugin_apps()
    client = Client(lambda environ, start: apps[environ["PATH_INFO"]](environ, start))
    for url in ("/runs", diff_url("a", "b")):
        status, body = get_json(client, url)
        assert status == 400 and "--logdir" in body["error"]


def test_the_summary_of_a_large_graph_stays_compact(tmp_path: Path):
    graph = retrained_like(blocks=60, channels=2, size=8)  # ~1,600 nodes
    logdir = tmp_path / "logs"
    write_run(graph, logdir, "a")
    write_run(without_identities(graph), logdir, "b")
    plugin, _ = plugin_client(logdir)
    text = gzip.decompress(plugin.diff_json_bytes("a", "b"))
    nodes = len(graph.node) + len(without_identities(graph).node)
    # The stories (a few names each) and the 302 nodes changed in place with their inputs; no list of every node.
    assert len(text) / nodes < 70, (len(text), nodes)


# --- the marker and the tab's URL -------------------------------------------


def test_record_and_read_pair(tmp_path: Path):
    logdir = tmp_path / "logs"
    assert read_pair(logdir) is None
    path = record_pair(logdir, "retrained/", "poets/optimized")
    assert path == logdir / MARKER and path.exists()
    assert read_pair(logdir) == ("retrained", "poets/optimized")
    path.write_text("{not json")
    assert read_pair(logdir) is None
    with pytest.raises(InspectorError):
        record_pair(logdir, "../elsewhere", "optimized")


def test_diff_tab_url():
    assert diff_tab_url("http://127.0.0.1:6006/", "retrained", "optimized") == (
        "http://127.0.0.1:6006/#graph_diff&a=retrained&b=optimized"
    )
    assert diff_tab_url("http://127.0.0.1:6006", "poets/a b", "x&y") == (
        "http://127.0.0.1:6006/#graph_diff&a=poets%2Fa%20b&b=x%26y"
    )
    assert diff_tab_url("http://[::1]:6007/#graphs&run=x") == "http://[::1]:6007/#graph_diff"


# --- the text summary ---------------------------------------------------------


def test_text_summary_is_read_by_tensorboards_event_accumulator(tmp_path: Path):
    from tensorboard.backend.event_processing import event_accumulator

    a = GraphDef.FromString(fixture_path("poets_pair/retrained_graph.pb").read_bytes())
    b = GraphDef.FromString(fixture_path("poets_pair/optimized_graph.pb").read_bytes())
    logdir = tmp_path / "logs"
    diff = diff_graphs(a, b, labels=("retrained", "optimized"), sizes=(2023684, 1995598))
    written = write_text_summary(logdir, diff)
    assert written.run == TEXT_RUN and written.tag == "retrained -> optimized"

    acc = event_accumulator.EventAccumulator(str(logdir / TEXT_RUN), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    assert acc.PluginTagToContent("text") == {"retrained -> optimized": acc.SummaryMetadata("retrained -> optimized").plugin_data.content}
    (event,) = acc.Tensors("retrained -> optimized")
    text = event.tensor_proto.string_val[0].decode("utf-8")
    assert "| Identity | 140 | 0 | -140 (-100%) |" in text
    assert "| **Total nodes** | **560** | **420** | -140 (-25%) |" in text
    assert "File size (bytes)" in text and "139 single Identity nodes removed" in text


def test_text_summary_replaces_its_own_tag_and_keeps_others(tmp_path: Path):
    graph = retrained_like()
    diff = diff_graphs(graph, without_identities(graph), labels=("retrained", "optimized"))
    other = diff_graphs(graph, graph, labels=("retrained", "retrained-copy"))
    first = write_text_summary(tmp_path, diff)
    kept = write_text_summary(tmp_path, other)
    second = write_text_summary(tmp_path, diff)
    assert second.replaced == (first.event_file,)
    files = sorted(p.name for p in (tmp_path / TEXT_RUN).iterdir())
    assert files == sorted([kept.event_file.name, second.event_file.name])
    # TensorBoard reads a run's files in name order: the newest sorts last.
    assert files[-1] == second.event_file.name
    assert "same nodes" in Event.FromString(_records(kept.event_file)[1]).summary.value[0].tensor.string_val[0].decode()


def _records(path: Path) -> list[bytes]:
    from inspector.tb.events import read_graph_events

    return [e.SerializeToString() for e in read_graph_events(path)]


# --- a real TensorBoard -------------------------------------------------------






@pytest.mark.slow
def test_a_tensorboard_started_as_usual_serves_the_tab_and_the_text_summary(tmp_path: Path, state: Path):
    a = GraphDef.FromString(fixture_path("poets_pair/retrained_graph.pb").read_bytes())
    b = GraphDef.FromString(fixture_path("poets_pair/optimized_graph.pb").read_bytes())
    logdir = tmp_path / "logs"
    write_run(a, logdir, "retrained")
    write_run(b, logdir, "optimized")
    record_pair(logdir, "retrained", "optimized")
    write_text_summary(logdir, diff_graphs(a, b, labels=("retrained", "optimized")))

    info = board.start(logdir, port=free_port(), state=state).info
    base = info.url.rstrip("/")
    status, listing = http_get(f"{base}/data/plugins_listing")
    assert status == 200
    plugins = json.loads(listing)
    assert PLUGIN_NAME in plugins, (
        "TensorBoard did not load the Graph diff plugin: is the tensorboard_plugins entry point installed? "
        "(pip install -e . after adding it to pyproject.toml)"
    )
    entry = plugins[PLUGIN_NAME]
    assert entry["enabled"] and entry["tab_name"] == "Graph diff"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/graph_diff/index.js"}

    status, body = http_get(f"{base}/data/plugin/graph_diff/diff?a=retrained&b=optimized")
    assert status == 200
    rows = {r["op"]: (r["a"], r["b"]) for r in json.loads(body)["diff"]["ops"]}
    assert rows["Identity"] == (140, 0)
    status, body = http_get(f"{base}/data/plugin/graph_diff/diff?a=..&b=optimized")
    assert status == 400 and "error" in json.loads(body)

    # The Text tab, for boards without the plugin.
    status, tags = http_get(f"{base}/data/plugin/text/tags")
    assert json.loads(tags) == {TEXT_RUN: ["retrained -> optimized"]}
    query = urllib.parse.urlencode({"run": TEXT_RUN, "tag": "retrained -> optimized"})
    status, text = http_get(f"{base}/data/plugin/text/text?{query}")
    (entry,) = json.loads(text)
    assert "<td>Identity</td>\n<td>140</td>\n<td>0</td>" in entry["text"]


def test_compare_records_the_pair_and_writes_the_text_summary(tmp_path: Path, small_pair, capsys):
    from inspector.cli import main

    logdir = tmp_path / "logs"
    assert main(["compare", str(small_pair[0]), str(small_pair[1]), "--logdir", str(logdir), "--no-board"]) == 0
    capsys.readouterr()
    assert read_pair(logdir) == ("retrained", "optimized"), "inspector compare must call inspector.tb.plugin.record_pair"
    summaries = list((logdir / TEXT_RUN).glob("events.out.tfevents.*"))
    assert len(summaries) == 1, "inspector compare must call inspector.tb.plugin.write_text_summary"


def test_a_growing_event_file_is_read_again_and_its_old_version_dropped(tmp_path: Path):
    from inspector.tb.plugin.logdir import GraphStore

    path = events_file(tmp_path / "train" / "events.out.tfevents.1700000000.host", [Event(file_version="brain.Event:2")])
    store = GraphStore(tmp_path)
    for step in range(5):
        # A training job appending summaries: a new size each time, no graph yet.
        with path.open("ab") as handle:
            handle.write(record(Event(step=step, wall_time=float(step)).SerializeToString()))
        assert store.runs() == ((), ())
    with path.open("ab") as handle:
        handle.write(record(Event(graph_def=retrained_like().SerializeToString()).SerializeToString()))
    (info,), _ = store.runs()
    assert info.run == "train" and info.nodes == len(retrained_like().node)
    stats = store.stats()
    assert (stats.files_tracked, stats.graphs_cached, stats.scans) == (1, 1, 6)
    # Each pass read on from where the last one ended; the graph record was read once more, to parse it.
    graph_record = len(record(Event(graph_def=retrained_like().SerializeToString()).SerializeToString())) - 12
    assert stats.bytes_read == path.stat().st_size + graph_record
