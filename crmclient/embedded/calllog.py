"""Call-log filters as SQL for the embedded store, keyset cursors, and CSV cells.

The semantics match the reference server (crmclient/server/routes_calls.py): ``since`` is
inclusive, ``until`` exclusive, ``text`` matches the guest's name or the number (also by
its digits alone, so "(415) 555" finds +14155550100), users see only their own calls.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Final

from crmclient import errors
from crmclient.models import (
    CallDirection,
    CallFilter,
    CallMode,
    CallRecord,
    CallStatus,
    HangupCause,
    User,
)

_PHONE_CHARS: Final = frozenset("0123456789+-() ./")


def micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def haystack(record: CallRecord) -> str:
    """What free text searches: the number, its digits, the guest's name (lower case)."""
    digits = "".join(ch for ch in record.remote_number if ch.isdigit())
    return f"{record.remote_number} {digits} {(record.guest_name or '').lower()}"


INSERT_CALL: Final = (
    "INSERT INTO calls (started_us, direction, status, live, agent_id, remote_number,"
    " guest_name, haystack, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def call_columns(record: CallRecord) -> tuple[Any, ...]:
    """The indexed columns of a call, in ``INSERT_CALL`` order (id last)."""
    return (
        micros(record.started_at),
        record.direction.value,
        record.status.value,
        int(record.status.live),
        record.agent_id,
        record.remote_number,
        record.guest_name,
        haystack(record),
        record.id,
    )


def filter_sql(
    user: User, flt: CallFilter, *, text_via_index: bool = True
) -> tuple[str, list[Any]]:
    """A WHERE clause (over table alias ``c``) and its arguments.

    Free text goes through the trigram index (``text_via_index``), which finds rare
    matches at once; or through ``instr`` on the ``calls_text`` index, which wins when
    matches are common, because the newest page then fills after a short backward scan.
    """
    where: list[str] = []
    args: list[Any] = []
    if not user.role.sees_all_calls:
        if flt.agent_id is not None and flt.agent_id != user.id:
            raise errors.PermissionDenied("forbidden", "users see only their own calls")
        where.append("c.agent_id = ?")
        args.append(user.id)
    if flt.agent_id is not None:
        where.append("c.agent_id = ?")
        args.append(flt.agent_id)
    if flt.direction is not None:
        where.append("c.direction = ?")
        args.append(flt.direction.value)
    if flt.statuses:
        where.append(f"c.status IN ({','.join('?' * len(flt.statuses))})")
        args.extend(s.value for s in flt.statuses)
    if flt.live is not None:
        # The partial index holds live calls; "not live" is the rest.
        where.append("c.live = 1" if flt.live else "c.live = 0")
    if flt.since is not None:
        where.append("c.started_us >= ?")
        args.append(micros(flt.since))
    if flt.until is not None:
        where.append("c.started_us < ?")
        args.append(micros(flt.until))
    text = (flt.text or "").strip().lower()
    if text:
        digits = "".join(ch for ch in text if ch.isdigit())
        # "(628) 555-0042" is a number in any notation: match its digits alone.
        needles = [digits] if digits and set(text) <= _PHONE_CHARS else [text]
        if text_via_index and all(len(n) >= 3 for n in needles):
            # Trigram index: substring match without scanning the call table.
            where.append(
                "c.rowid IN (SELECT rowid FROM calls_fts WHERE "
                + " OR ".join("calls_fts MATCH ?" for _ in needles)
                + ")"
            )
            args.extend('"' + n.replace('"', '""') + '"' for n in needles)
        else:
            where.append("(" + " OR ".join("instr(c.haystack, ?) > 0" for _ in needles) + ")")
            args.extend(needles)
    return (" AND ".join(where) or "1=1"), args


def encode_cursor(started_us: int, rowid: int) -> str:
    return base64.urlsafe_b64encode(f"{started_us}:{rowid}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        started, rowid = raw.split(":")
        return int(started), int(rowid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.ValidationError("invalid_cursor", "cursor: not one this CRM gave") from None


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def record_from_row(data: str) -> CallRecord:
    """A stored call back as a ``CallRecord``, without the general codec's checks.

    The stored JSON was produced by ``CallRecord.to_json`` of a validated record, so
    re-validating every field of every row of a page (5x slower) buys nothing.
    """
    d = json.loads(data)
    hangup = d.get("hangup_cause")
    return CallRecord(
        id=d["id"],
        direction=CallDirection(d["direction"]),
        status=CallStatus(d["status"]),
        mode=CallMode(d["mode"]),
        agent_id=d["agent_id"],
        remote_number=d["remote_number"],
        created_at=datetime.fromisoformat(d["created_at"]),
        started_at=datetime.fromisoformat(d["started_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        account_id=d.get("account_id"),
        local_number=d.get("local_number"),
        contact_id=d.get("contact_id"),
        chat_id=d.get("chat_id"),
        guest_name=d.get("guest_name"),
        external_id=d.get("external_id"),
        answered_at=_time(d.get("answered_at")),
        ended_at=_time(d.get("ended_at")),
        duration_s=d.get("duration_s"),
        answered_by=d.get("answered_by"),
        hangup_cause=None if hangup is None else HangupCause(hangup),
        sip_code=d.get("sip_code"),
        outcome=d.get("outcome"),
        notes=d.get("notes"),
        has_recording=bool(d.get("has_recording", False)),
        has_transcript=bool(d.get("has_transcript", False)),
    )
