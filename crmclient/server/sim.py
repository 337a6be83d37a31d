"""Stand-ins for the provider and the guest (only with ``simulate``): what a real CRM
learns from provider webhooks and WhatsApp, the demo and tests trigger here."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmclient.models import (
    CallDirection,
    CallMode,
    CallRecord,
    CallRinging,
    CallStatus,
    ContactUpdated,
    EventType,
    PermissionState,
    is_e164,
)
from crmclient.server.common import json_response, state_of
from crmclient.server.db import now, stamp, tx
from crmclient.server.problems import invalid, not_found, read_json
from crmclient.server.routes_calls import announce_call, save_call
from crmclient.server.routes_chats import current_permission, lookup, set_permission
from crmclient.server.state import AUDIENCE_ALL, AUDIENCE_USER, chat_from_row


async def incoming_call(request: Request) -> Response:
    state = state_of(request)
    body = await read_json(request, state.config.max_json_bytes)
    if not isinstance(body, dict) or not is_e164(str(body.get("from_number", ""))):
        raise invalid("from_number: expected E.164", field="from_number")
    agent_ids = body.get("agent_ids")
    if agent_ids is None:
        agent_ids = [
            r[0] for r in state.db.execute("SELECT id FROM users WHERE extension IS NOT NULL")
        ]
    if not isinstance(agent_ids, list) or not agent_ids:
        raise invalid("agent_ids: expected a non-empty array", field="agent_ids")
    for agent_id in agent_ids:
        if not isinstance(agent_id, str) or state.user(agent_id) is None:
            raise invalid(f"user {agent_id} not found", field="agent_ids")
    try:
        mode = CallMode(str(body.get("mode", "softphone")))
    except ValueError:
        raise invalid("mode: softphone or phone", field="mode") from None
    number = body["from_number"]
    found = lookup(state, number)
    contact = found.contact
    chat = None
    if contact is not None:
        row = state.db.execute(
            "SELECT * FROM chats WHERE contact_id = ? AND status != 'closed' "
            "ORDER BY (channel IN ('whatsapp','phone')) DESC, last_message_at DESC LIMIT 1",
            (contact.id,),
        ).fetchone()
        chat = chat_from_row(row) if row else None
    at = now()
    call = CallRecord(
        id="sim_" + uuid.uuid4().hex[:16],
        direction=CallDirection.INBOUND,
        status=CallStatus.RINGING,
        mode=mode,
        agent_id=agent_ids[0],
        remote_number=number,
        created_at=at,
        started_at=at,
        updated_at=at,
        local_number=body.get("to_number"),
        contact_id=contact.id if contact else None,
        chat_id=chat.id if chat else None,
        guest_name=contact.name if contact else None,
        external_id=body.get("external_id"),
    )
    with tx(state.db):
        save_call(state, call, insert=True)
        for agent_id in agent_ids:
            state.db.execute(
                "INSERT OR IGNORE INTO call_targets(call_id, user_id) VALUES (?,?)",
                (call.id, agent_id),
            )
            state.publish(
                EventType.CALL_RINGING,
                CallRinging(call, contact, chat, found.maybe),
                AUDIENCE_USER,
                agent_id,
            )
        announce_call(state, call)
    state.notify()
    return json_response(call.to_json(), 201)


async def permission_answer(request: Request) -> Response:
    state = state_of(request)
    chat_id = request.path_params["chat_id"]
    current_permission(state, chat_id)
    body = await read_json(request, state.config.max_json_bytes)
    try:
        new = PermissionState(str(body.get("state")) if isinstance(body, dict) else "")
    except ValueError:
        raise invalid("state: not a permission state", field="state") from None
    with tx(state.db):
        permission = set_permission(state, chat_id, new)
    state.notify()
    return json_response(permission.to_json())


async def edit_contact(request: Request) -> Response:
    state = state_of(request)
    contact_id = request.path_params["contact_id"]
    if state.contact(contact_id) is None:
        raise not_found("contact")
    body = await read_json(request, state.config.max_json_bytes)
    if not isinstance(body, dict):
        raise invalid("expected an object")
    sets: dict[str, Any] = {}
    if isinstance(body.get("name"), str) and body["name"].strip():
        sets["name"] = body["name"].strip()
    if "company" in body:
        sets["company"] = body["company"]
    if isinstance(body.get("emails"), list):
        sets["emails_json"] = json.dumps([str(e) for e in body["emails"]])
    with tx(state.db):
        for column, value in sets.items():
            state.db.execute(f"UPDATE contacts SET {column} = ? WHERE id = ?", (value, contact_id))
        state.db.execute(
            "UPDATE contacts SET updated_at = ? WHERE id = ?", (stamp(now()), contact_id)
        )
        contact = state.contact(contact_id)
        assert contact is not None
        state.publish(EventType.CONTACT_UPDATED, ContactUpdated(contact), AUDIENCE_ALL)
    state.notify()
    return json_response(contact.to_json())


__all__ = ["AUDIENCE_USER", "edit_contact", "incoming_call", "permission_answer"]
