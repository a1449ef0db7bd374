"""Everything from a graph is data on screen: names, labels, paths and run names never steer the terminal or the Text tab.

Graphs, labels files, folders and run names here hold terminal escape
sequences, C1 controls, bidi overrides, rich markup, backticks and HTML. Every
command that prints them runs in-process; its output must hold none of the
control characters, show the markup as text, and end as it would for a
well-behaved graph.
"""

from __future__ import annotations

import ast
import html.parser
import json
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from builders import op, retrained_like, without_identities
from conftest import ROOT, free_port
from inspector.analysis.diff import diff_graphs
from inspector.cli import main
from inspector.cli.safe import SafeConsole, lines, plain, styled
from inspector.codelab import graph_pb2tb, label_image
from inspector.tb.textsummary import diff_markdown
from inspector.text import visible

TITLE = "\x1b]0;pwned\x07"                # set the window title
CLEAR = "\x1b[2J"                         # clear the screen
LINK = "\x1b]8;;http://evil\x1b\\"         # an OSC 8 hyperlink
C1 = "\x9b31m\x85"                         # CSI as one C1 byte, and NEL
BIDI = "\u202etxt.exe\u2066"               # right-to-left override, an isolate
SEP = "\u2028"                             # a line separator
MARKUP = "[bold]B[/][link=http://x]L[/link][blink]K"
HTML = "<img src=x onerror=alert(1)><a href='http://evil'>Session expired: sign in again</a>"
TICKS = "`a``b`"
# An op type may hold anything; it is never split at '/'.
EVIL_OP = "Op" + TITLE + CLEAR + LINK + C1 + BIDI + SEP + MARKUP + TICKS + HTML + "*s*|p|_u_"
# A scope without '/', so it stays one scope.
EVIL_SCOPE = "s" + TITLE + C1 + BIDI + "[bold]S[blink]" + TICKS + "<script>x<b>"
EVIL_SINGLE = "single" + CLEAR + SEP + "[bold]I"
LABELS = ["daisy" + TITLE + MARKUP, "[/]", CLEAR + "rose" + BIDI]

# What must never reach a terminal: C0 but newline, DEL, C1, separators, bidi controls.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def assert_inert(*texts: str) -> None:
    for text in texts:
        found = sorted(set(UNSAFE.findall(text)))
        assert not found, f"raw control characters {found!r} in {text[:300]!r}"
        assert "MarkupError" not in text and "Traceback" not in text, text[-2000:]


def hostile_graph():
    graph = retrained_like()
    for node in (
        op(f"{EVIL_SCOPE}/a", EVIL_OP, "input"),
        op(f"{EVIL_SCOPE}/b", "Identity", f"{EVIL_SCOPE}/a"),
        op(EVIL_SINGLE, "Neg", "input"),  # the one Neg: named in the scope summary
    ):
        added = graph.node.add()
        added.CopyFrom(node)
    graph.node[-2].device = "/device:" + LINK + "CPU:0"
    graph.node[-2].attr["note"].s = (EVIL_OP + MARKUP).encode("utf-8")
    return graph


HOSTILE_NODES = len(hostile_graph().node)


