"""One reference server per module (in a thread, real HTTP on loopback) and signed-in
clients for the seeded owner, admin and users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crmclient.server import RunningServer, ServerConfig, start_server

PASSWORDS = {"owner": "demo-owner", "admin": "demo-admin", "user": "demo-user"}
USERS = {
    "olivia": ("olivia@lodgestory.test", "owner"),
    "arjun": ("arjun@lodgestory.test", "admin"),
    "maya": ("maya@lodgestory.test", "user"),
    "sam": ("sam@lodgestory.test", "user"),
    "priya": ("priya@lodgestory.test", "user"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("crm") / "crm.db"
    with start_server(ServerConfig(db_path=db, simulate=True, test_hooks=True)) as running:
        yield running


def sign_in(base_url: str, who: str) -> httpx.Client:
    email, role = USERS[who]
    client = httpx.Client(base_url=base_url, timeout=10)
    reply = client.post("/v1/session", json={"email": email, "password": PASSWORDS[role]})
    assert reply.status_code == 201, reply.text
    client.headers["Authorization"] = "Bearer " + reply.json()["token"]
    return client


@pytest.fixture(scope="module")
def clients(server: RunningServer) -> Iterator[dict[str, httpx.Client]]:
    made = {who: sign_in(server.base_url, who) for who in USERS}
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def anon(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def db_path(server: RunningServer) -> Path:
    return server.config.db_path
