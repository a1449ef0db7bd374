"""The one error type users see: a one-line message and the exit code the CLI uses."""

from __future__ import annotations


class InspectorError(Exception):
    """A problem the user can fix: bad input, bad usage, an environment issue.

    The message is one line that names the file (or thing) and the problem and
    suggests the fix. The CLI prints it as ``error: <message>`` and exits with
    ``exit_code`` (2 for bad input or usage). Anything that is not an
    InspectorError is a bug and keeps its traceback.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        # Supporting lines shown under the one-line message (a log's tail).
        self.details = tuple(details)

    def __str__(self) -> str:
        return self.message


class CheckFailed(InspectorError):
    """A check ran to the end and its answer was "no" (exit code 1)."""

    exit_code = 1
