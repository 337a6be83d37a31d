"""The outbox journal on its own: ordering, coalescing, retries, refusals, restarts.

The sender here is a recorder standing in for the CRM (the edge); the end-to-end runs
against the real backends are in test_outbox_delivery.py and test_outbox_crash.py.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmclient import errors
from crmclient.models import (
    CallCreate,
    CallDirection,
    CallStatus,
    CallUpdate,
    CardCreate,
    CardKind,
)
from crmclient.outbox import Backoff, Job, JobKind, Outbox, OutboxStatus
from crmclient.store import StoreLocked
from tests.store.waiting import async_wait_until

FAST = Backoff(base=0.01, cap=0.05, floor=0.001)


def call(call_id: str | None = None) -> CallCreate:
    return CallCreate(
        id=call_id or str(uuid.uuid4()),
        direction=CallDirection.OUTBOUND,
        remote_number="+14155550100",
        started_at=datetime.now(UTC),
    )


def card(call_id: str, kind: CardKind = CardKind.COMPLETED) -> CardCreate:
    return CardCreate(
        id=str(uuid.uuid4()),
        chat_id="chat-1",
        call_id=call_id,
        kind=kind,
        direction=CallDirection.OUTBOUND,
        status=CallStatus.COMPLETED,
    )


class Recorder:
    """Accepts every job (after an optional hook) and remembers what arrived, in order."""

    def __init__(self, hook: Callable[[Job], Any] | None = None) -> None:
        self.got: list[Job] = []
        self.hook = hook

    async def __call__(self, job: Job) -> None:
        await asyncio.sleep(random.uniform(0, 0.002))
        if self.hook is not None:
            result = self.hook(job)
            if asyncio.iscoroutine(result):
                await result
        self.got.append(job)

    def lane(self, lane: str) -> list[Job]:
        return [j for j in self.got if j.lane == lane]


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


async def test_each_call_delivered_in_order_while_calls_interleave(journal: Path) -> None:
    calls = [call() for _ in range(30)]
    with Outbox(journal, concurrency=6, backoff=FAST) as outbox:
        for c in calls:
            outbox.create_call(c)
        for c in calls:
            outbox.post_card(card(c.id, CardKind.INITIATED))
            outbox.update_call(c.id, CallUpdate(status=CallStatus.RINGING))
            outbox.post_card(card(c.id, CardKind.COMPLETED))
            outbox.update_call(c.id, CallUpdate(status=CallStatus.COMPLETED, duration_s=5))
        assert outbox.status().pending == 30 * 5
        recorder = Recorder()
        assert await outbox.drain(recorder, timeout=30)
        assert outbox.status().pending == 0
        assert outbox.status().delivered == 30 * 5
    for c in calls:
        kinds = [j.kind for j in recorder.lane(c.id)]
        assert kinds == [
            JobKind.CALL_CREATE,
            JobKind.CARD_POST,
            JobKind.CALL_UPDATE,
            JobKind.CARD_POST,
            JobKind.CALL_UPDATE,
        ]
        assert recorder.lane(c.id)[-1].payload["status"] == "completed"


async def test_unsent_updates_coalesce_but_cards_and_creates_stay_apart(journal: Path) -> None:
    c = call()
    with Outbox(journal) as outbox:
        outbox.create_call(c)
        outbox.update_call(c.id, CallUpdate(status=CallStatus.RINGING))
        outbox.update_call(c.id, CallUpdate(status=CallStatus.IN_PROGRESS, notes="early"))
        outbox.update_call(c.id, CallUpdate(notes="later"))
        outbox.post_card(card(c.id))
        outbox.update_call(c.id, CallUpdate(outcome="booked"))
        outbox.update_call(c.id, CallUpdate(clear=("outcome",)))
        jobs = outbox.pending_jobs(c.id)
        assert outbox.status().pending == 4
    assert [j.kind for j in jobs] == [
        JobKind.CALL_CREATE,
        JobKind.CALL_UPDATE,
        JobKind.CARD_POST,
        JobKind.CALL_UPDATE,
    ]
    first, second = jobs[1].payload, jobs[3].payload
    assert first["status"] == "in_progress"
    assert first["notes"] == "later"
    assert second["outcome"] is None  # the later clear wins over the earlier value
    assert first["_idempotency_key"] != second["_idempotency_key"]


async def test_an_update_in_flight_is_never_merged_into(journal: Path) -> None:
    c = call()
    release = asyncio.Event()
    entered = asyncio.Event()

    async def hold_first_update(job: Job) -> None:
        if job.kind == JobKind.CALL_UPDATE and not entered.is_set():
            entered.set()
            await release.wait()

    recorder = Recorder(hold_first_update)
    with Outbox(journal) as outbox:
        outbox.create_call(c)
        outbox.update_call(c.id, CallUpdate(status=CallStatus.RINGING))
        runner = asyncio.create_task(outbox.run(recorder))
        await asyncio.wait_for(entered.wait(), 10)
        outbox.update_call(c.id, CallUpdate(status=CallStatus.IN_PROGRESS))
        assert outbox.status().pending == 2
        release.set()
        await async_wait_until(lambda: outbox.status().pending == 0, 10, "delivery")
        runner.cancel()
    statuses = [j.payload.get("status") for j in recorder.lane(c.id)]
    assert statuses == ["dialing", "ringing", "in_progress"]


async def test_a_merged_update_gets_a_new_key_after_a_failed_attempt(journal: Path) -> None:
    """The failed attempt may have been applied; its key must not hide the merged fields."""
    c = call()
    failures = 0

    def fail_first_update(job: Job) -> None:
        nonlocal failures
        if job.kind == JobKind.CALL_UPDATE and failures == 0:
            failures += 1
            raise errors.RequestTimeout("no answer")

    recorder = Recorder(fail_first_update)
    with Outbox(journal, backoff=Backoff(base=5, cap=5, floor=5)) as outbox:
        outbox.create_call(c)
        outbox.update_call(c.id, CallUpdate(status=CallStatus.RINGING))
        first_key = outbox.pending_jobs(c.id)[1].payload["_idempotency_key"]
        runner = asyncio.create_task(outbox.run(recorder))
        await async_wait_until(lambda: failures == 1, 10, "the first attempt")
        await async_wait_until(lambda: outbox.status().last_error is not None, 10, "error")
        outbox.update_call(c.id, CallUpdate(notes="typed while offline"))
        merged = outbox.pending_jobs(c.id)
        assert len(merged) == 1
        assert merged[0].payload["_idempotency_key"] != first_key
        outbox.retry_now()
        await async_wait_until(lambda: outbox.status().pending == 0, 10, "delivery")
        runner.cancel()
    assert recorder.lane(c.id)[-1].payload["notes"] == "typed while offline"


async def test_outage_retries_with_backoff_and_reports_the_error(journal: Path) -> None:
    calls = [call() for _ in range(5)]
    down = True
    attempts = 0

    def crm(job: Job) -> None:
        nonlocal attempts
        attempts += 1
        if down:
            raise errors.TransportError("connection refused")

    seen: list[OutboxStatus] = []
    recorder = Recorder(crm)
    with Outbox(journal, backoff=FAST) as outbox:
        outbox.subscribe(seen.append)
        for c in calls:
            outbox.create_call(c)
        runner = asyncio.create_task(outbox.run(recorder))
        await async_wait_until(lambda: attempts >= 4, 10, "several attempts")
        status = outbox.status()
        assert status.pending == 5
        assert status.last_error is not None
        assert "unreachable" in status.last_error
        assert status.next_attempt_at is not None
        down = False
        await async_wait_until(lambda: outbox.status().pending == 0, 10, "recovery")
        runner.cancel()
        assert outbox.status().last_error is None
    assert sorted(j.lane for j in recorder.got) == sorted(c.id for c in calls)
    assert seen[0].pending == 1
    assert seen[-1].pending == 0


async def test_a_refused_write_is_held_and_blocks_only_its_call(journal: Path) -> None:
    bad, good = call(), call()
    refuse = True

    def crm(job: Job) -> None:
        if job.lane == bad.id and refuse:
            raise errors.ValidationError("invalid", "remote_number is not dialable")

    recorder = Recorder(crm)
    with Outbox(journal, backoff=FAST) as outbox:
        outbox.create_call(bad)
        outbox.update_call(bad.id, CallUpdate(status=CallStatus.RINGING))
        outbox.create_call(good)
        outbox.update_call(good.id, CallUpdate(status=CallStatus.RINGING))
        assert await outbox.drain(recorder, timeout=10)
        status = outbox.status()
        assert (status.pending, status.held) == (2, 2)
        assert status.held_reason is not None
        assert "not dialable" in status.held_reason
        assert [j.kind for j in recorder.lane(good.id)] == ["call.create", "call.update"]
        assert recorder.lane(bad.id) == []
        refuse = False
        assert outbox.retry_held() == 1
        assert await outbox.drain(recorder, timeout=10)
        assert outbox.status().pending == 0
        assert outbox.status().held_reason is None
    assert [j.kind for j in recorder.lane(bad.id)] == ["call.create", "call.update"]


async def test_pending_writes_survive_a_restart(journal: Path) -> None:
    c = call()
    with Outbox(journal) as outbox:
        outbox.create_call(c)
        outbox.update_call(c.id, CallUpdate(status=CallStatus.RINGING))
        outbox.post_card(card(c.id))
    with Outbox(journal) as outbox:
        assert outbox.status().pending == 3
        recorder = Recorder()
        assert await outbox.drain(recorder, timeout=10)
    with Outbox(journal) as outbox:
        assert outbox.status().pending == 0
    assert [j.kind for j in recorder.got] == ["call.create", "call.update", "card.post"]


def test_one_process_owns_a_journal(journal: Path) -> None:
    with Outbox(journal), pytest.raises(StoreLocked, match="in use"):
        Outbox(journal)
    with Outbox(journal):  # released on close
        pass


async def test_a_recording_is_kept_even_if_the_original_is_deleted(
    journal: Path, tmp_path: Path
) -> None:
    c = call()
    wav = tmp_path / "rec.wav"
    wav.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    received: list[bytes] = []
    with Outbox(journal) as outbox:
        outbox.create_call(c)
        outbox.upload_recording(c.id, wav)
        wav.unlink()

        async def crm(job: Job) -> None:
            if job.kind == JobKind.RECORDING_UPLOAD:
                received.append((outbox.spool / job.payload["file"]).read_bytes())

        assert await outbox.drain(crm, timeout=10)
        assert list(outbox.spool.iterdir()) == []
    assert received == [b"RIFF" + bytes(range(256)) * 40]


def test_bad_input_is_refused_with_a_reason_and_loses_nothing(
    journal: Path, tmp_path: Path
) -> None:
    with Outbox(journal) as outbox:
        outbox.create_call(call())
        with pytest.raises(errors.CrmError, match="does not exist"):
            outbox.upload_recording("x", tmp_path / "missing.wav")
        with pytest.raises(ValueError, match="call's id"):
            outbox.update_call("", CallUpdate(notes="x"))
        assert outbox.update_call("x", CallUpdate()) == 0
        assert outbox.status().pending == 1
