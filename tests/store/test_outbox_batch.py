"""The outbox delivering in batches: order per call, per-write outcomes, real server.

A batch carries the heads of many calls at once; each write's outcome must be handled as
if it had been sent alone (acknowledged, retried, or held for its call only).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmclient import errors
from crmclient.http import HttpCrm
from crmclient.models import (
    BatchResult,
    BatchWrite,
    CallCreate,
    CallDirection,
    CallStatus,
    CallUpdate,
    PasswordCredentials,
)
from crmclient.outbox import Backoff, BatchSender, Job, JobKind, Outbox
from crmclient.server import RunningServer, ServerConfig, start_server
from tests.store.crm_proc import EMAIL, PASSWORD
from tests.store.outbox_child import call_id, journal_call
from tests.store.test_outbox import FAST, call, card
from tests.store.waiting import async_wait_until

Outcome = Callable[[Job], BaseException | None]


class BatchRecorder:
    """A batching sender standing in for the CRM: ``outcome`` decides each write's fate."""

    def __init__(self, outcome: Outcome | None = None) -> None:
        self.outcome = outcome or (lambda job: None)
        self.batches: list[list[Job]] = []
        self.singles: list[Job] = []
        self.applied: list[Job] = []
        self.batch_error: BaseException | None = None

    async def __call__(self, job: Job) -> None:
        self.singles.append(job)
        error = self.outcome(job)
        if error is not None:
            raise error
        self.applied.append(job)

    def batchable(self, job: Job) -> bool:
        return job.kind != JobKind.RECORDING_UPLOAD

    async def send_batch(self, jobs: Sequence[Job]) -> Sequence[BaseException | None]:
        await asyncio.sleep(0)
        self.batches.append(list(jobs))
        if self.batch_error is not None:
            raise self.batch_error
        outcomes = [self.outcome(job) for job in jobs]
        self.applied.extend(j for j, o in zip(jobs, outcomes, strict=True) if o is None)
        return outcomes

    def lane(self, lane: str) -> list[Job]:
        return [j for j in self.applied if j.lane == lane]


def test_the_recorder_is_a_batch_sender() -> None:
    assert isinstance(BatchRecorder(), BatchSender)


async def test_batches_carry_many_calls_and_keep_each_calls_order(tmp_path: Path) -> None:
    calls = [call() for _ in range(150)]
    recorder = BatchRecorder()
    with Outbox(tmp_path / "outbox.db", concurrency=4, backoff=FAST) as outbox:
        for c in calls:
            outbox.create_call(c)
        for c in calls:
            outbox.post_card(card(c.id))
            outbox.update_call(c.id, CallUpdate(status=CallStatus.COMPLETED, duration_s=3))
        assert await outbox.drain(recorder, timeout=30)
        assert outbox.status().delivered == 150 * 3
    assert recorder.singles == []
    sizes = [len(b) for b in recorder.batches]
    assert max(sizes) == 100  # a full batch when a backlog waits
    assert len(recorder.batches) <= 12  # 450 writes, not 450 requests
    for batch in recorder.batches:
        lanes = [j.lane for j in batch]
        assert len(lanes) == len(set(lanes)), "two writes of one call in one batch"
    for c in calls:
        assert [j.kind for j in recorder.lane(c.id)] == [
            JobKind.CALL_CREATE,
            JobKind.CARD_POST,
            JobKind.CALL_UPDATE,
        ]
    assert Counter(j.id for j in recorder.applied).most_common(1)[0][1] == 1


async def test_a_refused_write_in_a_batch_holds_only_its_call(tmp_path: Path) -> None:
    bad, good = call(), [call() for _ in range(20)]
    refuse = True

    def outcome(job: Job) -> BaseException | None:
        if job.lane == bad.id and refuse:
            return errors.Conflict("invalid_transition", "a call cannot go from x to y", 409)
        return None

    recorder = BatchRecorder(outcome)
    with Outbox(tmp_path / "outbox.db", backoff=FAST) as outbox:
        outbox.create_call(bad)
        outbox.update_call(bad.id, CallUpdate(status=CallStatus.RINGING))
        for c in good:
            outbox.create_call(c)
            outbox.update_call(c.id, CallUpdate(status=CallStatus.RINGING))
        assert await outbox.drain(recorder, timeout=10)
        status = outbox.status()
        assert (status.pending, status.held) == (2, 2)
        assert status.held_reason is not None and "cannot go from" in status.held_reason
        assert recorder.lane(bad.id) == []
        for c in good:
            assert [j.kind for j in recorder.lane(c.id)] == ["call.create", "call.update"]
        refuse = False
        assert outbox.retry_held() == 1
        assert await outbox.drain(recorder, timeout=10)
        assert outbox.status().pending == 0
    assert [j.kind for j in recorder.lane(bad.id)] == ["call.create", "call.update"]


