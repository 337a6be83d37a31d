"""Session, provisioning and presence endpoints."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmclient.models import (
    ApiTokenCredentials,
    CallerId,
    CallingAccount,
    EventType,
    PasswordCredentials,
    PresenceChanged,
    PresenceStatus,
    Provisioning,
    ProvisioningChanged,
    SipSecret,
    SipSettings,
    Teammate,
    User,
)
from crmclient.server import auth
from crmclient.server.common import idempotent, json_response, me, state_of
from crmclient.server.db import now, stamp, tx
from crmclient.server.problems import Problem, invalid, not_found, parse_model, read_json
from crmclient.server.state import AUDIENCE_ALL, AUDIENCE_USER, State


async def sign_in(request: Request) -> Response:
    state = state_of(request)
    body = await read_json(request, state.config.max_json_bytes)
    creds: PasswordCredentials | ApiTokenCredentials
    if isinstance(body, dict) and "api_token" in body:
        creds = parse_model(ApiTokenCredentials, body)
    else:
        creds = parse_model(PasswordCredentials, body)
    user = auth.check_credentials(state, creds)
    return json_response(auth.open_session(state, user).to_json(), 201)


async def refresh(request: Request) -> Response:
    state = state_of(request)
    body = await read_json(request, state.config.max_json_bytes)
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise invalid("refresh_token: expected a string")
    return json_response(auth.refresh_session(state, token).to_json())


async def sign_out(request: Request) -> Response:
    state = state_of(request)
    _user, session_id = auth.authenticate(state, auth.bearer(request))
    auth.sign_out(state, session_id)
    return Response(status_code=204)


async def current_user(request: Request) -> Response:
    return json_response(me(request).to_json())


def provisioning_for(state: State, user: User) -> Provisioning:
    urow = state.db.execute(
        "SELECT default_caller_id, prov_revision FROM users WHERE id = ?", (user.id,)
    ).fetchone()
    accounts = []
    for row in state.db.execute(
        "SELECT a.*, m.sip_username, m.extension, m.agent_phone FROM account_agents m "
        "JOIN accounts a ON a.id = m.account_id WHERE m.user_id = ? ORDER BY a.id",
        (user.id,),
    ).fetchall():
        sip: dict[str, Any] = json.loads(row["sip_json"])
        sip["username"] = row["sip_username"]
        caller_ids = tuple(
            CallerId(
                id=c["id"],
                number=c["number"],
                country=c["country"],
                label=c["label"],
                is_default=c["id"] == urow["default_caller_id"],
            )
            for c in state.db.execute(
                "SELECT c.* FROM caller_ids c JOIN user_caller_ids u ON u.caller_id = c.id "
                "WHERE u.user_id = ? AND c.account_id = ? ORDER BY c.id",
                (user.id, row["id"]),
            )
        )
        accounts.append(
            CallingAccount(
                id=row["id"],
                provider=row["provider"],
                label=row["label"],
                sip=SipSettings.from_json(sip),
                supports_softphone=bool(row["supports_softphone"]),
                supports_phone_mode=bool(row["supports_phone_mode"]),
                extension=row["extension"],
                agent_phone=row["agent_phone"],
                caller_ids=caller_ids,
            )
        )
    teammates = tuple(
        Teammate(
            user_id=r["id"],
            name=r["name"],
            extension=r["extension"],
            presence=PresenceStatus(r["presence"]),
        )
        for r in state.db.execute(
            "SELECT id, name, extension, presence FROM users WHERE id != ? ORDER BY name",
            (user.id,),
        )
    )
    return Provisioning(
        user=user, accounts=tuple(accounts), teammates=teammates, revision=urow["prov_revision"]
    )


async def provisioning(request: Request) -> Response:
    return json_response(provisioning_for(state_of(request), me(request)).to_json())


async def sip_secret(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    account_id = request.path_params["account_id"]
    row = state.db.execute(
        "SELECT secret FROM account_agents WHERE account_id = ? AND user_id = ?",
        (account_id, user.id),
    ).fetchone()
    if row is None:
        raise not_found(f"account {account_id}")
    secret = SipSecret(account_id=account_id, password=row["secret"])
    return json_response(secret.to_json(), headers={"Cache-Control": "no-store"})


async def set_default_caller_id(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    target_id = request.path_params["user_id"]
    if target_id != user.id and not user.role.sees_all_calls:
        raise Problem(403, "forbidden", "only admins and owners change another user's setup")
    target = state.user(target_id)
    if target is None:
        raise not_found(f"user {target_id}")
    body = await read_json(request, state.config.max_json_bytes)
    caller_id = body.get("caller_id") if isinstance(body, dict) else None
    if not isinstance(caller_id, str):
        raise invalid("caller_id: expected a string")
    assigned = state.db.execute(
        "SELECT 1 FROM user_caller_ids WHERE user_id = ? AND caller_id = ?", (target_id, caller_id)
    ).fetchone()
    if assigned is None:
        raise invalid(f"caller-ID {caller_id} is not assigned to {target_id}", field="caller_id")
    with tx(state.db):
        state.db.execute(
            "UPDATE users SET default_caller_id = ?, prov_revision = prov_revision + 1 "
            "WHERE id = ?",
            (caller_id, target_id),
        )
        result = provisioning_for(state, target)
        state.publish(
            EventType.PROVISIONING_CHANGED,
            ProvisioningChanged(result.revision),
            AUDIENCE_USER,
            target_id,
        )
    state.notify()
    return json_response(result.to_json())


async def get_presence(request: Request) -> Response:
    state = state_of(request)
    presence = state.presence(me(request).id)
    assert presence is not None
    return json_response(presence.to_json())


async def set_presence(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    body = await read_json(request, state.config.max_json_bytes)
    raw = body.get("status") if isinstance(body, dict) else None
    try:
        status = PresenceStatus(str(raw))
    except ValueError:
        raise invalid("status: expected available, busy, dnd or offline") from None

    def write() -> tuple[int, Any]:
        state.db.execute(
            "UPDATE users SET presence = ?, presence_at = ? WHERE id = ?",
            (status.value, stamp(now()), user.id),
        )
        presence = state.presence(user.id)
        assert presence is not None
        state.publish(EventType.PRESENCE_CHANGED, PresenceChanged(presence), AUDIENCE_ALL)
        return 200, presence.to_json()

    return idempotent(request, user, body, write)
