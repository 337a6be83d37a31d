"""The event stream over real websockets: drops, dead connections, expired tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from crmclient.http import HttpCrm, Timeouts
from crmclient.models import (
    CallCreate,
    CallDirection,
    CallUpdated,
    ResyncRequired,
    StreamEvent,
    StreamStatus,
)
from crmclient.server.runner import RunningServer
from crmclient.stream import EventStream, ReconnectPolicy
from tests.crmclient.conftest import FAST_RETRY, MAYA
from tests.crmclient.proxy import CuttingProxy
from tests.crmclient.waiting import async_wait_until

QUICK = ReconnectPolicy(base_delay=0.01, max_delay=0.05, heartbeat_s=1.0, open_timeout=2.0)


@pytest.fixture
async def proxy(server: RunningServer) -> AsyncIterator[CuttingProxy]:
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    running = CuttingProxy(host, int(port))
    await running.start()
    try:
        yield running
    finally:
        await running.aclose()


@pytest.fixture
async def via_proxy(proxy: CuttingProxy) -> AsyncIterator[HttpCrm]:
    client = HttpCrm(proxy.url, retry=FAST_RETRY, timeouts=Timeouts(total=5.0), heartbeat_s=1.0)
    await client.sign_in(MAYA)
    try:
        yield client
    finally:
        await client.aclose()


def _call() -> CallCreate:
    return CallCreate(
        id=str(uuid.uuid4()),
        direction=CallDirection.INBOUND,
        remote_number="+919812345678",
        started_at=datetime.now(UTC),
    )


async def _create_calls(crm: HttpCrm, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        ids.append((await crm.create_call(_call())).id)
    return ids


def _call_id(event: StreamEvent) -> str | None:
    return event.payload.call.id if isinstance(event.payload, CallUpdated) else None


async def test_fifty_drops_lose_and_repeat_nothing(
    crm: HttpCrm, via_proxy: HttpCrm, proxy: CuttingProxy
) -> None:
    await crm.sign_in(MAYA)
    expected = set(await _create_calls(crm, 250))
    stream = EventStream(via_proxy, after=0, policy=QUICK)
    received: list[StreamEvent] = []

    async def consume() -> None:
        async for event in stream:
            received.append(event)

    async def cut_fifty_times() -> None:
        while proxy.drops < 50:
            # Cut only a connection that is up, so every cut costs the stream a reconnect.
            await async_wait_until(
                lambda: stream.connected and stream.reconnects == proxy.drops, 10, "reconnect"
            )
            proxy.drop_all()

    consumer = asyncio.create_task(consume())
    cutter = asyncio.create_task(cut_fifty_times())
    # More events while the stream keeps dropping: backlog and live ones mixed.
    expected |= set(await _create_calls(crm, 50))
    await asyncio.wait_for(cutter, 30)
    await async_wait_until(lambda: stream.reconnects >= 50, 10, "the 50th reconnect")
    await async_wait_until(lambda: expected <= {_call_id(e) for e in received}, 20, "every event")
    await stream.aclose()
    await asyncio.wait_for(consumer, 5)
    ids = [e.id for e in received]
    assert ids == sorted(set(ids)), "an event was delivered twice or out of order"
    ours = [cid for cid in map(_call_id, received) if cid in expected]
    assert len(ours) == len(expected) == 300  # every one, once
    assert proxy.drops == 50
    assert stream.reconnects >= 50


async def test_silent_connection_is_detected_by_missed_heartbeats(
    crm: HttpCrm, via_proxy: HttpCrm, proxy: CuttingProxy
) -> None:
    await crm.sign_in(MAYA)
    statuses: list[StreamStatus] = []
    stream = EventStream(via_proxy, after=None, policy=QUICK, on_status=statuses.append)
    events: list[StreamEvent] = []

    async def consume() -> None:
        async for event in stream:
            events.append(event)

    task = asyncio.create_task(consume())
    try:
        # Subscribed "from now on": "now" is pinned by the first heartbeat.
        await async_wait_until(lambda: stream.resumable, 5, "a resume point")
        proxy.frozen = True  # TCP stays up, nothing gets through
        await async_wait_until(
            lambda: any(not s.connected and "heartbeat" in (s.reason or "") for s in statuses),
            6,
            "the dead connection to be noticed",
        )
        proxy.frozen = False
        created = await crm.create_call(_call())
        await async_wait_until(
            lambda: created.id in {_call_id(e) for e in events}, 10, "the event after recovery"
        )
    finally:
        await stream.aclose()
        await asyncio.wait_for(task, 5)


async def test_refused_token_is_refreshed_and_the_stream_resumes(
    crm: HttpCrm, via_proxy: HttpCrm
) -> None:
    await crm.sign_in(MAYA)
    session = via_proxy.session
    assert session is not None
    created = await crm.create_call(_call())
    # The stream's token is no longer valid; its refresh token still is.
    await via_proxy.restore_session(dataclasses.replace(session, token="lst_revoked"))
    assert via_proxy.session is not None
    stale = dataclasses.replace(via_proxy.session, token="lst_revoked_again")
    via_proxy._auth._session = stale  # bypass restore: the stream must find out by itself
    stream = EventStream(via_proxy, after=0, policy=QUICK)
    got: list[str | None] = []

    async def consume() -> None:
        async for event in stream:
            got.append(_call_id(event))
            if created.id in got:
                return

    await asyncio.wait_for(consume(), 10)
    await stream.aclose()
    assert via_proxy.session is not None
    assert via_proxy.session.token != stale.token


async def test_resume_point_older_than_the_server_keeps_asks_for_a_resync(
    crm: HttpCrm, via_proxy: HttpCrm, server: RunningServer
) -> None:
    await crm.sign_in(MAYA)
    first = await crm.create_call(_call())
    await crm.create_call(_call())
    stream = EventStream(via_proxy, after=0, policy=QUICK)
    head: list[StreamEvent] = []
    async for event in stream:
        head.append(event)
        if _call_id(event) == first.id:
            break
    await stream.aclose()
    through = head[-1].id
    response = httpx.post(f"{server.base_url}/v1/test/prune-events", json={"through_id": through})
    assert response.status_code == 204
    later = await crm.create_call(_call())
    resumed = EventStream(via_proxy, after=1, policy=QUICK)
    got: list[StreamEvent] = []
    async for event in resumed:
        got.append(event)
        if _call_id(event) == later.id:
            break
    await resumed.aclose()
    assert isinstance(got[0].payload, ResyncRequired)
    assert got[0].payload.oldest_id == through + 1
    assert [e.id for e in got] == sorted({e.id for e in got})


async def test_wire_debug_log_never_shows_the_token(
    crm: HttpCrm, via_proxy: HttpCrm, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="crmclient.stream.wire")
    await crm.sign_in(MAYA)
    created = await crm.create_call(_call())
    stream = EventStream(via_proxy, after=0, policy=QUICK)
    async for event in stream:
        if _call_id(event) == created.id:
            break
    await stream.aclose()
    assert via_proxy.session is not None
    wire = "\n".join(r.getMessage() for r in caplog.records if r.name == "crmclient.stream.wire")
    assert "Authorization: Bearer ***" in wire  # the handshake was logged, masked
    assert via_proxy.session.token not in caplog.text
