"""Nothing lost, nothing doubled: the CRM server or the client killed with kill -9 mid-run.

Real processes, a real HTTP server on loopback with a file database, the real client.
"Exactly once" is read from the server's own event log: every applied write publishes one
event, so a replay that was wrongly applied twice would show as a second event.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmclient.http import HttpCrm
from crmclient.models import PasswordCredentials
from crmclient.outbox import Backoff, Outbox
from tests.store.crm_proc import EMAIL, PASSWORD, ROOT, CrmProcess
from tests.store.outbox_child import call_id, journal_call
from tests.store.waiting import async_wait_until, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CrmProcess]:
    crm = CrmProcess(tmp_path / "crm.db")
    crm.start()
    yield crm
    crm.stop()


def assert_each_applied_once(server: CrmProcess, ids: set[str], *, cards: int = 1) -> None:
    statuses = dict(server.query("SELECT id, status FROM calls"))
    missing = ids - statuses.keys()
    assert not missing, f"{len(missing)} calls never arrived"
    assert {statuses[i] for i in ids} == {"completed"}
    updates, posted = server.applied(ids)
    # One event for the create and one for the update; ``cards`` cards each.
    assert {updates[i] for i in ids} == {2}
    assert {posted[i] for i in ids} == {cards}


async def test_server_killed_during_500_calls_all_arrive_once(
    server: CrmProcess, tmp_path: Path
) -> None:
    total = 500
    ids = {call_id(i) for i in range(total)}
    # Small batches: delivery stays batched but takes enough round trips to be killed midway.
    outbox = Outbox(tmp_path / "outbox.db", batch_size=10, backoff=Backoff(base=0.05, cap=0.5))
    for i in range(total):
        journal_call(outbox, i, card=False)  # cards: see the client kill -9 test
    assert outbox.status().pending == 2 * total
    crm = HttpCrm(server.url)
    await crm.sign_in(PasswordCredentials(EMAIL, PASSWORD))
    runner = asyncio.create_task(outbox.run(outbox.sender(crm)))
    try:
        await async_wait_until(lambda: outbox.status().delivered >= 300, 60, "some delivery")
        server.kill()
        at_kill = outbox.status()
        assert 0 < at_kill.pending < 2 * total  # killed in the middle of the run
        await async_wait_until(
            lambda: outbox.status().last_error is not None, 30, "the outage to be noticed"
        )
        server.start()  # same file, same port
        await async_wait_until(lambda: outbox.status().pending == 0, 90, "the rest")
        assert outbox.status().last_error is None
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await crm.aclose()
        outbox.close()
    assert_each_applied_once(server, ids, cards=0)


def test_client_killed_with_kill_9_during_delivery(server: CrmProcess, tmp_path: Path) -> None:
    total = 300
    ids = {call_id(i) for i in range(total)}
    journal = tmp_path / "client-outbox.db"
    command = [sys.executable, "-m", "tests.store.outbox_child", str(journal), server.url]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(
        [*command, "--enqueue", str(total)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "enqueued"
        wait_until(lambda: server.call_count(ids) >= 40, 60, "delivery to start")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
        if first.stdout is not None:
            first.stdout.close()
    arrived = server.call_count(ids)
    assert arrived < total, "the client finished before it could be killed"

    second = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = second.communicate(timeout=90)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(10)
    assert second.returncode == 0
    assert out.splitlines() == ["enqueued", "drained 0"]
    assert_each_applied_once(server, ids)
