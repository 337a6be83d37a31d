"""Fault injection for tests (only with ``test_hooks``): make the next requests to a path
fail in a chosen way, drop every event stream, or forget old events."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from crmclient.server.common import json_response, state_of
from crmclient.server.db import tx
from crmclient.server.problems import error_response, invalid, read_json
from crmclient.server.state import State

MODES = frozenset({"status", "bad_json", "wrong_types", "huge", "slow"})


async def add_fault(request: Request) -> Response:
    """``{"path": "/v1/calls", "method": "POST", "mode": "status", "status": 503,
    "count": 2, "delay_s": 1.0, "size": 10000000}``"""
    state = state_of(request)
    body = await read_json(request, state.config.max_json_bytes)
    if not isinstance(body, dict) or body.get("mode") not in MODES:
        raise invalid(f"mode: one of {', '.join(sorted(MODES))}")
    fault = {
        "path": str(body.get("path", "/")),
        "method": body.get("method"),
        "mode": body["mode"],
        "status": int(body.get("status", 503)),
        "count": int(body.get("count", 1)),
        "delay_s": float(body.get("delay_s", 0.0)),
        "size": int(body.get("size", 8 << 20)),
    }
    state.faults.append(fault)
    return json_response(fault, 201)


async def clear_faults(request: Request) -> Response:
    state_of(request).faults.clear()
    return Response(status_code=204)


async def drop_streams(request: Request) -> Response:
    state_of(request).drop_streams()
    return Response(status_code=204)


async def prune_events(request: Request) -> Response:
    state = state_of(request)
    body = await read_json(request, state.config.max_json_bytes)
    through = body.get("through_id") if isinstance(body, dict) else None
    if not isinstance(through, int):
        raise invalid("through_id: expected an integer")
    with tx(state.db):
        state.prune_events(through)
    return Response(status_code=204)


class FaultMiddleware:
    """Applies the first matching fault to an HTTP request, then counts it down."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def _take(self, state: State, scope: Scope) -> dict[str, Any] | None:
        path = scope["path"]
        if path.startswith("/v1/test/"):
            return None
        for fault in state.faults:
            if path.startswith(fault["path"]) and fault["method"] in (None, scope["method"]):
                fault["count"] -= 1
                if fault["count"] <= 0:
                    state.faults.remove(fault)
                return fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(scope.get("app"), "state", None)
        crm = getattr(state, "crm", None) if state is not None else None
        if scope["type"] != "http" or not isinstance(crm, State) or not crm.faults:
            await self.app(scope, receive, send)
            return
        fault = self._take(crm, scope)
        if fault is None:
            await self.app(scope, receive, send)
            return
        mode = fault["mode"]
        if fault["delay_s"] or mode == "slow":
            await asyncio.sleep(fault["delay_s"])
        response: Response
        if mode == "slow":
            await self.app(scope, receive, send)
            return
        if mode == "status":
            response = error_response(fault["status"], "injected", "injected failure")
        elif mode == "bad_json":
            response = Response(b'{"id": "x", "trunc', media_type="application/json")
        elif mode == "wrong_types":
            response = json_response({"id": 42, "status": ["nope"], "items": "x", "total": "?"})
        else:
            response = Response(b" " * fault["size"], media_type="application/json")
        await response(scope, receive, send)
