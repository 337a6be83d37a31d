"""Calls: create (idempotent on the client's id), update, list, export, recordings,
transcripts, and phone mode."""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import dataclasses
import hashlib
import io
import json
import os
import uuid
import wave
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from crmclient.csvexport import CSV_COLUMNS, csv_cell
from crmclient.models import (
    CALL_PAGE_SIZE,
    TERMINAL_STATUSES,
    CallAnsweredElsewhere,
    CallCreate,
    CallDirection,
    CallFilter,
    CallMode,
    CallRecord,
    CallStatus,
    CallUpdate,
    CallUpdated,
    EventType,
    PermissionState,
    PhoneCallRequest,
    RecordingInfo,
    Transcript,
    TranscriptSegment,
    User,
    can_transition,
    format_time,
    parse_time,
)
from crmclient.server.common import idempotent, json_response, me, state_of
from crmclient.server.db import now, stamp, tx, unstamp
from crmclient.server.problems import Problem, invalid, not_found, parse_model, read_json
from crmclient.server.routes_chats import current_permission, set_permission
from crmclient.server.state import AUDIENCE_USER, AUDIENCE_USER_STAFF, State, call_from_row

_COLUMNS = [f.name for f in dataclasses.fields(CallRecord)]


def _db_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return stamp(value)
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def save_call(state: State, call: CallRecord, *, insert: bool) -> None:
    values = [_db_value(getattr(call, c)) for c in _COLUMNS]
    if insert:
        marks = ",".join("?" * len(_COLUMNS))
        state.db.execute(f"INSERT INTO calls({','.join(_COLUMNS)}) VALUES ({marks})", values)
    else:
        sets = ",".join(f"{c} = ?" for c in _COLUMNS[1:])
        state.db.execute(f"UPDATE calls SET {sets} WHERE id = ?", [*values[1:], call.id])


def announce_call(state: State, call: CallRecord) -> None:
    state.publish(EventType.CALL_UPDATED, CallUpdated(call), AUDIENCE_USER_STAFF, call.agent_id)


def visible_call(state: State, user: User, call_id: str) -> CallRecord:
    call = state.call(call_id)
    if call is None or not state.can_see_call(user, call):
        raise not_found(f"call {call_id}")
    return call


def _check_refs(state: State, contact_id: str | None, chat_id: str | None) -> None:
    if contact_id is not None and state.contact(contact_id) is None:
        raise invalid(f"contact {contact_id} not found", field="contact_id")
    if chat_id is not None and state.chat(chat_id) is None:
        raise invalid(f"chat {chat_id} not found", field="chat_id")


def _guest(state: State, contact_id: str | None, number: str) -> tuple[str | None, str | None]:
    """The contact to link and the guest name: the given contact, else the one confirmed
    contact with this number, if exactly one."""
    if contact_id is None:
        rows = state.db.execute(
            "SELECT contact_id FROM contact_phones WHERE number = ?", (number,)
        ).fetchall()
        if len(rows) == 1:
            contact_id = rows[0][0]
    contact = state.contact(contact_id) if contact_id else None
    return contact_id, (contact.name if contact else None)


def insert_new_call(state: State, user: User, new: CallCreate) -> tuple[int, CallRecord]:
    """Create or replay; the caller holds the transaction."""
    agent_id = new.agent_id or user.id
    existing = state.call(new.id)
    if existing is not None:
        same = (existing.direction, existing.remote_number) == (
            new.direction,
            new.remote_number,
        )
        if not same or not state.can_see_call(user, existing):
            raise Problem(409, "id_conflict", f"call id {new.id} belongs to another call")
        return 200, existing
    contact_id, guest_name = _guest(state, new.contact_id, new.remote_number)
    stamp_now = now()
    call = CallRecord(
        id=new.id,
        direction=new.direction,
        status=new.status,
        mode=new.mode,
        agent_id=agent_id,
        remote_number=new.remote_number,
        created_at=stamp_now,
        started_at=new.started_at,
        updated_at=stamp_now,
        account_id=new.account_id,
        local_number=new.local_number,
        contact_id=contact_id,
        chat_id=new.chat_id,
        guest_name=new.guest_name or guest_name,
        external_id=new.external_id,
    )
    save_call(state, call, insert=True)
    announce_call(state, call)
    return 201, call


