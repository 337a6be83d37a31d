"""The embedded CRM's event stream: persisted with increasing ids, fanned out in memory.

Events are written in the same transaction as the change they announce and handed to
subscribers only after it commits, so a subscriber never sees a change that was rolled
back, and one resuming with ``after=`` (an id kept across restarts) misses nothing that
is still retained.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Final

from crmclient.backend import StatusListener
from crmclient.models import (
    EventPayload,
    ResyncRequired,
    StreamEvent,
    StreamStatus,
    format_time,
)

__all__ = ["EventLog", "EventSubscriptionImpl"]

RETAIN: Final = 10_000
"""Events kept for resuming subscribers; older ones are pruned."""


class EventLog:
    def __init__(self, db: sqlite3.Connection, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self._staged: list[StreamEvent] = []
        self._subscribers: list[EventSubscriptionImpl] = []
        self._since_prune = 0

    @property
    def last_id(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        return int(row[0])

    def stage(self, payload: EventPayload) -> None:
        """Record an event inside the caller's open transaction."""
        at = self._clock()
        probe = StreamEvent(id=1, at=at, payload=payload)
        data = probe.to_json()
        cur = self._db.execute(
            "INSERT INTO events (at, type, data) VALUES (?, ?, ?)",
            (format_time(at), data["type"], json.dumps(data["data"])),
        )
        assert cur.lastrowid is not None
        self._staged.append(StreamEvent(id=cur.lastrowid, at=at, payload=payload))

    def discard_staged(self) -> None:
        self._staged.clear()

    def publish_staged(self) -> None:
        staged, self._staged = self._staged, []
        for event in staged:
            for subscriber in list(self._subscribers):
                subscriber.push(event)
        self._since_prune += len(staged)
        if self._since_prune >= 1000:
            self._since_prune = 0
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("DELETE FROM events WHERE id <= ?", (self.last_id - RETAIN,))

    def backlog(self, after: int) -> list[StreamEvent]:
        first = self._db.execute("SELECT MIN(id) FROM events").fetchone()[0]
        events: list[StreamEvent] = []
        if first is not None and after < first - 1 and after < self.last_id:
            events.append(
                StreamEvent(
                    id=first - 1 if first > 1 else 1,
                    at=self._clock(),
                    payload=ResyncRequired(oldest_id=first),
                )
            )
        rows = self._db.execute(
            "SELECT id, at, type, data FROM events WHERE id > ? ORDER BY id", (after,)
        ).fetchall()
        for event_id, at, kind, data in rows:
            events.append(
                StreamEvent.from_json(
                    {"id": event_id, "type": kind, "at": at, "data": json.loads(data)}
                )
            )
        return events

    def subscribe(
        self, after: int | None, on_status: StatusListener | None
    ) -> EventSubscriptionImpl:
        start = self.last_id if after is None else after
        subscription = EventSubscriptionImpl(self, start, on_status)
        for event in self.backlog(start):
            subscription.push(event)
        self._subscribers.append(subscription)
        if on_status is not None:
            on_status(StreamStatus(connected=True, at=self._clock()))
        return subscription

    def remove(self, subscription: EventSubscriptionImpl) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscription)

    async def close(self) -> None:
        for subscription in list(self._subscribers):
            await subscription.aclose()


class EventSubscriptionImpl:
    """An ``EventSubscription`` over the embedded event log (always connected)."""

    def __init__(self, log: EventLog, after: int, on_status: StatusListener | None) -> None:
        self._log = log
        self._last_id = after
        self._queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        self._closed = False
        self._on_status = on_status

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def connected(self) -> bool:
        return not self._closed

    def push(self, event: StreamEvent) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            if isinstance(event.payload, ResyncRequired) or event.id > self._last_id:
                if not isinstance(event.payload, ResyncRequired):
                    self._last_id = event.id
                yield event

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._log.remove(self)
        self._queue.put_nowait(None)
        if self._on_status is not None:
            self._on_status(StreamStatus(connected=False, at=self._log._clock(), reason="closed"))
