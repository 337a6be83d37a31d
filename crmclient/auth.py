"""The session token on every request, renewed before it expires and when the CRM says 401.

An httpx auth flow (a generator httpx drives): it sends the request with the token; when
the token is about to expire it first sends a refresh; when the CRM still answers 401 it
refreshes once and replays the request. Concurrent requests share one refresh: the first
one holds a lock while it refreshes, the others wait and reuse the new token instead of
each burning the refresh token.

The flow does not know the URL layout or the error shape: ``HttpCrm`` hands it a function
that builds the refresh request and one that reads its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx

from crmclient.errors import AuthError
from crmclient.models import SessionToken

__all__ = ["NO_AUTH", "SessionAuth"]

#: Request extension that sends a request without the session (sign-in, refresh).
NO_AUTH: Final = "lodgephone.no_auth"

#: Refresh this long before the token's expiry, so clocks a little apart do not matter.
REFRESH_MARGIN: Final = timedelta(seconds=30)

BuildRefresh = Callable[[SessionToken], httpx.Request]
ReadRefresh = Callable[[httpx.Response], Awaitable[SessionToken]]
SessionChanged = Callable[[SessionToken | None], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SessionAuth(httpx.Auth):
    """Bearer-token auth with refresh, for ``httpx.AsyncClient`` only."""

    def __init__(
        self,
        build_refresh: BuildRefresh,
        read_refresh: ReadRefresh,
        on_change: SessionChanged,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._build_refresh = build_refresh
        self._read_refresh = read_refresh
        self._on_change = on_change
        self._clock = clock
        self._session: SessionToken | None = None
        self._lock = asyncio.Lock()

    @property
    def session(self) -> SessionToken | None:
        return self._session

    def set_session(self, session: SessionToken | None) -> None:
        """Install a session (after sign-in, restore) or forget it (sign-out, ended)."""
        if session is self._session:
            return
        self._session = session
        self._on_change(session)

    def needs_refresh(self, session: SessionToken) -> bool:
        """Whether ``session``'s token expires within the safety margin."""
        return self._clock() >= session.expires_at - REFRESH_MARGIN

    def _require_session(self) -> SessionToken:
        session = self._session
        if session is None:
            raise AuthError("not_signed_in", "Not signed in to the CRM", 401)
        if session.session_over(self._clock()):
            self.set_session(None)
            raise AuthError("session_expired", "The CRM session ended: sign in again", 401)
        return session

    async def _apply(self, refreshed: httpx.Response) -> None:
        try:
            session = await self._read_refresh(refreshed)
        except AuthError:
            self.set_session(None)  # the refresh token was refused: the session is over
            raise
        self.set_session(session)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("SessionAuth works with httpx.AsyncClient only")
        yield request  # pragma: no cover - makes this a generator

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if request.extensions.get(NO_AUTH):
            yield request
            return
        used = self._require_session()
        if self.needs_refresh(used):
            async with self._lock:
                if self._session is used:  # nobody refreshed while we waited
                    refreshed = yield self._build_refresh(used)
                    await self._apply(refreshed)
            used = self._require_session()
        request.headers["Authorization"] = f"Bearer {used.token}"
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            current = self._require_session()
            if current is used:
                refreshed = yield self._build_refresh(current)
                await self._apply(refreshed)
        # One replay with the renewed token; a second 401 is the caller's AuthError.
        request.headers["Authorization"] = f"Bearer {self._require_session().token}"
        yield request
