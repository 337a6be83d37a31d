"""The durable outbox: every CRM write is journalled locally first, then delivered.

Why: call records are the product. The agent hangs up and moves on; the record must reach
the CRM even if the network is down for hours, the app crashes, or the machine is killed.

Guarantees and how they are met:

* **Nothing lost.** ``create_call`` / ``update_call`` / ``post_card`` / ``upload_recording``
  return only after the write is committed to a SQLite WAL journal with
  ``synchronous=FULL`` (fsync on commit: survives kill -9 and power loss). Recordings are
  copied into a spool folder next to the journal (fsync + atomic rename) before the row is
  committed, so deleting the engine's temporary WAV loses nothing.
* **In order per call.** Every write has a *lane* (the call's client-generated id; cards
  and recordings of a call use the same lane). Only the oldest row of a lane is ever sent,
  and the next one only after the CRM confirmed it. Different calls are delivered
  concurrently (``concurrency`` lanes at a time).
* **Exactly once end to end.** Delivery is at-least-once (a crash between the CRM's answer
  and our acknowledgement resends), and every write is idempotent on the CRM side
  (``CrmBackend`` promises it): a call is created with its client-generated id, a card with
  its client-generated id, and an update or recording upload carries an idempotency key
  generated when it was journalled, so a resend returns the first result and changes
  nothing. The acknowledgement (row deletion) is committed with ``synchronous=NORMAL``:
  losing it on power loss only causes one harmless resend.
* **Batches.** With a sender that can batch (``Outbox.sender`` over any ``CrmBackend``),
  the heads of up to ``batch_size`` calls travel in one ``write_batch`` request (one HTTP
  round trip, one server transaction) instead of one request each: that is what lets a
  backlog drain at well over 1,000 records/s. Only lane heads go, so order per call is
  kept exactly as above; each write's result is handled as if it had been sent alone (a
  refused one holds only its call). Recordings always travel alone.
* **Coalescing.** Many updates to the same call (ringing, answered, notes typed while
  offline...) collapse into one when they have not been sent yet: a new update merges into
  the lane's *tail* if that tail is an unsent update (fields set later win, a null clears,
  and the merged row gets a fresh idempotency key: the old one may already have reached the
  CRM, which would answer it with the old result). Never merged: anything in flight, cards
  (each is a message in the guest's chat thread), recordings, updates across a card or
  recording (that would reorder what the CRM sees), and updates into the create (the CRM
  must see the call before its changes so it validates transitions as they happened).
* **Retries.** Transient failures (network, timeouts, 5xx, 429, malformed replies, expired
  session) retry with exponential backoff and full jitter, capped at 5 minutes; a
  network-level failure pauses the whole outbox (the CRM is unreachable, there is no point
  trying every call). Backoff state lives in the journal, so it survives restarts; opening
  the journal retries at once.
* **Refusals are kept, not dropped.** A write the CRM refuses for good (validation,
  permission, not found, conflict) is *held*: its lane stops (later writes of that call
  would fail too), the other calls continue, ``status().last_error`` says why, and
  ``retry_held()`` sends them again (e.g. after an admin fixed a permission).
* **One owner.** A lock file makes one process the owner of a journal; a second instance
  gets ``StoreLocked`` instead of racing the first.

Threads: the enqueue methods and ``status()`` may be called from any thread. ``run()`` is a
coroutine for the loop the ``CrmBackend`` lives on; its database work runs in worker
threads so a slow disk never stalls the loop. Status callbacks run on whichever thread
changed the status (the Qt adapter hops to the main thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from crmclient import errors
from crmclient.backend import CrmBackend
from crmclient.models import (
    BATCH_MAX_WRITES,
    BatchOp,
    BatchResult,
    BatchWrite,
    CallCreate,
    CallUpdate,
    CardCreate,
)
from crmclient.store import (
    ProcessLock,
    StoreError,
    fsync_dir,
    migrate,
    open_db,
    transaction,
)

__all__ = [
    "BackendSender",
    "Backoff",
    "BatchSender",
    "Job",
    "JobKind",
    "Outbox",
    "OutboxStatus",
    "Sender",
    "backend_sender",
]

log = logging.getLogger(__name__)


class JobKind:
    """The kinds of write the journal holds (stored as text; never renamed)."""

    CALL_CREATE: Final = "call.create"
    CALL_UPDATE: Final = "call.update"
    CARD_POST: Final = "card.post"
    RECORDING_UPLOAD: Final = "recording.upload"

    ALL: Final = frozenset({CALL_CREATE, CALL_UPDATE, CARD_POST, RECORDING_UPLOAD})


_SCHEMA: Final = [
    """
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        lane        TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        payload     TEXT    NOT NULL,
        created_at  REAL    NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        not_before  REAL    NOT NULL DEFAULT 0,
        held        INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT
    );
    CREATE INDEX outbox_lane ON outbox (lane, id);
    CREATE TABLE outbox_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
]


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """What the UI shows: "3 changes waiting to sync: CRM unreachable (retrying in 20 s)"."""

    pending: int
    """Writes not yet confirmed by the CRM, held ones included."""
    held: int
    """Writes the CRM refused, and the later writes of the same calls queued behind them;
    they wait for ``retry_held()``."""
    last_error: str | None
    """Why the latest attempt failed; None once a delivery succeeds after it."""
    last_error_at: float | None
    """Wall-clock time of ``last_error``."""
    next_attempt_at: float | None
    """When the outbox will try again after a failure (wall clock), if it is waiting."""
    delivered: int
    """Writes confirmed since the journal was opened."""
    held_reason: str | None = None
    """Why the oldest held write was refused; stays until ``retry_held()``."""


