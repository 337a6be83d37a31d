"""``HttpCrm``: the CRM contract (docs/crm-api.md, crmclient/openapi.yaml) over HTTPS.

Policy lives here, I/O in the httpx transport, which tests replace (``httpx.MockTransport``
for misbehaving servers, the real one against the reference server on loopback).

What a caller can rely on:

- Only ``crmclient.errors`` exceptions come out, whatever the network or the server does:
  refused connections, TLS failures, timeouts, bad JSON, wrong types, bodies too large.
- Secrets only travel encrypted: the base URL must be https, except to loopback (the
  reference server, a local tunnel); certificate verification is always on.
- Requests that are safe to repeat (GET, PUT, and writes carrying a client id or an
  idempotency key) are retried with exponential backoff and jitter on network failures,
  429 and 502/503/504. Other writes are retried only when the request surely never left
  (connection refused), so nothing is done twice.
- Every request has a total deadline, so a server that answers a byte a minute still ends
  in ``RequestTimeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import random
import ssl
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx

from crmclient.auth import NO_AUTH, SessionAuth
from crmclient.backend import (
    CrmBackend,
    EventSubscription,
    SessionListener,
    StatusListener,
    Unsubscribe,
)
from crmclient.errors import (
    AuthError,
    CrmError,
    InsecureUrlError,
    NotFound,
    ProtocolError,
    RequestTimeout,
    ResponseTooLarge,
    TransportError,
    api_error,
)
from crmclient.models import (
    CALL_PAGE_SIZE,
    BatchResult,
    BatchWrite,
    CallCard,
    CallCreate,
    CallFilter,
    CallPage,
    CallPermission,
    CallRecord,
    CallUpdate,
    CardCreate,
    Chat,
    Contact,
    ContactCreate,
    ContactLookup,
    Credentials,
    DialRequest,
    ErrorBody,
    PhoneCallRequest,
    Presence,
    PresenceStatus,
    Provisioning,
    RecordingInfo,
    SessionToken,
    SipSecret,
    Transcript,
    User,
)

__all__ = ["HttpCrm", "RetryPolicy", "Timeouts", "check_base_url"]

USER_AGENT: Final = "LodgestoryPhone/0.1 (+crmclient)"
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_M = TypeVar("_M")


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``total`` bounds a whole attempt, however slowly the bytes trickle in."""

    connect: float = 5.0
    read: float = 15.0
    write: float = 15.0
    pool: float = 5.0
    total: float = 30.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits between d/2 and d, d = base * 2^n."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    #: The longest ``Retry-After`` honoured; a longer one is returned as the error instead.
    max_retry_after: float = 30.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 502, 503, 504}))

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2.0**attempt))
        jitter: float = rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> httpx.URL:
    """The CRM's base URL, or ``InsecureUrlError`` saying what is wrong with it.

    https anywhere; plain http only to loopback. No user:password in the URL (it would be
    logged and stored in the config), no query or fragment.
    """
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise InsecureUrlError(f"not a URL: {url[:200]!r} ({exc})") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise InsecureUrlError(f"the CRM address must start with https:// (got {url[:200]!r})")
    if parsed.scheme == "http" and not _is_loopback(parsed.host):
        raise InsecureUrlError(
            f"refusing plain http to {parsed.host}: the CRM session and SIP secrets would "
            "cross the network unencrypted; use https:// (http is allowed only to loopback)"
        )
    if parsed.userinfo:
        raise InsecureUrlError("the CRM address must not contain a user name or password")
    if parsed.query or parsed.fragment:
        raise InsecureUrlError("the CRM address must not have a query or fragment")
    path = parsed.path if parsed.path.endswith("/") else parsed.path + "/"
    return parsed.copy_with(path=path)


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from APIs; fall back to our own backoff


def _map_transport(exc: Exception, what: str) -> tuple[CrmError, bool]:
    """The typed error for a failed attempt, and whether the request surely never left."""
    if isinstance(exc, TimeoutError):
        return RequestTimeout(f"{what}: no complete answer in time"), False
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return RequestTimeout(f"{what}: could not connect in time"), True
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(f"{what}: the CRM stopped answering ({type(exc).__name__})"), False
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return TransportError(
                    f"{what}: the CRM's TLS certificate could not be verified "
                    f"({cause.verify_message})"
                ), True
            cause = cause.__cause__ or cause.__context__
        return TransportError(f"{what}: cannot connect to the CRM ({exc})"), True
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"{what}: the CRM sent a body that cannot be decoded"), False
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError(f"{what}: connection to the CRM broke ({exc})"), False
    if isinstance(exc, httpx.HTTPError):
        return TransportError(f"{what}: {type(exc).__name__}: {exc}"), False
    if isinstance(exc, OSError):
        return TransportError(f"{what}: {type(exc).__name__}: {exc}"), False
    raise exc


