"""The reference CRM server as a real subprocess on a file database, and what it stored.

Reading the server's SQLite file directly (WAL allows a concurrent reader) is how the tests
check "exactly once": every applied write publishes one event, a deduplicated replay none.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "maya@lodgestory.test"
PASSWORD = "demo-user"
CHAT = "chat_ana_wa"


class CrmProcess:
    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crmclient.server",
                "--db",
                str(self.db),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server prints its address when listening
        assert line.startswith("crm server listening on http://"), line
        self.port = int(line.rsplit(":", 1)[1])

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the server answers HTTP: its schema and seed exist by then (it prints its
        address as soon as the socket is bound, before that)."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.url}/v1/me", timeout=2.0)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            threading.Event().wait(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._forget()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self._forget()

    def _forget(self) -> None:
        assert self.proc is not None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql, args).fetchall()

    def call_count(self, ids: set[str]) -> int:
        rows = self.query("SELECT id FROM calls")
        return sum(1 for (call_id,) in rows if call_id in ids)

    def applied(self, ids: set[str]) -> tuple[Counter[str], Counter[str]]:
        """Per call: how many call.updated events, and how many card.posted events."""
        updates: Counter[str] = Counter()
        cards: Counter[str] = Counter()
        for kind, data in self.query(
            "SELECT type, data FROM events WHERE type IN ('call.updated', 'card.posted')"
        ):
            body = json.loads(str(data))
            if kind == "call.updated" and body["call"]["id"] in ids:
                updates[body["call"]["id"]] += 1
            elif kind == "card.posted" and body["card"]["call_id"] in ids:
                cards[body["card"]["call_id"]] += 1
        return updates, cards
