"""Synthetic embedded-CRM data sets for the store benchmarks, cached in a temp folder.

Rows are written straight with ``executemany`` in one transaction (the same row shapes
``EmbeddedCrm`` writes), so a million contacts take seconds, not minutes. The cache is keyed
by size and schema version; delete the folder to rebuild.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crmclient.embedded import EmbeddedCrm
from crmclient.embedded.calllog import INSERT_CALL, call_columns
from crmclient.embedded.schema import MIGRATIONS
from crmclient.models import CallDirection, CallMode, CallRecord, CallStatus
from crmclient.store import transaction

CACHE = Path(tempfile.gettempdir()) / "lodgephone-bench"
FIRST = ["Maria", "Arjun", "Chen", "Fatima", "John", "Priya", "Luca", "Aiko", "Omar", "Sofia"]
LAST = ["Garcia", "Sharma", "Wang", "Khan", "Smith", "Patel", "Rossi", "Sato", "Ali", "Costa"]
STAMP = "2026-01-01T00:00:00Z"
# Guests of a real property are many different people: 60 first names and 5,832 family
# names built from syllables ("Kobarine"), so a name search is as selective as in life.
GIVEN = [
    *FIRST,
    "Ana",
    "Ben",
    "Carla",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jamal",
    "Kavya",
    "Leo",
    "Mei",
    "Nadia",
    "Oscar",
    "Paula",
    "Quinn",
    "Rahul",
    "Sara",
    "Tomas",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zara",
    "Amir",
    "Bianca",
    "Carlos",
    "Diya",
    "Emma",
    "Felix",
    "Gita",
    "Hana",
    "Ivan",
    "Julia",
    "Kenji",
    "Lina",
    "Marco",
    "Nora",
    "Olga",
    "Pedro",
    "Rosa",
    "Sven",
    "Tara",
    "Ugo",
    "Vera",
    "Will",
    "Yara",
    "Zoe",
]
SYLLABLES = [
    "ko",
    "ba",
    "ri",
    "ne",
    "sa",
    "to",
    "mi",
    "lu",
    "de",
    "ga",
    "vo",
    "pe",
    "ha",
    "zu",
    "fi",
    "ro",
    "ta",
    "ni",
]


def guest_name(rng: random.Random) -> str:
    family = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
    return f"{rng.choice(GIVEN)} {family}"


GENERATOR = 2  # bump when the generated data changes
SCHEMA = hashlib.sha1(f"{GENERATOR}{''.join(MIGRATIONS)}".encode()).hexdigest()[:8]


def contact_number(i: int) -> str:
    """A distinct E.164 number per contact index (US and India ranges)."""
    return f"+1415{i:07d}" if i % 2 == 0 else f"+9198{i:08d}"


def contacts_db(count: int) -> Path:
    path = CACHE / f"contacts-{count}-{SCHEMA}.db"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for leftover in CACHE.glob(tmp.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    crm = EmbeddedCrm(tmp)
    db = crm._db
    rng = random.Random(7)
    batch = 50_000
    with transaction(db):
        for base in range(0, count, batch):
            rows = []
            phones = []
            for i in range(base, min(base + batch, count)):
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}"
                number = contact_number(i)
                cid = f"ct-{i}"
                rows.append(
                    (
                        cid,
                        name,
                        json.dumps([number]),
                        "[]",
                        None,
                        STAMP,
                        STAMP,
                        f"{name.lower()} {number} {number[1:]}",
                    )
                )
                phones.append((number, cid))
            db.executemany(
                "INSERT INTO contacts (id, name, phones, emails, company, created_at,"
                " updated_at, haystack) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.executemany("INSERT INTO contact_phones (number, contact_id) VALUES (?, ?)", phones)
        db.executemany(
            "INSERT INTO maybe_numbers (number, contact_id, source, excerpt) VALUES (?,?,?,?)",
            [
                (contact_number(i + 1), f"ct-{i}", "signature", "call me")
                for i in range(0, count, 97)
            ],
        )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    tmp.rename(path)
    print(f"built {count} contacts in {time.perf_counter() - started:.1f} s -> {path}")
    return path


def calls_db(count: int) -> Path:
    path = CACHE / f"calls-{count}-{SCHEMA}.db"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for leftover in CACHE.glob(tmp.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    crm = EmbeddedCrm(tmp)
    db = crm._db
    rng = random.Random(11)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    statuses = [CallStatus.COMPLETED] * 6 + [
        CallStatus.MISSED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.FAILED,
    ]
    agents = [f"agent-{n}" for n in range(20)]
    rows = []
    for i in range(count):
        started_at = end - timedelta(seconds=rng.uniform(0, 365 * 86400))
        status = CallStatus.IN_PROGRESS if i % 5000 == 0 else rng.choice(statuses)
        record = CallRecord(
            id=f"call-{i}",
            direction=rng.choice([CallDirection.INBOUND, CallDirection.OUTBOUND]),
            status=status,
            mode=CallMode.SOFTPHONE,
            agent_id=rng.choice(agents),
            remote_number=contact_number(rng.randrange(200_000)),
            created_at=started_at,
            started_at=started_at,
            updated_at=started_at,
            guest_name=guest_name(rng),
            duration_s=rng.randrange(600) if status is CallStatus.COMPLETED else None,
        )
        rows.append((*call_columns(record), json.dumps(record.to_json(), separators=(",", ":"))))
    with transaction(db):
        for row in rows:
            cur = db.execute(INSERT_CALL, row[:-1])
            db.execute(
                "INSERT INTO call_data (rowid, data) VALUES (?, ?)", (cur.lastrowid, row[-1])
            )
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    tmp.rename(path)
    print(f"built {count} calls in {time.perf_counter() - started:.1f} s -> {path}")
    return path