def _decode_json(reply: _Reply, what: str) -> Any:
    try:
        return json.loads(reply.body)
    except (ValueError, RecursionError):
        ctype = reply.headers.get("content-type", "no content type")
        raise ProtocolError(
            f"{what}: the CRM answered {reply.status} with invalid JSON "
            f"({ctype}, {len(reply.body)} bytes)"
        ) from None


def _error_for(reply: _Reply, what: str) -> CrmError:
    retry_after = _retry_after(reply.headers)
    try:
        body = ErrorBody.from_envelope(json.loads(reply.body))
    except (ValueError, RecursionError, ProtocolError):
        phrase = httpx.codes.get_reason_phrase(reply.status) or "error"
        return api_error(reply.status, f"http_{reply.status}", f"{what}: {phrase}", retry_after)
    return api_error(reply.status, body.code, body.message[:500], retry_after)


def _items(data: Any, what: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ProtocolError(f'{what}: expected {{"items": [...]}}')
    items: list[Any] = data["items"]
    return items


class HttpCrm:
    """A ``CrmBackend`` for a CRM that speaks the contract over HTTP and WebSocket."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = 8 * 1024 * 1024,
        max_download_bytes: int = 512 * 1024 * 1024,
        verify: ssl.SSLContext | str | None = None,
        rng: random.Random | None = None,
        heartbeat_s: float = 15.0,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._timeouts = timeouts or Timeouts()
        self._retry = retry or RetryPolicy()
        self._max_bytes = max_response_bytes
        self._max_download = max_download_bytes
        self._rng = rng or random.Random()
        self._heartbeat_s = heartbeat_s
        # TLS verification cannot be switched off; a private CA comes as a context or path.
        if isinstance(verify, str):
            verify = ssl.create_default_context(cafile=verify)
        self._verify: ssl.SSLContext | bool = True if verify is None else verify
        self._listeners: list[SessionListener] = []
        self._auth = SessionAuth(self._refresh_request, self._read_refresh, self._session_changed)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=self._timeouts.httpx(),
            verify=self._verify,
            follow_redirects=False,
            # Shorter than common server idle timeouts (uvicorn's is 5 s), so a request is
            # not sent on a connection the server is just closing.
            limits=httpx.Limits(keepalive_expiry=2.0),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._subscriptions: set[EventSubscription] = set()
        self._closed = False

    # -- plumbing ------------------------------------------------------------------

    @property
    def session(self) -> SessionToken | None:
        return self._auth.session

    def _session_changed(self, session: SessionToken | None) -> None:
        for listener in list(self._listeners):
            listener(session)

    def add_session_listener(self, listener: SessionListener) -> Unsubscribe:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _refresh_request(self, session: SessionToken) -> httpx.Request:
        return self._client.build_request(
            "POST",
            "v1/session/refresh",
            json={"refresh_token": session.refresh_token},
            extensions={NO_AUTH: True},
        )

    async def _read_refresh(self, response: httpx.Response) -> SessionToken:
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_bytes:
            raise ResponseTooLarge(self._max_bytes)
        body = await response.aread()
        reply = _Reply(response.status_code, response.headers, body)
        if response.status_code != 200:
            error = _error_for(reply, "refreshing the session")
            if response.status_code in (401, 403, 422):
                # The refresh token was refused: the session is over, sign in again.
                raise AuthError(getattr(error, "code", "session_expired"), str(error), 401)
            raise error
        return SessionToken.from_json(_decode_json(reply, "refreshing the session"))

    async def _attempt(self, request: httpx.Request, limit: int, sink: Path | None) -> _Reply:
        async with asyncio.timeout(self._timeouts.total):
            response = await self._client.send(request, stream=True, auth=self._auth)
            try:
                length = response.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > limit:
                    raise ResponseTooLarge(limit)
                if sink is not None and response.is_success:
                    size = await _stream_to_file(response, sink, limit)
                    return _Reply(response.status_code, response.headers, str(size).encode())
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise ResponseTooLarge(limit)
                return _Reply(response.status_code, response.headers, bytes(body))
            finally:
                await response.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: object = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        safe_to_repeat: bool = False,
        authenticated: bool = True,
        ok: tuple[int, ...] = (200,),
        sink: Path | None = None,
    ) -> _Reply:
        if self._closed:
            raise TransportError(f"{what}: the CRM client is closed")
        all_headers = dict(headers or {})
        if idempotency_key is not None:
            all_headers["Idempotency-Key"] = idempotency_key
        repeatable = method in _IDEMPOTENT_METHODS or idempotency_key is not None or safe_to_repeat
        extensions = {} if authenticated else {NO_AUTH: True}
        limit = self._max_download if sink is not None else self._max_bytes
        attempts = max(1, self._retry.attempts)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            request = self._client.build_request(
                method,
                path,
                json=json_body,
                content=content,
                params=params,
                headers=all_headers,
                extensions=extensions,
            )
            try:
                reply = await self._attempt(request, limit, sink)
            except CrmError:
                raise
            except Exception as exc:
                error, never_sent = _map_transport(exc, what)
                if last or not (repeatable or never_sent) or not isinstance(error, TransportError):
                    raise error from None
                await asyncio.sleep(self._retry.delay(attempt, self._rng))
                continue
            if reply.status in ok:
                return reply
            error = _error_for(reply, what)
            # A 429 was refused before any work: repeatable whatever the method.
            retryable = reply.status in self._retry.retry_statuses and (
                repeatable or reply.status == 429
            )
            if last or not retryable:
                raise error
            wait = self._retry.delay(attempt, self._rng)
            hint = _retry_after(reply.headers)
            if hint is not None:
                if hint > self._retry.max_retry_after:
                    raise error
                wait = max(wait, hint)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get_model(
        self, model: Callable[[Any], _M], path: str, what: str, **kwargs: Any
    ) -> _M:
        reply = await self._send("GET", path, what, **kwargs)
        return model(_decode_json(reply, what))

    # -- session -------------------------------------------------------------------

    async def sign_in(self, credentials: Credentials) -> SessionToken:
        reply = await self._send(
            "POST",
            "v1/session",
            "signing in",
            json_body=credentials.to_json(),
            authenticated=False,
            ok=(201, 200),
        )
        session = SessionToken.from_json(_decode_json(reply, "signing in"))
        self._auth.set_session(session)
        return session

    async def restore_session(self, session: SessionToken) -> User:
        self._auth.set_session(session)
        return await self.current_user()

    async def refresh_session(self) -> SessionToken:
        session = self._auth.session
        if session is None:
            raise AuthError("not_signed_in", "Not signed in to the CRM", 401)
        reply = await self._send(
            "POST",
            "v1/session/refresh",
            "refreshing the session",
            json_body={"refresh_token": session.refresh_token},
            authenticated=False,
        )
        fresh = SessionToken.from_json(_decode_json(reply, "refreshing the session"))
        self._auth.set_session(fresh)
        return fresh

    async def sign_out(self) -> None:
        if self._auth.session is None:
            return
        try:
            await self._send("DELETE", "v1/session", "signing out", ok=(204, 200))
        except (AuthError, NotFound):
            pass  # already over on the CRM's side
        finally:
            self._auth.set_session(None)

    async def current_user(self) -> User:
        return await self._get_model(User.from_json, "v1/me", "reading the signed-in user")

    # -- provisioning --------------------------------------------------------------

    async def get_provisioning(self) -> Provisioning:
        return await self._get_model(
            Provisioning.from_json, "v1/provisioning", "reading the telephony setup"
        )

    async def get_sip_secret(self, account_id: str) -> SipSecret:
        return await self._get_model(
            SipSecret.from_json,
            f"v1/provisioning/accounts/{_seg(account_id)}/secret",
            "reading the SIP secret",
        )

    # -- contacts and chats --------------------------------------------------------

    async def lookup_number(self, number: str) -> ContactLookup:
        return await self._get_model(
            ContactLookup.from_json,
            "v1/contacts/lookup",
            "looking up a number",
            params={"number": number},
        )

    async def search_contacts(self, text: str, *, limit: int = 20) -> tuple[Contact, ...]:
        what = "searching contacts"
        reply = await self._send(
            "GET", "v1/contacts", what, params={"q": text, "limit": str(limit)}
        )
        return tuple(Contact.from_json(c) for c in _items(_decode_json(reply, what), what))

    async def get_contact(self, contact_id: str) -> Contact:
        return await self._get_model(
            Contact.from_json, f"v1/contacts/{_seg(contact_id)}", "reading a contact"
        )

    async def create_contact(self, contact: ContactCreate) -> Contact:
        what = "creating a contact"
        reply = await self._send(
            "POST", "v1/contacts", what, json_body=contact.to_json(), ok=(201, 200)
        )
        return Contact.from_json(_decode_json(reply, what))

    async def list_contact_chats(self, contact_id: str) -> tuple[Chat, ...]:
        what = "listing a contact's chats"
        reply = await self._send("GET", f"v1/contacts/{_seg(contact_id)}/chats", what)
        return tuple(Chat.from_json(c) for c in _items(_decode_json(reply, what), what))

    # -- calls ---------------------------------------------------------------------

    async def create_call(self, call: CallCreate) -> CallRecord:
        what = "logging a call"
        reply = await self._send(
            "POST",
            "v1/calls",
            what,
            json_body=call.to_json(),
            safe_to_repeat=True,  # the client-chosen id makes a replay return the same record
            ok=(201, 200),
        )
        return CallRecord.from_json(_decode_json(reply, what))

    async def update_call(
        self, call_id: str, update: CallUpdate, *, idempotency_key: str | None = None
    ) -> CallRecord:
        what = "updating a call"
        reply = await self._send(
            "PATCH",
            f"v1/calls/{_seg(call_id)}",
            what,
            json_body=update.to_json(),
            idempotency_key=idempotency_key,
        )
        return CallRecord.from_json(_decode_json(reply, what))

    async def get_call(self, call_id: str) -> CallRecord:
        return await self._get_model(
            CallRecord.from_json, f"v1/calls/{_seg(call_id)}", "reading a call"
        )

    async def list_calls(
        self,
        filter: CallFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = CALL_PAGE_SIZE,
    ) -> CallPage:
        params = (filter or CallFilter()).to_query()
        params["limit"] = str(max(1, min(limit, CALL_PAGE_SIZE)))
        if cursor is not None:
            params["cursor"] = cursor
        return await self._get_model(CallPage.from_json, "v1/calls", "listing calls", params=params)

    async def fetch_recording(self, call_id: str, dest: Path) -> RecordingInfo:
        info = await self._get_model(
            RecordingInfo.from_json,
            f"v1/calls/{_seg(call_id)}/recording/info",
            "reading recording details",
        )
        await self._send(
            "GET",
            f"v1/calls/{_seg(call_id)}/recording",
            "downloading a recording",
            headers={"Accept": "audio/wav"},
            sink=dest,
        )
        return info

    async def upload_recording(
        self, call_id: str, wav: Path, *, idempotency_key: str | None = None
    ) -> RecordingInfo:
        what = "uploading a recording"
        data = await asyncio.to_thread(wav.read_bytes)
        reply = await self._send(
            "PUT",
            f"v1/calls/{_seg(call_id)}/recording",
            what,
            content=data,
            headers={"Content-Type": "audio/wav"},
            idempotency_key=idempotency_key,
        )
        return RecordingInfo.from_json(_decode_json(reply, what))

    async def get_transcript(self, call_id: str) -> Transcript | None:
        try:
            return await self._get_model(
                Transcript.from_json, f"v1/calls/{_seg(call_id)}/transcript", "reading a transcript"
            )
        except NotFound as exc:
            if exc.code == "no_transcript":
                return None
            raise

    async def export_calls_csv(self, filter: CallFilter | None, dest: Path) -> int:
        await self._send(
            "GET",
            "v1/calls/export.csv",
            "exporting calls",
            params=(filter or CallFilter()).to_query(),
            headers={"Accept": "text/csv"},
            sink=dest,
        )
        return await asyncio.to_thread(_count_csv_rows, dest)

    # -- chat call-event cards -----------------------------------------------------

    async def post_card(self, card: CardCreate) -> CallCard:
        what = "posting a call card"
        reply = await self._send(
            "POST", "v1/cards", what, json_body=card.to_json(), safe_to_repeat=True, ok=(201, 200)
        )
        return CallCard.from_json(_decode_json(reply, what))

    async def write_batch(
        self, writes: Sequence[BatchWrite], *, minimal: bool = False
    ) -> tuple[BatchResult, ...]:
        what = "sending a batch of writes"
        reply = await self._send(
            "POST",
            "v1/batch",
            what,
            json_body={"writes": [w.to_json() for w in writes]},
            headers={"Prefer": "return=minimal"} if minimal else None,
            # every write is keyed (client ids, idempotency keys): a replay changes nothing
            safe_to_repeat=all(w.update is None or w.idempotency_key is not None for w in writes),
        )
        data = _decode_json(reply, what)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ProtocolError(f'{what}: expected {{"results": [...]}}')
        results = tuple(BatchResult.from_json(r) for r in data["results"])
        if len(results) != len(writes):
            raise ProtocolError(f"{what}: {len(results)} results for {len(writes)} writes")
        return results

    async def list_cards(self, chat_id: str) -> tuple[CallCard, ...]:
        what = "listing call cards"
        reply = await self._send("GET", f"v1/chats/{_seg(chat_id)}/cards", what)
        return tuple(CallCard.from_json(c) for c in _items(_decode_json(reply, what), what))

    # -- phone mode and dial requests ----------------------------------------------

    async def start_phone_call(self, request: PhoneCallRequest) -> CallRecord:
        what = "starting a phone-mode call"
        reply = await self._send(
            "POST",
            "v1/phone-calls",
            what,
            json_body=request.to_json(),
            safe_to_repeat=True,
            ok=(201, 200),
        )
        return CallRecord.from_json(_decode_json(reply, what))

    async def request_dial(self, chat_id: str, *, number: str | None = None) -> DialRequest:
        what = "sending a dial request"
        body: dict[str, Any] = {"chat_id": chat_id}
        if number is not None:
            body["number"] = number
        reply = await self._send("POST", "v1/dial-requests", what, json_body=body, ok=(201, 200))
        return DialRequest.from_json(_decode_json(reply, what))

    # -- WhatsApp calling permission -----------------------------------------------

    async def get_call_permission(self, chat_id: str) -> CallPermission:
        return await self._get_model(
            CallPermission.from_json,
            f"v1/chats/{_seg(chat_id)}/call-permission",
            "reading the calling permission",
        )

    async def request_call_permission(self, chat_id: str) -> CallPermission:
        what = "asking for calling permission"
        reply = await self._send("POST", f"v1/chats/{_seg(chat_id)}/call-permission/request", what)
        return CallPermission.from_json(_decode_json(reply, what))

    # -- presence ------------------------------------------------------------------

    async def get_presence(self) -> Presence:
        return await self._get_model(Presence.from_json, "v1/presence", "reading presence")

    async def set_presence(self, status: PresenceStatus) -> Presence:
        what = "setting presence"
        reply = await self._send("PUT", "v1/presence", what, json_body={"status": status.value})
        return Presence.from_json(_decode_json(reply, what))

    # -- events --------------------------------------------------------------------

    def events_url(self, after: int | None) -> str:
        """The websocket URL of the event stream (ws for http, wss for https)."""
        scheme = "wss" if self.base_url.scheme == "https" else "ws"
        params: dict[str, str] = {"heartbeat_s": f"{self._heartbeat_s:g}"}
        if after is not None:
            params["after"] = str(after)
        url = self.base_url.join("v1/events").copy_with(scheme=scheme, params=params)
        return str(url)

    async def bearer_token(self) -> str:
        """A current token for the websocket handshake (refreshing it first if expired)."""
        session = self._auth.session
        if session is None:
            raise AuthError("not_signed_in", "Not signed in to the CRM", 401)
        if self._auth.needs_refresh(session):
            session = await self.refresh_session()
        return session.token

    async def token_refused(self, token: str) -> None:
        """The websocket was refused with this token: refresh unless someone already did."""
        session = self._auth.session
        if session is None:
            raise AuthError("not_signed_in", "Not signed in to the CRM", 401)
        if session.token == token:
            try:
                await self.refresh_session()
            except AuthError:
                self._auth.set_session(None)
                raise

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.base_url.scheme != "https":
            return None
        if isinstance(self._verify, ssl.SSLContext):
            return self._verify
        return ssl.create_default_context()

    def subscribe(
        self, *, after: int | None = None, on_status: StatusListener | None = None
    ) -> EventSubscription:
        from crmclient.stream import EventStream, ReconnectPolicy

        policy = ReconnectPolicy(heartbeat_s=self._heartbeat_s)
        stream = EventStream(self, after=after, on_status=on_status, policy=policy, rng=self._rng)
        self._subscriptions.add(stream)
        return stream

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        self._subscriptions.clear()
        await self._client.aclose()


def _seg(value: str) -> str:
    """One URL path segment: ids never smuggle a "/" or "..", they get escaped."""
    from urllib.parse import quote

    if not value:
        raise ValueError("empty id")
    return quote(value, safe="")


async def _stream_to_file(response: httpx.Response, dest: Path, limit: int) -> int:
    """Write the body to ``dest`` via a temporary file; nothing half-written remains."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=dest.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ResponseTooLarge(limit)
                out.write(chunk)
        os.replace(tmp_name, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return size


def _count_csv_rows(path: Path) -> int:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle))
    return max(0, rows - 1)


def _conforms(crm: HttpCrm) -> CrmBackend:
    """Never called: mypy proves here that HttpCrm implements the whole CrmBackend."""
    return crm
