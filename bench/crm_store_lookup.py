"""Contact lookup by number in the embedded store with 1,000,000 contacts (target p99 <= 1 ms).

Measures ``EmbeddedCrm.lookup_number`` end to end (SQL plus building the typed result), for
numbers that match a contact, numbers that only have a "maybe" match, and unknown numbers.
Run: .venv/bin/python bench/crm_store_lookup.py [--contacts N] [--queries N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.crm_store_data import contact_number, contacts_db
from crmclient.embedded import EmbeddedCrm

TARGET_P99_MS = 1.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20_000)
    args = parser.parse_args()
    crm = EmbeddedCrm(contacts_db(args.contacts))
    rng = random.Random(3)
    numbers = []
    for _ in range(args.queries):
        kind = rng.random()
        if kind < 0.8:
            numbers.append(contact_number(rng.randrange(args.contacts)))
        elif kind < 0.9:
            numbers.append(contact_number(1 + 97 * rng.randrange(args.contacts // 97)))
        else:
            numbers.append(f"+4420{rng.randrange(10**8):08d}")  # nobody
    for number in numbers[:1000]:  # warm the page cache, as a running app would be
        await crm.lookup_number(number)
    found = 0
    timings = []
    for number in numbers:
        t0 = time.perf_counter()
        result = await crm.lookup_number(number)
        timings.append((time.perf_counter() - t0) * 1000)
        found += bool(result.confirmed)
    await crm.aclose()
    p99 = percentile(timings, 0.99)
    report = {
        "bench": "crm_store_lookup",
        "contacts": args.contacts,
        "queries": args.queries,
        "matched": found,
        "p50_ms": round(statistics.median(timings), 4),
        "p99_ms": round(p99, 4),
        "max_ms": round(max(timings), 4),
        "target_p99_ms": TARGET_P99_MS,
        "pass": p99 <= TARGET_P99_MS,
        "load_average_1m": os.getloadavg()[0],
    }
    print(
        f"lookup by number, {args.contacts} contacts, {args.queries} queries: "
        f"p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, max {report['max_ms']} ms "
        f"(target p99 <= {TARGET_P99_MS} ms)"
    )
    print(json.dumps(report))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
