"""The diff as a markdown text summary in an event file, so TensorBoard's Text tab shows it where the plugin is not installed."""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DataType
from tensorboard.plugins.text.metadata import create_summary_metadata

from inspector.analysis.diff import GraphDiff, ScopeChange
from inspector.errors import InspectorError
from inspector.tb.plugin.metadata import TEXT_RUN
from inspector.tb.events import FILE_VERSION, normalize_run_name, record, write_event_file
from inspector.text import visible

TEXT_FILE_SUFFIX = ".inspector-diff"
_OUR_FILE = re.compile(r"^events\.out\.tfevents\.(\d{19,})\..*\.([0-9a-f]{12})" + re.escape(TEXT_FILE_SUFFIX) + r"$")


@dataclass(frozen=True)
class TextWritten:
    """What ``write_text_summary`` put on disk."""

    run: str
    tag: str
    event_file: Path
    replaced: tuple[Path, ...]  # earlier summaries of the same tag in that run, removed


def write_text_summary(
    logdir: Path,
    diff: GraphDiff,
    *,
    run: str = TEXT_RUN,
    tag: str | None = None,
    max_scopes: int = 20,
    wall_time: float | None = None,
) -> TextWritten:
    """Write ``diff`` as a markdown text summary (tag ``"A -> B"``) in run ``run`` of ``logdir``.

    Writing the same tag again replaces the earlier file; other tags (other
    pairs) in the run stay, each in its own event file.
    """
    name = normalize_run_name(run)
    run_dir = Path(logdir) if name == "." else Path(logdir).joinpath(*name.split("/"))
    tag = tag or f"{diff.a.label} -> {diff.b.label}"
    when = time.time() if wall_time is None else float(wall_time)
    value = Summary.Value(
        tag=tag,
        metadata=create_summary_metadata(display_name=tag, description="inspector: what changed between the two graphs"),
        tensor=TensorProto(
            dtype=DataType.DT_STRING, tensor_shape=TensorShapeProto(), string_val=[diff_markdown(diff, max_scopes=max_scopes).encode("utf-8")]
        ),
    )
    data = b"".join(
        record(event.SerializeToString())
        for event in (
            Event(wall_time=when, step=0, file_version=FILE_VERSION),
            Event(wall_time=when, step=0, summary=Summary(value=[value])),
        )
    )
    # One file per tag, recognisable by a hash of the tag, so a pair written
    # again replaces its own summary and no other.
    key = hashlib.sha256(tag.encode("utf-8")).hexdigest()[:12]
    event_file, replaced = write_event_file(
        run_dir, data, suffix=f".{key}{TEXT_FILE_SUFFIX}", ours=lambda folder: _our_files(folder, key), what="summary"
    )
    return TextWritten(run=name, tag=tag, event_file=event_file, replaced=replaced)


def diff_markdown(diff: GraphDiff, *, max_scopes: int = 20) -> str:
    """The terminal diff's facts as markdown: op table with totals and sizes, then scope changes.

    Every name in it (run, op, scope, node) is data: escaped (``_md``) or in a
    code span (``_code``), so TensorBoard's Text tab shows it as it is and no
    graph can put a link, an image or a tag there.
    """
    a, b = diff.a, diff.b
    lines = [
        f"**{_md(a.label)} → {_md(b.label)}**: {a.stats.nodes} → {b.stats.nodes} nodes"
        f" ({_delta(a.stats.nodes, b.stats.nodes).replace(' (', ', ').rstrip(')') or 'no change'})",
        "",
        f"| Op type | {_md(a.label)} | {_md(b.label)} | Change |",
        "|:---|---:|---:|---:|",
    ]
    for row in diff.rows:
        lines.append(f"| {_md(row.op)} | {row.before} | {row.after} | {_delta(row.before, row.after)} |")
    lines.append(f"| **Total nodes** | **{a.stats.nodes}** | **{b.stats.nodes}** | {_delta(a.stats.nodes, b.stats.nodes)} |")
    lines.append(f"| Parameters | {a.stats.params:,} | {b.stats.params:,} | {_delta(a.stats.params, b.stats.params)} |")
    lines.append(f"| Constants (bytes) | {a.stats.const_bytes:,} | {b.stats.const_bytes:,} | {_delta(a.stats.const_bytes, b.stats.const_bytes)} |")
    if a.size_bytes is not None and b.size_bytes is not None:
        lines.append(f"| File size (bytes) | {a.size_bytes:,} | {b.size_bytes:,} | {_delta(a.size_bytes, b.size_bytes)} |")
    lines.append("")
    for title, count, changes in (
        (f"Only in {_md(a.label)}", len(diff.only_a), diff.removed),
        (f"Only in {_md(b.label)}", len(diff.only_b), diff.added),
    ):
        if not changes:
            continue
        lines.append(f"**{title}: {count} node{'s' if count != 1 else ''}**")
        lines.append("")
        lines.extend(f"- {_scope_md(c)}" for c in changes[:max_scopes])
        if len(changes) > max_scopes:
            lines.append(f"- … {len(changes) - max_scopes} more (`inspector diff --json` lists every node)")
        lines.append("")
    if diff.changed:
        by_what: dict[str, int] = {}
        for change in diff.changed:
            for what in change.what:
                by_what[what] = by_what.get(what, 0) + 1
        detail = ", ".join(f"{n} {w}" for w, n in sorted(by_what.items(), key=lambda kv: -kv[1]))
        lines.append(f"**Changed in place: {len(diff.changed)} nodes** ({detail})")
    if diff.identical:
        lines.append("**The graphs have the same nodes.**")
    return "\n".join(lines).rstrip() + "\n"


