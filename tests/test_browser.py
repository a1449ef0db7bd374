"""The Graph and Graph diff tabs in a real headless Chromium (tests/chromium.py drives it over the DevTools protocol)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import browser_setup
from conftest import ROOT, fixture_path, free_port
from helpers import get_json, run_as_nobody
from inspector.tb import board
from inspector.cli import main
from inspector.tb.plugin import TEXT_RUN, diff_tab_url, read_pair
from inspector.tb.plugin.drawing import MAX_DEPTH
from chromium import DEEP_QUERY, DIFF_DOC, Chromium


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest):
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    try:
        executable = browser_setup.chromium(say=lambda line: reporter and reporter.write_line(line))
    except browser_setup.NoBrowser as exc:
        # A test that cannot see the browser must not pass quietly, nor be skipped.
        pytest.fail(str(exc), pytrace=False)
    chrome = Chromium(executable, tmp_path / "chromium-profile", tmp_path / "chromium.log")
    try:
        yield chrome
    finally:
        chrome.close()




# --- finding or installing the browser -----------------------------------------------

# Stands in for apt-get (only its PATH can see it): logs each call and
# "installs" chromium by writing one beside itself, or fails like apt does.
APT_STAND_IN = """#!{python}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "apt.log"), "a") as log:
    log.write(json.dumps([sys.argv[1:], os.environ.get("DEBIAN_FRONTEND")]) + "\\n")
if sys.argv[1] == "install":
    if {fail!r}:
        sys.exit("E: Unable to locate package chromium")
    with open(os.path.join(here, "chromium"), "w") as browser:
        browser.write("#!/bin/sh\\n")
    os.chmod(os.path.join(here, "chromium"), 0o755)
