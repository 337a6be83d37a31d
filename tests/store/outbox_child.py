"""A client process that journals calls and delivers them to a CRM (killed by the tests).

``python -m tests.store.outbox_child JOURNAL URL [--enqueue N]``: with ``--enqueue``,
journal N calls (create, update to completed, a chat card), print ``enqueued``; then deliver
until nothing is pending and print ``drained``.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from crmclient.http import HttpCrm
from crmclient.models import (
    CallCreate,
    CallDirection,
    CallStatus,
    CallUpdate,
    CardCreate,
    CardKind,
    PasswordCredentials,
)
from crmclient.outbox import Backoff, Outbox
from tests.store.crm_proc import CHAT, EMAIL, PASSWORD

NAMESPACE = uuid.UUID("6c1f4d0e-7c55-4a39-9d7e-0b7f3d6f2a11")


def call_id(i: int) -> str:
    return str(uuid.uuid5(NAMESPACE, str(i)))


def journal_call(outbox: Outbox, i: int, *, card: bool = True) -> None:
    cid = call_id(i)
    outbox.create_call(
        CallCreate(
            id=cid,
            direction=CallDirection.INBOUND,
            remote_number="+14155550111",
            started_at=datetime.now(UTC),
            status=CallStatus.IN_PROGRESS,
            chat_id=CHAT,
        )
    )
    outbox.update_call(cid, CallUpdate(status=CallStatus.COMPLETED, duration_s=i % 300))
    if not card:
        return
    outbox.post_card(
        CardCreate(
            id=str(uuid.uuid5(NAMESPACE, f"card-{i}")),
            chat_id=CHAT,
            call_id=cid,
            kind=CardKind.COMPLETED,
            direction=CallDirection.INBOUND,
            status=CallStatus.COMPLETED,
            duration_s=i % 300,
        )
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("journal", type=Path)
    parser.add_argument("url")
    parser.add_argument("--enqueue", type=int, default=0)
    args = parser.parse_args()
    # Small batches: still batched, but enough round trips for the test to kill it midway.
    outbox = Outbox(args.journal, batch_size=10, backoff=Backoff(base=0.05, cap=0.5))
    for i in range(args.enqueue):
        journal_call(outbox, i)
    print("enqueued", flush=True)
    crm = HttpCrm(args.url)
    await crm.sign_in(PasswordCredentials(EMAIL, PASSWORD))
    while not await outbox.drain(outbox.sender(crm), timeout=60):
        pass
    print("drained", outbox.status().pending, flush=True)
    await crm.aclose()
    outbox.close()


if __name__ == "__main__":
    asyncio.run(main())
