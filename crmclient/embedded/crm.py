"""``EmbeddedCrm``: the whole ``CrmBackend`` contract over one local SQLite file.

Why it exists: with no CRM configured the app still logs every call, finds contacts,
exports CSV and runs its demo; the app cannot tell it from ``HttpCrm``. There is one local
user (the agent at this computer); roles still apply as the contract says.

Why the queries run on the event loop's thread: each is an index lookup or a short write
(microseconds to a few milliseconds, one fsync per write with ``synchronous=FULL``), and
running them inline keeps every method atomic with respect to the others without locks.
Handing each to a thread would cost more than the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import secrets
import shutil
import sqlite3
import uuid
import wave
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

from crmclient import csvexport, errors
from crmclient.backend import CrmBackend, SessionListener, StatusListener, Unsubscribe
from crmclient.embedded import calllog
from crmclient.embedded.events import EventLog, EventSubscriptionImpl
from crmclient.embedded.schema import MIGRATIONS
from crmclient.models import (
    BATCH_MAX_WRITES,
    CALL_PAGE_SIZE,
    BatchResult,
    BatchWrite,
    CallCard,
    CallCreate,
    CallFilter,
    CallPage,
    CallPermission,
    CallRecord,
    CallUpdate,
    CallUpdated,
    CardCreate,
    CardPosted,
    Channel,
    Chat,
    ChatStatus,
    Contact,
    ContactCreate,
    ContactLookup,
    ContactMatch,
    ContactUpdated,
    Credentials,
    DialRequest,
    DialRequested,
    ErrorBody,
    MatchKind,
    MatchSource,
    PermissionChanged,
    PermissionState,
    PhoneCallRequest,
    Presence,
    PresenceChanged,
    PresenceStatus,
    Provisioning,
    ProvisioningChanged,
    RecordingInfo,
    Role,
    SessionToken,
    SipSecret,
    Transcript,
    User,
    can_transition,
    format_time,
    is_e164,
    parse_time,
)
from crmclient.store import StoreError, fsync_dir, migrate, open_db, transaction

__all__ = ["EmbeddedCrm"]

LOCAL_USER: Final = User(id="local", email="agent@localhost", name="Me", role=Role.OWNER)
_SESSION_DAYS: Final = 10
_SCAN_ABOVE: Final = 500
"""Above this many text matches, a page is read by scanning time order, not via FTS."""
_ACTIVE_CHATS: Final = (ChatStatus.OPEN.value, ChatStatus.PENDING.value)

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


class EmbeddedCrm:
    """A ``CrmBackend`` on a local SQLite file (``path``), for use on one event loop."""

    def __init__(
        self,
        path: Path | str,
        *,
        user: User = LOCAL_USER,
        provisioning: Provisioning | None = None,
        sip_secrets: Mapping[str, str] | None = None,
        guest_answers_after: float | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        """``provisioning`` and ``sip_secrets`` describe the calling accounts (the demo line);
        secrets stay in memory only. ``guest_answers_after``: a simulated WhatsApp guest
        allows a requested call that many seconds later (for the demo)."""
        self.path = Path(path)
        self._db = open_db(self.path, synchronous="FULL")
        migrate(self._db, MIGRATIONS, name="embedded CRM")
        self._recordings = self.path.with_name(self.path.name + ".recordings")
        self._user = user
        self._clock = clock
        self._secrets = dict(sip_secrets or {})
        self._guest_delay = guest_answers_after
        self._session: SessionToken | None = None
        self._session_listeners: list[SessionListener] = []
        self._events = EventLog(self._db, clock)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        if provisioning is not None:
            self.set_provisioning(provisioning)

    # -- helpers -----------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise errors.TransportError("the embedded CRM is closed")

    def _write(self, work: Callable[[], T]) -> T:
        """Run ``work`` in one transaction; events it records go out after the commit."""
        self._check()
        try:
            with transaction(self._db):
                result = work()
        except sqlite3.Error as exc:
            self._events.discard_staged()
            raise StoreError(f"the local CRM database refused a write: {exc}") from exc
        except BaseException:
            self._events.discard_staged()
            raise
        self._events.publish_staged()
        return result

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        self._check()
        try:
            cur = self._db.execute(sql, tuple(args))
            cur.row_factory = sqlite3.Row
            return cur.fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"the local CRM database refused a read: {exc}") from exc

    def _meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- session -----------------------------------------------------------------------

    async def sign_in(self, credentials: Credentials) -> SessionToken:
        """Anyone at this computer is the local user; the token only marks the session."""
        self._check()
        now = self._clock()
        self._session = SessionToken(
            token=secrets.token_urlsafe(24),
            refresh_token=secrets.token_urlsafe(24),
            expires_at=now + timedelta(hours=1),
            session_expires_at=now + timedelta(days=_SESSION_DAYS),
            user=self._user,
        )
        self._tell_session(self._session)
        return self._session

    async def restore_session(self, session: SessionToken) -> User:
        self._check()
        if session.session_over(self._clock()):
            raise errors.AuthError("session_expired", "the session ended; sign in again")
        self._session = session
        return self._user

    async def refresh_session(self) -> SessionToken:
        if self._session is None:
            raise errors.AuthError("signed_out", "not signed in")
        now = self._clock()
        self._session = SessionToken(
            token=secrets.token_urlsafe(24),
            refresh_token=self._session.refresh_token,
            expires_at=now + timedelta(hours=1),
            session_expires_at=self._session.session_expires_at,
            user=self._user,
        )
        self._tell_session(self._session)
        return self._session

    async def sign_out(self) -> None:
        if self._session is not None:
            self._session = None
            self._tell_session(None)

    async def current_user(self) -> User:
        self._check()
        return self._user

    def add_session_listener(self, listener: SessionListener) -> Unsubscribe:
        self._session_listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._session_listeners.remove(listener)

        return unsubscribe

    def _tell_session(self, session: SessionToken | None) -> None:
        for listener in list(self._session_listeners):
            listener(session)

    # -- provisioning --------------------------------------------------------------------

    def set_provisioning(
        self, provisioning: Provisioning, sip_secrets: Mapping[str, str] | None = None
    ) -> None:
        """Replace the calling setup (the demo line, or what settings entered by hand)."""
        if sip_secrets is not None:
            self._secrets = dict(sip_secrets)
        data = dict(provisioning.to_json())

        def work() -> None:
            revision = int(self._meta("provisioning_revision") or "0") + 1
            data["revision"] = revision
            self._set_meta("provisioning", json.dumps(data))
            self._set_meta("provisioning_revision", str(revision))
            self._events.stage(ProvisioningChanged(revision))

        self._write(work)

    async def get_provisioning(self) -> Provisioning:
        raw = self._meta("provisioning")
        if raw is None:
            return Provisioning(user=self._user, accounts=(), teammates=(), revision=0)
        return Provisioning.from_json(json.loads(raw))

    async def get_sip_secret(self, account_id: str) -> SipSecret:
        self._check()
        if account_id not in self._secrets:
            raise errors.NotFound("not_found", f"no SIP secret for account {account_id}")
        return SipSecret(account_id, self._secrets[account_id])

    # -- contacts and chats ----------------------------------------------------------------

    def add_contacts(self, contacts: Iterable[Contact]) -> None:
        """Bulk import (seed data, benchmarks): one transaction."""
        rows = [_contact_row(c) for c in contacts]
        phones = [(p, r[0]) for r in rows for p in json.loads(r[2])]

        def work() -> None:
            self._db.executemany(
                "INSERT INTO contacts (id, name, phones, emails, company, created_at,"
                " updated_at, haystack) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO contact_phones (number, contact_id) VALUES (?, ?)", phones
            )

        self._write(work)

    def add_maybe_number(
        self, number: str, contact_id: str, source: MatchSource, excerpt: str | None = None
    ) -> None:
        """A number seen in a contact's messages or signature (not confirmed as theirs)."""
        self._write(
            lambda: self._db.execute(
                "INSERT OR REPLACE INTO maybe_numbers (number, contact_id, source, excerpt)"
                " VALUES (?, ?, ?, ?)",
                (number, contact_id, source.value, excerpt),
            )
        )

    def add_chats(self, chats: Iterable[Chat]) -> None:
        rows = [
            (
                c.id,
                c.contact_id,
                c.channel.value,
                c.subject,
                c.status.value,
                int(c.voice_capable),
                format_time(c.last_message_at),
                c.assignee_id,
            )
            for c in chats
        ]
        self._write(
            lambda: self._db.executemany(
                "INSERT OR REPLACE INTO chats (id, contact_id, channel, subject, status,"
                " voice_capable, last_message_at, assignee_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        )

    async def lookup_number(self, number: str) -> ContactLookup:
        if not is_e164(number):
            raise errors.ValidationError(
                "invalid_number", f"number must be E.164 like +15551234567, not {number[:40]!r}"
            )
        confirmed = [
            ContactMatch(_contact(r), MatchKind.CONFIRMED, MatchSource.CONTACT_PHONE, number)
            for r in self._read(
                "SELECT c.* FROM contact_phones p JOIN contacts c ON c.id = p.contact_id"
                " WHERE p.number = ? ORDER BY c.name",
                (number,),
            )
        ]
        seen = {m.contact.id for m in confirmed}
        maybe = [
            ContactMatch(
                _contact(r), MatchKind.MAYBE, MatchSource(r["source"]), number, r["excerpt"]
            )
            for r in self._read(
                "SELECT c.*, m.source, m.excerpt FROM maybe_numbers m"
                " JOIN contacts c ON c.id = m.contact_id WHERE m.number = ?"
                " ORDER BY c.name, m.source",
                (number,),
            )
            if r["id"] not in seen
        ]
        return ContactLookup(number, tuple(confirmed), tuple(maybe))

    async def search_contacts(self, text: str, *, limit: int = 20) -> tuple[Contact, ...]:
        needle = text.strip().lower()
        if not needle:
            return ()
        limit = max(1, min(limit, 100))
        if len(needle) >= 3:
            rows = self._read(
                "SELECT c.* FROM contacts c WHERE c.rowid IN"
                " (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?)"
                " ORDER BY c.name LIMIT ?",
                ('"' + needle.replace('"', '""') + '"', limit),
            )
        else:
            rows = self._read(
                "SELECT * FROM contacts WHERE instr(haystack, ?) > 0 ORDER BY name LIMIT ?",
                (needle, limit),
            )
        return tuple(_contact(r) for r in rows)

    async def get_contact(self, contact_id: str) -> Contact:
        rows = self._read("SELECT * FROM contacts WHERE id = ?", (contact_id,))
        if not rows:
            raise errors.NotFound("not_found", "no such contact")
        return _contact(rows[0])

    async def create_contact(self, contact: ContactCreate) -> Contact:
        now = self._clock()
        new = Contact(
            id=str(uuid.uuid4()),
            name=(contact.name or "").strip() or contact.phone,
            phones=(contact.phone,),
            created_at=now,
            updated_at=now,
            emails=(contact.email,) if contact.email else (),
        )

        def work() -> None:
            row = _contact_row(new)
            self._db.execute(
                "INSERT INTO contacts (id, name, phones, emails, company, created_at,"
                " updated_at, haystack) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            self._db.execute(
                "INSERT OR IGNORE INTO contact_phones (number, contact_id) VALUES (?, ?)",
                (contact.phone, new.id),
            )
            self._events.stage(ContactUpdated(new))

        self._write(work)
        return new

    async def list_contact_chats(self, contact_id: str) -> tuple[Chat, ...]:
        await self.get_contact(contact_id)
        rows = self._read(
            "SELECT * FROM chats WHERE contact_id = ? AND status IN (?, ?)"
            " ORDER BY last_message_at DESC",
            (contact_id, *_ACTIVE_CHATS),
        )
        return tuple(_chat(r) for r in rows)

    def _chat_row(self, chat_id: str) -> Chat:
        rows = self._read("SELECT * FROM chats WHERE id = ?", (chat_id,))
        if not rows:
            raise errors.NotFound("not_found", "no such chat")
        return _chat(rows[0])

    # -- calls --------------------------------------------------------------------------

    def _call_row(self, call_id: str) -> CallRecord | None:
        rows = self._read(
            "SELECT d.data FROM calls c JOIN call_data d ON d.rowid = c.rowid WHERE c.id = ?",
            (call_id,),
        )
        return calllog.record_from_row(rows[0]["data"]) if rows else None

    def _visible(self, record: CallRecord | None) -> CallRecord:
        if record is None or not (
            self._user.role.sees_all_calls or record.agent_id == self._user.id
        ):
            raise errors.NotFound("not_found", "no such call")
        return record

    def _store_call(self, record: CallRecord, *, insert: bool) -> None:
        values = calllog.call_columns(record)
        data = json.dumps(record.to_json(), separators=(",", ":"))
        if insert:
            cur = self._db.execute(calllog.INSERT_CALL, values)
            self._db.execute(
                "INSERT INTO call_data (rowid, data) VALUES (?, ?)", (cur.lastrowid, data)
            )
        else:
            self._db.execute(
                "UPDATE calls SET started_us = ?, direction = ?, status = ?, live = ?,"
                " agent_id = ?, remote_number = ?, guest_name = ?, haystack = ? WHERE id = ?",
                values,
            )
            self._db.execute(
                "UPDATE call_data SET data = ?"
                " WHERE rowid = (SELECT rowid FROM calls WHERE id = ?)",
                (data, record.id),
            )

    def _record_from_create(self, call: CallCreate) -> CallRecord:
        if call.agent_id not in (None, self._user.id) and not self._user.role.sees_all_calls:
            raise errors.PermissionDenied("forbidden", "only admins log calls for others")
        now = self._clock()
        return CallRecord(
            id=call.id,
            direction=call.direction,
            status=call.status,
            mode=call.mode,
            agent_id=call.agent_id or self._user.id,
            remote_number=call.remote_number,
            created_at=now,
            started_at=call.started_at,
            updated_at=now,
            account_id=call.account_id,
            local_number=call.local_number,
            contact_id=call.contact_id,
            chat_id=call.chat_id,
            guest_name=call.guest_name,
            external_id=call.external_id,
        )

    async def create_call(self, call: CallCreate) -> CallRecord:
        record = self._record_from_create(call)

        def work() -> CallRecord:
            existing = self._call_row(call.id)
            if existing is not None:
                same = (existing.remote_number, existing.direction) == (
                    call.remote_number,
                    call.direction,
                )
                if not same:
                    raise errors.Conflict("id_conflict", f"call id {call.id} is another call")
                return existing
            self._store_call(record, insert=True)
            self._events.stage(CallUpdated(record))
            return record

        return self._write(work)

    def add_calls(self, records: Iterable[CallRecord]) -> None:
        """Bulk import (history, benchmarks): one transaction."""

        def work() -> None:
            for record in records:
                self._store_call(record, insert=True)

        self._write(work)

    async def update_call(
        self, call_id: str, update: CallUpdate, *, idempotency_key: str | None = None
    ) -> CallRecord:
        def work() -> CallRecord:
            if idempotency_key is not None:
                done = self._read(
                    "SELECT call_id, result FROM idempotency WHERE key = ?", (idempotency_key,)
                )
                if done:
                    if done[0]["call_id"] != call_id:
                        raise errors.Conflict("key_reused", "idempotency key used for another call")
                    return CallRecord.from_json(json.loads(done[0]["result"]))
            old = self._visible(self._call_row(call_id))
            if update.status is not None and not can_transition(old.status, update.status):
                raise errors.Conflict(
                    "invalid_transition",
                    f"a call cannot go from {old.status.value} to {update.status.value}",
                )
            changes: dict[str, Any] = {k: v for k, v in update.to_json().items() if v is not None}
            for name in update.clear:
                changes[name] = None
            data = {**old.to_json(), **changes, "updated_at": format_time(self._clock())}
            new = CallRecord.from_json(data)
            self._store_call(new, insert=False)
            if idempotency_key is not None:
                self._db.execute(
                    "INSERT INTO idempotency (key, call_id, result) VALUES (?, ?, ?)",
                    (idempotency_key, call_id, json.dumps(new.to_json())),
                )
            self._events.stage(CallUpdated(new))
            return new

        return self._write(work)

    async def get_call(self, call_id: str) -> CallRecord:
        return self._visible(self._call_row(call_id))

    async def list_calls(
        self,
        filter: CallFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = CALL_PAGE_SIZE,
    ) -> CallPage:
        if not 1 <= limit <= CALL_PAGE_SIZE:
            raise errors.ValidationError("invalid", f"limit: expected 1-{CALL_PAGE_SIZE}")
        flt = filter or CallFilter()
        where, args = calllog.filter_sql(self._user, flt)
        total = self._read(f"SELECT COUNT(*) AS n FROM calls c WHERE {where}", args)[0]["n"]
        source = "calls c"
        if flt.text and total > _SCAN_ABOVE:
            # Common text: the newest page fills quickly scanning back in time over the
            # covering index, which holds the text and every filter column.
            where, args = calllog.filter_sql(self._user, flt, text_via_index=False)
            source = "calls c INDEXED BY calls_text"
        rows, next_cursor = self._page(where, args, cursor, limit, source=source)
        items = tuple(calllog.record_from_row(data) for data in rows)
        return CallPage(items=items, total=int(total), next_cursor=next_cursor)

    def _page(
        self,
        where: str,
        args: list[Any],
        cursor: str | None,
        limit: int,
        *,
        source: str = "calls c",
    ) -> tuple[list[str], str | None]:
        """One page of calls' JSON, newest first, and the cursor of the next page."""
        page_args = list(args)
        if cursor is not None:
            started, rowid = calllog.decode_cursor(cursor)
            where += " AND (c.started_us < ? OR (c.started_us = ? AND c.rowid < ?))"
            page_args += [started, started, rowid]
        # Order and cut the narrow rows first; read the JSON of the page's rows only.
        keys = self._read(
            f"SELECT c.rowid AS rid, c.started_us FROM {source} WHERE {where}"
            " ORDER BY c.started_us DESC, c.rowid DESC LIMIT ?",
            [*page_args, limit + 1],
        )
        next_cursor = None
        if len(keys) > limit:
            last = keys[limit - 1]
            next_cursor = calllog.encode_cursor(last["started_us"], last["rid"])
        keys = keys[:limit]
        if not keys:
            return [], None
        data = {
            r["rowid"]: r["data"]
            for r in self._read(
                f"SELECT rowid, data FROM call_data WHERE rowid IN ({','.join('?' * len(keys))})",
                [k["rid"] for k in keys],
            )
        }
        return [data[k["rid"]] for k in keys], next_cursor

    async def fetch_recording(self, call_id: str, dest: Path) -> RecordingInfo:
        await self.get_call(call_id)
        rows = self._read("SELECT * FROM recordings WHERE call_id = ?", (call_id,))
        if not rows:
            raise errors.NotFound("not_found", "this call has no recording")
        try:
            shutil.copyfile(self._recordings / rows[0]["file"], dest)
        except OSError as exc:
            raise StoreError(f"cannot copy the recording to {dest}: {exc}") from exc
        return _recording(rows[0])

    async def upload_recording(
        self, call_id: str, wav: Path, *, idempotency_key: str | None = None
    ) -> RecordingInfo:
        record = await self.get_call(call_id)
        try:
            size = wav.stat().st_size
            duration = _wav_duration(wav)
        except OSError as exc:
            raise errors.ValidationError("invalid_recording", f"cannot read {wav}: {exc}") from exc
        name = f"{uuid.uuid4().hex}.wav"
        self._recordings.mkdir(parents=True, exist_ok=True)
        target = self._recordings / name
        try:
            with open(wav, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            fsync_dir(self._recordings)
        except OSError as exc:
            raise StoreError(f"cannot store the recording: {exc}") from exc
        now = self._clock()
        old = self._read("SELECT file FROM recordings WHERE call_id = ?", (call_id,))

        def work() -> None:
            self._db.execute(
                "INSERT OR REPLACE INTO recordings (call_id, file, content_type, size_bytes,"
                " uploaded_at, duration_s) VALUES (?, ?, 'audio/wav', ?, ?, ?)",
                (call_id, name, size, format_time(now), duration),
            )
            if not record.has_recording:
                data = {**record.to_json(), "has_recording": True}
                data["updated_at"] = format_time(now)
                new = CallRecord.from_json(data)
                self._store_call(new, insert=False)
                self._events.stage(CallUpdated(new))

        self._write(work)
        if old:
            with contextlib.suppress(OSError):
                (self._recordings / old[0]["file"]).unlink()
        return RecordingInfo(call_id, "audio/wav", size, now, duration)

    async def get_transcript(self, call_id: str) -> Transcript | None:
        await self.get_call(call_id)
        return None  # nothing transcribes calls on this computer

    async def export_calls_csv(self, filter: CallFilter | None, dest: Path) -> int:
        where, args = calllog.filter_sql(self._user, filter or CallFilter())
        names = {self._user.id: self._user.name}
        provisioning = await self.get_provisioning()
        names.update({t.user_id: t.name for t in provisioning.teammates})
        count = 0
        tmp = dest.with_name(dest.name + ".part")
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out, lineterminator="\r\n")
                writer.writerow(csvexport.CSV_COLUMNS)
                cursor: str | None = None
                while True:
                    rows, cursor = self._page(where, args, cursor, 500)
                    for data in rows:
                        call = calllog.record_from_row(data)
                        values = {c: getattr(call, c, None) for c in csvexport.CSV_COLUMNS}
                        values["agent_name"] = names.get(call.agent_id)
                        writer.writerow(
                            [csvexport.csv_cell(c, values[c]) for c in csvexport.CSV_COLUMNS]
                        )
                        count += 1
                    if cursor is None:
                        break
                    await asyncio.sleep(0)  # a long export must not freeze the loop
            os.replace(tmp, dest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"cannot write {dest}: {exc}") from exc
        return count

    # -- cards ------------------------------------------------------------------------------

    async def post_card(self, card: CardCreate) -> CallCard:
        self._chat_row(card.chat_id)
        await self.get_call(card.call_id)
        new = CallCard(
            id=card.id,
            chat_id=card.chat_id,
            call_id=card.call_id,
            kind=card.kind,
            direction=card.direction,
            status=card.status,
            agent_id=self._user.id,
            created_at=self._clock(),
            duration_s=card.duration_s,
        )

        def work() -> CallCard:
            rows = self._read("SELECT data FROM cards WHERE id = ?", (card.id,))
            if rows:
                existing = CallCard.from_json(json.loads(rows[0]["data"]))
                if existing.call_id != card.call_id or existing.chat_id != card.chat_id:
                    raise errors.Conflict("id_conflict", f"card id {card.id} is another card")
                return existing
            self._db.execute(
                "INSERT INTO cards (id, chat_id, call_id, created_at, data) VALUES (?,?,?,?,?)",
                (
                    new.id,
                    new.chat_id,
                    new.call_id,
                    format_time(new.created_at),
                    json.dumps(new.to_json()),
                ),
            )
            self._events.stage(CardPosted(new))
            return new

        return self._write(work)

    async def write_batch(
        self, writes: Sequence[BatchWrite], *, minimal: bool = False
    ) -> tuple[BatchResult, ...]:
        """The writes one by one through the single methods (a local database gains
        nothing from one transaction per batch), with the server's per-write results;
        records are always included (``minimal`` saves nothing here)."""
        if not 0 < len(writes) <= BATCH_MAX_WRITES:
            raise errors.ValidationError(
                "validation_error", f"writes: expected 1-{BATCH_MAX_WRITES} items", 422
            )
        results: list[BatchResult] = []
        failed: set[str] = set()
        for write in writes:
            if write.lane in failed:
                message = f"not attempted: an earlier write of call {write.lane} failed"
                error = ErrorBody("earlier_write_failed", message, 424)
                results.append(BatchResult(424, error=error))
                continue
            try:
                if write.call is not None:
                    results.append(BatchResult(201, call=await self.create_call(write.call)))
                elif write.card is not None:
                    results.append(BatchResult(201, card=await self.post_card(write.card)))
                else:
                    assert write.call_id is not None and write.update is not None
                    record = await self.update_call(
                        write.call_id, write.update, idempotency_key=write.idempotency_key
                    )
                    results.append(BatchResult(200, call=record))
            except (errors.AuthError, errors.RateLimited):
                raise  # the whole batch would fail alike
            except errors.ApiError as exc:
                failed.add(write.lane)
                status = exc.status if exc.status >= 300 else 500
                results.append(BatchResult(status, error=ErrorBody(exc.code, exc.message, status)))
        return tuple(results)

    async def list_cards(self, chat_id: str) -> tuple[CallCard, ...]:
        self._chat_row(chat_id)
        rows = self._read(
            "SELECT data FROM cards WHERE chat_id = ? ORDER BY created_at", (chat_id,)
        )
        return tuple(CallCard.from_json(json.loads(r["data"])) for r in rows)

    # -- phone mode and dial requests ------------------------------------------------------

    async def start_phone_call(self, request: PhoneCallRequest) -> CallRecord:
        raise errors.ApiError(
            "not_supported",
            "phone mode needs a CRM connected to a telephony provider; "
            "this computer has no CRM configured",
            501,
        )

    async def request_dial(self, chat_id: str, *, number: str | None = None) -> DialRequest:
        chat = self._chat_row(chat_id)
        request = DialRequest(
            id=str(uuid.uuid4()),
            chat_id=chat_id,
            requested_by=self._user.id,
            requested_at=self._clock(),
            number=number,
            contact_id=chat.contact_id,
        )
        self._write(lambda: self._events.stage(DialRequested(request)))
        return request

    # -- permission -----------------------------------------------------------------------

    async def get_call_permission(self, chat_id: str) -> CallPermission:
        chat = self._chat_row(chat_id)
        if not chat.voice_capable:
            raise errors.ValidationError(
                "not_voice_capable", f"a {chat.channel.value} chat cannot carry calls"
            )
        if chat.channel is not Channel.WHATSAPP:
            return CallPermission(chat_id, PermissionState.ALWAYS_ALLOWED, chat.last_message_at)
        rows = self._read("SELECT * FROM permissions WHERE chat_id = ?", (chat_id,))
        if not rows:
            return CallPermission(chat_id, PermissionState.NOT_REQUESTED, chat.last_message_at)
        row = rows[0]
        return CallPermission(
            chat_id,
            PermissionState(row["state"]),
            parse_time(row["updated_at"]),
            parse_time(row["expires_at"]) if row["expires_at"] else None,
        )

    async def request_call_permission(self, chat_id: str) -> CallPermission:
        current = await self.get_call_permission(chat_id)
        if current.state.may_call or current.state is PermissionState.PENDING:
            return current
        permission = self._set_permission(chat_id, PermissionState.PENDING)
        if self._guest_delay is not None:
            task = asyncio.get_running_loop().create_task(self._guest_answers(chat_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return permission

    async def _guest_answers(self, chat_id: str) -> None:
        assert self._guest_delay is not None
        await asyncio.sleep(self._guest_delay)
        if not self._closed:
            self._set_permission(chat_id, PermissionState.ALLOWED_ONCE)

    def _set_permission(self, chat_id: str, state: PermissionState) -> CallPermission:
        permission = CallPermission(chat_id, state, self._clock())

        def work() -> None:
            self._db.execute(
                "INSERT OR REPLACE INTO permissions (chat_id, state, updated_at) VALUES (?,?,?)",
                (chat_id, state.value, format_time(permission.updated_at)),
            )
            self._events.stage(PermissionChanged(permission))

        self._write(work)
        return permission

    # -- presence ----------------------------------------------------------------------------

    async def get_presence(self) -> Presence:
        raw = self._meta("presence")
        if raw is None:
            return Presence(self._user.id, PresenceStatus.AVAILABLE, self._clock())
        return Presence.from_json(json.loads(raw))

    async def set_presence(self, status: PresenceStatus) -> Presence:
        presence = Presence(self._user.id, status, self._clock())

        def work() -> None:
            self._set_meta("presence", json.dumps(presence.to_json()))
            self._events.stage(PresenceChanged(presence))

        self._write(work)
        return presence

    # -- events ------------------------------------------------------------------------------

    def subscribe(
        self, *, after: int | None = None, on_status: StatusListener | None = None
    ) -> EventSubscriptionImpl:
        self._check()
        return self._events.subscribe(after, on_status)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await self._events.close()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


def _contact_row(c: Contact) -> tuple[Any, ...]:
    haystack = " ".join(
        [c.name.lower(), *c.phones, *(p.lstrip("+") for p in c.phones), *c.emails, c.company or ""]
    ).lower()
    return (
        c.id,
        c.name,
        json.dumps(list(c.phones)),
        json.dumps(list(c.emails)),
        c.company,
        format_time(c.created_at),
        format_time(c.updated_at),
        haystack,
    )


def _contact(row: sqlite3.Row) -> Contact:
    return Contact(
        id=row["id"],
        name=row["name"],
        phones=tuple(json.loads(row["phones"])),
        created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]),
        emails=tuple(json.loads(row["emails"])),
        company=row["company"],
    )


def _chat(row: sqlite3.Row) -> Chat:
    return Chat(
        id=row["id"],
        contact_id=row["contact_id"],
        channel=Channel(row["channel"]),
        subject=row["subject"],
        status=ChatStatus(row["status"]),
        voice_capable=bool(row["voice_capable"]),
        last_message_at=parse_time(row["last_message_at"]),
        assignee_id=row["assignee_id"],
    )


def _recording(row: sqlite3.Row) -> RecordingInfo:
    return RecordingInfo(
        call_id=row["call_id"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        uploaded_at=parse_time(row["uploaded_at"]),
        duration_s=row["duration_s"],
    )


def _wav_duration(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def _conforms(crm: EmbeddedCrm) -> CrmBackend:
    """mypy proves here that EmbeddedCrm implements the whole CrmBackend protocol."""
    return crm
