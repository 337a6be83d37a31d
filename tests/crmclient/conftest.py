"""One reference CRM server per module (real HTTP and websockets on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from crmclient.http import HttpCrm, RetryPolicy, Timeouts
from crmclient.models import PasswordCredentials
from crmclient.server.config import ServerConfig
from crmclient.server.runner import RunningServer, start_server

MAYA = PasswordCredentials("maya@lodgestory.test", "demo-user")
SAM = PasswordCredentials("sam@lodgestory.test", "demo-user")
ADMIN = PasswordCredentials("arjun@lodgestory.test", "demo-admin")
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("crm") / "crm.db"
    running = start_server(ServerConfig(db_path=db, test_hooks=True, heartbeat_s=1.0))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def crm(server: RunningServer) -> AsyncIterator[HttpCrm]:
    client = HttpCrm(
        server.base_url, retry=FAST_RETRY, timeouts=Timeouts(total=5.0), heartbeat_s=1.0
    )
    try:
        yield client
    finally:
        await client.aclose()


def add_fault(server: RunningServer, **fault: object) -> None:
    response = httpx.post(f"{server.base_url}/v1/test/faults", json=fault)
    assert response.status_code == 201, response.text


def clear_faults(server: RunningServer) -> None:
    httpx.delete(f"{server.base_url}/v1/test/faults")
