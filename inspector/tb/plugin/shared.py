"""What the Graph diff store and routes share across TensorBoard's request threads: a byte-bounded LRU, single-flight, log-once."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

V = TypeVar("V")

# Distinct failures remembered as already logged; past that the oldest are forgotten.
_LOGGED_KEYS = 1024
_LOG_TEXT = 300


class ByteLRU(Generic[V]):
    """Values kept while the sum of their sizes stays within ``max_bytes``; least recently used go first.

    A value bigger than the whole bound is not kept. Not thread-safe by
    itself: the owner calls it under its lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: V, size: int) -> bool:
        """Keep ``value``; False when it is too big to keep at all."""
        self.pop(key)
        if size > self.max_bytes:
            return False
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, old) = self._items.popitem(last=False)
            self.bytes -= old
        return True

    def pop(self, key: Hashable) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= item[1]

    def discard_where(self, test: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self._items if test(k)]:
            self.pop(key)


class SingleFlight:
    """One computation per key at a time: callers that ask while it runs wait for its result (or its error)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future] = {}

    def run(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            future = self._running.get(key)
            owner = future is None
            if owner:
                future = self._running[key] = Future()
        if not owner:
            return future.result()
        try:
            value = compute()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(value)
            return value
        finally:
            with self._lock:
                del self._running[key]

    def running(self) -> int:
        with self._lock:
            return len(self._running)


class LogOnce:
    """Logs each distinct failure once, as one short line; its traceback once at debug level."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._lock = threading.Lock()
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def failure(self, what: str, exc: BaseException) -> bool:
        """Log that ``what`` failed with ``exc`` unless that was logged already; True if logged now."""
        text = one_line(exc)
        key = (what, type(exc).__name__, text)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            while len(self._seen) > _LOGGED_KEYS:
                self._seen.popitem(last=False)
        self._log.error("Graph diff: %s failed (%s: %s); this is a bug in inspector, please report it", what, type(exc).__name__, text)
        self._log.debug("Graph diff: %s failed", what, exc_info=(type(exc), exc, exc.__traceback__))
        return True


def one_line(exc: BaseException) -> str:
    """``str(exc)`` on one line, cut to a few hundred characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= _LOG_TEXT else text[: _LOG_TEXT - 1] + "…"


__all__ = ["ByteLRU", "SingleFlight", "LogOnce", "one_line"]