def _validate_create(state: State, user: User, new: CallCreate) -> None:
    agent_id = new.agent_id or user.id
    if agent_id != user.id and not user.role.sees_all_calls:
        raise Problem(403, "forbidden", "only admins and owners log calls for someone else")
    if state.user(agent_id) is None:
        raise invalid(f"user {agent_id} not found", field="agent_id")
    if (
        new.account_id is not None
        and state.db.execute("SELECT 1 FROM accounts WHERE id = ?", (new.account_id,)).fetchone()
        is None
    ):
        raise invalid(f"account {new.account_id} not found", field="account_id")
    _check_refs(state, new.contact_id, new.chat_id)


async def create_call(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    new = parse_model(CallCreate, await read_json(request, state.config.max_json_bytes))
    _validate_create(state, user, new)
    with tx(state.db):
        status, call = insert_new_call(state, user, new)
    state.notify()
    return json_response(call.to_json(), status)


def apply_update(state: State, user: User, call: CallRecord, update: CallUpdate) -> CallRecord:
    """The server's rules for an update; the caller holds the transaction."""
    if update.status is not None and not can_transition(call.status, update.status):
        raise Problem(
            409,
            "invalid_transition",
            f"a call cannot go from {call.status.value} to {update.status.value}",
            {"from": call.status.value, "to": update.status.value},
        )
    if update.answered_by is not None and state.user(update.answered_by) is None:
        raise invalid(f"user {update.answered_by} not found", field="answered_by")
    _check_refs(state, update.contact_id, update.chat_id)
    changes: dict[str, Any] = {
        k: getattr(update, k)
        for k in (
            "status",
            "answered_at",
            "ended_at",
            "duration_s",
            "answered_by",
            "hangup_cause",
            "sip_code",
            "outcome",
            "notes",
            "contact_id",
            "chat_id",
        )
        if getattr(update, k) is not None
    }
    for name in update.clear:
        changes[name] = None
    new_status = update.status or call.status
    answered_states = (CallStatus.IN_PROGRESS, CallStatus.ON_HOLD)
    answered_now = new_status in answered_states and call.status not in answered_states
    if answered_now:
        changes.setdefault("answered_at", call.answered_at or now())
        answerer = changes.get("answered_by") or call.answered_by or user.id
        changes["answered_by"] = answerer
        if answerer in state.call_targets(call.id):
            changes["agent_id"] = answerer
    if new_status in TERMINAL_STATUSES and call.status not in TERMINAL_STATUSES:
        ended = changes.setdefault("ended_at", call.ended_at or now())
        answered = changes.get("answered_at", call.answered_at)
        if "duration_s" not in changes and call.duration_s is None:
            changes["duration_s"] = (
                max(0, int((ended - answered).total_seconds())) if answered else 0
            )
    if "contact_id" in changes:
        changes["guest_name"] = None
        if changes["contact_id"] is not None:
            contact = state.contact(changes["contact_id"])
            changes["guest_name"] = contact.name if contact else None
    updated = dataclasses.replace(call, **changes)
    if updated == call:
        return call
    updated = dataclasses.replace(updated, updated_at=now())
    save_call(state, updated, insert=False)
    announce_call(state, updated)
    if answered_now:
        for other in state.call_targets(call.id) - {updated.answered_by}:
            answerer_user = state.user(updated.answered_by or "")
            state.publish(
                EventType.CALL_ANSWERED_ELSEWHERE,
                CallAnsweredElsewhere(
                    call.id,
                    updated.answered_by or "",
                    answerer_user.name if answerer_user else None,
                ),
                AUDIENCE_USER,
                other,
            )
    if (
        updated.status in TERMINAL_STATUSES
        and call.status not in TERMINAL_STATUSES
        and updated.chat_id
        and updated.direction is CallDirection.OUTBOUND
    ):
        _consume_permission(state, updated.chat_id)
    return updated


def _consume_permission(state: State, chat_id: str) -> None:
    try:
        permission = current_permission(state, chat_id)
    except Problem:
        return
    if permission.state is PermissionState.ALLOWED_ONCE:
        set_permission(state, chat_id, PermissionState.NOT_REQUESTED)


async def update_call(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    body = await read_json(request, state.config.max_json_bytes)
    update = parse_model(CallUpdate, body)
    call_id = request.path_params["call_id"]
    visible_call(state, user, call_id)

    def write() -> tuple[int, Any]:
        call = visible_call(state, user, call_id)
        return 200, apply_update(state, user, call, update).to_json()

    return idempotent(request, user, body, write)


async def get_call(request: Request) -> Response:
    state = state_of(request)
    return json_response(visible_call(state, me(request), request.path_params["call_id"]).to_json())


def _filter_sql(user: User, flt: CallFilter) -> tuple[str, dict[str, Any]]:
    where = ["1=1"]
    args: dict[str, Any] = {"me": user.id}
    if not user.role.sees_all_calls:
        if flt.agent_id is not None and flt.agent_id != user.id:
            raise Problem(403, "forbidden", "users see only their own calls")
        where.append(
            "(c.agent_id = :me OR EXISTS (SELECT 1 FROM call_targets t "
            "WHERE t.call_id = c.id AND t.user_id = :me))"
        )
    if flt.agent_id is not None:
        where.append("c.agent_id = :agent")
        args["agent"] = flt.agent_id
    if flt.direction is not None:
        where.append("c.direction = :direction")
        args["direction"] = flt.direction.value
    if flt.statuses:
        names = []
        for i, status in enumerate(flt.statuses):
            args[f"s{i}"] = status.value
            names.append(f":s{i}")
        where.append(f"c.status IN ({','.join(names)})")
    if flt.live is not None:
        live = "('dialing','ringing','in_progress','on_hold')"
        where.append(f"c.status {'IN' if flt.live else 'NOT IN'} {live}")
    if flt.since is not None:
        where.append("c.started_at >= :since")
        args["since"] = stamp(flt.since)
    if flt.until is not None:
        where.append("c.started_at < :until")
        args["until"] = stamp(flt.until)
    if flt.text:
        text = flt.text.strip()
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args["text"] = f"%{escaped}%"
        digits = "".join(ch for ch in text if ch.isdigit())
        number_like = digits and all(ch.isdigit() or ch in " +-().tel:" for ch in text)
        args["digits"] = f"%{digits}%" if number_like else None
        where.append(
            "(c.guest_name LIKE :text ESCAPE '\\' OR c.remote_number LIKE :text ESCAPE '\\' "
            "OR (:digits IS NOT NULL AND c.remote_number LIKE :digits))"
        )
    return " AND ".join(where), args


def _parse_filter(request: Request) -> CallFilter:
    try:
        return CallFilter.from_query(dict(request.query_params))
    except ValueError as exc:
        raise invalid(str(exc)) from None


def _encode_cursor(call: CallRecord) -> str:
    raw = json.dumps([stamp(call.started_at), call.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, call_id = json.loads(raw)
        parse_time(started)
        if not isinstance(call_id, str):
            raise ValueError
    except (ValueError, binascii.Error, TypeError):
        raise Problem(422, "invalid_cursor", "cursor is not one this server gave out") from None
    return started, call_id


def page_of_calls(
    state: State, user: User, flt: CallFilter, cursor: str | None, limit: int
) -> tuple[list[CallRecord], str | None, str, dict[str, Any]]:
    where, args = _filter_sql(user, flt)
    page_where = where
    if cursor is not None:
        args["cs"], args["ci"] = _decode_cursor(cursor)
        page_where += " AND (c.started_at < :cs OR (c.started_at = :cs AND c.id < :ci))"
    args["limit"] = limit + 1
    rows = state.db.execute(
        f"SELECT c.* FROM calls c WHERE {page_where} "
        "ORDER BY c.started_at DESC, c.id DESC LIMIT :limit",
        args,
    ).fetchall()
    calls = [call_from_row(r) for r in rows[:limit]]
    next_cursor = _encode_cursor(calls[-1]) if len(rows) > limit else None
    return calls, next_cursor, where, args


async def list_calls(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    flt = _parse_filter(request)
    raw_limit = request.query_params.get("limit", str(CALL_PAGE_SIZE))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= CALL_PAGE_SIZE:
        raise invalid(f"limit: expected 1-{CALL_PAGE_SIZE}", field="limit")
    calls, next_cursor, where, args = page_of_calls(
        state, user, flt, request.query_params.get("cursor"), int(raw_limit)
    )
    total = state.db.execute(f"SELECT COUNT(*) FROM calls c WHERE {where}", args).fetchone()[0]
    return json_response(
        {"items": [c.to_json() for c in calls], "total": total, "next_cursor": next_cursor}
    )


async def export_csv(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    flt = _parse_filter(request)
    _filter_sql(user, flt)  # refuse before streaming
    names = {r[0]: r[1] for r in state.db.execute("SELECT id, name FROM users")}

    async def rows() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            calls, cursor, _w, _a = page_of_calls(state, user, flt, cursor, 500)
            for call in calls:
                data = {**{c: getattr(call, c, None) for c in CSV_COLUMNS}}
                data["agent_name"] = names.get(call.agent_id)
                writer.writerow([csv_cell(c, data[c]) for c in CSV_COLUMNS])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            if cursor is None:
                return
            await asyncio.sleep(0)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
    )


# -- recordings and transcripts ----------------------------------------------------------


def _recording_info(state: State, call_id: str) -> tuple[RecordingInfo, str]:
    row = state.db.execute("SELECT * FROM recordings WHERE call_id = ?", (call_id,)).fetchone()
    if row is None:
        raise Problem(404, "no_recording", f"call {call_id} has no recording")
    uploaded = unstamp(row["uploaded_at"])
    assert uploaded is not None
    info = RecordingInfo(
        call_id, row["content_type"], row["size_bytes"], uploaded, row["duration_s"]
    )
    return info, row["file"]


async def recording_info(request: Request) -> Response:
    state = state_of(request)
    call = visible_call(state, me(request), request.path_params["call_id"])
    return json_response(_recording_info(state, call.id)[0].to_json())


async def get_recording(request: Request) -> Response:
    state = state_of(request)
    call = visible_call(state, me(request), request.path_params["call_id"])
    _info, name = _recording_info(state, call.id)
    return FileResponse(state.config.recordings / name, media_type="audio/wav")


def _wav_duration(path: os.PathLike[str]) -> float | None:
    try:
        with wave.open(os.fspath(path), "rb") as wav:
            rate = wav.getframerate()
            return round(wav.getnframes() / rate, 3) if rate else None
    except (wave.Error, EOFError):
        return None


async def upload_recording(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    call = visible_call(state, user, request.path_params["call_id"])
    name = hashlib.sha256(call.id.encode()).hexdigest()[:32] + ".wav"
    final = state.config.recordings / name
    partial = final.with_name(f"{final.stem}.{uuid.uuid4().hex[:8]}.part")  # uploads may overlap
    size = 0
    digest = hashlib.sha256()
    limit = state.config.max_recording_bytes
    try:
        with partial.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Problem(413, "payload_too_large", f"recording larger than {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        with partial.open("rb") as check:
            head = check.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise Problem(422, "invalid_wav", "the body is not a WAV file (RIFF/WAVE header)")
        duration = _wav_duration(partial)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)

    def write() -> tuple[int, Any]:
        state.db.execute(
            "INSERT INTO recordings(call_id, file, content_type, size_bytes, duration_s, "
            "uploaded_at) VALUES (?,?,?,?,?,?) ON CONFLICT(call_id) DO UPDATE SET "
            "file=excluded.file, size_bytes=excluded.size_bytes, "
            "duration_s=excluded.duration_s, uploaded_at=excluded.uploaded_at",
            (call.id, name, "audio/wav", size, duration, stamp(now())),
        )
        current = state.call(call.id)
        assert current is not None
        if not current.has_recording:
            updated = dataclasses.replace(current, has_recording=True, updated_at=now())
            save_call(state, updated, insert=False)
            announce_call(state, updated)
        return 200, _recording_info(state, call.id)[0].to_json()

    return idempotent(request, user, digest.hexdigest(), write)


async def get_transcript(request: Request) -> Response:
    state = state_of(request)
    call = visible_call(state, me(request), request.path_params["call_id"])
    row = state.db.execute("SELECT * FROM transcripts WHERE call_id = ?", (call.id,)).fetchone()
    if row is None:
        raise Problem(404, "no_transcript", f"call {call.id} has no transcript")
    return json_response(
        {
            "call_id": call.id,
            "language": row["language"],
            "segments": json.loads(row["segments_json"]),
            "created_at": row["created_at"],
        }
    )


async def put_transcript(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    call = visible_call(state, user, request.path_params["call_id"])
    body = await read_json(request, state.config.max_json_bytes)
    if not isinstance(body, dict) or not isinstance(body.get("language"), str):
        raise invalid("language: expected a string", field="language")
    segments = body.get("segments")
    if not isinstance(segments, list):
        raise invalid("segments: expected an array", field="segments")
    parsed = tuple(parse_model(TranscriptSegment, s) for s in segments)
    transcript = Transcript(call.id, body["language"], parsed, now())
    with tx(state.db):
        state.db.execute(
            "INSERT INTO transcripts(call_id, language, segments_json, created_at) "
            "VALUES (?,?,?,?) ON CONFLICT(call_id) DO UPDATE SET language=excluded.language, "
            "segments_json=excluded.segments_json, created_at=excluded.created_at",
            (
                call.id,
                transcript.language,
                json.dumps([s.to_json() for s in parsed]),
                format_time(transcript.created_at),
            ),
        )
        current = state.call(call.id)
        assert current is not None
        if not current.has_transcript:
            updated = dataclasses.replace(current, has_transcript=True, updated_at=now())
            save_call(state, updated, insert=False)
            announce_call(state, updated)
    state.notify()
    return json_response(transcript.to_json())


# -- phone mode ----------------------------------------------------------------------------


async def start_phone_call(request: Request) -> Response:
    state = state_of(request)
    user = me(request)
    req = parse_model(PhoneCallRequest, await read_json(request, state.config.max_json_bytes))
    mapping = state.db.execute(
        "SELECT a.supports_phone_mode, m.agent_phone FROM account_agents m "
        "JOIN accounts a ON a.id = m.account_id WHERE m.account_id = ? AND m.user_id = ?",
        (req.account_id, user.id),
    ).fetchone()
    if mapping is None:
        raise invalid(f"account {req.account_id} is not yours", field="account_id")
    if not mapping["supports_phone_mode"] or not mapping["agent_phone"]:
        raise Problem(
            422,
            "phone_mode_unsupported",
            "this account cannot ring your phone first (no phone mode or no phone set)",
        )
    caller_id = req.caller_id
    if (
        caller_id is not None
        and state.db.execute(
            "SELECT 1 FROM caller_ids c JOIN user_caller_ids u ON u.caller_id = c.id "
            "WHERE u.user_id = ? AND c.number = ? AND c.account_id = ?",
            (user.id, caller_id, req.account_id),
        ).fetchone()
        is None
    ):
        raise invalid(f"caller-ID {caller_id} is not assigned to you", field="caller_id")
    new = CallCreate(
        id=req.call_id,
        direction=CallDirection.OUTBOUND,
        remote_number=req.to_number,
        started_at=now(),
        status=CallStatus.DIALING,
        mode=CallMode.PHONE,
        account_id=req.account_id,
        local_number=caller_id,
        contact_id=req.contact_id,
        chat_id=req.chat_id,
    )
    _check_refs(state, new.contact_id, new.chat_id)
    with tx(state.db):
        status, call = insert_new_call(state, user, new)
    state.notify()
    if status == 201 and state.config.simulate:
        task = asyncio.get_running_loop().create_task(_simulate_phone_mode(state, user, call.id))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
    return json_response(call.to_json(), status)


async def _simulate_phone_mode(state: State, user: User, call_id: str) -> None:
    """Stand-in for the provider: the agent's phone rings, then the customer is bridged."""
    for status in (CallStatus.RINGING, CallStatus.IN_PROGRESS):
        await asyncio.sleep(0.3)
        if state.closed:
            return
        call = state.call(call_id)
        if call is None or not can_transition(call.status, status) or call.status == status:
            return
        with tx(state.db):
            apply_update(state, user, call, CallUpdate(status=status))
        state.notify()
