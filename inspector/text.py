"""Text from a graph, a labels file or a path made visible: control, line-separator and bidi characters shown escaped."""

from __future__ import annotations

import re

# C0 (newline and tab too: a name must not start a line of its own), DEL, C1,
# the Unicode line and paragraph separators, the bidi embeddings, overrides and
# isolates (text that reads differently from what it is), and lone surrogates
# (undecodable bytes in a path, which no terminal encoding can write).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """``text`` as a string with every unsafe character written as its Python escape (ESC is ``\\x1b``).

    Idempotent: what it returns has nothing left to replace.
    """
    value = str(text)
    if _UNSAFE.search(value) is None:
        return value
    return _UNSAFE.sub(_shown, value)


# An error line stays a line: a 120,000-character node name is shown by its two ends.
_KEEP = 100
_LONG = re.compile(r"\S{%d,}" % (2 * _KEEP + 60))


def _cut(match: re.Match[str]) -> str:
    run = match.group()
    return f"{run[:_KEEP]}...({len(run) - 2 * _KEEP:,} characters left out)...{run[-_KEEP:]}"


def error_text(message: object) -> str:
    """One ``error:`` line's text: :func:`visible`, with any run of over 260 non-blank characters cut in its middle."""
    return _LONG.sub(_cut, visible(message))


__all__ = ["error_text", "visible"]
