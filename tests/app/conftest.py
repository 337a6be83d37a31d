"""Fixtures for app tests: an asyncio runner thread and the embedded CRM on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runloop import AsyncRunner
from crmclient.embedded import EmbeddedCrm


@pytest.fixture
def runner() -> Iterator[AsyncRunner]:
    r = AsyncRunner()
    yield r
    r.stop()


@pytest.fixture
def embedded(runner: AsyncRunner, tmp_path: Path) -> Iterator[EmbeddedCrm]:
    async def make() -> EmbeddedCrm:
        return EmbeddedCrm(tmp_path / "crm.sqlite")

    crm = runner.run(make())
    yield crm
    runner.run(crm.aclose())
