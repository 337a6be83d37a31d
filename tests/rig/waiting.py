"""Waiting on conditions and events with deadlines, never sleeping for luck.

Tests wait for something observable (a predicate turns true, an event arrives) and fail with
a message that says what never happened, plus what was seen instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_POLL = 0.005


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline (an assertion failure in tests)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    message: str = "condition",
    *,
    interval: float = _POLL,
) -> T:
    """Poll `predicate` until it returns a truthy value; return that value.

    Raises WaitTimeout naming `message` when `timeout` seconds pass first. The predicate is
    always evaluated at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {message}")
        pause.wait(min(interval, remaining))


class Deadline:
    """One time budget shared by several waits (e.g. a whole call setup)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end


class EventLog(Generic[T]):
    """A thread-safe record of events, pushed from any thread, awaited with deadlines.

    Use the instance itself as a subscriber callback (`client.subscribe(log)`), then
    `log.wait_for(lambda e: ..., timeout, "what")`. Each matched event is consumed, so a
    second wait for the same kind of event needs a second occurrence; `mark()` + `since=`
    restricts a wait to events that arrived after a point in the test.
    """

    def __init__(self, describe: Callable[[T], str] = repr) -> None:
        self._events: list[T] = []
        self._consumed: set[int] = set()
        self._cond = threading.Condition()
        self._describe = describe

    def __call__(self, event: T) -> None:
        self.push(event)

    def push(self, event: T) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def mark(self) -> int:
        """Index of the next event to arrive; pass it as `since=` to later waits."""
        with self._cond:
            return len(self._events)

    def snapshot(self) -> list[T]:
        with self._cond:
            return list(self._events)

    def find(self, predicate: Callable[[T], Any], *, since: int = 0) -> T | None:
        """First unconsumed matching event already received, without waiting or consuming."""
        with self._cond:
            for i in range(since, len(self._events)):
                if i not in self._consumed and predicate(self._events[i]):
                    return self._events[i]
        return None

    def wait_for(
        self,
        predicate: Callable[[T], Any],
        timeout: float,
        message: str = "event",
        *,
        since: int = 0,
    ) -> T:
        """Return (and consume) the first unconsumed event matching `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            scanned = since
            while True:
                for i in range(scanned, len(self._events)):
                    if i not in self._consumed and predicate(self._events[i]):
                        self._consumed.add(i)
                        return self._events[i]
                # Only events after `scanned` can be new matches (consumption never un-hides).
                scanned = max(scanned, len(self._events))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            recent = self._events[max(since, len(self._events) - 12) :]
        seen = "\n  ".join(self._describe(e) for e in recent) or "(nothing)"
        raise WaitTimeout(
            f"timed out after {timeout:.1f}s waiting for {message}; last events:\n  {seen}"
        )

    def assert_none(
        self, predicate: Callable[[T], Any], *, since: int = 0, message: str = ""
    ) -> None:
        """Fail if any event since `since` matches (for things that must not have happened)."""
        hit = self.find(predicate, since=since)
        if hit is not None:
            raise AssertionError(f"unexpected event {message}: {self._describe(hit)}")
