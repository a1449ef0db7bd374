"""The argparse pieces every command shares: the parser class, flag value types, and the default log folder."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError

DEFAULT_LOGDIR = Path("tf_files/training_summaries")

# add(name, handler, help) -> the command's parser; handler(args, out) -> exit code.
AddCommand = Callable[[str, Callable[..., int], str], argparse.ArgumentParser]


class Formatter(argparse.HelpFormatter):
    """argparse's help, except that text with line breaks of its own (a list of passes) keeps them."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors become InspectorError so every error prints the same way.

    ``epilog_factory`` makes the epilog only when help is shown, so building
    every command's parser imports nothing it needs.
    """

    def __init__(self, *args: Any, epilog_factory: Callable[[], str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        # An abbreviation silently becomes another flag: export's --output was read as --output_names.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.epilog_factory = epilog_factory

    def format_help(self) -> str:
        if self.epilog_factory is not None:
            self.epilog = self.epilog_factory()
        return super().format_help()

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InspectorError(f"{self.prog}: {message} (see {self.prog} --help)")


def force_option(p: argparse.ArgumentParser, *, what: str) -> None:
    """--force: replace an output inspector did not write (devices, FIFOs and folders stay refused)."""
    p.add_argument("--force", action="store_true",
                   help=f"replace {what} even if inspector did not write it (never a device, FIFO or folder)")


def bool_flag(value: str) -> bool:
    """TensorFlow's tools take --flag, --flag=True and --flag=false alike."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "t", "y"):
        return True
    if lowered in ("0", "false", "no", "f", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {value!r}")


def names(value: str | None) -> tuple[str, ...] | None:
    """A comma-separated --input_names/--output_names value; None when empty or not given."""
    if value is None:
        return None
    found = tuple(n.strip() for n in value.split(",") if n.strip())
    return found or None


def placeholder_type(value: str) -> int:
    try:
        kinds = {int(v) for v in value.split(",") if v.strip()}
    except ValueError:
        kinds = set()
    if len(kinds) != 1:
        raise InspectorError(f"--placeholder_type_enum {value}: give one type for every placeholder (e.g. 1 for float32)")
    return kinds.pop()


def all_options(p: argparse.ArgumentParser) -> None:
    """--all-ops and --all: how much of a diff the terminal shows."""
    p.add_argument("--all-ops", action="store_true", help="show every op type, not the top 10")
    p.add_argument("--all", action="store_true", help="show every op type and every node of every story")
