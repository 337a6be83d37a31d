"""Two real engines on loopback, each with a direct (registrar-less) account."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import AccountAdded
from tests.softphone.helpers import Recorder

ENGINE = EngineConfig(rtp_bind_address="127.0.0.1", log_level=1, stats_interval_s=0.5)


@dataclass
class Phone:
    client: EngineClient
    events: Recorder
    account: AccountAdded
    name: str

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@127.0.0.1:{self.account.local_port}"


def start_phone(name: str, config: EngineConfig = ENGINE, **account: object) -> Phone:
    client = EngineClient(config)
    events = Recorder(client)
    client.start()
    added = client.add_account(
        AccountConfig(
            account_id=name,
            username=name,
            domain="127.0.0.1",
            bind_address="127.0.0.1",
            **account,  # type: ignore[arg-type]
        )
    )
    return Phone(client, events, added, name)


@pytest.fixture(scope="module")
def alice() -> Iterator[Phone]:
    phone = start_phone("alice")
    yield phone
    assert phone.client.stop() == 0


@pytest.fixture(scope="module")
def bob() -> Iterator[Phone]:
    phone = start_phone("bob")
    yield phone
    assert phone.client.stop() == 0