@dataclass(frozen=True, slots=True)
class Job:
    """One journalled write, as handed to a ``Sender``."""

    id: int
    lane: str
    kind: str
    payload: Mapping[str, Any]
    attempts: int


Sender = Callable[[Job], Awaitable[None]]
"""Performs one write against the CRM; raises ``CrmError`` when it did not happen."""


@runtime_checkable
class BatchSender(Protocol):
    """A ``Sender`` that can also perform several writes (of different calls) at once."""

    async def __call__(self, job: Job) -> None: ...

    def batchable(self, job: Job) -> bool:
        """Whether ``job`` may travel in a batch (recordings may not)."""
        ...

    async def send_batch(self, jobs: Sequence[Job]) -> Sequence[BaseException | None]:
        """One outcome per job, in order: None when it happened, else why not. Raises
        ``CrmError`` when the batch as a whole failed (none of it can be trusted)."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits U(0, min(cap, base * 2**n))."""

    base: float = 0.5
    cap: float = 300.0
    floor: float = 0.05

    def delay(self, attempts: int) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(attempts, 30)))
        return max(self.floor, random.uniform(0, ceiling))


_KEY: Final = "_idempotency_key"
"""Where a journalled payload keeps its idempotency key (stripped before sending)."""
_KEYED: Final = frozenset({JobKind.CALL_UPDATE, JobKind.RECORDING_UPLOAD})

_TRANSIENT: Final = (
    StoreError,  # the embedded CRM's disk full or busy: it may well work later
    errors.TransportError,
    errors.ServerError,
    errors.RateLimited,
    errors.ProtocolError,
    errors.AuthError,
)
"""Failures that say nothing about the write itself: try again later."""

_OUTAGE: Final = (errors.TransportError, errors.AuthError, errors.RateLimited)
"""Failures that would hit every write alike: pause the whole outbox, not one lane."""


