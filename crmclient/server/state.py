"""Server state: the database, the event log, and rows turned into contract models.

Everything runs on the server's one event loop thread, so one SQLite connection is shared
without locks; a write and the events it causes are one transaction, and waiting
websockets are woken only after it committed (so a stream never sees an uncommitted event).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from crmclient.models import (
    CallCard,
    CallPermission,
    CallRecord,
    Chat,
    Contact,
    PermissionState,
    Presence,
    PresenceStatus,
    Role,
    User,
    _Model,
)
from crmclient.server.config import ServerConfig
from crmclient.server.db import connect, now, stamp, unstamp

#: Who sees an event: one user; that user and every admin/owner; everyone.
AUDIENCE_USER = "user"
AUDIENCE_USER_STAFF = "user+staff"
AUDIENCE_ALL = "all"


class State:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.db: sqlite3.Connection = connect(config.db_path)
        self.config.recordings.mkdir(parents=True, exist_ok=True)
        self._waiters: set[asyncio.Event] = set()
        self.drop_generation = 0
        self.sign_in_failures: dict[str, list[float]] = {}
        self.faults: list[dict[str, Any]] = []
        self.closed = False
        self.tasks: set[asyncio.Task[None]] = set()

    # -- events ------------------------------------------------------------------------
    def publish(
        self, type_: str, payload: _Model, audience: str, user_id: str | None = None
    ) -> None:
        """Append an event inside the caller's transaction; ``notify`` after commit."""
        self.db.execute(
            "INSERT INTO events(at, type, data, audience, user_id) VALUES (?,?,?,?,?)",
            (stamp(now()), type_, json.dumps(payload.to_json()), audience, user_id),
        )

    def notify(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def add_waiter(self, waiter: asyncio.Event) -> None:
        self._waiters.add(waiter)

    def remove_waiter(self, waiter: asyncio.Event) -> None:
        self._waiters.discard(waiter)

    def drop_streams(self) -> None:
        self.drop_generation += 1
        self.notify()

    def last_event_id(self) -> int:
        row = self.db.execute("SELECT MAX(id) FROM events").fetchone()
        return int(row[0] or 0)

    def pruned_through(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='pruned_through'").fetchone()
        return int(row[0]) if row else 0

    def prune_events(self, through_id: int) -> None:
        self.db.execute("DELETE FROM events WHERE id <= ?", (through_id,))
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES ('pruned_through', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=max(CAST(value AS INTEGER), excluded.value)",
            (str(through_id),),
        )

    def events_for(self, user: User, after: int, limit: int) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT id, at, type, data FROM events WHERE id > ? AND (audience = 'all' "
            "OR user_id = ? OR (audience = 'user+staff' AND ?)) ORDER BY id LIMIT ?",
            (after, user.id, int(user.role.sees_all_calls), limit),
        ).fetchall()

    # -- lookups -----------------------------------------------------------------------
    def user(self, user_id: str) -> User | None:
        row = self.db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else user_from_row(row)

    def contact(self, contact_id: str) -> Contact | None:
        row = self.db.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        return None if row is None else self.contact_from_row(row)

    def contact_from_row(self, row: sqlite3.Row) -> Contact:
        phones = tuple(
            r[0]
            for r in self.db.execute(
                "SELECT number FROM contact_phones WHERE contact_id = ? ORDER BY number",
                (row["id"],),
            )
        )
        return Contact(
            id=row["id"],
            name=row["name"],
            phones=phones,
            created_at=_t(row["created_at"]),
            updated_at=_t(row["updated_at"]),
            emails=tuple(json.loads(row["emails_json"])),
            company=row["company"],
        )

    def chat(self, chat_id: str) -> Chat | None:
        row = self.db.execute("SELECT * FROM chats WHERE id = ?", (chat_id,)).fetchone()
        return None if row is None else chat_from_row(row)

    def call(self, call_id: str) -> CallRecord | None:
        row = self.db.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
        return None if row is None else call_from_row(row)

    def call_targets(self, call_id: str) -> set[str]:
        rows = self.db.execute("SELECT user_id FROM call_targets WHERE call_id = ?", (call_id,))
        return {r[0] for r in rows}

    def can_see_call(self, user: User, call: CallRecord) -> bool:
        return (
            user.role.sees_all_calls
            or call.agent_id == user.id
            or user.id in self.call_targets(call.id)
        )

    def permission(self, chat_id: str) -> CallPermission | None:
        row = self.db.execute("SELECT * FROM permissions WHERE chat_id = ?", (chat_id,)).fetchone()
        if row is None:
            return None
        return CallPermission(
            chat_id=chat_id,
            state=PermissionState(row["state"]),
            updated_at=_t(row["updated_at"]),
            expires_at=unstamp(row["expires_at"]),
        )

    def presence(self, user_id: str) -> Presence | None:
        row = self.db.execute(
            "SELECT presence, presence_at FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return None
        return Presence(user_id=user_id, status=PresenceStatus(row[0]), updated_at=_t(row[1]))


def _t(text: str) -> Any:
    return unstamp(text)


def user_from_row(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        extension=row["extension"],
    )


VOICE_CHANNELS = frozenset({"whatsapp", "phone"})


def chat_from_row(row: sqlite3.Row) -> Chat:
    return Chat.from_json(
        {
            "id": row["id"],
            "contact_id": row["contact_id"],
            "channel": row["channel"],
            "subject": row["subject"],
            "status": row["status"],
            "voice_capable": row["channel"] in VOICE_CHANNELS,
            "last_message_at": row["last_message_at"],
            "assignee_id": row["assignee_id"],
        }
    )


_BOOL_COLUMNS = ("has_recording", "has_transcript")


def call_from_row(row: sqlite3.Row) -> CallRecord:
    data = {k: row[k] for k in row.keys()}  # noqa: SIM118
    for key in _BOOL_COLUMNS:
        data[key] = bool(data[key])
    return CallRecord.from_json(data)


def card_from_row(row: sqlite3.Row) -> CallCard:
    return CallCard.from_json({k: row[k] for k in row.keys()})  # noqa: SIM118
