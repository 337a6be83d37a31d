"""Contacts, chats, call-event cards, WhatsApp calling permission and dial requests."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmclient.models import (
    CallCard,
    CallPermission,
    CardCreate,
    CardPosted,
    ContactCreate,
    ContactLookup,
    ContactMatch,
    DialRequest,
    DialRequested,
    EventType,
    MatchKind,
    MatchSource,
    PermissionChanged,
    PermissionState,
    User,
    is_e164,
)
from crmclient.server.common import idempotent, json_response, me, state_of
from crmclient.server.db import now, stamp, tx
from crmclient.server.problems import Problem, invalid, not_found, parse_model, read_json
from crmclient.server.state import (
    AUDIENCE_ALL,
    AUDIENCE_USER,
    State,
    card_from_row,
    chat_from_row,
)


def lookup(state: State, number: str) -> ContactLookup:
    confirmed = []
    seen: set[str] = set()
    for row in state.db.execute(
        "SELECT c.* FROM contact_phones p JOIN contacts c ON c.id = p.contact_id "
        "WHERE p.number = ? ORDER BY c.name",
        (number,),
    ).fetchall():
        seen.add(row["id"])
        confirmed.append(
            ContactMatch(
                state.contact_from_row(row), MatchKind.CONFIRMED, MatchSource.CONTACT_PHONE, number
            )
        )
    maybe = []
    for row in state.db.execute(
        "SELECT c.*, m.source, m.excerpt FROM maybe_numbers m "
        "JOIN contacts c ON c.id = m.contact_id WHERE m.number = ? ORDER BY c.name, m.source",
        (number,),
    ).fetchall():
        if row["id"] in seen:
            continue
        maybe.append(
            ContactMatch(
                state.contact_from_row(row),
                MatchKind.MAYBE,
                MatchSource(row["source"]),
                number,
                row["excerpt"],
            )
        )
    return ContactLookup(number, tuple(confirmed), tuple(maybe))


async def lookup_number(request: Request) -> Response:
    state = state_of(request)
    me(request)
    number = request.query_params.get("number", "")
    if not is_e164(number):
        raise invalid("number: expected E.164 like +15551234567", field="number")
    return json_response(lookup(state, number).to_json())


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _limit(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid(f"limit: expected 1-{maximum}", field="limit")
    return int(raw)


async def search_contacts(request: Request) -> Response:
    state = state_of(request)
    me(request)
    text = request.query_params.get("q", "").strip()
    if not text:
        raise invalid("q: give some text to search for", field="q")
    limit = _limit(request, 20, 100)
    digits = "".join(ch for ch in text if ch.isdigit())
    rows = state.db.execute(
        "SELECT DISTINCT c.* FROM contacts c LEFT JOIN contact_phones p ON p.contact_id = c.id "
        "WHERE c.name LIKE :t ESCAPE '\\' OR c.company LIKE :t ESCAPE '\\' "
        "OR c.emails_json LIKE :t ESCAPE '\\' OR (:d != '' AND p.number LIKE :dl) "
        "ORDER BY c.name LIMIT :n",
        {"t": _like(text), "d": digits, "dl": _like(digits), "n": limit},
    ).fetchall()
    return json_response({"items": [state.contact_from_row(r).to_json() for r in rows]})


async def create_contact(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    body = await read_json(request, state.config.max_json_bytes)
    new = parse_model(ContactCreate, body)

    def write() -> tuple[int, Any]:
        existing = state.db.execute(
            "SELECT contact_id FROM contact_phones WHERE number = ?", (new.phone,)
        ).fetchone()
        if existing is not None:
            raise Problem(
                409,
                "contact_exists",
                f"a contact already has {new.phone}",
                {"contact_id": existing[0]},
            )
        contact_id = "ct_" + uuid.uuid4().hex[:12]
        stamp_now = stamp(now())
        state.db.execute(
            "INSERT INTO contacts(id, name, company, emails_json, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?)",
            (
                contact_id,
                (new.name or "").strip() or new.phone,
                None,
                json.dumps([] if new.email is None else [new.email]),
                stamp_now,
                stamp_now,
            ),
        )
        state.db.execute(
            "INSERT INTO contact_phones(number, contact_id) VALUES (?,?)", (new.phone, contact_id)
        )
        contact = state.contact(contact_id)
        assert contact is not None
        return 201, contact.to_json()

    return idempotent(request, user, body, write)


async def get_contact(request: Request) -> Response:
    state = state_of(request)
    me(request)
    contact = state.contact(request.path_params["contact_id"])
    if contact is None:
        raise not_found("contact")
    return json_response(contact.to_json())


async def contact_chats(request: Request) -> Response:
    state = state_of(request)
    me(request)
    contact_id = request.path_params["contact_id"]
    if state.contact(contact_id) is None:
        raise not_found("contact")
    rows = state.db.execute(
        "SELECT * FROM chats WHERE contact_id = ? AND status IN ('open', 'pending') "
        "ORDER BY last_message_at DESC",
        (contact_id,),
    ).fetchall()
    return json_response({"items": [chat_from_row(r).to_json() for r in rows]})


async def get_chat(request: Request) -> Response:
    state = state_of(request)
    me(request)
    chat = state.chat(request.path_params["chat_id"])
    if chat is None:
        raise not_found("chat")
    return json_response(chat.to_json())


def check_card(state: State, user: User, card: CardCreate) -> None:
    if state.chat(card.chat_id) is None:
        raise invalid(f"chat {card.chat_id} not found", field="chat_id")
    call = state.call(card.call_id)
    if call is None or not state.can_see_call(user, call):
        raise invalid(f"call {card.call_id} not found", field="call_id")


def insert_card(state: State, user: User, card: CardCreate) -> tuple[int, CallCard]:
    """Post or replay a card; the caller holds the transaction (and notifies after it)."""
    row = state.db.execute("SELECT * FROM cards WHERE id = ?", (card.id,)).fetchone()
    if row is not None:
        existing = card_from_row(row)
        if (existing.chat_id, existing.call_id, existing.kind) != (
            card.chat_id,
            card.call_id,
            card.kind,
        ):
            raise Problem(409, "id_conflict", f"card {card.id} is a different card")
        return 200, existing
    state.db.execute(
        "INSERT INTO cards(id, chat_id, call_id, kind, direction, status, duration_s, "
        "agent_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            card.id,
            card.chat_id,
            card.call_id,
            card.kind.value,
            card.direction.value,
            card.status.value,
            card.duration_s,
            user.id,
            stamp(now()),
        ),
    )
    row = state.db.execute("SELECT * FROM cards WHERE id = ?", (card.id,)).fetchone()
    posted = card_from_row(row)
    state.publish(EventType.CARD_POSTED, CardPosted(posted), AUDIENCE_ALL)
    return 201, posted


async def post_card(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    body = await read_json(request, state.config.max_json_bytes)
    card = parse_model(CardCreate, body)
    check_card(state, user, card)
    with tx(state.db):
        status, posted = insert_card(state, user, card)
    state.notify()
    return json_response(posted.to_json(), status)


async def list_cards(request: Request) -> Response:
    state = state_of(request)
    me(request)
    chat_id = request.path_params["chat_id"]
    if state.chat(chat_id) is None:
        raise not_found("chat")
    rows = state.db.execute(
        "SELECT * FROM cards WHERE chat_id = ? ORDER BY created_at, id", (chat_id,)
    ).fetchall()
    return json_response({"items": [card_from_row(r).to_json() for r in rows]})


def current_permission(state: State, chat_id: str) -> CallPermission:
    chat = state.chat(chat_id)
    if chat is None:
        raise not_found("chat")
    if not chat.voice_capable:
        raise Problem(422, "not_voice_capable", f"a {chat.channel.value} chat cannot carry calls")
    if chat.channel.value != "whatsapp":
        return CallPermission(chat_id, PermissionState.ALWAYS_ALLOWED, chat.last_message_at)
    found = state.permission(chat_id)
    if found is None:
        return CallPermission(chat_id, PermissionState.NOT_REQUESTED, chat.last_message_at)
    return found


def set_permission(state: State, chat_id: str, new: PermissionState) -> CallPermission:
    """Store a new state and announce it (caller holds the transaction)."""
    state.db.execute(
        "INSERT INTO permissions(chat_id, state, updated_at) VALUES (?,?,?) "
        "ON CONFLICT(chat_id) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at",
        (chat_id, new.value, stamp(now())),
    )
    permission = state.permission(chat_id)
    assert permission is not None
    state.publish(EventType.PERMISSION_CHANGED, PermissionChanged(permission), AUDIENCE_ALL)
    return permission


async def get_permission(request: Request) -> Response:
    state = state_of(request)
    me(request)
    return json_response(current_permission(state, request.path_params["chat_id"]).to_json())


async def request_permission(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    chat_id = request.path_params["chat_id"]
    current_permission(state, chat_id)

    def write() -> tuple[int, Any]:
        permission = current_permission(state, chat_id)
        if permission.state is not PermissionState.ALWAYS_ALLOWED:
            permission = set_permission(state, chat_id, PermissionState.PENDING)
        return 200, permission.to_json()

    return idempotent(request, user, None, write)


async def request_dial(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    body = await read_json(request, state.config.max_json_bytes)
    if not isinstance(body, dict) or not isinstance(body.get("chat_id"), str):
        raise invalid("chat_id: expected a string", field="chat_id")
    chat = state.chat(body["chat_id"])
    if chat is None:
        raise invalid(f"chat {body['chat_id']} not found", field="chat_id")
    agent_id = body.get("agent_id") or user.id
    if agent_id != user.id and not user.role.sees_all_calls:
        raise Problem(403, "forbidden", "only admins and owners address another agent")
    if state.user(agent_id) is None:
        raise invalid(f"user {agent_id} not found", field="agent_id")
    number = body.get("number")
    if number is None:
        contact = state.contact(chat.contact_id)
        number = contact.phones[0] if contact and contact.phones else None
    if number is not None and (not isinstance(number, str) or not is_e164(number)):
        raise invalid("number: expected E.164", field="number")

    def write() -> tuple[int, Any]:
        dial = DialRequest(
            id="dr_" + uuid.uuid4().hex[:12],
            chat_id=chat.id,
            requested_by=user.id,
            requested_at=now(),
            number=number,
            contact_id=chat.contact_id,
        )
        state.db.execute(
            "INSERT INTO dial_requests(id, chat_id, number, contact_id, requested_by, agent_id, "
            "requested_at) VALUES (?,?,?,?,?,?,?)",
            (dial.id, chat.id, number, chat.contact_id, user.id, agent_id, stamp(now())),
        )
        state.publish(EventType.DIAL_REQUESTED, DialRequested(dial), AUDIENCE_USER, agent_id)
        return 201, dial.to_json()

    return idempotent(request, user, body, write)