def bmp(height: int = 8, width: int = 8) -> bytes:
    """A 24-bit BMP of random pixels (rows bottom-up, BGR, padded to 4 bytes)."""
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pad = (4 - width * 3 % 4) % 4
    body = b"".join(pixels[y, :, ::-1].tobytes() + b"\0" * pad for y in range(height - 1, -1, -1))
    header = b"BM" + (54 + len(body)).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
    info = ((40).to_bytes(4, "little") + width.to_bytes(4, "little") + height.to_bytes(4, "little")
            + (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\0" * 4
            + len(body).to_bytes(4, "little") + b"\0" * 16)
    return header + info + body


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The hostile graph, a plain one, and a runnable graph, labels file and image in a folder with a hostile name."""
    # Wide enough that no name wraps, so the tests can find each one whole.
    monkeypatch.setenv("COLUMNS", "2000")
    folder = tmp_path / ("in" + TITLE + "[bold]D[/]" + BIDI)
    folder.mkdir(parents=True)
    paths = {
        "hostile": tmp_path / "hostile.pb",
        "plain": tmp_path / "plain.pb",
        "graph": folder / "retrained_graph.pb",
        "labels": folder / "retrained_labels.txt",
        "image": folder / ("photo" + CLEAR + ".bmp"),
        "folder": folder,
    }
    paths["hostile"].write_bytes(hostile_graph().SerializeToString())
    paths["plain"].write_bytes(without_identities(retrained_like()).SerializeToString())
    paths["graph"].write_bytes(retrained_like().SerializeToString())
    paths["labels"].write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    paths["image"].write_bytes(bmp())
    return paths


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert_inert(out, err)
    return code, out, err


# --- the library's one rule ---------------------------------------------------


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2J", "\\x1b[2J"),
    ("a\nb\tc\rd\x00", "a\\x0ab\\x09c\\x0dd\\x00"),
    ("\x7f\x80\x9b\x9f", "\\x7f\\x80\\x9b\\x9f"),
    ("\u2028\u2029", "\\u2028\\u2029"),
    ("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"),
    ("bad\udcff.pb", "bad\\udcff.pb"),  # an undecodable byte in a path (surrogateescape)
    ("MobilenetV1/Conv2d_0 [v2] ünïcødé ×→ 花", "MobilenetV1/Conv2d_0 [v2] ünïcødé ×→ 花"),
])
def test_visible_escapes_controls_and_keeps_the_rest(raw: str, shown: str):
    assert visible(raw) == shown
    assert visible(visible(raw)) == shown  # idempotent: safe to apply twice
    assert not UNSAFE.search(visible(raw))


def test_every_unsafe_code_point_is_escaped():
    unsafe = [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7f, 0xa0)] + ["\u2028", "\u2029"]
    unsafe += [chr(c) for c in range(0x202a, 0x202f)] + [chr(c) for c in range(0x2066, 0x206a)]
    for char in unsafe:
        assert char not in visible(f"a{char}b"), repr(char)
    safe = "".join(chr(c) for c in range(0x20, 0x7f)) + "\xa0éß€\u200b\u2027\u202f\u2065\u206a"
    assert visible(safe) == safe


def render(*renderables, width: int = 200) -> str:
    console = SafeConsole(width=width, file=None, force_terminal=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(*renderables)
    return captured.get()


def test_the_console_reads_strings_as_data():
    # A str reaching rich anywhere (print, table cell, title) is shown as written.
    from rich.table import Table

    table = Table(title="[bold]title[/] :smile:")
    table.add_column("[red]col")
    table.add_row("[/]", "[link=http://x]x[/link] " + CLEAR)
    text = render("[blink]K[/blink] [/] :warning:", table)
    assert_inert(text)
    for literal in ("[blink]K[/blink] [/] :warning:", "[bold]title[/] :smile:", "[red]col", "[/]",
                    "[link=http://x]x[/link] \\x1b[2J"):
        assert literal in text, (literal, text)


def test_styled_parts_are_data_and_only_lines_break_lines():
    text = styled("run ", ("[bold]x[/]\n" + TITLE, "bold"), " -> ", "d[/e]")
    assert text.plain == "run [bold]x[/]\\x0a\\x1b]0;pwned\\x07 -> d[/e]"
    assert [span.style for span in text.spans] == ["bold"]
    two = lines("a = " + CLEAR, plain("b\n", "dim"))
    assert two.plain == "a = \\x1b[2J\nb\\x0a"


def test_escaping_happens_before_layout_so_tables_stay_aligned(files, capsys, monkeypatch):
    # Rich measures what it shows: with names escaped first, a narrow table wraps and stays square.
    monkeypatch.setenv("COLUMNS", "70")
    code, out, _ = run(capsys, "diff", files["hostile"], files["plain"])
    assert code == 0
    from rich.cells import cell_len

    rows = [line for line in out.splitlines() if line and line[0] in "┃│┡┏└├╇"]
    assert len(rows) > 10
    assert len({cell_len(line) for line in rows}) == 1, rows


# --- every command that prints them ---------------------------------------------

VISIBLE_OP = visible(EVIL_OP)


def test_summarize(files, capsys):
    code, out, err = run(capsys, "summarize", files["hostile"])
    assert code == 0, err
    assert VISIBLE_OP in out and "[bold]B[/]" in out
    code, out, err = run(capsys, "summarize", files["hostile"], "--json")
    assert code == 0 and json.loads(out)["ops"][EVIL_OP] == 1


def test_diff(files, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per story, so each name is found whole
    names = ("A" + TITLE + "[bold]", "B" + CLEAR + "[/]")
    code, out, err = run(capsys, "diff", files["hostile"], files["plain"], "--names", *names)
    assert code == 0, err
    assert VISIBLE_OP in out
    assert f"{visible(names[0])} -> {visible(names[1])}" in out  # the table's title
    assert f"3 nodes no output needs pruned (Identity, Neg, {VISIBLE_OP}): -3 nodes" in out
    code, out, err = run(capsys, "diff", files["hostile"], files["plain"], "--all")
    assert code == 0, err
    assert all(f"- {visible(name)}" in out for name in (f"{EVIL_SCOPE}/a", f"{EVIL_SCOPE}/b", EVIL_SINGLE))
    code, out, err = run(capsys, "diff", files["hostile"], files["plain"], "--json")
    assert code == 0 and EVIL_OP in {row["op"] for row in json.loads(out)["ops"]}


def test_tb_with_markup_in_the_logdir_and_run(files, capsys, tmp_path):
    logdir = tmp_path / "d[/e]"
    name = "r" + TITLE + "[bold]R" + BIDI
    code, out, err = run(capsys, "tb", files["hostile"], "--logdir", logdir, "--run", name)
    assert code == 0, err
    assert f"run {visible(name)} -> {visible(logdir / name)}: {HOSTILE_NODES} nodes" in out
    assert f"View: tensorboard --logdir {logdir}   (or: inspector board start {logdir})" in out
    assert (logdir / name).is_dir()


def test_optimize_says_where_it_wrote_exactly(files, capsys, monkeypatch):
    monkeypatch.chdir(files["folder"])
    code, out, err = run(capsys, "optimize", "retrained_graph.pb", "--output", "model[v2].pb")
    assert code == 0, err
    assert re.search(r"^Wrote model\[v2\]\.pb \(50 -> \d+ nodes\)$", out, re.M), out
    assert "retrained_graph.pb -> model[v2].pb" in out  # the diff table's title
    assert Path("model[v2].pb").is_file()


def test_tensorflow_refusing_a_hostile_name_is_an_error_line_shown_as_text(files, capsys):
    # TensorFlow will not import such names; its message quotes the name, escaped here. Asked to
    # keep them (an output reads them), the optimizer cannot check its result, and says why.
    code, out, err = run(capsys, "optimize", files["hostile"], "--output", files["hostile"].with_name("o.pb"),
                         "--input_names", "input", "--output_names", f"{EVIL_SCOPE}/b")
    assert code == 2 and out == ""
    assert err.startswith(f"error: {files['hostile']}: TensorFlow cannot import this graph (Node 's\\x1b]0;pwned\\x07"), err
    assert err.count("\n") == 1, err


def test_optimize_drops_what_tensorflow_cannot_import_when_no_output_reads_it(files, capsys):
    # The input is not imported whole first: the result is, and the nodes TensorFlow refuses are not in it.
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    from inspector.optimizer.passes import tfrun

    optimized = files["hostile"].with_name("o.pb")
    code, out, err = run(capsys, "optimize", files["hostile"], "--output", optimized)
    assert code == 0, err
    graph = GraphDef.FromString(optimized.read_bytes())
    names = {node.name for node in graph.node}
    assert "final_result" in names and not names & {f"{EVIL_SCOPE}/a", f"{EVIL_SCOPE}/b", EVIL_SINGLE}
    assert EVIL_OP not in {node.op for node in graph.node}
    tfrun.import_graph(graph)  # raises if TensorFlow refuses it


def test_verify_and_label_show_labels_as_text(files, capsys):
    graph, labels, image = files["graph"], files["labels"], files["image"]
    optimized = files["folder"] / "opt[v2].pb"
    assert run(capsys, "optimize", graph, "--output", optimized)[0] == 0
    code, out, err = run(capsys, "verify", graph, optimized, "--labels", labels, "--random", "1")
    assert code == 0, err
    assert f"a = {visible(graph)}" in out and f"b = {visible(optimized)}" in out
    for label in LABELS:
        assert visible(label) in out, (label, out)
    assert "ok: a and b agree" in out

    code, out, err = run(capsys, "label", "--graph", graph, "--image", image, "--labels", labels)
    assert code == 0, err
    shown = out.splitlines()
    assert shown[0] == "" and shown[1].startswith("Evaluation time (1-image): ") and shown[2] == ""
    assert sorted(re.sub(r" \(score=\d\.\d{5}\)$", "", line) for line in shown[3:]) == sorted(visible(label) for label in LABELS)


def test_check_and_export(files, capsys):
    graph, labels = files["graph"], files["labels"]
    code, out, err = run(capsys, "check", graph)
    assert code == 0, err
    assert out.startswith(visible(graph) + ": input [1,16,16,3] -> final_result")
    tflite = files["folder"] / "m[v2].tflite"
    code, out, err = run(capsys, "export", graph, "--tflite", tflite, "--labels", labels, "--random", "1", "--runs", "0")
    assert code == 0, err
    assert out.startswith(f"{visible(graph)} -> {visible(tflite)} (quantize: none)")
    assert all(visible(label) in out for label in LABELS) and tflite.is_file()


def test_compare_without_a_board(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    logdir = tmp_path / "logs[/x]"
    names = ("before" + TITLE + "[bold]R[/]" + BIDI, "after" + CLEAR + "[blink]")
    code, out, err = run(capsys, "compare", files["hostile"], files["plain"], "--logdir", logdir, "--names", *names,
                         "--no-board", "--no-check")
    assert code == 0, err
    assert f"3 nodes no output needs pruned (Identity, Neg, {VISIBLE_OP}): -3 nodes" in out
    assert f"run {visible(names[0])} -> " in out and f"run {visible(names[1])} -> " in out
    assert f"View with: inspector board start {logdir}" in out

    # One graph: optimized into --output first, then verified; "Wrote" names the file as given.
    output = files["folder"] / "opt[v2].pb"
    code, out, err = run(capsys, "compare", files["graph"], "--output", output, "--logdir", logdir,
                         "--no-board", "--no-check")
    assert code == 0, err
    assert f"\nWrote {visible(output)}\n" in out


@pytest.mark.usefixtures("fake_tensorboard")
def test_board_start_status_stop_with_markup_in_the_logdir(capsys, state, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")
    logdir = tmp_path / ("d[/e]" + TITLE)
    code, out, err = run(capsys, "board", "start", logdir, "--port", free_port())
    assert code == 0, err
    assert f"for {visible(logdir.resolve())}" in out
    code, out, err = run(capsys, "board", "status")
    assert code == 0 and visible(logdir.resolve()) in out
    code, out, err = run(capsys, "board", "stop", "--all")
    assert code == 0 and f"({visible(logdir.resolve())})" in out


def test_error_lines_show_paths_and_arguments_as_text(files, capsys):
    missing = files["folder"] / ("gone" + CLEAR + ".pb")
    code, out, err = run(capsys, "summarize", missing)
    assert code == 2 and err.startswith(f"error: {visible(missing)}") and err.count("\n") == 1, err
    code, out, err = run(capsys, "summarize", files["plain"], "--bogus" + TITLE + "[/]")
    assert code == 2 and "--bogus\\x1b]0;pwned\\x07[/]" in err and err.count("\n") == 1, err


def test_codelab_graph_pb2tb(files, capsys, tmp_path):
    logdir = tmp_path / ("runs[/]" + TITLE) / "retrained"
    assert graph_pb2tb.main([str(logdir), str(files["hostile"])]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert out.startswith(f"wrote {visible(logdir)}/events.out.tfevents.") and f": {HOSTILE_NODES} nodes" in out
    # The arguments swapped: the error line names the file, escaped.
    assert graph_pb2tb.main([str(files["hostile"]), str(logdir)]) == 2
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert err == (f"error: {visible(files['hostile'])}: is a file, not a log folder; the order is LOGDIR GRAPH.pb "
                   "(e.g. tf_files/training_summaries/retrained tf_files/retrained_graph.pb)\n")


def test_codelab_label_image(files, capsys):
    argv = ["--graph", str(files["graph"]), "--image", str(files["image"]), "--labels", str(files["labels"])]
    assert label_image.main(argv) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    shown = out.splitlines()[3:]
    assert sorted(re.sub(r" \(score=\d\.\d{5}\)$", "", line) for line in shown) == sorted(visible(label) for label in LABELS)
    assert "note: read from the graph: --input_layer=input" in err


# --- the Text tab -------------------------------------------------------------


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def test_text_tab_summary_is_text_in_tensorboards_own_renderer():
    from tensorboard.compat.proto.graph_pb2 import GraphDef
    from tensorboard.plugin_util import markdown_to_safe_html

    a = hostile_graph()
    ticked = "`" + TICKS + "<img src=x onerror=alert(1)>`"  # a backtick at each end
    for leaf in ("x", "y"):
        a.node.add().CopyFrom(op(f"{ticked}/{leaf}", "Identity", "input"))
    b = GraphDef()
    b.CopyFrom(without_identities(retrained_like()))
    labels = ("A" + HTML + "|x|", "B" + TITLE + "[bold]**b**")
    markdown = diff_markdown(diff_graphs(a, b, labels=labels))
    assert not UNSAFE.search(markdown.replace("\n", ""))
    page = markdown_to_safe_html(markdown)
    parsed = _Tags()
    parsed.feed(page)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= {"p", "strong", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "code"}, tags
    assert not any(attrs for _, attrs in parsed.tags), parsed.tags
    text = "".join(parsed.text)
    for name in (EVIL_OP, EVIL_SCOPE, EVIL_SINGLE, ticked, *labels):
        assert visible(name) in text, (name, text)
    # The op table still has its five columns in every row: no | in a name split a cell.
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    assert rows and all(row.count("<td") + row.count("<th") == 4 for row in rows), rows


def test_code_spans_outlast_any_backtick_run():
    from tensorboard.plugin_util import markdown_to_safe_html

    from inspector.tb.textsummary import _code, _md

    for name in ("`", "``", "a`b", "a``b```c", "`x`", " x ", "x\\", "<a href='http://evil'>y</a>"):
        for make in (_code, _md):
            page = markdown_to_safe_html(f"- {make(name)}: 1 node\n")
            parsed = _Tags()
            parsed.feed(page)
            assert {tag for tag, _ in parsed.tags} <= {"ul", "li", "code"}, (name, page)
            assert "".join(parsed.text).strip().startswith(name.strip()), (name, page)


# --- the rule, kept -------------------------------------------------------------

PRINTING = sorted((ROOT / "inspector" / "cli").glob("*.py")) + sorted((ROOT / "inspector" / "codelab").glob("*.py"))
RICH_MARKUP = re.compile(r"\[/?[a-z#][^\[\]]*\]|\[/\]")


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            yield name, node


def test_no_markup_strings_and_no_text_built_outside_the_safe_module():
    """Names reach rich only through inspector.cli.safe: no f-string markup, no bare Text(...), no markup=True."""
    problems = []
    for path in PRINTING:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if RICH_MARKUP.search(literal) and any(isinstance(v, ast.FormattedValue) for v in node.values):
                    problems.append(f"{where}:{node.lineno}: an f-string with rich markup")
        if path.name == "safe.py":
            continue
        for name, call in _calls(tree):
            if name in ("Text", "from_markup", "render_markup", "assemble", "from_ansi"):
                problems.append(f"{where}:{call.lineno}: {name}(...) outside inspector/cli/safe.py")
            if any(k.arg == "markup" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                   for k in call.keywords):
                problems.append(f"{where}:{call.lineno}: markup= other than False")
    assert not problems, "\n".join(problems)


def _escaped(node: ast.AST) -> bool:
    """A value made safe for a plain write: a literal, visible(...) or error_text(...), json.dumps(...), or an f-string of those."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("visible", "error_text", "dumps", "format_result")
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) or _escaped(v.value) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _escaped(node.left) and _escaped(node.right)
    return False


