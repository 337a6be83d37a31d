"""The Starlette application: every route of docs/crm-api.md in one table."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route, WebSocketRoute

from crmclient.server import (
    hooks,
    routes_batch,
    routes_calls,
    routes_chats,
    routes_session,
    sim,
    stream,
)
from crmclient.server.config import ServerConfig
from crmclient.server.db import now, tx
from crmclient.server.problems import Problem, on_crash, on_http_exception, on_problem
from crmclient.server.seed import seed
from crmclient.server.state import State


def _routes(config: ServerConfig) -> list[BaseRoute]:
    s, c, k = routes_session, routes_chats, routes_calls
    routes: list[BaseRoute] = [
        Route("/v1/session", s.sign_in, methods=["POST"]),
        Route("/v1/session", s.sign_out, methods=["DELETE"]),
        Route("/v1/session/refresh", s.refresh, methods=["POST"]),
        Route("/v1/me", s.current_user, methods=["GET"]),
        Route("/v1/provisioning", s.provisioning, methods=["GET"]),
        Route("/v1/provisioning/accounts/{account_id}/secret", s.sip_secret, methods=["GET"]),
        Route("/v1/users/{user_id}/default-caller-id", s.set_default_caller_id, methods=["PUT"]),
        Route("/v1/presence", s.get_presence, methods=["GET"]),
        Route("/v1/presence", s.set_presence, methods=["PUT"]),
        Route("/v1/contacts", c.search_contacts, methods=["GET"]),
        Route("/v1/contacts", c.create_contact, methods=["POST"]),
        Route("/v1/contacts/lookup", c.lookup_number, methods=["GET"]),
        Route("/v1/contacts/{contact_id}", c.get_contact, methods=["GET"]),
        Route("/v1/contacts/{contact_id}/chats", c.contact_chats, methods=["GET"]),
        Route("/v1/chats/{chat_id}", c.get_chat, methods=["GET"]),
        Route("/v1/chats/{chat_id}/cards", c.list_cards, methods=["GET"]),
        Route("/v1/chats/{chat_id}/call-permission", c.get_permission, methods=["GET"]),
        Route(
            "/v1/chats/{chat_id}/call-permission/request", c.request_permission, methods=["POST"]
        ),
        Route("/v1/cards", c.post_card, methods=["POST"]),
        Route("/v1/dial-requests", c.request_dial, methods=["POST"]),
        Route("/v1/calls", k.list_calls, methods=["GET"]),
        Route("/v1/calls", k.create_call, methods=["POST"]),
        Route("/v1/calls/export.csv", k.export_csv, methods=["GET"]),
        Route("/v1/calls/{call_id}", k.get_call, methods=["GET"]),
        Route("/v1/calls/{call_id}", k.update_call, methods=["PATCH"]),
        Route("/v1/calls/{call_id}/recording", k.get_recording, methods=["GET"]),
        Route("/v1/calls/{call_id}/recording", k.upload_recording, methods=["PUT"]),
        Route("/v1/calls/{call_id}/recording/info", k.recording_info, methods=["GET"]),
        Route("/v1/calls/{call_id}/transcript", k.get_transcript, methods=["GET"]),
        Route("/v1/calls/{call_id}/transcript", k.put_transcript, methods=["PUT"]),
        Route("/v1/phone-calls", k.start_phone_call, methods=["POST"]),
        Route("/v1/batch", routes_batch.write_batch, methods=["POST"]),
        WebSocketRoute("/v1/events", stream.events),
    ]
    if config.simulate:
        routes += [
            Route("/v1/sim/incoming-calls", sim.incoming_call, methods=["POST"]),
            Route(
                "/v1/sim/chats/{chat_id}/call-permission", sim.permission_answer, methods=["POST"]
            ),
            Route("/v1/sim/contacts/{contact_id}", sim.edit_contact, methods=["PATCH"]),
        ]
    if config.test_hooks:
        routes += [
            Route("/v1/test/faults", hooks.add_fault, methods=["POST"]),
            Route("/v1/test/faults", hooks.clear_faults, methods=["DELETE"]),
            Route("/v1/test/drop-streams", hooks.drop_streams, methods=["POST"]),
            Route("/v1/test/prune-events", hooks.prune_events, methods=["POST"]),
        ]
    return routes


def create_app(config: ServerConfig) -> Starlette:
    """A server over ``config.db_path``; the database opens (and is seeded) at startup."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = State(config)
        if config.seed:
            seed(state.db)
        cutoff = now() - timedelta(days=config.event_retention_days)
        old = state.db.execute(
            "SELECT MAX(id) FROM events WHERE at < ?", (cutoff.strftime("%Y-%m-%dT%H:%M:%S"),)
        ).fetchone()[0]
        if old:
            with tx(state.db):
                state.prune_events(int(old))
        app.state.crm = state
        try:
            yield
        finally:
            state.closed = True
            state.notify()
            for task in list(state.tasks):
                task.cancel()
            state.db.close()

    middleware = [Middleware(hooks.FaultMiddleware)] if config.test_hooks else []
    return Starlette(
        routes=_routes(config),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            Problem: on_problem,
            HTTPException: on_http_exception,
            Exception: on_crash,
        },
    )
