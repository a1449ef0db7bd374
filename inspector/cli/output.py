"""Output: where a command writes: rich on stdout, JSON, one-line notes and warnings on stderr, spinners and bars."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# The version of every --json the CLI prints: raised when a key changes meaning or goes away.
# 2: matching and stories in diff; lists under a key; errors as JSON on stdout.
SCHEMA = 2


class Output:
    """Where a command writes: rich on stdout, one-line errors and notes on stderr."""

    def __init__(self, *, json_mode: bool = False) -> None:
        from inspector.cli.safe import SafeConsole

        self.json_mode = json_mode
        self.wrote_json = False  # a report went to stdout: an error after it is not a second document
        # Both read every str as data (names and paths come from anyone's files).
        self.console = SafeConsole(soft_wrap=True)
        self.err = SafeConsole(stderr=True, soft_wrap=True)

    def print(self, *renderables: Any) -> None:
        if not self.json_mode:
            self.console.print(*renderables)

    def json(self, data: Mapping[str, Any] | list, *, key: str = "items") -> None:
        """``data`` as one JSON object with the integer ``schema`` first (a list goes under ``key``)."""
        body = {key: data} if isinstance(data, list) else dict(data)
        body.pop("schema", None)
        # Indented for a person at a terminal; one compact line for a pipe or a file, which json's C encoder
        # writes several times faster (an indent takes its pure-Python one: a second for a 100k-node diff).
        layout = {"indent": 2} if sys.stdout.isatty() else {"separators": (",", ":")}
        sys.stdout.write(json.dumps({"schema": SCHEMA, **body}, sort_keys=False, default=str, **layout) + "\n")
        sys.stdout.flush()
        self.wrote_json = True

    def note(self, text: str) -> None:
        """Side information: on stderr, so --json output stays parseable."""
        from inspector.cli.render import message

        self.err.print(message("note", text))

    def warn(self, text: str) -> None:
        from inspector.cli.render import message

        self.err.print(message("warning", text))

    def status(self, text: str):
        """A spinner for long waits; silent when stderr is not a terminal."""
        from inspector.cli.safe import plain

        # A Text: rich's spinner would read a str as markup (a path with [/] in it).
        return self.err.status(plain(text))

    @contextlib.contextmanager
    def progress(self, text: str) -> Iterator[Callable[[int, int], None]]:
        """A progress bar on stderr, yielding the ``progress(done, total)`` callback the library takes."""
        if self._quiet:
            # Off for pipes and --json: a non-terminal gets no bar and no stray blank line.
            yield lambda done, total: None
            return
        from rich.progress import Progress

        from inspector.cli.safe import markup_escaped

        with Progress(console=self.err, transient=True) as bar:
            task = bar.add_task(markup_escaped(text), total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)

    @contextlib.contextmanager
    def steps(self) -> Iterator[Callable[[str, int | None, int | None], None]]:
        """One line on stderr for a workflow of several steps, yielding its ``progress(step, done, total)``.

        A step without a count shows a spinner, one with a count a bar; off
        (and nothing imported) for pipes and --json.
        """
        shown = _Steps(self.err, quiet=self._quiet)
        try:
            yield shown.update
        finally:
            shown.close()

    @property
    def _quiet(self) -> bool:
        return self.json_mode or not self.err.is_terminal


class _Steps:
    """The spinner or bar of Output.steps: one rich live display at a time, replaced when the step changes."""

    def __init__(self, console: Any, *, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.step: str | None = None
        self.live: Any = None  # a rich Status or Progress, started
        self.task: Any = None  # the Progress's task, when a bar is shown

    def update(self, step: str, done: int | None = None, total: int | None = None) -> None:
        if self.quiet:
            return
        counted = total is not None
        if step != self.step or (counted and self.task is None):
            self.close()
            self.step = step
            if counted:
                from rich.progress import Progress

                from inspector.cli.safe import markup_escaped

                self.live = Progress(console=self.console, transient=True)
                # Progress reads its description as markup, whatever the console says.
                self.task = self.live.add_task(markup_escaped(step), total=total)
            else:
                from inspector.cli.safe import styled

                self.live = self.console.status(styled(step, " ..."))
            self.live.start()
        if counted:
            self.live.update(self.task, completed=done or 0, total=total)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
        self.live = self.task = None