def test_plain_writes_escape_what_they_write():
    """print() and .write() bypass rich: each value they write goes through visible() (or is JSON)."""
    problems = []
    for path in PRINTING:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, call in _calls(tree):
            # The builtin print, and file.write; out.print and console.print are rich's, on the safe console.
            plain_write = (name == "print" and isinstance(call.func, ast.Name)) or (
                name == "write" and isinstance(call.func, ast.Attribute))
            if plain_write:
                for arg in call.args:
                    if not _escaped(arg):
                        problems.append(f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(arg)[:80]}")
    assert not problems, "values written without visible():\n" + "\n".join(problems)


def test_format_result_escapes_each_label():
    class Result:
        seconds = 0.5
        top = [type("P", (), {"label": "[/]" + CLEAR, "score": 0.5})()]

    assert label_image.format_result(Result()) == "\nEvaluation time (1-image): 0.500s\n\n[/]\\x1b[2J (score=0.50000)"
    # And a plain rich Console would have read the same line as markup: the safe one does not.
    assert "[/]" in render(label_image.result_lines(Result())[-1])
    with pytest.raises(Exception, match="closing tag"):
        Console(file=None).render_str("[/]")


def test_an_error_about_a_huge_name_stays_one_readable_line(tmp_path: Path, capsys):
    """A 120,000-character node name in an error is shown by its two ends, not printed whole."""
    from tensorboard.compat.proto.graph_pb2 import GraphDef
    from tensorboard.compat.proto.node_def_pb2 import NodeDef

    from inspector.cli import main

    name = "n" * 60000 + "/" + "m" * 60000
    path = tmp_path / "g.pb"
    path.write_bytes(GraphDef(node=[NodeDef(name=name, op="Relu", input=["gone"])]).SerializeToString())
    assert main(["summarize", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    cut = f"'{'n' * 99}...(119,803 characters left out)...{'m' * 99}'"
    assert line == (f"error: {path}: node {cut} reads 'gone', which names no node in the graph "
                    "(a truncated or hand-edited file?); export the graph again")
