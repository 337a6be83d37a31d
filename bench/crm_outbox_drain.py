"""Outbox drain rate to the reference CRM server on loopback (target >= 1,000 records/s).

Journals N call records (``CallCreate``), starts ``python -m crmclient.server`` on a file
database in its own process, and times ``Outbox.drain`` through the real ``HttpCrm``.
Run: .venv/bin/python bench/crm_outbox_drain.py [--records N] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crmclient.http import HttpCrm  # noqa: E402
from crmclient.models import CallCreate, CallDirection, PasswordCredentials  # noqa: E402
from crmclient.outbox import Job, Outbox  # noqa: E402
from tests.store.crm_proc import CrmProcess  # noqa: E402

TARGET = 1000.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), to split the cost per side."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="outbox-drain-"))
    server = CrmProcess(folder / "crm.db")
    server.start()
    try:
        url = server.url
        outbox = Outbox(folder / "outbox.db", concurrency=args.concurrency)
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        for _ in range(args.records):
            outbox.create_call(
                CallCreate(
                    id=str(uuid.uuid4()),
                    direction=CallDirection.OUTBOUND,
                    remote_number="+14155550111",
                    started_at=now,
                )
            )
        journal_s = time.perf_counter() - t0
        crm = HttpCrm(url)
        await crm.sign_in(PasswordCredentials("maya@lodgestory.test", "demo-user"))
        assert server.proc is not None
        server_pid = server.proc.pid
        t0, c0, s0 = time.perf_counter(), time.process_time(), _cpu_s(server_pid)
        drained = await outbox.drain(outbox.sender(crm), timeout=600)
        drain_s = time.perf_counter() - t0
        client_cpu_ms = (time.process_time() - c0) / args.records * 1000
        server_cpu_ms = (_cpu_s(server_pid) - s0) / args.records * 1000
        status = outbox.status()
        await crm.aclose()
        outbox.close()
        # The journal's own cost, without HTTP: the same drain into a sender that only
        # accepts, so the figure above can be split into outbox and transport.
        null_box = Outbox(folder / "null-outbox.db", concurrency=args.concurrency)
        for _ in range(args.records):
            null_box.create_call(
                CallCreate(
                    id=str(uuid.uuid4()),
                    direction=CallDirection.OUTBOUND,
                    remote_number="+14155550111",
                    started_at=now,
                )
            )

        async def accept(job: Job) -> None:
            await asyncio.sleep(0)

        t0 = time.perf_counter()
        await null_box.drain(accept, timeout=600)
        null_rate = args.records / (time.perf_counter() - t0)
        null_box.close()
    finally:
        server.stop()
    rate = args.records / drain_s
    report = {
        "bench": "crm_outbox_drain",
        "records": args.records,
        "concurrency": args.concurrency,
        "journal_s": round(journal_s, 3),
        "journal_per_s": round(args.records / journal_s, 1),
        "drain_s": round(drain_s, 3),
        "records_per_s": round(rate, 1),
        "drained": drained and status.pending == 0,
        "client_cpu_ms_per_record": round(client_cpu_ms, 3),
        "server_cpu_ms_per_record": round(server_cpu_ms, 3),
        "outbox_only_records_per_s": round(null_rate, 1),
        "target_per_s": TARGET,
        "pass": drained and rate >= TARGET,
        "load_average_1m": os.getloadavg()[0],
    }
    print(
        f"journalled {args.records} records in {journal_s:.2f} s "
        f"({report['journal_per_s']}/s, fsync each); drained to the server in {drain_s:.2f} s: "
        f"{rate:.0f} records/s (target >= {TARGET:.0f}); client CPU {client_cpu_ms:.2f} ms/record, "
        f"server CPU {server_cpu_ms:.2f} ms/record; "
        f"outbox alone (no HTTP): {null_rate:.0f} records/s"
    )
    print(json.dumps(report))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
