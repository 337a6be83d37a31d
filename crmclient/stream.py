"""The CRM's event stream over a websocket: every event once, in order, across reconnects.

Networks drop, laptops sleep, CRMs restart. The subscription hides that from the app:

- It reconnects by itself with exponential backoff and jitter (many agents reconnecting
  after a CRM restart must not arrive in lockstep), and tells the app through a status
  callback, so it can show "offline" without polling.
- It resumes after the last event id it delivered, so nothing is missed, and drops any
  event whose id is not newer than that, so nothing is delivered twice.
- It treats a connection that stays silent past a few heartbeat intervals as dead: a
  half-open TCP connection (Wi-Fi gone, NAT timeout) otherwise looks alive for hours.
- A token the CRM refuses (HTTP 401 on the handshake, close code 4401) is refreshed once
  through the HTTP client; a refused refresh ends the iteration with ``AuthError``.

Frames that break the contract are logged (redacted) and skipped: one bad event must not
stop the agent's phone from ringing for the next.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from crmclient.backend import StatusListener
from crmclient.errors import CrmError, ProtocolError
from crmclient.models import Heartbeat, StreamEvent, StreamStatus, parse_frame
from crmclient.redact import redact

__all__ = ["EventStream", "ReconnectPolicy", "StreamSource"]

log = logging.getLogger(__name__)

CLOSE_AUTH: Final = 4401
CLOSE_BAD_PARAMS: Final = 4422


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The websockets library logs handshake headers (our bearer token) at DEBUG: mask them
    here, whatever filters the app installed."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            kwargs.pop("extra", None)
            self.logger.log(level, redact(text), **kwargs)


_WIRE_LOG = _RedactingLogger(logging.getLogger("crmclient.stream.wire"), {})


class StreamSource(Protocol):
    """What the stream needs from the HTTP client (``HttpCrm`` provides it)."""

    def events_url(self, after: int | None) -> str: ...

    async def bearer_token(self) -> str: ...

    async def token_refused(self, token: str) -> None: ...

    def ssl_context(self) -> ssl.SSLContext | None: ...


class ReconnectPolicy:
    """Backoff between reconnects: d = base * 2^n capped, waiting between d/2 and d."""

    def __init__(
        self,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        heartbeat_s: float = 15.0,
        missed_heartbeats: float = 2.5,
        open_timeout: float = 10.0,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.heartbeat_s = heartbeat_s
        self.missed_heartbeats = missed_heartbeats
        self.open_timeout = open_timeout

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2.0**attempt))
        jitter: float = rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter

    def dead_after(self, interval: float) -> float:
        """Silence after which the connection counts as dead."""
        return interval * self.missed_heartbeats + 0.5


class _Reconnect(Exception):
    """Internal: this connection is over; reconnect after ``reason``."""

    def __init__(self, reason: str, immediately: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.immediately = immediately


class EventStream:
    """An ``EventSubscription``: iterate it to receive ``StreamEvent``s until ``aclose()``."""

    def __init__(
        self,
        source: StreamSource,
        *,
        after: int | None = None,
        on_status: StatusListener | None = None,
        policy: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._resume: int | None = after
        self._last_id = after or 0
        self._on_status = on_status
        self._policy = policy or ReconnectPolicy()
        self._rng = rng or random.Random()
        self._clock = clock
        self._ws: ClientConnection | None = None
        self._closing = asyncio.Event()
        self._iterating = False
        self.reconnects = 0
        self.skipped_frames = 0

    @property
    def last_id(self) -> int:
        """The id it resumes after: the last event delivered, or, when subscribed "from now
        on", the newest id the first heartbeat reported (0 until then)."""
        return self._resume if self._resume is not None else 0

    @property
    def resumable(self) -> bool:
        """Whether a reconnect now would lose nothing (False only while subscribed "from
        now on" and no heartbeat has said where "now" is yet)."""
        return self._resume is not None

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterating:
            raise RuntimeError("an EventStream can be iterated by one consumer at a time")
        return self._events()

    async def aclose(self) -> None:
        self._closing.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    def _status(self, connected: bool, reason: str | None, retry_in: float | None) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(
                StreamStatus(
                    connected=connected, at=self._clock(), reason=reason, retry_in_s=retry_in
                )
            )
        except Exception:
            log.exception("event stream status listener failed")

    async def _events(self) -> AsyncIterator[StreamEvent]:
        self._iterating = True
        attempt = 0
        try:
            while not self._closing.is_set():
                try:
                    async for event in self._one_connection():
                        attempt = 0  # this connection worked: start backing off from scratch
                        yield event
                    return  # closed on purpose
                except _Reconnect as exc:
                    if self._closing.is_set():
                        return
                    self.reconnects += 1
                    delay = 0.0 if exc.immediately else self._policy.delay(attempt, self._rng)
                    attempt += 0 if exc.immediately else 1
                    self._status(False, exc.reason, delay)
                    log.info("event stream: %s; reconnecting in %.2f s", exc.reason, delay)
                    if delay:
                        try:
                            await asyncio.wait_for(self._closing.wait(), delay)
                            return
                        except TimeoutError:
                            pass
        finally:
            self._iterating = False
            self._ws = None

    async def _one_connection(self) -> AsyncIterator[StreamEvent]:
        token = await self._source.bearer_token()  # AuthError ends the iteration
        url = self._source.events_url(self._resume)
        try:
            ws = await connect(
                url,
                additional_headers={"Authorization": f"Bearer {token}"},
                ssl=self._source.ssl_context(),
                open_timeout=self._policy.open_timeout,
                ping_interval=None,  # the contract's heartbeats detect dead connections
                compression=None,
                max_size=4 * 1024 * 1024,
                close_timeout=1.0,
                logger=_WIRE_LOG,
                proxy=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                await self._source.token_refused(token)  # raises AuthError if over
                raise _Reconnect(f"token refused ({status})", immediately=True) from None
            raise _Reconnect(f"handshake refused with HTTP {status}") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise _Reconnect(f"cannot connect ({type(exc).__name__})") from None
        self._ws = ws
        self._status(True, None, None)
        interval = self._policy.heartbeat_s
        try:
            while True:
                if self._closing.is_set():
                    return
                try:
                    raw = await asyncio.wait_for(ws.recv(), self._policy.dead_after(interval))
                except TimeoutError:
                    # No closing handshake on a dead path: it would wait for an answer.
                    ws.transport.abort()
                    raise _Reconnect("no heartbeat: connection presumed dead") from None
                except ConnectionClosed as exc:
                    if self._closing.is_set():
                        return
                    code = exc.rcvd.code if exc.rcvd is not None else None
                    if code == CLOSE_AUTH:
                        await self._source.token_refused(token)
                        raise _Reconnect("session token expired", immediately=True) from None
                    if code == CLOSE_BAD_PARAMS:
                        reason = exc.rcvd.reason if exc.rcvd is not None else ""
                        raise ProtocolError(
                            f"event stream refused its parameters: {reason}"
                        ) from None
                    raise _Reconnect(f"connection closed ({code})") from None
                frame = self._decode(raw)
                if frame is None:
                    continue
                if isinstance(frame, Heartbeat):
                    interval = frame.interval_s if frame.interval_s > 0 else interval
                    if self._resume is None:
                        # Subscribed "from now on": pin "now" so a reconnect loses nothing.
                        self._resume = max(self._last_id, frame.last_id)
                    continue
                if frame.id <= self._last_id:
                    continue  # already delivered (a replay after reconnecting)
                self._last_id = frame.id
                self._resume = frame.id
                yield frame
        finally:
            self._ws = None
            await ws.close()

    def _decode(self, raw: str | bytes) -> StreamEvent | Heartbeat | None:
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            data: Any = json.loads(text)
            return parse_frame(data)
        except (ValueError, RecursionError, CrmError) as exc:
            self.skipped_frames += 1
            log.warning("event stream: skipped a malformed frame: %s", redact(str(exc))[:300])
            return None