class Outbox:
    """A durable, ordered, idempotent journal of CRM writes; see the module docstring."""

    def __init__(
        self,
        path: Path | str,
        *,
        concurrency: int = 8,
        batch_size: int = BATCH_MAX_WRITES,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 1 <= batch_size <= BATCH_MAX_WRITES:
            raise ValueError(f"batch_size must be 1-{BATCH_MAX_WRITES}")
        self._batch_size = batch_size
        self.path = Path(path)
        self.spool = self.path.with_name(self.path.name + ".spool")
        self._concurrency = concurrency
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._lock = threading.RLock()
        self._proc_lock = ProcessLock(self.path.with_name(self.path.name + ".lock"))
        self._proc_lock.acquire()
        try:
            # Two connections to one file: FULL for what the agent wrote, NORMAL for
            # acknowledgements and bookkeeping (see the module docstring).
            self._db = open_db(self.path, synchronous="FULL")
            migrate(self._db, _SCHEMA, name="outbox")
            self._db_ack = open_db(self.path, synchronous="NORMAL")
        except BaseException:
            self._proc_lock.release()
            raise
        self.spool.mkdir(parents=True, exist_ok=True)
        self._inflight: set[int] = set()
        self._listeners: list[Callable[[OutboxStatus], None]] = []
        self._outage_until = 0.0
        self._outage_attempts = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._next_attempt_at: float | None = None
        self._delivered = 0
        self._held_reason: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False
        with self._lock:
            # A restart is a good moment to retry: whatever failed may be fixed now.
            self._db_ack.execute("UPDATE outbox SET not_before = 0 WHERE not_before > 0")
            self._pending, self._held = self._count()
            self._sweep_spool()

    # -- producers (any thread) -------------------------------------------------------

    def create_call(self, call: CallCreate) -> int:
        """Journal the creation of a call (its ``id`` is the lane and idempotency key)."""
        return self._enqueue(call.id, JobKind.CALL_CREATE, call.to_json())

    def update_call(self, call_id: str, update: CallUpdate) -> int:
        """Journal an update; merged into the call's unsent update, if its tail is one.

        Returns the journal id of the row that holds it, or 0 for an empty update.
        """
        if update.is_empty():
            return 0
        return self._enqueue(call_id, JobKind.CALL_UPDATE, update.to_json())

    def post_card(self, card: CardCreate) -> int:
        """Journal a chat card; it goes after every earlier write of its call."""
        return self._enqueue(card.call_id, JobKind.CARD_POST, card.to_json())

    def upload_recording(self, call_id: str, wav: Path | str) -> int:
        """Copy ``wav`` into the spool (durably), then journal its upload."""
        source = Path(wav)
        if not source.is_file():
            raise StoreError(f"recording {source} does not exist")
        name = f"{uuid.uuid4().hex}{source.suffix}"
        tmp = self.spool / (name + ".part")
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, self.spool / name)
            fsync_dir(self.spool)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"cannot keep recording {source} for upload: {exc}") from exc
        return self._enqueue(call_id, JobKind.RECORDING_UPLOAD, {"file": name})

    def _enqueue(self, lane: str, kind: str, payload: dict[str, Any]) -> int:
        if not isinstance(lane, str) or not lane:
            raise ValueError("a write needs the call's id")
        now = self._clock()
        try:
            with self._lock:
                self._check_open()
                with transaction(self._db):
                    if kind in _KEYED:
                        payload[_KEY] = uuid.uuid4().hex
                    if kind == JobKind.CALL_UPDATE:
                        merged = self._merge_into_tail(lane, payload)
                        if merged is not None:
                            job_id = merged
                            inserted = False
                        else:
                            job_id = self._insert(lane, kind, payload, now)
                            inserted = True
                    else:
                        job_id = self._insert(lane, kind, payload, now)
                        inserted = True
                if inserted:
                    self._pending += 1
                    if self._held:
                        self._held = self._count_held()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot journal the CRM write ({kind}): {exc}") from exc
        self._notify()
        self._poke()
        return job_id

    def _insert(self, lane: str, kind: str, payload: dict[str, Any], now: float) -> int:
        cur = self._db.execute(
            "INSERT INTO outbox (lane, kind, payload, created_at) VALUES (?, ?, ?, ?)",
            (lane, kind, json.dumps(payload, separators=(",", ":")), now),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _merge_into_tail(self, lane: str, payload: dict[str, Any]) -> int | None:
        row = self._db.execute(
            "SELECT id, kind, payload, held FROM outbox WHERE lane = ? ORDER BY id DESC LIMIT 1",
            (lane,),
        ).fetchone()
        if row is None:
            return None
        job_id, kind, old_text, held = row
        if kind != JobKind.CALL_UPDATE or held or job_id in self._inflight:
            return None
        # Later fields win (a null clears); the new key matters: the old row may have
        # reached the CRM already under its key, and the CRM would answer a replay of that
        # key with the old result instead of applying the merged fields.
        merged = json.loads(old_text)
        merged.update(payload)
        self._db.execute(
            "UPDATE outbox SET payload = ? WHERE id = ?",
            (json.dumps(merged, separators=(",", ":")), job_id),
        )
        return int(job_id)

    # -- status -----------------------------------------------------------------------

    def status(self) -> OutboxStatus:
        with self._lock:
            return OutboxStatus(
                pending=self._pending,
                held=self._held,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                next_attempt_at=self._next_attempt_at,
                delivered=self._delivered,
                held_reason=self._held_reason,
            )

    @property
    def pending(self) -> int:
        return self.status().pending

    def subscribe(self, callback: Callable[[OutboxStatus], None]) -> Callable[[], None]:
        """Call ``callback`` on every change of ``status()``; returns an unsubscribe."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    def pending_jobs(self, lane: str | None = None) -> list[Job]:
        """The journal's content in delivery order (for diagnostics and tests)."""
        query = "SELECT id, lane, kind, payload, attempts FROM outbox"
        args: tuple[str, ...] = ()
        if lane is not None:
            query += " WHERE lane = ?"
            args = (lane,)
        with self._lock:
            rows = self._db_ack.execute(query + " ORDER BY id", args).fetchall()
        return [Job(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def _count(self) -> tuple[int, int]:
        row = self._db_ack.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0]), self._count_held()

    def _count_held(self) -> int:
        row = self._db_ack.execute(
            "SELECT COUNT(*) FROM outbox WHERE lane IN (SELECT lane FROM outbox WHERE held = 1)"
        ).fetchone()
        reason = self._db_ack.execute(
            "SELECT last_error FROM outbox WHERE held = 1 ORDER BY id LIMIT 1"
        ).fetchone()
        self._held_reason = None if reason is None else str(reason[0])
        return int(row[0])

    def _notify(self) -> None:
        status = self.status()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(status)
            except Exception:
                log.exception("outbox status listener failed")

    # -- control ------------------------------------------------------------------------

    def retry_now(self) -> None:
        """Forget the backoff: try everything pending at once (the UI's "Retry now")."""
        with self._lock:
            self._outage_until = 0.0
            self._outage_attempts = 0
            self._next_attempt_at = None
            self._db_ack.execute("UPDATE outbox SET not_before = 0 WHERE not_before > 0")
        self._notify()
        self._poke()

    def retry_held(self) -> int:
        """Send the writes the CRM refused once more; returns how many were released."""
        with self._lock:
            cur = self._db_ack.execute(
                "UPDATE outbox SET held = 0, not_before = 0, attempts = 0 WHERE held = 1"
            )
            released = cur.rowcount
            self._held = 0
            self._held_reason = None
        self._notify()
        self._poke()
        return released

    def close(self) -> None:
        """Close the journal (pending writes stay in it for the next start)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for conn in (self._db, self._db_ack):
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._proc_lock.release()
        self._poke()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the outbox is closed")

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wake.set)

    # -- delivery ------------------------------------------------------------------------

    async def run(self, send: Sender) -> None:
        """Deliver until cancelled or closed. ``send`` performs one job (see ``sender``);
        when it is a ``BatchSender``, the heads of up to ``batch_size`` calls go together.

        Cancelling is safe at any point: an interrupted delivery is simply sent again.
        """
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        batcher = send if isinstance(send, BatchSender) and self._batch_size > 1 else None
        per_task = self._batch_size if batcher is not None else 1
        running: dict[asyncio.Task[None], frozenset[str]] = {}
        try:
            while not self._closed:
                self._wake.clear()
                free = self._concurrency - len(running)
                wait_for: float | None = None
                if free > 0:
                    busy = frozenset().union(*running.values())
                    jobs, wait_for = await asyncio.to_thread(self._claim, free * per_task, busy)
                    for group in self._tasks_for(jobs, free, batcher):
                        if len(group) == 1:
                            task = asyncio.create_task(self._deliver(send, group[0]))
                        else:
                            assert batcher is not None
                            task = asyncio.create_task(self._deliver_batch(batcher, group))
                        running[task] = frozenset(j.lane for j in group)
                waiters: set[asyncio.Future[Any]] = set(running)
                wake_task = asyncio.ensure_future(self._wake.wait())
                waiters.add(wake_task)
                try:
                    await asyncio.wait(
                        waiters, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    wake_task.cancel()
                for task in [t for t in running if t.done()]:
                    del running[task]
                    task.result()  # _deliver never raises; surface a bug if it does
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            self._loop = None
            self._wake = None

    def _tasks_for(
        self, jobs: list[Job], free: int, batcher: BatchSender | None
    ) -> list[list[Job]]:
        """Split claimed heads into at most ``free`` deliveries: batches of up to
        ``batch_size`` batchable writes, and each other write alone. What does not fit is
        released for the next round."""
        groups: list[list[Job]] = []
        batch: list[Job] = []
        leftover: list[Job] = []
        for job in jobs:
            if batcher is not None and batcher.batchable(job):
                if not batch:
                    if len(groups) >= free:
                        leftover.append(job)
                        continue
                    groups.append(batch)
                batch.append(job)
                if len(batch) >= self._batch_size:
                    batch = []
            elif len(groups) < free:
                groups.append([job])
            else:
                leftover.append(job)
        if leftover:
            with self._lock:
                self._inflight.difference_update(j.id for j in leftover)
        return groups

    def sender(self, backend: CrmBackend) -> BackendSender:
        """Deliver through ``backend``: ``await outbox.run(outbox.sender(crm))``."""
        return backend_sender(backend, self.spool)

    async def drain(self, send: Sender, timeout: float) -> bool:
        """Run until nothing is pending (or only held writes are); False on timeout."""
        done = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_status(status: OutboxStatus) -> None:
            if status.pending - status.held == 0:
                loop.call_soon_threadsafe(done.set)

        unsubscribe = self.subscribe(on_status)
        runner = asyncio.create_task(self.run(send))
        try:
            on_status(self.status())
            await asyncio.wait_for(done.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            unsubscribe()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    def _claim(self, free: int, busy_lanes: frozenset[str]) -> tuple[list[Job], float | None]:
        """Heads of lanes that may go now; and in how many seconds to look again."""
        with self._lock:
            if self._closed:
                return [], None
            now = self._clock()
            if now < self._outage_until:
                return [], self._outage_until - now
            # A row is a lane's head when no older row of its lane exists; a held head keeps
            # its lane closed. Walks rows in id order and stops after enough heads.
            rows = self._db_ack.execute(
                """
                SELECT o.id, o.lane, o.kind, o.payload, o.attempts FROM outbox AS o
                WHERE o.held = 0 AND o.not_before <= ?
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox AS p WHERE p.lane = o.lane AND p.id < o.id)
                ORDER BY o.id LIMIT ?
                """,
                (now, free + len(busy_lanes)),
            ).fetchall()
            jobs: list[Job] = []
            for job_id, lane, kind, payload, attempts in rows:
                if lane in busy_lanes or job_id in self._inflight or len(jobs) >= free:
                    continue
                self._inflight.add(job_id)
                jobs.append(Job(job_id, lane, kind, json.loads(payload), attempts))
            wait_for: float | None = None
            if not jobs:
                row = self._db_ack.execute(
                    "SELECT MIN(not_before) FROM outbox WHERE held = 0 AND not_before > ?",
                    (now,),
                ).fetchone()
                if row[0] is not None:
                    wait_for = float(row[0]) - now
            return jobs, wait_for

    async def _deliver(self, send: Sender, job: Job) -> None:
        try:
            await send(job)
        except asyncio.CancelledError:
            with self._lock:
                self._inflight.discard(job.id)
            raise
        except errors.CrmError as exc:
            await asyncio.to_thread(self._failed, job, exc)
        except Exception as exc:  # a bug in a sender must not stop the other calls
            log.exception("delivering %s %s failed unexpectedly", job.kind, job.lane)
            await asyncio.to_thread(self._failed, job, exc)
        else:
            await asyncio.to_thread(self._ack, job)
        self._notify()

    async def _deliver_batch(self, send: BatchSender, jobs: list[Job]) -> None:
        try:
            outcomes: Sequence[BaseException | None] = await send.send_batch(jobs)
            if len(outcomes) != len(jobs):
                raise errors.ProtocolError(f"{len(outcomes)} results for {len(jobs)} writes")
        except asyncio.CancelledError:
            with self._lock:
                self._inflight.difference_update(j.id for j in jobs)
            raise
        except errors.CrmError as exc:
            outcomes = [exc] * len(jobs)
        except Exception as exc:  # a bug in a sender must not stop the outbox
            log.exception("delivering a batch of %d writes failed unexpectedly", len(jobs))
            outcomes = [exc] * len(jobs)
        done = [j for j, o in zip(jobs, outcomes, strict=True) if o is None]
        failed = [(j, o) for j, o in zip(jobs, outcomes, strict=True) if o is not None]
        await asyncio.to_thread(self._settle_batch, done, failed)
        self._notify()

    def _settle_batch(self, done: list[Job], failed: list[tuple[Job, BaseException]]) -> None:
        if done:
            self._ack_many(done)
        seen_outage = False
        for job, exc in failed:
            # One lost batch is one outage, not one per write (the backoff would jump).
            outage = isinstance(exc, _OUTAGE)
            self._failed(job, exc, count_outage=not (outage and seen_outage))
            seen_outage = seen_outage or outage

    def _ack(self, job: Job) -> None:
        self._ack_many([job])

    def _ack_many(self, jobs: list[Job]) -> None:
        with self._lock:
            self._inflight.difference_update(j.id for j in jobs)
            if self._closed:
                return
            try:
                with transaction(self._db_ack):
                    self._db_ack.executemany(
                        "DELETE FROM outbox WHERE id = ?", [(j.id,) for j in jobs]
                    )
            except sqlite3.Error:
                # The writes reached the CRM; they will be resent (harmlessly) next time.
                log.exception("cannot record the delivery of %d outbox jobs", len(jobs))
                return
            self._pending -= len(jobs)
            self._delivered += len(jobs)
            self._last_error = None
            self._last_error_at = None
            self._next_attempt_at = None
            self._outage_attempts = 0
            for job in jobs:
                if job.kind == JobKind.RECORDING_UPLOAD:
                    with contextlib.suppress(OSError):
                        (self.spool / str(job.payload["file"])).unlink()

    def _failed(self, job: Job, exc: BaseException, *, count_outage: bool = True) -> None:
        now = self._clock()
        message = _describe(job, exc)
        log.warning("%s", message)
        with self._lock:
            self._inflight.discard(job.id)
            if self._closed:
                return
            self._last_error = message
            self._last_error_at = now
            attempts = job.attempts + 1
            held = not isinstance(exc, _TRANSIENT) and isinstance(exc, errors.CrmError)
            delay = self._backoff.delay(attempts)
            if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            if isinstance(exc, _OUTAGE):
                self._outage_attempts += int(count_outage)
                if not isinstance(exc, errors.RateLimited) or exc.retry_after is None:
                    delay = self._backoff.delay(self._outage_attempts)
                self._outage_until = now + delay
            not_before = 0.0 if held else now + delay
            self._next_attempt_at = None if held else now + delay
            try:
                with transaction(self._db_ack):
                    self._db_ack.execute(
                        "UPDATE outbox SET attempts = ?, not_before = ?, held = ?, last_error = ?"
                        " WHERE id = ?",
                        (attempts, not_before, int(held), message, job.id),
                    )
            except sqlite3.Error:
                log.exception("cannot record the failure of outbox job %s", job.id)
                return
            if held:
                self._held = self._count_held()

    def _sweep_spool(self) -> None:
        """Remove spooled recordings no journalled upload refers to (a crash mid-enqueue)."""
        wanted = {
            json.loads(p)["file"]
            for (p,) in self._db_ack.execute(
                "SELECT payload FROM outbox WHERE kind = ?", (JobKind.RECORDING_UPLOAD,)
            )
        }
        for entry in self.spool.iterdir():
            if entry.name not in wanted:
                with contextlib.suppress(OSError):
                    entry.unlink()


def _describe(job: Job, exc: BaseException) -> str:
    what = {
        JobKind.CALL_CREATE: "saving the call",
        JobKind.CALL_UPDATE: "updating the call",
        JobKind.CARD_POST: "posting the chat card",
        JobKind.RECORDING_UPLOAD: "uploading the recording",
    }.get(job.kind, job.kind)
    if isinstance(exc, errors.TransportError):
        reason = f"the CRM is unreachable ({exc})"
    elif isinstance(exc, errors.AuthError):
        reason = "signed out of the CRM; changes wait until you sign in again"
    elif isinstance(exc, errors.CrmError):
        reason = str(exc)
    else:
        reason = f"internal error: {type(exc).__name__}: {exc}"
    return f"{what} {job.lane} failed: {reason}"


def backend_sender(backend: CrmBackend, spool: Path) -> BackendSender:
    """The ``Sender`` that performs journalled writes through any ``CrmBackend``."""
    return BackendSender(backend, spool)


class BackendSender:
    """Performs journalled writes through a ``CrmBackend``, alone or in batches."""

    def __init__(self, backend: CrmBackend, spool: Path) -> None:
        self._backend = backend
        self._spool = spool
        self._batches_refused = False

    @staticmethod
    def _request(job: Job) -> tuple[CallCreate | CallUpdate | CardCreate | str, str | None]:
        payload = dict(job.payload)
        key = payload.pop(_KEY, None)
        try:
            return _decode(job.kind, payload), key
        except errors.ProtocolError as exc:
            # Only a journal written by another version of the app can get here; holding
            # the row keeps it for a fix instead of retrying it forever.
            raise errors.ValidationError("bad_journal_entry", str(exc)) from exc

    async def __call__(self, job: Job) -> None:
        request, key = self._request(job)
        backend = self._backend
        if isinstance(request, CallCreate):
            await backend.create_call(request)
        elif isinstance(request, CallUpdate):
            await backend.update_call(job.lane, request, idempotency_key=key)
        elif isinstance(request, CardCreate):
            await backend.post_card(request)
        else:
            await backend.upload_recording(job.lane, self._spool / request, idempotency_key=key)

    def batchable(self, job: Job) -> bool:
        return job.kind != JobKind.RECORDING_UPLOAD

    async def send_batch(self, jobs: Sequence[Job]) -> Sequence[BaseException | None]:
        outcomes: list[BaseException | None] = [None] * len(jobs)
        writes: list[BatchWrite] = []
        sent: list[int] = []
        for index, job in enumerate(jobs):
            try:
                request, key = self._request(job)
            except errors.CrmError as exc:
                outcomes[index] = exc
                continue
            if isinstance(request, CallCreate):
                writes.append(BatchWrite(BatchOp.CALL_CREATE, call=request))
            elif isinstance(request, CallUpdate):
                writes.append(
                    BatchWrite(
                        BatchOp.CALL_UPDATE, call_id=job.lane, update=request, idempotency_key=key
                    )
                )
            elif isinstance(request, CardCreate):
                writes.append(BatchWrite(BatchOp.CARD_POST, card=request))
            else:
                raise AssertionError("recordings are never batched")
            sent.append(index)
        if not writes:
            return outcomes
        if not self._batches_refused:
            try:
                results = await self._backend.write_batch(writes, minimal=True)
            except errors.ApiError as exc:
                if exc.status not in (404, 405, 501):
                    raise
                # A CRM without POST /v1/batch: it refused the route, not the writes.
                log.warning("the CRM does not take batched writes (%s); sending one by one", exc)
                self._batches_refused = True
            else:
                for index, result in zip(sent, results, strict=True):
                    outcomes[index] = _result_error(result)
                return outcomes
        for index in sent:
            try:
                await self(jobs[index])
            except errors.CrmError as exc:
                outcomes[index] = exc
        return outcomes


def _result_error(result: BatchResult) -> errors.CrmError | None:
    """The exception the single request would have raised for this result."""
    if result.error is None:
        return None
    if result.error.code == "earlier_write_failed":  # not tried: try again with its call
        return errors.ServerError(result.error.code, result.error.message[:500], result.status)
    return errors.api_error(result.status, result.error.code, result.error.message[:500])


def _decode(kind: str, payload: dict[str, Any]) -> CallCreate | CallUpdate | CardCreate | str:
    if kind == JobKind.CALL_CREATE:
        return CallCreate.from_json(payload)
    if kind == JobKind.CALL_UPDATE:
        return CallUpdate.from_json(payload)
    if kind == JobKind.CARD_POST:
        return CardCreate.from_json(payload)
    if kind == JobKind.RECORDING_UPLOAD and isinstance(payload.get("file"), str):
        return str(payload["file"])
    raise errors.ProtocolError(f"unknown outbox entry {kind!r}")