async def test_a_transient_write_is_retried_alone_and_the_rest_acknowledged(
    tmp_path: Path,
) -> None:
    flaky, steady = call(), [call() for _ in range(10)]
    failures = 0

    def outcome(job: Job) -> BaseException | None:
        nonlocal failures
        if job.lane == flaky.id and failures < 2:
            failures += 1
            return errors.ServerError("server_error", "try again later", 500)
        return None

    recorder = BatchRecorder(outcome)
    with Outbox(tmp_path / "outbox.db", backoff=FAST) as outbox:
        for c in [flaky, *steady]:
            outbox.create_call(c)
        assert await outbox.drain(recorder, timeout=10)
        assert outbox.status().pending == 0
    assert failures == 2
    sent = Counter(j.lane for b in [*recorder.batches, recorder.singles] for j in b)
    assert sent[flaky.id] == 3  # a lone retry goes as a single write
    assert {sent[c.id] for c in steady} == {1}  # acknowledged ones are never resent


class CountingBackoff(Backoff):
    """Waits a minute (no retry during the test), remembering the attempt numbers asked."""

    asked: list[int]

    def delay(self, attempts: int) -> float:
        self.asked.append(attempts)
        return 60.0


async def test_a_lost_batch_is_one_outage_not_one_per_write(tmp_path: Path) -> None:
    backoff = CountingBackoff()
    object.__setattr__(backoff, "asked", [])
    recorder = BatchRecorder()
    recorder.batch_error = errors.TransportError("connection refused")
    with Outbox(tmp_path / "outbox.db", backoff=backoff) as outbox:
        for _ in range(50):
            outbox.create_call(call())
        runner = asyncio.create_task(outbox.run(recorder))
        await async_wait_until(lambda: len(recorder.batches) >= 1, 10, "the first batch")
        await async_wait_until(lambda: outbox.status().last_error is not None, 10, "the error")
        await async_wait_until(lambda: len(backoff.asked) >= 100, 10, "every failure booked")
        # 50 writes failed in one request: one outage (attempt 1), not 50 growing delays.
        assert max(backoff.asked) == 1
        assert len(recorder.batches) == 1
        assert "unreachable" in (outbox.status().last_error or "")
        recorder.batch_error = None
        outbox.retry_now()
        await async_wait_until(lambda: outbox.status().pending == 0, 10, "recovery")
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert len({j.id for j in recorder.applied}) == len(recorder.applied) == 50


async def test_recordings_travel_alone_after_their_calls_writes(tmp_path: Path) -> None:
    c = call()
    wav = tmp_path / "rec.wav"
    wav.write_bytes(b"RIFF" + bytes(64))
    recorder = BatchRecorder()
    with Outbox(tmp_path / "outbox.db", backoff=FAST) as outbox:
        outbox.create_call(c)
        outbox.upload_recording(c.id, wav)
        outbox.post_card(card(c.id))
        for _ in range(5):
            outbox.create_call(call())
        assert await outbox.drain(recorder, timeout=10)
    assert recorder.batches, "the creates travelled together"
    assert all(j.kind != JobKind.RECORDING_UPLOAD for b in recorder.batches for j in b)
    assert JobKind.RECORDING_UPLOAD in [j.kind for j in recorder.singles]
    assert [j.kind for j in recorder.lane(c.id)] == [
        JobKind.CALL_CREATE,
        JobKind.RECORDING_UPLOAD,
        JobKind.CARD_POST,
    ]


# -- against the reference server over real HTTP -------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("crm") / "crm.db"
    with start_server(ServerConfig(db_path=db)) as running:
        yield running


