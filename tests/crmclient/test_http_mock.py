"""HttpCrm against a misbehaving CRM (httpx.MockTransport): typed errors, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crmclient.errors import (
    ApiError,
    AuthError,
    Conflict,
    InsecureUrlError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ResponseTooLarge,
    ServerError,
    TransportError,
    ValidationError,
)
from crmclient.http import HttpCrm, RetryPolicy, check_base_url
from crmclient.models import SessionToken, User

Handler = Callable[[httpx.Request], httpx.Response]
NOW = datetime.now(UTC)
SESSION = SessionToken(
    token="tok-abcdef",
    refresh_token="ref-abcdef",
    expires_at=NOW + timedelta(hours=1),
    session_expires_at=NOW + timedelta(days=10),
    user=User(id="u1", email="a@x.test", name="A", role="user"),  # type: ignore[arg-type]
)


def _crm(handler: Handler, **kwargs: object) -> HttpCrm:
    retry = kwargs.pop("retry", RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002))
    crm = HttpCrm(
        "https://crm.example", transport=httpx.MockTransport(handler), retry=retry, **kwargs
    )  # type: ignore[arg-type]
    crm._auth.set_session(SESSION)
    return crm


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"msg {code}", "status": status}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    "url",
    [
        "https://crm.example",
        "https://crm.example/base/",
        "http://127.0.0.1:8765",
        "http://localhost:1",
        "http://[::1]:8080/",
    ],
)
def test_secure_or_loopback_urls_are_accepted(url: str) -> None:
    assert check_base_url(url).path.endswith("/")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://crm.example", "plain http"),
        ("http://10.0.0.5", "plain http"),
        ("ftp://crm.example", "https://"),
        ("https://user:pw@crm.example", "user name or password"),
        ("https://crm.example/?token=x", "query"),
        ("crm.example", "https://"),
    ],
)
def test_insecure_urls_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(InsecureUrlError, match=why):
        check_base_url(url)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (422, ValidationError),
        (400, ValidationError),
        (500, ServerError),
        (418, ApiError),
    ],
)
async def test_error_envelopes_map_to_the_tree(status: int, error: type[ApiError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/session/refresh":
            return httpx.Response(200, json=SESSION.to_json())
        return _error(status, "some_code")

    crm = _crm(handler, retry=RetryPolicy(attempts=1))
    with pytest.raises(error) as caught:
        await crm.get_contact("c1")
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.status) == ("some_code", status)
    await crm.aclose()


async def test_an_html_gateway_page_is_a_server_error() -> None:
    crm = _crm(
        lambda r: httpx.Response(502, text="<html>Bad Gateway</html>"),
        retry=RetryPolicy(attempts=1),
    )
    with pytest.raises(ServerError) as caught:
        await crm.current_user()
    assert caught.value.code == "http_502"
    await crm.aclose()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"<html>not json</html>", {}),
        (b'{"id": 5}', {}),
        (b"[1, 2]", {}),
        (b"[" * 100_000 + b"]" * 100_000, {}),
        (b"\x1f\x8bnot gzip", {"Content-Encoding": "gzip"}),
    ],
    ids=["html", "wrong-shape", "array", "deep-nesting", "bad-gzip"],
)
async def test_malformed_success_bodies_are_protocol_errors(
    body: bytes, headers: dict[str, str]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))

    crm = _crm(handler, retry=RetryPolicy(attempts=1))
    with pytest.raises(ProtocolError):
        await crm.current_user()
    await crm.aclose()


async def test_declared_huge_body_is_refused_before_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10**12)}, content=b"{}")

    crm = _crm(handler, max_response_bytes=1024)
    with pytest.raises(ResponseTooLarge):
        await crm.current_user()
    await crm.aclose()


async def test_rate_limit_is_waited_out_then_given_up() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            return _error(429, "rate_limited", {"Retry-After": "0"})
        return httpx.Response(
            201,
            json={
                "id": "d1",
                "chat_id": "c",
                "requested_by": "u1",
                "requested_at": "2026-01-01T00:00:00Z",
            },
        )

    crm = _crm(handler)
    request = await crm.request_dial("c")
    assert request.id == "d1"
    assert calls == ["POST", "POST"]

    crm2 = _crm(lambda r: _error(429, "rate_limited", {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        await crm2.current_user()
    assert caught.value.retry_after == 3600
    await crm.aclose()
    await crm2.aclose()


async def test_writes_are_only_repeated_when_safe() -> None:
    sent: list[str] = []

    def read_error(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        raise httpx.ReadError("connection reset", request=request)

    crm = _crm(read_error)
    with pytest.raises(TransportError):
        await crm.request_dial("chat")  # no idempotency key: may have happened, not repeated
    assert sent == ["/v1/dial-requests"]
    sent.clear()
    with pytest.raises(TransportError):
        await crm.current_user()  # a read: repeated
    assert len(sent) == 3

    def refused(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    sent.clear()
    crm2 = _crm(refused)
    with pytest.raises(TransportError, match="cannot connect"):
        await crm2.request_dial("chat")  # never left: safe to try again
    assert len(sent) == 3
    await crm.aclose()
    await crm2.aclose()


async def test_401_refreshes_once_for_concurrent_requests() -> None:
    refreshes: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/session/refresh":
            refreshes.append(json.loads(request.content)["refresh_token"])
            fresh = SessionToken(
                token="tok-new-123",
                refresh_token="ref-new-123",
                expires_at=SESSION.expires_at,
                session_expires_at=SESSION.session_expires_at,
                user=SESSION.user,
            )
            return httpx.Response(200, json=fresh.to_json())
        if request.headers["Authorization"] != "Bearer tok-new-123":
            return _error(401, "token_expired")
        return httpx.Response(200, json=SESSION.user.to_json())

    import asyncio

    crm = _crm(handler)
    users = await asyncio.gather(*(crm.current_user() for _ in range(5)))
    assert {u.id for u in users} == {"u1"}
    assert refreshes == ["ref-abcdef"]  # one refresh, not five
    await crm.aclose()
