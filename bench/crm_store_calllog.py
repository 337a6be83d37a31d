"""Call-log queries with filters over 100,000 calls in the embedded store (target <= 20 ms).

Each query is a full ``EmbeddedCrm.list_calls`` page (100 newest matches, typed records)
plus the total count of matches, for the filter combinations the call log offers.
Run: .venv/bin/python bench/crm_store_calllog.py [--calls N] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.crm_store_data import calls_db
from crmclient.embedded import EmbeddedCrm
from crmclient.models import CallDirection, CallFilter, CallStatus

TARGET_MS = 20.0
END = datetime(2026, 11, 1, tzinfo=UTC)

FILTERS = {
    "none": CallFilter(),
    "direction": CallFilter(direction=CallDirection.INBOUND),
    "missed_last_30d": CallFilter(
        statuses=(CallStatus.MISSED, CallStatus.NO_ANSWER), since=END - timedelta(days=30)
    ),
    "agent_inbound_week": CallFilter(
        agent_id="agent-3", direction=CallDirection.INBOUND, since=END - timedelta(days=7)
    ),
    "text_family_name": CallFilter(text="kobari"),
    "text_rare_family": CallFilter(text="zufita"),
    "text_given_name": CallFilter(text="maria"),
    "text_number_digits": CallFilter(text="(415) 000 12"),
    "text_and_status": CallFilter(text="elena", statuses=(CallStatus.COMPLETED,)),
    "live": CallFilter(live=True),
    "date_range_quarter": CallFilter(
        since=END - timedelta(days=120), until=END - timedelta(days=30)
    ),
}


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    crm = EmbeddedCrm(calls_db(args.calls))
    crm._user = crm._user.__class__(id="admin", email="a@x", name="Admin", role=crm._user.role)
    results = {}
    worst = 0.0
    for name, flt in FILTERS.items():
        timings = []
        cpu = []
        page = await crm.list_calls(flt)  # warm
        second = await crm.list_calls(flt, cursor=page.next_cursor) if page.next_cursor else None
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            page = await crm.list_calls(flt)
            timings.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        t0 = time.perf_counter()
        if page.next_cursor:
            second = await crm.list_calls(flt, cursor=page.next_cursor)
        next_ms = (time.perf_counter() - t0) * 1000
        p95 = sorted(timings)[int(0.95 * (len(timings) - 1))]
        worst = max(worst, p95, next_ms)
        results[name] = {
            "total": page.total,
            "page": len(page.items),
            "median_ms": round(statistics.median(timings), 3),
            "p95_ms": round(p95, 3),
            "cpu_median_ms": round(statistics.median(cpu), 3),
            "next_page_ms": round(next_ms, 3),
            "second_page": len(second.items) if second else 0,
        }
        print(
            f"{name:22s} total {page.total:6d}  median {results[name]['median_ms']:7.3f} ms"
            f"  p95 {p95:7.3f} ms  cpu {statistics.median(cpu):7.3f} ms"
            f"  next page {next_ms:7.3f} ms"
        )
    await crm.aclose()
    report = {
        "bench": "crm_store_calllog",
        "calls": args.calls,
        "repeat": args.repeat,
        "queries": results,
        "worst_ms": round(worst, 3),
        "target_ms": TARGET_MS,
        "pass": worst <= TARGET_MS,
        "load_average_1m": os.getloadavg()[0],
    }
    print(f"worst {worst:.3f} ms over {len(FILTERS)} filters (target <= {TARGET_MS} ms)")
    print(json.dumps(report))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
