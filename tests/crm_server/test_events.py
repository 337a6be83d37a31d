"""The websocket stream: typed events as the contract says, resume without gaps or
duplicates, heartbeats, drops, auth, resync."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from crmclient.models import (
    CallAnsweredElsewhere,
    CallRinging,
    Heartbeat,
    StreamEvent,
    parse_frame,
)
from crmclient.server import RunningServer
from tests.crm_server.contract import check, spec, validate_instance, validator

TIMEOUT = 10.0


def token_of(client: httpx.Client) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


def validate_frame(frame: dict[str, Any]) -> None:
    if frame.get("type") == "heartbeat":
        validate_instance(frame, "Heartbeat")
        return
    validate_instance(frame, "StreamEvent")
    payload = spec()["components"]["schemas"]["EventPayloads"]["properties"][frame["type"]]
    validator(payload).validate(frame["data"])


async def recv(ws: ClientConnection) -> StreamEvent | Heartbeat:
    raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
    frame = json.loads(raw)
    validate_frame(frame)
    return parse_frame(frame)


async def next_event(ws: ClientConnection) -> StreamEvent:
    while True:
        item = await recv(ws)
        if isinstance(item, StreamEvent):
            return item


async def next_of_type(ws: ClientConnection, kind: str) -> StreamEvent:
    """The next event of one type (others, e.g. call.updated, may come in between)."""
    while True:
        event = await next_event(ws)
        if event.type == kind:
            return event


def stream(server: RunningServer, client: httpx.Client, **params: object) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return connect(
        f"{server.ws_url}?{query}",
        additional_headers={"Authorization": f"Bearer {token_of(client)}"},
        open_timeout=TIMEOUT,
        # Unread frames beyond the queue pause reading, and with it the closing handshake.
        max_queue=None,
    )


async def test_ringing_with_match_then_answered_elsewhere(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    maya, sam = clients["maya"], clients["sam"]
    async with stream(server, maya) as maya_ws, stream(server, sam) as sam_ws:
        ring = sam.post(
            "/v1/sim/incoming-calls",
            json={"from_number": "+14155550111", "agent_ids": ["u_maya", "u_sam"]},
        )
        call = check(ring, 201)
        for ws in (maya_ws, sam_ws):
            event = await next_event(ws)
            assert isinstance(event.payload, CallRinging)
            assert event.payload.call.id == call["id"]
            assert event.payload.contact is not None and event.payload.contact.id == "ct_ana"
            assert event.payload.chat is not None and event.payload.chat.id == "chat_ana_wa"
        answered = sam.patch(
            f"/v1/calls/{call['id']}", json={"status": "in_progress", "answered_by": "u_sam"}
        )
        assert check(answered, 200)["agent_id"] == "u_sam"
        elsewhere = await next_of_type(maya_ws, "call.answered_elsewhere")
        assert isinstance(elsewhere.payload, CallAnsweredElsewhere)
        assert elsewhere.payload.answered_by == "u_sam"
        assert elsewhere.payload.answered_by_name == "Sam Carter"
        # Maya may still read the call she was rung for; Priya was not rung and may not.
        check(maya.get(f"/v1/calls/{call['id']}"), 200)
        assert clients["priya"].get(f"/v1/calls/{call['id']}").status_code == 404


async def test_each_kind_of_event_arrives(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    maya, arjun = clients["maya"], clients["arjun"]
    async with stream(server, maya) as ws:
        maya.post("/v1/dial-requests", json={"chat_id": "chat_lee_web"})
        arjun.put("/v1/users/u_maya/default-caller-id", json={"caller_id": "cid_us_sales"})
        maya.post("/v1/chats/chat_ana_wa/call-permission/request")
        maya.post("/v1/sim/chats/chat_ana_wa/call-permission", json={"state": "always_allowed"})
        maya.put("/v1/presence", json={"status": "available"})
        maya.patch("/v1/sim/contacts/ct_lee", json={"name": "Lee Chen-Wu"})
        types = [(await next_event(ws)).type for _ in range(6)]
    assert types == [
        "dial.requested",
        "provisioning.changed",
        "permission.changed",
        "permission.changed",
        "presence.changed",
        "contact.updated",
    ]


async def test_resume_from_last_id_without_gaps_or_duplicates(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    maya = clients["maya"]

    def make(n: int) -> None:
        for i in range(n):
            maya.put("/v1/presence", json={"status": "busy" if i % 2 else "available"})

    start = check(maya.get("/v1/presence"), 200)  # anchor: events after this point
    del start
    async with stream(server, maya) as ws:
        make(1)
        first = await next_event(ws)
    base = first.id - 1
    make(40)
    got: list[int] = [first.id]
    # Read in short sessions, disconnecting after a few events each time.
    while len(got) < 41:
        async with stream(server, maya, after=got[-1]) as ws:
            for _ in range(7):
                if len(got) == 41:
                    break
                got.append((await next_event(ws)).id)
    async with stream(server, maya, after=base) as ws:
        everything = [(await next_event(ws)).id for _ in range(41)]
    assert got == everything
    assert len(set(got)) == 41 and got == sorted(got)


async def test_heartbeats_carry_the_last_id(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    async with stream(server, clients["priya"], heartbeat_s=1) as ws:
        beat = await recv(ws)
        assert isinstance(beat, Heartbeat)
        assert beat.interval_s == 1.0 and beat.last_id >= 0
        second = await recv(ws)
        assert isinstance(second, Heartbeat) and second.at > beat.at


async def test_dropped_stream_resumes(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    sam = clients["sam"]
    async with stream(server, sam) as ws:
        sam.put("/v1/presence", json={"status": "busy"})
        seen = (await next_event(ws)).id
        sam.post("/v1/test/drop-streams")
        with pytest.raises(ConnectionClosed) as closed:
            await next_event(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    sam.put("/v1/presence", json={"status": "available"})
    async with stream(server, sam, after=seen) as ws:
        missed = await next_event(ws)
        assert missed.id > seen and missed.type == "presence.changed"


async def test_bad_token_closes_with_4401(server: RunningServer) -> None:
    async with connect(f"{server.ws_url}?access_token=nope", open_timeout=TIMEOUT) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_token_in_query_works(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    token = token_of(clients["olivia"])
    async with connect(
        f"{server.ws_url}?access_token={token}&heartbeat_s=1", open_timeout=TIMEOUT
    ) as ws:
        assert isinstance(await recv(ws), Heartbeat)


async def test_resync_when_events_were_pruned(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    maya = clients["maya"]
    async with stream(server, maya) as ws:
        maya.put("/v1/presence", json={"status": "dnd"})
        last = (await next_event(ws)).id
    maya.post("/v1/test/prune-events", json={"through_id": last})
    maya.put("/v1/presence", json={"status": "available"})
    async with stream(server, maya, after=1) as ws:
        resync = await next_event(ws)
        assert resync.type == "stream.resync" and resync.id == last
        after = await next_event(ws)
        assert after.id > last and after.type == "presence.changed"


async def test_phone_mode_progress_arrives_as_call_updates(
    server: RunningServer, clients: dict[str, httpx.Client]
) -> None:
    maya = clients["maya"]
    request = {"call_id": "phone-mode-1", "account_id": "acc_twilio", "to_number": "+12125550199"}
    async with stream(server, maya) as ws:
        check(maya.post("/v1/phone-calls", json=request), 201)
        statuses = []
        while "in_progress" not in statuses:
            event = await next_of_type(ws, "call.updated")
            assert event.payload.call.id == "phone-mode-1"  # type: ignore[union-attr]
            statuses.append(event.payload.call.status.value)  # type: ignore[union-attr]
    assert statuses == ["dialing", "ringing", "in_progress"]


@pytest.mark.parametrize("query", ["after=-1", "after=x", "heartbeat_s=0", "heartbeat_s=999"])
async def test_bad_stream_parameters_close_with_4422(
    server: RunningServer, clients: dict[str, httpx.Client], query: str
) -> None:
    async with stream(server, clients["maya"], **dict([query.split("=")])) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4422
