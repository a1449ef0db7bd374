"""The stories of a diff for a person: alike stories grouped in one line, natural order, every node under --all."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from inspector.analysis.diff import GraphDiff
from inspector.analysis.stories import (
    BATCH_NORM, DROPOUT, FUSED, GROUP_WORDS, KINDS, LINEAR, OTHER_ADDED, OTHER_REMOVED, RESCALED, Story, natural_key,
)
from inspector.cli.safe import ADDED_STYLE, REMOVED_STYLE, plain, styled
# Kinds told in one line when told several times: "27 batch norms folded into their layers (Conv2d_0 ... Conv2d_13_pointwise)".
_GROUPED = (BATCH_NORM, LINEAR, DROPOUT, FUSED)
_SHOWN_PER_KIND = 6  # leftover scopes shown before "... N more"


def story_lines(diff: GraphDiff, *, every_node: bool = False) -> RenderableType:
    """What changed, story by story; ``every_node`` lists each node under its story."""
    head: list[RenderableType] = [_matched_line(diff)]
    stories = diff.stories
    if not stories and not diff.changed:
        head.append(plain("The graphs compute the same thing" + (" under other names." if diff.renamed else "."), "bold"))
        return Group(*head)
    head.append(plain(f"What changed ({len(stories)} {'story' if len(stories) == 1 else 'stories'}):", "bold"))
    parts: list[RenderableType] = []
    by_kind: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        by_kind[story.kind].append(story)
    for kind in KINDS:
        group = sorted(by_kind.get(kind, ()), key=lambda s: natural_key(s.scope))
        if not group:
            continue
        if every_node:
            for story in group:
                parts.append(_story_line(story))
                parts.extend(_nodes(story))
        elif kind in _GROUPED and len(group) > 1:
            parts.append(_group_line(kind, group))
        elif kind in (OTHER_REMOVED, OTHER_ADDED) and len(group) > _SHOWN_PER_KIND:
            parts.extend(_story_line(s) for s in group[:_SHOWN_PER_KIND])
            rest = group[_SHOWN_PER_KIND:]
            count = sum(len(s.removed) + len(s.added) for s in rest)
            parts.append(plain(f"  ... {len(rest)} more scopes, {count} nodes (--all lists every node)", "dim"))
        else:
            parts.extend(_story_line(s) for s in group)
    parts.extend(_changed(diff, every_node=every_node))
    return Group(*head, _wrapped(parts))


def _wrapped(parts: list[RenderableType]) -> RenderableType:
    """Each line wrapped at the terminal's width and indented under itself, though the console soft-wraps."""
    rows = []
    for part in parts:
        if isinstance(part, Text):
            indent = len(part.plain) - len(part.plain.lstrip(" "))
            grid = Table.grid()
            grid.add_column(overflow="fold")
            grid.add_row(part[indent:])
            rows.append(Padding(grid, (0, 0, 0, indent), expand=False))
        else:
            rows.append(part)
    return Group(*rows)


def _matched_line(diff: GraphDiff) -> Text:
    counts = diff.summary or {}
    return styled(
        ("Nodes: ", "bold"), f"{counts.get('same', 0)} same, {counts.get('renamed', 0)} renamed, "
        f"{counts.get('changed', 0)} changed, ", (f"{counts.get('removed', 0)} removed", REMOVED_STYLE), ", ",
        (f"{counts.get('added', 0)} added", ADDED_STYLE),
    )


def _counts(removed: int, added: int) -> str:
    parts = [f"-{removed}"] if removed else []
    if added:
        parts.append(f"+{added}")
    return " ".join(parts) + " nodes" if parts else "no nodes removed or added"


def _story_line(story: Story) -> Text:
    return styled("  ", story.text, (f": {_counts(len(story.removed), len(story.added))}{_passes(story.passes)}", "dim"))


def _passes(passes) -> str:
    """The passes that did it, from the optimizer's change record: " [fold_batch_norm]"."""
    return f" [{', '.join(passes)}]" if passes else ""


def _group_line(kind: str, group: list[Story]) -> Text:
    names = [s.scope.rpartition("/")[2] or s.scope for s in group]
    span = f"{names[0]} ... {names[-1]}" if len(names) > 2 else ", ".join(names)
    removed = sum(len(s.removed) for s in group)
    added = sum(len(s.added) for s in group)
    facts = {fact for s in group for fact in s.facts}
    extras = ([RESCALED] if RESCALED in facts else []) + sorted(facts - {RESCALED})
    tail = f"; {', '.join(extras)}" if extras else ""
    what = GROUP_WORDS[kind]
    if kind == BATCH_NORM:
        subjects = {s.subject for s in group}
        what = what.replace("batch norms", f"{subjects.pop()}s" if len(subjects) == 1 else "batch norms and per-channel scales")
    passes = tuple(dict.fromkeys(p for s in group for p in s.passes))
    return styled("  ", (f"{len(group)} {what}", "bold"), f" ({span}){tail}",
                  (f": {_counts(removed, added)}{_passes(passes)}", "dim"))


def _nodes(story: Story) -> list[Text]:
    lines = [styled("      - ", (name, REMOVED_STYLE)) for name in story.removed]
    lines += [styled("      + ", (name, ADDED_STYLE)) for name in story.added]
    lines += [styled("      ~ ", name) for name in story.changed]
    return lines


def _changed(diff: GraphDiff, *, every_node: bool) -> list[RenderableType]:
    if not diff.changed:
        return []
    told = {name for story in diff.stories for name in story.changed}
    by_what: dict[str, int] = defaultdict(int)
    for change in diff.changed:
        for what in change.what:
            by_what[what] += 1
    detail = ", ".join(f"{n} {w}" for w, n in sorted(by_what.items(), key=lambda kv: (-kv[1], kv[0])))
    untold = [c for c in diff.changed if c.name not in told]
    lines: list[RenderableType] = [styled("  ", (f"{len(diff.changed)} nodes changed in place", "bold"),
        f" ({detail}); {len(diff.changed) - len(untold)} of them in the stories above"
        + ("" if every_node or not untold else "; --all lists them"))]
    if every_node:
        for change in sorted(diff.changed, key=lambda c: natural_key(c.name)):
            op = f"{change.op_before} -> {change.op}" if change.op_before else change.op
            before = f" (was {change.before})" if change.before else ""
            lines.append(styled("      ~ ", change.name, before, (f": {op}; {', '.join(change.what)}", "dim")))
    return lines


__all__ = ["story_lines"]
