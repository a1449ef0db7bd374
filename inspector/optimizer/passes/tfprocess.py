"""TensorFlow in a child process for the optimizer: started first, so that its import overlaps the passes that need none.

Importing TensorFlow takes seconds of one core, holding the interpreter lock
(a thread would not overlap it); the passes before constant folding need no
TensorFlow at all. So ``inspector optimize``, run as the program, starts this
helper once the graph file has proved readable, and :mod:`tfrun` sends it what it asks
TensorFlow while one is active: the op registry, shape inference, evaluating
constants, the check that the result imports. The helper runs the very same
:mod:`tfrun` functions (the policy on unsafe nodes included); only graphs,
NumPy values and answers cross the pipe. A process that has imported
TensorFlow already asks it in-process, as do library callers and in-process
``main([...])`` calls.
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, BinaryIO

from inspector.errors import InspectorError

_ACTIVE: ContextVar[Helper | None] = ContextVar("inspector_tensorflow_helper", default=None)
_HEADER = 8  # bytes of a frame's length, big-endian


class Refused(Exception):
    """The child's handler raised one of the exceptions it passes back: its class name and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Helper:
    """One child process that runs ``serve`` ("module:function", which calls :func:`serve`) and answers in order."""

    def __init__(self, serve: str) -> None:
        import inspector

        module, function = serve.split(":")
        # The child imports this very inspector, wherever it was imported from (a checkout, an install).
        home = str(Path(inspector.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (home, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        # TensorFlow's C++ logs go to the child's stderr, which is the user's only with INSPECTOR_TF_VERBOSE=1.
        stderr = None if os.environ.get("INSPECTOR_TF_VERBOSE") == "1" else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [sys.executable, "-c", f"from {module} import {function}; {function}()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
        )
        self.pid = self._proc.pid
        self._asked = self._answered = 0
        self._replies: dict[int, tuple[str, Any] | None] = {}
        self._unheeded: set[int] = set()
        self._closed = False

    def call(self, kind: str, *args: Any) -> Any:
        """The answer to one question; Refused for an exception the child passes back, InspectorError if it died."""
        return self.submit(kind, *args)()

    def submit(self, kind: str, *args: Any) -> Callable[[], Any]:
        """Ask now, and go on: the answer (as :meth:`call` gives it) when the returned function is called."""
        number = self._asked
        self._asked += 1
        try:
            _write(self._proc.stdin, (kind, args))
        except (OSError, ValueError):  # a dead child's pipe, or one closed: the answer says it died
            self._replies[number] = None
        return lambda: self._answer(number, kind)

    def tell(self, kind: str, *args: Any) -> None:
        """Ask, wanting no answer (one that goes wrong, or comes after :meth:`close`, is not heard of)."""
        if self._closed:
            return
        self._unheeded.add(self._asked)
        self.submit(kind, *args)

    def _answer(self, number: int, kind: str) -> Any:
        # Answers come in the order asked: those of questions asked before this one are kept for their askers.
        try:
            while number not in self._replies:
                reply = _read(self._proc.stdout)
                if self._answered in self._unheeded:
                    self._unheeded.discard(self._answered)
                else:
                    self._replies[self._answered] = reply
                self._answered += 1
        except (OSError, EOFError, pickle.UnpicklingError):
            raise InspectorError(self._died(kind)) from None
        reply = self._replies.pop(number)
        if reply is None:
            raise InspectorError(self._died(kind))
        status, value = reply
        if status == "ok":
            return value
        if status == "InspectorError":
            raise InspectorError(value)
        if status == "bug":
            raise RuntimeError(f"TensorFlow's helper process failed on {kind}:\n{value}")
        raise Refused(status, value)

    def _died(self, kind: str) -> str:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"ended (exit {code})"
        return (
            f"TensorFlow's helper process (pid {self.pid}) {how} while asked to {kind.replace('_', ' ')}: TensorFlow "
            "crashed on the graph or ran out of memory; run TensorFlow on it (tf.graph_util.import_graph_def) to see why"
        )

    def close(self) -> None:
        """End the child."""
        # It holds nothing to save, and TensorFlow's own teardown takes a second: it is killed, by its pid.
        self._closed = True
        try:
            self._proc.kill()
            self._proc.wait()
        finally:
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()


def active() -> Helper | None:
    """The helper :mod:`tfrun` sends its questions to, or None: ask TensorFlow in this process."""
    return _ACTIVE.get()


@contextmanager
def helping(serve: str) -> Iterator[Helper | None]:
    """A helper running ``serve`` for the work inside, unless one is active or this process imported TensorFlow already."""
    current = _ACTIVE.get()
    if current is not None or "tensorflow" in sys.modules:
        yield current
        return
    try:
        helper = Helper(serve)
    except OSError:  # no child process to be had: TensorFlow in this one, as before
        yield None
        return
    token = _ACTIVE.set(helper)
    try:
        yield helper
    finally:
        _ACTIVE.reset(token)
        helper.close()


# --- the pipe ---------------------------------------------------------------------


def _write(stream: BinaryIO | None, message: Any) -> None:
    assert stream is not None
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_HEADER, "big"))
    stream.write(data)
    stream.flush()


def _read(stream: BinaryIO | None) -> Any:
    assert stream is not None
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        raise EOFError
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    # Only ever the helper's own answers (or, in it, its parent's questions): no graph's bytes are unpickled.
    return pickle.loads(data)  # noqa: S301


# --- the child ---------------------------------------------------------------------


def serve(handlers: Callable[[], Mapping[str, Callable[..., Any]]], passed: tuple[type[Exception], ...]) -> None:
    """The child's loop: ``handlers()`` once (the slow start: importing TensorFlow), then each question answered in turn.

    An exception of a ``passed`` type goes back by its class name (:class:`Refused`
    in the parent), an InspectorError as one; any other is a bug, sent as its traceback.
    """
    # The pipe is a private copy of fd 1; fd 1 itself points at stderr, so that nothing TensorFlow prints corrupts a frame.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    # Like the commands, the helper makes no cycles worth a collector's walks over its graphs.
    gc.disable()
    try:
        table = handlers()
        missing = None
    except InspectorError as exc:  # no TensorFlow here: each question gets the error the parent would have raised
        table, missing = {}, exc
    while True:
        try:
            kind, args = _read(requests)
        except EOFError:
            return
        try:
            if missing is not None:
                raise missing
            reply: tuple[str, Any] = ("ok", table[kind](*args))
        except InspectorError as exc:
            reply = ("InspectorError", str(exc))
        except passed as exc:
            reply = (type(exc).__name__, str(exc))
        except Exception:  # noqa: BLE001 - a bug: its traceback goes to the parent, which raises it
            reply = ("bug", traceback.format_exc())
        _write(replies, reply)
