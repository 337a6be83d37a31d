"""The websocket event stream: backlog after ``after``, then live events, heartbeats.

Each connection re-reads the event table after every wake-up, so ordering and
exactly-once come from the table's increasing ids, not from in-memory queues: a reconnect
with the last id seen continues exactly where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.websockets import WebSocket, WebSocketDisconnect

from crmclient.models import Heartbeat, ResyncRequired, StreamEvent
from crmclient.server.auth import authenticate, bearer
from crmclient.server.db import now, unstamp
from crmclient.server.problems import Problem
from crmclient.server.state import State

BATCH = 500
CLOSE_AUTH = 4401
CLOSE_BAD_REQUEST = 4422


def _frame(row_id: int, at: str, type_: str, data: str) -> str:
    return (
        f'{{"id": {row_id}, "type": {json.dumps(type_)}, "at": {json.dumps(at)}, "data": {data}}}'
    )


async def events(ws: WebSocket) -> None:
    state: State = ws.app.state.crm
    token = bearer(ws) or ws.query_params.get("access_token")
    # "From now on" means from before the handshake completes: a client that writes right
    # after connecting must see the events its writes cause.
    now_id = state.last_event_id()
    await ws.accept()
    try:
        user, _sid = authenticate(state, token)
    except Problem as exc:
        await ws.close(code=CLOSE_AUTH, reason=exc.code)
        return
    try:
        raw_after = ws.query_params.get("after")
        after = int(raw_after) if raw_after is not None else None
        interval = float(ws.query_params.get("heartbeat_s", state.config.heartbeat_s))
        if (after is not None and after < 0) or not 1 <= interval <= 60:
            raise ValueError
    except ValueError:
        await ws.close(code=CLOSE_BAD_REQUEST, reason="bad after or heartbeat_s")
        return
    last = now_id if after is None else after
    wake = asyncio.Event()
    state.add_waiter(wake)
    generation = state.drop_generation
    receiver = asyncio.ensure_future(ws.receive())
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    try:
        pruned = state.pruned_through()
        if after is not None and after < pruned:
            resync = StreamEvent(pruned, now(), ResyncRequired(pruned + 1))
            await ws.send_text(json.dumps(resync.to_json()))
            last = pruned
        while not state.closed and generation == state.drop_generation:
            wake.clear()
            rows = state.events_for(user, last, BATCH)
            for row in rows:
                await ws.send_text(_frame(row["id"], row["at"], row["type"], row["data"]))
                last = row["id"]
            if rows:
                last_sent = loop.time()
                if len(rows) == BATCH:
                    continue
            timeout = max(0.0, last_sent + interval - loop.time())
            waiter = asyncio.ensure_future(wake.wait())
            done, _ = await asyncio.wait(
                {waiter, receiver}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            if receiver in done:
                message = receiver.result()
                if message["type"] == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(ws.receive())
                continue
            if not done:
                try:
                    authenticate(state, token)
                except Problem as exc:
                    await ws.close(code=CLOSE_AUTH, reason=exc.code)
                    return
                beat = Heartbeat(now(), last, interval)
                await ws.send_text(json.dumps(beat.to_json()))
                last_sent = loop.time()
        with contextlib.suppress(Exception):
            await ws.close(code=1012, reason="stream dropped; reconnect")
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        state.remove_waiter(wake)
        receiver.cancel()


__all__ = ["events", "unstamp"]
