"""State and plumbing shared by the engine's parts (accounts, calls, in-call media).

Everything here runs on the pjsua2 owner thread except `post`, which any thread may call
(the stdin reader, media-clock callbacks). `defer` runs work after the current PJSIP
callback returned: PJSIP objects must not be dropped inside their own callbacks.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from softphone.config import EngineConfig
from softphone.engine.ports import PortPool
from softphone.engine.wire import Wire
from softphone.events import Event
from softphone.types import ErrorCode

if TYPE_CHECKING:
    from softphone.engine.accounts import EngineAccount
    from softphone.engine.calls import EngineCall

log = logging.getLogger(__name__)


def _no_wake() -> None:
    return None


class CommandError(Exception):
    """Refuse a command with this code; the engine stays up."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EngineBase:
    def __init__(self, config: EngineConfig, wire: Wire, id_prefix: str) -> None:
        self.config = config
        self.wire = wire
        self.id_prefix = id_prefix
        self.ep: Any = None
        self.bridge: Any = None
        self.pool = PortPool()
        self.accounts: dict[str, EngineAccount] = {}
        self.calls: dict[str, EngineCall] = {}
        self.graveyard: list[EngineCall] = []  # ended calls still referenced (see bury)
        self.media_closed_at: list[float] = []  # monotonic times calls freed their RTP sockets
        self.removed_accounts: list[EngineAccount] = []  # never dropped: ids are reused
        self.owner: threading.Thread | None = None
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._deferred: list[Callable[[], None]] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._call_numbers = itertools.count(1)
        self.wake: Callable[[], None] = _no_wake  # the Waker's, once PJSIP is up
        self.quit = False

    def new_call_key(self) -> str:
        return f"{self.id_prefix}c{next(self._call_numbers)}"

    def emit(self, event: Event) -> None:
        self.wire.event(event)

    def post(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the owner thread (thread-safe); wakes the loop if it is waiting."""
        self._inbox.put(fn)
        self.wake()

    def defer(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the owner thread after the current PJSIP callback returned."""
        self._deferred.append(fn)

    def later(self, delay_s: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._seq), fn))

    def wait_ms(self, cap_ms: int) -> int:
        """How long the next `libHandleEvents` may sleep: 0 if work is queued, else until
        our next timer, at most `cap_ms`. Queued work from other threads wakes it early."""
        if self._deferred or not self._inbox.empty():
            return 0
        if not self._timers:
            return cap_ms
        due_ms = (self._timers[0][0] - time.monotonic()) * 1000.0
        return max(0, min(cap_ms, math.ceil(due_ms)))

    def run_pending(self) -> None:
        """One pass of owner-thread work between libHandleEvents calls."""
        while self._deferred:
            batch, self._deferred = self._deferred, []
            for fn in batch:
                self._safely(fn)
        while True:
            try:
                fn = self._inbox.get_nowait()
            except queue.Empty:
                break
            self._safely(fn)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            self._safely(fn)

    def drain_inbox(self) -> None:
        """Drop queued work unrun (shutdown)."""
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                return

    @staticmethod
    def _safely(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("engine task failed")

    def call(self, key: str) -> EngineCall:
        found = self.calls.get(key)
        if found is None or found.ended:
            raise CommandError(ErrorCode.UNKNOWN_CALL, f"no call {key!r}")
        return found

    def account(self, account_id: str) -> EngineAccount:
        found = self.accounts.get(account_id)
        if found is None:
            raise CommandError(ErrorCode.UNKNOWN_ACCOUNT, f"no account {account_id!r}")
        return found