"""


def _apt_stand_in(folder: Path, *, fail: bool) -> Path:
    folder.mkdir()
    apt = folder / "apt-get"
    apt.write_text(APT_STAND_IN.format(python=sys.executable, fail=fail))
    apt.chmod(0o755)
    return folder


def test_a_missing_chromium_is_installed_with_apt_get_as_root_and_named_otherwise(tmp_path: Path, world_tmp: Path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_CHROMIUM", raising=False)
    steps = [[["update", "-qq"], "noninteractive"], [["install", "-y", "-qq", "--no-install-recommends", "chromium"], "noninteractive"]]
    if os.geteuid() == 0:
        bin_dir = _apt_stand_in(tmp_path / "bin", fail=False)
        said: list[str] = []
        assert browser_setup.chromium(path=str(bin_dir), say=said.append) == str(bin_dir / "chromium")
        assert [json.loads(line) for line in (bin_dir / "apt.log").read_text().splitlines()] == steps
        assert said == ["Chromium is missing: apt-get update -qq",
                        "Chromium is missing: apt-get install -y -qq --no-install-recommends chromium"]
        # Found now: nothing is installed again.
        assert browser_setup.chromium(path=str(bin_dir)) == str(bin_dir / "chromium")
        assert len((bin_dir / "apt.log").read_text().splitlines()) == 2

        failing = _apt_stand_in(tmp_path / "failing", fail=True)
        with pytest.raises(browser_setup.NoBrowser) as caught:
            browser_setup.chromium(path=str(failing))
        assert str(caught.value) == (
            "Chromium is not installed and `apt-get install -y -qq --no-install-recommends chromium` failed "
            "(E: Unable to locate package chromium); fix that, then run `apt-get update && apt-get install -y "
            "--no-install-recommends chromium` as root, or point INSPECTOR_CHROMIUM at a Chromium or Chrome binary")
    # Anyone else is told, in one line, how to install it (as "nobody" when the suite runs as root).
    proc = run_as_nobody(
        f"try:\n    browser_setup.chromium(path={str(world_tmp)!r})\nexcept browser_setup.NoBrowser as exc:\n    print(exc)\n",
        warm=f"sys.path.insert(0, {str(ROOT / 'tests')!r})\nimport browser_setup\n", cwd=world_tmp)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "Chromium is needed for tests/test_browser.py and is not installed: run `apt-get update && apt-get install -y "
        "--no-install-recommends chromium` as root, or point INSPECTOR_CHROMIUM at a Chromium or Chrome binary\n")


# What TensorBoard's Graph tab draws of each run: every node but the Consts,
# which it folds into their readers (167 in both graphs).
DRAWN_NODES = {"retrained": 560 - 167, "optimized": 420 - 167}


def expect_graph_tab_on(browser: Chromium, run: str) -> None:
    """The Graph tab's run menu shows ``run`` and the graph it drew is that run's."""
    browser.wait_for(
        f"__deepAll('paper-dropdown-menu').some(d => d.value === {json.dumps(run)})"
        f" && __deepAll('tf-graph-dashboard').some(d => d._graph && Object.keys(d._graph.nodes).length === {DRAWN_NODES[run]})"
        " && __deepAll('g.node').length > 0",
        what=f"the Graph tab to draw run {run} ({DRAWN_NODES[run]} nodes)",
    )


def wait_drawn(browser: Chromium) -> None:
    browser.wait_for(f"!!({DIFF_DOC} && {DIFF_DOC}.querySelector('#gd-graphs[data-drawn=\"1\"][data-busy=\"0\"]'))",
                     what="the Graph diff tab to draw both graphs")


def wait_idle(browser: Chromium) -> None:
    browser.wait_for(f"!!{DIFF_DOC}.querySelector('#gd-graphs[data-busy=\"0\"]')", what="the drawing to settle")


def pane_items(browser: Chromium, side: str) -> list[dict]:
    """The items drawn in one pane: every element that stands for a node, a scope or a group, with its data-* fields."""
    return browser.evaluate(
        f"Array.from({DIFF_DOC}.querySelectorAll('#gd-pane-{side} .gd-item')).map(e => ({{...e.dataset}}))"
    )


def open_scope(browser: Chromium, side: str, name: str) -> None:
    """Click the open/close toggle of the scope named ``name`` in one pane (found by its data-node, whatever it holds)."""
    found = browser.evaluate(
        f"(() => {{ const el = Array.from({DIFF_DOC}.querySelectorAll('#gd-pane-{side} .gd-scope'))"
        f".find(e => e.dataset.node === {json.dumps(name)}); if (!el) return false;"
        " el.querySelector('.gd-toggle').dispatchEvent(new MouseEvent('click', {bubbles: true})); return true; })()"
    )
    assert found, f"no scope {name!r} drawn in pane {side}"


@pytest.mark.slow
def test_codelab_pair_in_the_graph_text_and_graph_diff_tabs(tmp_path: Path, state: Path, browser: Chromium, capsys):
    a = fixture_path("poets_pair/retrained_graph.pb")
    b = fixture_path("poets_pair/optimized_graph.pb")
    logdir = tmp_path / "training_summaries"
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--no-board", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # compare wrote the diff as a text summary, for the Text tab, before TensorBoard starts.
    assert Path(result["text_summary"]["event_file"]).is_file()
    info = board.start(logdir, port=free_port(), state=state).info
    url = info.url
    plugins = get_json(url + "data/plugins_listing")
    assert "graph_diff" in plugins, (
        "TensorBoard did not load the Graph diff plugin: the tensorboard_plugins entry point is not installed "
        "(pyproject.toml, then pip install -e .)"
    )
    urls = {run: board.graph_url(info, run) for run in ("retrained", "optimized")}

    # --- the Graph tab, once per run ---
    # TensorBoard 2.x draws its first run whatever run= the URL names (its run
    # menu is not bound to it), so the run is picked in the menu, as a person does.
    for run in ("retrained", "optimized"):
        browser.navigate(urls[run])
        browser.wait_for("__deepAll('paper-item').length >= 2 && __deepAll('g.node').length > 0", what="the Graph tab")
        runs_listed = browser.evaluate(DEEP_QUERY + "; __deepAll('paper-item').map(e => e.textContent.trim())")
        assert {"retrained", "optimized"} <= set(runs_listed), runs_listed
        browser.evaluate(
            DEEP_QUERY + f"; __deepAll('paper-item').find(e => e.textContent.trim() === {json.dumps(run)}).click()"
        )
        expect_graph_tab_on(browser, run)
        drawn = browser.evaluate(DEEP_QUERY + "; __deepAll('g.node').map(g => g.dataset.name)")
        # MobileNet's scope and the retrained head are boxes on the canvas.
        assert "MobilenetV1" in drawn and "final_training_ops" in drawn, drawn
        browser.settle("JSON.stringify(__deepAll('g.node').map(g => g.getBoundingClientRect()))")
        browser.screenshot(f"graph-tab-{run}.png")

    # --- the Text tab: the same table where the plugin is not installed ---
    browser.navigate(url + "#text")
    cells = browser.wait_for(
        "(() => { const cells = __deepAll('td').map(td => td.textContent.trim()); "
        "const i = cells.indexOf('Identity'); return i >= 0 ? cells.slice(i, i + 4) : null; })()",
        what="the Text tab to show the diff table",
    )
    assert cells == ["Identity", "140", "0", "-140 (-100%)"], cells
    assert browser.evaluate(DEEP_QUERY + f"; __deepAll('*').some(e => e.textContent.trim() === {json.dumps(TEXT_RUN)})")
    browser.screenshot("text-tab.png")

    # --- the Graph diff tab, on the pair in its URL ---
    browser.navigate(diff_tab_url(url, "retrained", "optimized"))
    browser.wait_for(f"!!({DIFF_DOC} && {DIFF_DOC}.querySelector('#gd-op-table'))", what="the Graph diff table")
    table = browser.evaluate(
        f"Array.from({DIFF_DOC}.querySelectorAll('#gd-op-table tr')).map(tr => "
        "[tr.className, ...Array.from(tr.children).map(c => c.textContent.trim())])"
    )
    rows = {cells[1]: cells for cells in table}
    assert rows["Identity"] == ["removed", "Identity", "140", "0", "−140 (−100%)"], rows["Identity"]
    assert rows["Const"][2:4] == ["167", "167"] and rows["Const"][0] == ""
    assert rows["Total nodes"][2:] == ["560", "420", "−140 (−25%)"]
    assert {"Parameters", "Constants", "Graph in log"} <= set(rows)
    colour = browser.evaluate(f"getComputedStyle({DIFF_DOC}.querySelector('#gd-op-table tr.removed td')).backgroundColor")
    assert colour == "rgb(217, 241, 233)", colour  # the green of removed rows

    headline = browser.evaluate(f"{DIFF_DOC}.querySelector('.gd-headline').textContent")
    assert headline.startswith("retrained → optimized: 560 → 420 nodes"), headline
    selects = browser.evaluate(
        f"['a', 'b'].map(s => {{ const el = {DIFF_DOC}.querySelector('#gd-run-' + s); "
        "return [el.value, Array.from(el.options).map(o => o.value)]; })"
    )
    assert selects == [["retrained", ["optimized", "retrained"]], ["optimized", ["optimized", "retrained"]]]
    scopes = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-scope-list').textContent")
    assert "139 single Identity nodes removed" in scopes and "MobilenetV1/Logits/Dropout_1b: 1 node removed" in scopes
    # The stories of the diff; the nodes changed in place with their inputs before and after.
    stories = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-story-list').textContent")
    assert "Nodes: 280 same, 0 renamed, 140 changed, 140 removed, 0 added" in stories, stories
    assert "140 Identity removed (139 of them /read): their readers read their inputs directly: −140 +0 nodes" in stories
    changed = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-changed-list summary').textContent")
    assert changed == "Changed in place: 140 nodes", changed
    rewired = browser.evaluate(f"Array.from({DIFF_DOC}.querySelectorAll('#gd-changed-list li')).map(li => li.textContent)")
    assert ("MobilenetV1/MobilenetV1/Conv2d_0/convolution: Conv2D; inputs input, MobilenetV1/Conv2d_0/weights/read → "
            "input, MobilenetV1/Conv2d_0/weights") in rewired, rewired[:3]
    assert "input: Placeholder; attributes shape" in rewired  # TensorFlow's tool rewrote the placeholder's shape
    wait_drawn(browser)
    legend = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-legend').textContent")
    assert all(word in legend for word in ("same", "removed", "added", "changed", "renamed")), legend
    browser.screenshot("graph-diff-tab.png")

    # A story lights up its nodes in both drawings: the removed /read Identities on the left, their readers on the right.
    browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-story-list a.gd-story-show').click()")
    lit = browser.wait_for(
        f"(() => {{ const d = {DIFF_DOC}; const n = (s) => d.querySelectorAll(s).length; "
        "const r = [n('#gd-pane-a .gd-lit'), n('#gd-pane-b .gd-lit')]; return r[0] && r[1] ? r : null; })()",
        what="the story's nodes lit up in both panes",
    )
    assert all(n > 0 for n in lit), lit
    wait_idle(browser)

    # The link opens the standard Graph tab in the top window; TensorBoard draws its first run
    # there whatever run= says, and the tab says so instead of reaching into TensorBoard.
    note = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-graph-tab-note').textContent")
    assert "pick the one you want in its Run menu" in note
    link = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-open-a').getAttribute('href')")
    assert link.endswith("#graphs&run=retrained"), link
    browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-open-a').click()")
    browser.wait_for("location.hash === '#graphs&run=retrained'", what="the link to switch to the Graph tab")
    browser.wait_for("__deepAll('paper-item').length >= 2 && __deepAll('g.node').length > 0", what="the Graph tab")
    browser.evaluate(DEEP_QUERY + "; __deepAll('paper-item').find(e => e.textContent.trim() === 'retrained').click()")
    expect_graph_tab_on(browser, "retrained")

    # Without a pair in the URL the tab opens on the pair `compare` recorded (else the first two runs).
    browser.navigate("about:blank")
    browser.navigate(url + "#graph_diff")
    expected = read_pair(logdir) or ("optimized", "retrained")
    headline = f"{DIFF_DOC} && {DIFF_DOC}.querySelector('.gd-headline') && {DIFF_DOC}.querySelector('.gd-headline').textContent"
    opened = browser.wait_for(headline, what="the Graph diff tab on its default pair")
    assert opened.startswith(f"{expected[0]} → {expected[1]}:"), opened

    # A link to another pair on a page that has the tab open already.
    browser.evaluate("location.hash = '#graph_diff&a=optimized&b=retrained&x=1'")
    browser.wait_for(f"({headline} || '').startsWith('optimized → retrained:')", what="the tab to follow the URL")
    browser.evaluate("location.hash = '#graph_diff&a=retrained&b=optimized'")
    browser.wait_for(f"({headline} || '').startsWith('retrained → optimized:')", what="the tab to follow the URL back")
    assert not [e for e in browser.exceptions if "graph_diff" in e or "index.js" in e], browser.exceptions


STATUSES = {"same", "removed", "added", "changed", "renamed"}
# A batch norm inspector folds: decomposed into Rsqrt/Mul/Sub/Add on the left, one BiasAdd and its folded bias on the right.
BN = "MobilenetV1/MobilenetV1/Conv2d_1_pointwise/BatchNorm/batchnorm"


@pytest.mark.slow
def test_the_codelab_pair_is_drawn_side_by_side_and_in_step(tmp_path: Path, state: Path, browser: Chromium, capsys):
    a = fixture_path("poets_pair/retrained_graph.pb")
    optimized = tmp_path / "optimized_graph.pb"
    assert main(["optimize", str(a), "--output", str(optimized), "--json"]) == 0
    logdir = tmp_path / "logs"
    assert main(["compare", str(a), str(optimized), "--logdir", str(logdir), "--no-board", "--no-check", "--json"]) == 0
    capsys.readouterr()
    url = board.start(logdir, port=free_port(), state=state).info.url
    browser.navigate(diff_tab_url(url, "retrained", "optimized"))
    wait_drawn(browser)

    # The drawing is made when the panes first ask for it: until it comes, each pane's title says it is coming.
    graphs, title = f"{DIFF_DOC}.querySelector('#gd-graphs')", f"{DIFF_DOC}.querySelector('#gd-pane-b .gd-pane-title')"
    after = f"getComputedStyle({title}, '::after').content"
    assert browser.evaluate(after) in ("none", "normal")
    browser.evaluate(f"{graphs}.dataset.drawn = '0'; {graphs}.dataset.busy = '1'")
    assert browser.evaluate(after) == '" \u2014 drawing\u2026"', browser.evaluate(after)
    browser.evaluate(f"{graphs}.dataset.drawn = '1'; {graphs}.dataset.busy = '0'")

    # Both drawings: nodes and scopes with their status, edges between them; top-level scopes closed.
    for side in "ab":
        items = pane_items(browser, side)
        assert items and all(("node" in i) != ("group" in i) and i["status"] in STATUSES for i in items), items
        assert all(i.get("expanded") == "0" for i in items if i.get("expandable")), items
        edges = browser.evaluate(f"{DIFF_DOC}.querySelectorAll('#gd-pane-{side} path.gd-edge').length")
        assert edges >= 3, (side, edges)
    left = {i["node"]: i for i in pane_items(browser, "a")}
    right = {i["node"]: i for i in pane_items(browser, "b")}
    assert left["MobilenetV1"]["status"] == right["MobilenetV1"]["status"] == "changed"
    assert left["input_1"]["status"] == "removed" and "input_1" not in right  # the bottleneck input was pruned
    assert int(left["MobilenetV1"]["count"]) > int(right["MobilenetV1"]["count"])

    # Opening a scope on one side opens its match on the other; closing it closes both.
    open_scope(browser, "a", "MobilenetV1")
    wait_idle(browser)
    opened = browser.evaluate(f"['a', 'b'].map(s => {DIFF_DOC}.querySelector(`#gd-pane-${{s}} [data-node='MobilenetV1']`).dataset.expanded)")
    assert opened == ["1", "1"], opened
    inner = {side: {i["node"]: i["status"] for i in pane_items(browser, side) if "node" in i} for side in "ab"}
    # The optimizer moved each layer's weights next to its convolution: the weight scopes are left only on the left.
    assert inner["a"]["MobilenetV1/Conv2d_0"] == "changed" and "MobilenetV1/Conv2d_0" not in inner["b"], inner
    assert {"MobilenetV1/MobilenetV1", "MobilenetV1/Logits"} <= set(inner["b"]), inner["b"]
    open_scope(browser, "b", "MobilenetV1")
    wait_idle(browser)
    closed = browser.evaluate(f"['a', 'b'].map(s => {DIFF_DOC}.querySelector(`#gd-pane-${{s}} [data-node='MobilenetV1']`).dataset.expanded)")
    assert closed == ["0", "0"], closed

    # Search finds a node and shows it, selected, in both panes, with the node panel before and after.
    browser.evaluate(
        f"(() => {{ const i = {DIFF_DOC}.querySelector('#gd-search'); i.value = {json.dumps(BN + '/add_1')};"
        " i.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); })()"
    )
    selected = browser.wait_for(
        f"(() => {{ const s = Array.from({DIFF_DOC}.querySelectorAll('.gd-selected')).map(e => [e.closest('.gd-pane').id,"
        " e.dataset.node, e.dataset.op, e.dataset.status]); return s.length === 2 ? s : null; })()",
        what="the found node selected in both panes",
    )
    assert selected == [["gd-pane-a", BN + "/add_1", "Add", "changed"], ["gd-pane-b", BN + "/add_1", "BiasAdd", "changed"]]
    wait_idle(browser)
    status = {side: {i["node"]: i["status"] for i in pane_items(browser, side) if "node" in i} for side in "ab"}
    # The folded batch norm: its ops removed on the left; on the right the BiasAdd and the folded bias it adds.
    assert {status["a"][f"{BN}/{op}"] for op in ("Rsqrt", "mul", "mul_1", "mul_2", "sub")} == {"removed"}, status["a"]
    assert status["b"][f"{BN}/add_1/folded_bias"] == "added"
    assert not any(name.startswith(BN + "/") and name != BN + "/add_1" for name in status["b"] if "folded" not in name)
    panel = browser.wait_for(f"{DIFF_DOC}.querySelector('#gd-node-panel table') && {DIFF_DOC}.querySelector('#gd-node-panel').textContent",
                             what="the node panel")
    assert "folded into its convolution" in panel and "Add" in panel and "BiasAdd" in panel, panel[:800]
    cells = browser.evaluate(
        f"Object.fromEntries(Array.from({DIFF_DOC}.querySelectorAll('#gd-node-panel tbody tr')).map(tr =>"
        " [tr.children[0].textContent, [tr.className, ...Array.from(tr.children).slice(1).map(c => c.textContent)]]))"
    )
    assert cells["Op"] == ["gd-differs", "Add", "BiasAdd"], cells["Op"]
    assert cells["Inputs"][1].startswith(BN + "/mul_1") and cells["Inputs"][2].endswith("add_1/folded_bias"), cells["Inputs"]
    assert "Output shapes" in cells and "Weight digest" in cells
    browser.screenshot("graph-diff-folded-batch-norm.png")

    # Panning one pane moves the other so the matched node stays level with it.
    before = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-pane-b .gd-world').getAttribute('transform')")
    browser.evaluate(
        f"(() => {{ const svg = {DIFF_DOC}.querySelector('#gd-pane-a svg'); const r = svg.getBoundingClientRect();"
        " const at = (type, dx, dy) => svg.dispatchEvent(new PointerEvent(type, {bubbles: true, pointerId: 1, button: 0,"
        "   clientX: r.left + 5 + dx, clientY: r.top + 5 + dy}));"
        " at('pointerdown', 0, 0); at('pointermove', 40, 120); at('pointerup', 40, 120); })()"
    )
    after = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-pane-b .gd-world').getAttribute('transform')")
    assert after != before, (before, after)
    centres = browser.evaluate(
        f"['a', 'b'].map(s => {{ const r = {DIFF_DOC}.querySelector(`#gd-pane-${{s}} .gd-selected > .gd-shape`).getBoundingClientRect();"
        " return Math.round(r.top + r.height / 2); })"
    )
    assert abs(centres[0] - centres[1]) <= 2, centres

    # A batch-norm story lights up its nodes on both sides.
    browser.evaluate(f"Array.from({DIFF_DOC}.querySelectorAll('.gd-story-group[data-kind=\"batch_norm_folded\"] a.gd-story-show'))[1].click()")
    lit = browser.wait_for(
        f"(() => {{ const d = {DIFF_DOC}; const n = (s) => d.querySelectorAll(s).length;"
        " const r = [n('#gd-pane-a .gd-lit'), n('#gd-pane-b .gd-lit'), n('#gd-pane-a .gd-node.gd-lit[data-status=\"removed\"]'),"
        " n('#gd-pane-b .gd-node.gd-lit[data-status=\"added\"]')]; return r[0] && r[1] ? r : null; })()",
        what="a folded batch norm lit up in both panes",
    )
    # Its first removed node on the left and its first added one on the right are drawn, lit; the rest light their scopes.
    assert lit[0] > lit[1] and lit[2] >= 1 and lit[3] >= 1, lit
    wait_idle(browser)
    browser.screenshot("graph-diff-story.png")
    assert not browser.exceptions, browser.exceptions


@pytest.mark.slow
def test_the_drift_verify_layers_recorded_colours_both_drawings(tmp_path: Path, state: Path, browser: Chromium, capsys):
    a = fixture_path("poets_pair/retrained_graph.pb")
    logdir = tmp_path / "logs"
    assert main(["compare", str(a), str(fixture_path("poets_pair/optimized_graph.pb")), "--logdir", str(logdir),
                 "--no-board", "--no-check", "--json"]) == 0
    tflite = tmp_path / "dynamic.tflite"
    assert main(["export", str(a), "--tflite", str(tflite), "--quantize", "dynamic", "--json"]) in (0, 1)
    capsys.readouterr()
    assert main(["verify", str(a), str(tflite), "--layers", "--logdir", str(logdir), "--json"]) == 1
    first = json.loads(capsys.readouterr().out)["first_out"]
    url = board.start(logdir, port=free_port(), state=state).info.url
    browser.navigate(diff_tab_url(url, "retrained", "optimized"))
    wait_drawn(browser)
    browser.wait_for(f"!!{DIFF_DOC}.querySelector('#gd-colour-by')", what="the colour-by control")
    wait_idle(browser)
    browser.evaluate(f"(() => {{ const s = {DIFF_DOC}.querySelector('#gd-colour-by'); s.value = 'drift';"
                     " s.dispatchEvent(new Event('change')); })()")
    # Search shows the first layer out of the noise; it and the scopes holding it carry their band.
    browser.evaluate(f"(() => {{ const i = {DIFF_DOC}.querySelector('#gd-search'); i.value = {json.dumps(first)};"
                     " i.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); })()")
    panel = browser.wait_for(f"{DIFF_DOC}.querySelector('#gd-panel-drift') && {DIFF_DOC}.querySelector('#gd-panel-drift').textContent",
                             what="the node panel's drift line")
    assert "× the noise floor" in panel, panel
    wait_idle(browser)
    bands = {side: {i["node"]: i.get("drift") for i in pane_items(browser, side) if "node" in i} for side in "ab"}
    assert int(bands["a"][first]) >= 2 and int(bands["a"]["MobilenetV1"]) >= 2, bands["a"]
    assert bands["b"].get(first) is not None  # the optimized run's node, by its partner
    assert bands["a"].get("MobilenetV1/MobilenetV1/Conv2d_0/Relu6", "0") in ("0", None)
    assert browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-graphs').classList.contains('gd-by-drift')")
    legend = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-drift-legend').textContent")
    assert "within the noise floor" in legend and first in legend
    browser.screenshot("graph-diff-drift.png")
    assert not browser.exceptions, browser.exceptions


# --- names from anywhere ------------------------------------------------------------

# What a graph may hold in its names: tags that would run script, markup, an
# escape sequence, and a name 60,000 scopes deep.
IMG = '<img src=x onerror="top.__pwned=1">'
HOSTILE_SCOPE = "sc" + IMG + "[bold]M\x1b[2J"                 # no '/': one scope
HOSTILE_OP = "Op" + IMG + "</script><script>top.__pwned=2</script>\x1b]0;title\x07[link=http://x]"
HOSTILE_RUN = 'after<img src=x onerror="top.__pwned=3">'
DEEP = 60_000


def _hostile_pair(folder: Path) -> tuple[Path, Path]:
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    from builders import op, placeholder

    deep = "d/" * DEEP
    both = [placeholder("input", (1, 4)), op(deep + "keep", "Identity", "input")]
    only_a = [op(f"{HOSTILE_SCOPE}/x", HOSTILE_OP, "input"), op(f"{HOSTILE_SCOPE}/z", HOSTILE_OP, "input"),
              op(deep + "leaf", "Identity", "input")]
    a, b = folder / "a.pb", folder / "b.pb"
    a.write_bytes(GraphDef(node=both + only_a).SerializeToString())
    b.write_bytes(GraphDef(node=both).SerializeToString())
    return a, b


@pytest.mark.slow
def test_hostile_names_are_text_in_the_graph_diff_and_text_tabs(tmp_path: Path, state: Path, browser: Chromium, capsys):
    a, b = _hostile_pair(tmp_path)
    logdir = tmp_path / "logs"
    assert main(["compare", str(a), str(b), "--logdir", str(logdir), "--names", "before", HOSTILE_RUN,
                 "--no-board", "--no-check", "--json"]) == 0
    capsys.readouterr()
    url = board.start(logdir, port=free_port(), state=state).info.url
    pwned = f"[window.top.__pwned, ({DIFF_DOC} || {{}}).defaultView && {DIFF_DOC}.defaultView.__pwned]"

    # --- the Graph diff tab: every name a text node, no element made from one ---
    browser.navigate(diff_tab_url(url, "before", HOSTILE_RUN))
    wait_drawn(browser)
    # Open the hostile scope and search for a hostile op: names reach the SVG and the lists as text only.
    open_scope(browser, "a", HOSTILE_SCOPE)
    wait_idle(browser)
    browser.evaluate(
        f"(() => {{ const i = {DIFF_DOC}.querySelector('#gd-search'); i.value = {json.dumps(HOSTILE_OP[:12])};"
        " i.dispatchEvent(new Event('input')); })()"
    )
    browser.wait_for(f"{DIFF_DOC}.querySelectorAll('#gd-found li[data-node]').length === 2", what="the search results")
    page = browser.evaluate(
        f"(() => {{ const d = {DIFF_DOC}; const all = Array.from(d.querySelectorAll('*'));"
        " return {"
        # TensorBoard's one loader script is there; nothing a name holds is.
        "  made: all.filter(e => ['IMG', 'B'].includes(e.tagName) || (e.tagName === 'SCRIPT' && e.textContent.includes('__pwned')))"
        "    .map(e => e.outerHTML),"
        "  handlers: all.filter(e => Array.from(e.attributes).some(x => x.name.startsWith('on'))).length,"
        "  ops: Array.from(d.querySelectorAll('#gd-op-table td.gd-op')).map(td => td.textContent),"
        "  head: Array.from(d.querySelectorAll('#gd-op-table thead th')).map(th => th.textContent),"
        "  headline: d.querySelector('.gd-headline strong').textContent,"
        "  scopes: d.querySelector('#gd-scope-list').textContent,"
        "  options: Array.from(d.querySelectorAll('#gd-run-b option')).map(o => o.value),"
        "  top: Array.from(d.querySelectorAll('#gd-pane-a .gd-world > .gd-item')).map(e => e.dataset.node),"
        "  inner: Array.from(d.querySelectorAll('#gd-pane-a .gd-open .gd-node')).map(e => [e.dataset.node, e.dataset.op,"
        "    e.dataset.status, e.querySelector('.gd-op-text').textContent]),"
        "  deep: (() => { const e = d.querySelector('#gd-pane-a [data-node=\"d\"]'); return [e.dataset.count, e.dataset.status]; })(),"
        "  found: Array.from(d.querySelectorAll('#gd-found li[data-node]')).map(e => e.dataset.node),"
        "}; })()"
    )
    assert page["made"] == [] and page["handlers"] == 0, page["made"]
    assert HOSTILE_OP in page["ops"], page["ops"]
    assert page["head"] == ["Op type", "before", HOSTILE_RUN, "Change"]
    assert page["headline"] == f"before → {HOSTILE_RUN}"
    # (The scope list also names the 60,000-deep node: only its start is shown on failure.)
    assert f"{HOSTILE_SCOPE}: 2 nodes removed" in page["scopes"], page["scopes"][:600]
    assert HOSTILE_RUN in page["options"]
    assert sorted(page["top"]) == sorted(["input", HOSTILE_SCOPE, "d"]), page["top"]
    assert sorted(page["inner"]) == [[f"{HOSTILE_SCOPE}/{x}", HOSTILE_OP, "removed", HOSTILE_OP] for x in "xz"]
    # The deep scope's counts reached the top: 2 nodes, one of them removed.
    assert page["deep"] == ["2", "changed"], page["deep"]
    assert sorted(page["found"]) == [f"{HOSTILE_SCOPE}/{x}" for x in "xz"]

    # Opening the 60,000-deep name goes down a scope at a time; past MAX_DEPTH scopes the rest of the name is one label.
    found = browser.evaluate(
        f"(() => {{ const i = {DIFF_DOC}.querySelector('#gd-search'); i.value = 'leaf';"
        " i.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); })()"
    )
    selected = browser.wait_for(
        f"(() => {{ const e = {DIFF_DOC}.querySelector('#gd-pane-a .gd-selected'); return e && [e.dataset.node.length, e.dataset.status,"
        f" {DIFF_DOC}.querySelectorAll('#gd-pane-a .gd-open').length]; }})()",
        what="the deep node revealed and selected",
    )
    # Open: the MAX_DEPTH - 1 scopes the name is split into, and the hostile scope opened above.
    assert selected == [len("d/" * DEEP + "leaf"), "removed", (MAX_DEPTH - 1) + 1], selected
    wait_idle(browser)
    assert browser.evaluate(pwned) == [None, None]
    browser.screenshot("graph-diff-hostile.png")

    # --- the Text tab: the same names through TensorBoard's markdown sanitiser ---
    browser.navigate("about:blank")
    browser.navigate(url + "#text")
    from inspector.text import visible

    op_cell = json.dumps(visible(HOSTILE_OP))
    browser.wait_for(f"__deepAll('td').some(td => td.textContent.trim() === {op_cell})", what="the Text tab's op table")
    found = browser.evaluate(
        DEEP_QUERY + "; ({"
        " images: __deepAll('img').filter(i => i.getAttribute('src') === 'x').length,"
        " scripts: __deepAll('script').filter(s => s.textContent.includes('__pwned')).length,"
        " links: __deepAll('a').filter(a => /evil|http:\\/\\/x/.test(a.getAttribute('href') || '')).length,"
        f" scope: __deepAll('code').some(c => c.textContent === {json.dumps(visible(HOSTILE_SCOPE))}),"
        "})"
    )
    assert found == {"images": 0, "scripts": 0, "links": 0, "scope": True}, found
    assert browser.evaluate("window.__pwned") is None
    browser.screenshot("text-tab-hostile.png")
    assert not [e for e in browser.exceptions if "graph_diff" in e or "index.js" in e or "stack" in e], browser.exceptions
