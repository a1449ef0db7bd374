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
    assert colour == "rgb(227, 243, 228)", colour  # the green of removed rows

    headline = browser.evaluate(f"{DIFF_DOC}.querySelector('.gd-headline').textContent")
    assert headline.startswith("retrained → optimized: 560 → 420 nodes"), headline
    selects = browser.evaluate(
        f"['a', 'b'].map(s => {{ const el = {DIFF_DOC}.querySelector('#gd-run-' + s); "
        "return [el.value, Array.from(el.options).map(o => o.value)]; })"
    )
    assert selects == [["retrained", ["optimized", "retrained"]], ["optimized", ["optimized", "retrained"]]]
    scopes = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-scope-list').textContent")
    assert "139 single Identity nodes removed" in scopes and "MobilenetV1/Logits/Dropout_1b: 1 node removed" in scopes
    # The stories of the diff, each linking to its nodes; the nodes changed in place with their inputs before and after.
    stories = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-story-list').textContent")
    assert "Nodes: 280 same, 0 renamed, 140 changed, 140 removed, 0 added" in stories, stories
    assert "140 Identity removed (139 of them /read): their readers read their inputs directly: −140 +0 nodes" in stories
    changed = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-changed-list summary').textContent")
    assert changed == "Changed in place: 140 nodes", changed
    rewired = browser.evaluate(f"Array.from({DIFF_DOC}.querySelectorAll('#gd-changed-list li')).map(li => li.textContent)")
    assert ("MobilenetV1/MobilenetV1/Conv2d_0/convolution: Conv2D; inputs input, MobilenetV1/Conv2d_0/weights/read → "
            "input, MobilenetV1/Conv2d_0/weights") in rewired, rewired[:3]
    assert "input: Placeholder; attributes shape" in rewired  # TensorFlow's tool rewrote the placeholder's shape
    trees = browser.evaluate(f"Array.from({DIFF_DOC}.querySelectorAll('.gd-tree h3')).map(h => h.textContent)")
    assert trees == ["retrained: 560 nodes", "optimized: 420 nodes"]
    legend = browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-legend').textContent")
    assert "removed" in legend and "added" in legend and "changed in place" in legend
    browser.screenshot("graph-diff-tab.png")
    # A story's link shows its first node in the tree.
    browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-story-list a.gd-story-node').click()")
    flashed = browser.wait_for(f"{DIFF_DOC}.querySelector('#gd-tree-a .gd-flash') && "
                               f"{DIFF_DOC}.querySelector('#gd-tree-a .gd-flash').textContent", what="the story's node shown")
    assert "read" in flashed, flashed

    # Every scope with a change opened: each removed Identity and each rewritten node is marked.
    browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-expand-changes').click()")
    marked = browser.wait_for(
        f"(() => {{ const d = {DIFF_DOC}; const n = (s) => d.querySelectorAll(s).length; "
        "const r = [n('#gd-tree-a .gd-name.removed'), n('#gd-tree-a .gd-name.changed'), n('#gd-tree-b .gd-name.changed'), "
        "n('#gd-tree-b .gd-name.removed')]; return r[0] === 140 ? r : null; })()",
        what="the removed nodes to be marked in the left tree",
    )
    assert marked == [140, 140, 140, 0], marked
    folded_scope = browser.evaluate(
        f"{DIFF_DOC}.querySelector('#gd-tree-a details[data-path=\"MobilenetV1/Logits/Dropout_1b\"] > summary').textContent"
    )
    assert "removed: 1 node" in folded_scope, folded_scope
    browser.evaluate(
        f"(() => {{ const d = {DIFF_DOC}; const row = d.querySelector('#gd-tree-a [data-path=\"MobilenetV1/Conv2d_1_depthwise\"]');"
        " row.scrollIntoView({block: 'start'}); })()"
    )
    browser.screenshot("graph-diff-trees.png")

    # The link opens the standard Graph tab in the top window on that run, also
    # when it is not the run TensorBoard would show first (that is optimized).
    browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-open-a').click()")
    browser.wait_for("location.hash === '#graphs&run=retrained'", what="the link to switch to the Graph tab")
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
    browser.wait_for(f"!!({DIFF_DOC} && {DIFF_DOC}.querySelector('#gd-tree-a .gd-kids'))", what="the Graph diff trees")
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
        "  rows: Array.from(d.querySelectorAll('#gd-tree-a > .gd-kids > [data-path]')).map(e => e.dataset.path),"
        "  deep: d.querySelector('#gd-tree-a details[data-path=\"d\"] > summary').textContent,"
        "  trees: Array.from(d.querySelectorAll('.gd-tree h3')).map(h => h.textContent),"
        "}; })()"
    )
    assert page["made"] == [] and page["handlers"] == 0, page["made"]
    assert HOSTILE_OP in page["ops"], page["ops"]
    assert page["head"] == ["Op type", "before", HOSTILE_RUN, "Change"]
    assert page["headline"] == f"before → {HOSTILE_RUN}"
    # (The scope list also names the 60,000-deep node: only its start is shown on failure.)
    assert f"{HOSTILE_SCOPE}: 2 nodes removed" in page["scopes"], page["scopes"][:600]
    assert HOSTILE_RUN in page["options"]
    assert sorted(page["rows"]) == sorted(["input", HOSTILE_SCOPE, "d"]), page["rows"]
    # The deep scope's counts reached the top: 2 nodes, 1 removed.
    assert page["deep"].startswith("d2−1"), page["deep"][:200]
    assert page["trees"] == ["before: 5 nodes", f"{HOSTILE_RUN}: 2 nodes"]

    # Opening the deep scope a few levels builds each level on demand.
    opened = browser.evaluate(
        f"(async () => {{ const d = {DIFF_DOC}; let row = d.querySelector('#gd-tree-a details[data-path=\"d\"]');"
        " for (let i = 0; i < 3; i++) { row.open = true; await new Promise(r => setTimeout(r, 100));"
        "   row = row.querySelector(':scope > .gd-kids > details'); }"
        " return [row.dataset.path, row.querySelector('summary .gd-counts').textContent]; })()"
    )
    assert opened == ["d/d/d/d", "2−1"], opened
    # Expanding every scope with changes goes as deep as the page draws (200 scopes; Chromium's
    # layout gives up near 1,000 nested), without a stack overflow, and says what is below.
    browser.evaluate(f"{DIFF_DOC}.querySelector('#gd-expand-changes').click()")
    deeper = browser.wait_for(
        f"(() => {{ const d = {DIFF_DOC}; const note = d.querySelector('#gd-tree-a .gd-deeper');"
        " return note && [d.querySelectorAll('#gd-tree-a details[open]').length, note.textContent,"
        "  note.closest('details').dataset.path.length]; })()",
        what="the deep scope to open down to the last level drawn",
    )
    assert deeper == [201, "… 2 nodes more than 200 scopes deep, not drawn here 2−1 (inspector diff --json lists every node)",
                      len("d/" * 200) - 1], deeper
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