class CountingCrm:
    """Delegates to a real backend, counting the batches and single writes it is asked."""

    def __init__(self, inner: HttpCrm) -> None:
        self.inner = inner
        self.batch_sizes: list[int] = []
        self.singles = 0

    async def write_batch(
        self, writes: Sequence[BatchWrite], *, minimal: bool = False
    ) -> tuple[BatchResult, ...]:
        self.batch_sizes.append(len(writes))
        return await self.inner.write_batch(writes, minimal=minimal)

    async def create_call(self, new: CallCreate) -> Any:
        self.singles += 1
        return await self.inner.create_call(new)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_delivery_to_the_server_in_batches_once_each_holding_only_a_refused_call(
    server: RunningServer, tmp_path: Path
) -> None:
    total = 200
    ids = {call_id(i) for i in range(total)}
    stuck = CallCreate(
        id=str(uuid.uuid4()),
        direction=CallDirection.INBOUND,
        remote_number="+14155550111",
        started_at=datetime.now(UTC),
        status=CallStatus.COMPLETED,
    )
    http = HttpCrm(server.base_url)
    await http.sign_in(PasswordCredentials(EMAIL, PASSWORD))
    crm = CountingCrm(http)
    try:
        with Outbox(tmp_path / "outbox.db", backoff=Backoff(base=0.05, cap=0.5)) as outbox:
            outbox.create_call(stuck)
            outbox.update_call(stuck.id, CallUpdate(status=CallStatus.RINGING))  # refused: 409
            for i in range(total):
                journal_call(outbox, i)
            assert await outbox.drain(outbox.sender(crm), timeout=60)
            status = outbox.status()
            assert (status.pending, status.held) == (1, 1)
            assert status.held_reason is not None and "ringing" in status.held_reason
            assert status.delivered == 3 * total + 1
    finally:
        await http.aclose()
    assert max(crm.batch_sizes) == 100
    assert len(crm.batch_sizes) + crm.singles <= 3 * total / 20  # not a request per write
    with sqlite3.connect(f"file:{server.config.db_path}?mode=ro", uri=True) as db:
        statuses = dict(db.execute("SELECT id, status FROM calls").fetchall())
        events = db.execute(
            "SELECT type, data FROM events WHERE type IN ('call.updated', 'card.posted')"
        ).fetchall()
    assert {statuses[i] for i in ids} == {"completed"}
    assert statuses[stuck.id] == "completed"
    per_call: Counter[tuple[str, str]] = Counter()
    for kind, data in events:
        body = json.loads(data)
        owner = body["call"]["id"] if kind == "call.updated" else body["card"]["call_id"]
        per_call[(kind, owner)] += 1
    # Exactly once: one event for the create, one for the update, one card; per call.
    assert {per_call[("call.updated", i)] for i in ids} == {2}
    assert {per_call[("card.posted", i)] for i in ids} == {1}
    assert per_call[("call.updated", stuck.id)] == 1


class NoBatchCrm(CountingCrm):
    """A CRM that predates ``POST /v1/batch``: the route is unknown (404)."""

    async def write_batch(
        self, writes: Sequence[BatchWrite], *, minimal: bool = False
    ) -> tuple[BatchResult, ...]:
        self.batch_sizes.append(len(writes))
        raise errors.NotFound("not_found", "Not Found", 404)


async def test_a_crm_without_batches_still_gets_every_write_one_by_one(
    server: RunningServer, tmp_path: Path
) -> None:
    http = HttpCrm(server.base_url)
    await http.sign_in(PasswordCredentials(EMAIL, PASSWORD))
    crm = NoBatchCrm(http)
    calls = [call() for _ in range(30)]
    try:
        with Outbox(tmp_path / "outbox.db", backoff=FAST) as outbox:
            for c in calls:
                outbox.create_call(c)
            assert await outbox.drain(outbox.sender(crm), timeout=30)
            assert (outbox.status().pending, outbox.status().held) == (0, 0)
            assert outbox.status().last_error is None
        for c in calls:
            assert (await http.get_call(c.id)).id == c.id
    finally:
        await http.aclose()
    assert crm.singles == 30
    assert len(crm.batch_sizes) == 1  # asked once, then never again
