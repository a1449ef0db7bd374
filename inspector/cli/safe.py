"""Untrusted text on the terminal: rich reads no markup or emoji codes in it, and control characters show escaped.

Names, labels, paths and run names come from files anyone may have made. Every
one reaches rich as a ``Text`` built here (``plain``, ``styled``, ``lines``),
so markup in it is never interpreted; the consoles of ``SafeConsole`` also
treat any plain ``str`` they are given as data. The escaping happens before
rich measures the text, so its wrapping and tables stay right.
"""

from __future__ import annotations

from typing import Any, Union

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from inspector.text import visible

# One part of a styled line: text, or (text, style).
Part = Union[object, tuple[object, str]]


REMOVED_STYLE = "green"   # fewer nodes is the optimizer doing its job
ADDED_STYLE = "yellow"    # more nodes deserves a look


def plain(value: object, style: str = "") -> Text:
    """``value`` as data: a Text with its control characters escaped, in one style."""
    return Text(visible(value), style=style)


def styled(*parts: Part) -> Text:
    """One line of parts, each text or (text, style); every part is data, whatever it holds."""
    out = Text()
    for part in parts:
        value, style = part if isinstance(part, tuple) else (part, "")
        out.append(visible(value), style=style)
    return out


def lines(*texts: Text | str) -> Text:
    """Lines joined by newlines: the only newlines are these (one inside a part shows as \\x0a)."""
    return Text("\n").join(t if isinstance(t, Text) else plain(t) for t in texts)


def markup_escaped(value: object) -> str:
    """``value`` for the few places rich reads as markup whatever the console says (progress bar descriptions)."""
    return escape(visible(value))


class SafeConsole(Console):
    """A rich Console that reads every ``str`` it renders as data: no markup, no emoji codes, controls escaped."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:  # type: ignore[override]
        # Every str rich renders comes here: print arguments, table cells and
        # titles, members of a Group. None is trusted to hold markup.
        kwargs["markup"] = False
        kwargs["emoji"] = False
        return super().render_str(visible(text), **kwargs)


__all__ = ["Part", "SafeConsole", "lines", "markup_escaped", "plain", "styled", "ADDED_STYLE", "REMOVED_STYLE"]
