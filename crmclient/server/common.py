"""Helpers every route uses: the state, the signed-in user, idempotent writes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crmclient.models import User
from crmclient.server.auth import authenticate, bearer
from crmclient.server.db import now, stamp, tx
from crmclient.server.problems import Problem
from crmclient.server.state import State


def state_of(request: Request) -> State:
    state = request.app.state.crm
    assert isinstance(state, State)
    return state


def me(request: Request) -> User:
    user, _sid = authenticate(state_of(request), bearer(request))
    return user


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=headers)


def idempotent(
    request: Request,
    user: User,
    body: Any,
    write: Callable[[], tuple[int, Any]],
) -> Response:
    """Run ``write`` (inside one transaction) once per ``Idempotency-Key``: a repeat with
    the same key and body gets the stored answer; with another body, 422."""
    state = state_of(request)
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 200:
        raise Problem(422, "validation_error", "Idempotency-Key must be 1-200 characters")
    with tx(state.db):
        status, data = keyed_write(
            state,
            user,
            key=key,
            target=f"{request.method} {request.url.path}",
            body=body,
            write=write,
        )
    state.notify()
    return json_response(data, status)


def keyed_write(
    state: State,
    user: User,
    *,
    key: str | None,
    target: str,
    body: Any,
    write: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """``write`` once per key, inside the caller's transaction: a repeat with the same key
    and body gets the stored answer; with another body, 422. ``target`` ("PATCH /v1/...")
    is part of the fingerprint, so a key means the same whether the write came alone or
    in a batch."""
    fingerprint = hashlib.sha256(
        f"{target}\n{json.dumps(body, sort_keys=True)}".encode()
    ).hexdigest()
    if key is not None:
        row = state.db.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE user_id=? AND key=?",
            (user.id, key),
        ).fetchone()
        if row is not None:
            if row["fingerprint"] != fingerprint:
                raise Problem(
                    422,
                    "idempotency_mismatch",
                    "this Idempotency-Key was used for a different request",
                )
            return int(row["status"]), json.loads(row["body"])
    status, data = write()
    if key is not None:
        state.db.execute(
            "INSERT INTO idempotency(user_id, key, fingerprint, status, body, created_at) "
            "VALUES (?,?,?,?,?,?)",
            (user.id, key, fingerprint, status, json.dumps(data), stamp(now())),
        )
    return status, data