def _scope_md(change: ScopeChange) -> str:
    ops = ", ".join(f"{_md(op)}×{n}" if n > 1 else _md(op) for op, n in list(change.ops.items())[:4])
    if len(change.ops) > 4:
        ops += ", …"
    noun = "node" if change.nodes == 1 else "nodes"
    if change.scope:
        rewritten = f", {change.changed} rewritten" if change.changed else ""
        return f"{_code(change.scope)}: {change.nodes} {noun} {change.kind}{rewritten} ({ops})"
    op = next(iter(change.ops))
    examples = ", ".join(_code(e) for e in change.examples[:2])
    return f"{change.nodes} single {_md(op)} {noun} {change.kind}, one per scope (e.g. {examples})"


def _delta(before: int, after: int) -> str:
    delta = after - before
    if delta == 0:
        return ""
    pct = f" ({delta / before:+.0%})" if before else ""
    return f"{delta:+,}{pct}"


# Python-Markdown's backslash escapes (the tables extension adds |); CommonMark
# takes a backslash before any ASCII punctuation, so both read these the same.
_MD_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|])")
# HTML's specials as entities: Python-Markdown passes a tag through (and
# TensorBoard's sanitiser keeps <a href>), and a backslash does not stop that.
_HTML_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_HTML_SPECIAL = re.compile("[&<>\"']")


def _md(text: str) -> str:
    """``text`` as markdown that renders as exactly that text: no emphasis, link, image, tag or table cell break."""
    # Controls first (a newline would start a block of its own), then markdown
    # (which adds only backslashes), then HTML (whose entities hold # and ;).
    escaped = _MD_PUNCTUATION.sub(r"\\\1", visible(text))
    return _HTML_SPECIAL.sub(lambda m: _HTML_ENTITY[m.group()], escaped)


def _code(text: str) -> str:
    """``text`` as a code span: fenced by more backticks than its longest run, so it cannot close the span early.

    Markdown escapes a code span's content for HTML itself (and reads no
    entities or backslashes in it), so only control characters are replaced.
    """
    shown = visible(text)
    longest = max((len(run) for run in re.findall("`+", shown)), default=0)
    fence = "`" * (longest + 1)
    # A backtick or space at either end would join the fence: pad both ends
    # (CommonMark strips one space each side, Python-Markdown all of them).
    pad = " " if shown[:1] in ("`", " ") or shown[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def _our_files(run_dir: Path, key: str) -> list[tuple[int, Path]]:
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InspectorError(f"{run_dir}: cannot list the run folder ({exc.strerror}); check permissions") from None
    found = []
    for name in names:
        match = _OUR_FILE.match(name)
        if match and match.group(2) == key:
            found.append((int(match.group(1)), run_dir / name))
    return sorted(found)


__all__ = ["TextWritten", "diff_markdown", "write_text_summary"]
