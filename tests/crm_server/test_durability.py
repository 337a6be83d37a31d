"""Killing the server (kill -9) and restarting it on the same database loses nothing
that was committed; the CLI starts, serves and reports its port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from crmclient.server import ServerConfig, start_server
from tests.crm_server.contract import check

ROOT = Path(__file__).resolve().parents[2]


def launch(db: Path, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmclient.server",
            "--db",
            str(db),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server prints its address
    assert line.startswith("crm server listening on http://"), line
    return proc, line.split()[-1]


def sign_in(client: httpx.Client) -> None:
    reply = client.post(
        "/v1/session", json={"email": "maya@lodgestory.test", "password": "demo-user"}
    )
    client.headers["Authorization"] = "Bearer " + check(reply, 201)["token"]


def test_kill_9_and_restart_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    proc, url = launch(db)
    ids = [str(uuid.uuid4()) for _ in range(60)]
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            sign_in(client)
            for call_id in ids:
                body = {
                    "id": call_id,
                    "direction": "inbound",
                    "remote_number": "+14155550111",
                    "started_at": "2026-11-20T09:00:00Z",
                }
                check(client.post("/v1/calls", json=body), 201)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    port = int(url.rsplit(":", 1)[1])
    proc, url2 = launch(db, port)  # same port: clients keep their base URL
    try:
        assert url2 == url
        with httpx.Client(base_url=url, timeout=10) as client:
            sign_in(client)
            listed = check(client.get("/v1/calls", params={"q": "Ana"}), 200)
            assert {c["id"] for c in listed["items"]} >= set(ids)
            assert listed["total"] == len(ids) + 1  # plus the seeded call with Ana
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_in_process_restart_keeps_data_and_event_ids(tmp_path: Path) -> None:
    config = ServerConfig(db_path=tmp_path / "crm.db")
    with start_server(config) as first, httpx.Client(base_url=first.base_url) as client:
        sign_in(client)
        check(client.put("/v1/presence", json={"status": "busy"}), 200)
    with start_server(config) as second, httpx.Client(base_url=second.base_url) as client:
        sign_in(client)
        assert check(client.get("/v1/presence"), 200)["status"] == "busy"
