"""An agent signs in once: the session survives a restart through the OS keyring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.signin import SessionKeeper, keyring_account
from crmclient.http import HttpCrm
from crmclient.models import PasswordCredentials
from crmclient.secrets import Backend, SecretKind, SecretStore
from crmclient.server.config import ServerConfig
from crmclient.server.runner import RunningServer, start_server
from tests.crmclient import keyring_rig

pytestmark = pytest.mark.skipif(not keyring_rig.available(), reason="needs gnome-keyring")
EMAIL = "maya@lodgestory.test"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[keyring_rig.KeyringRig]:
    with keyring_rig.secret_service(tmp_path_factory.mktemp("keyring")) as running:
        yield running


@pytest.fixture
def store(rig: keyring_rig.KeyringRig, monkeypatch: pytest.MonkeyPatch) -> SecretStore:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", rig.bus_address)
    return SecretStore(Backend.SECRET_SERVICE)


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(ServerConfig(db_path=tmp_path / "crm.sqlite"))
    yield server
    server.stop()


async def test_signed_in_once_restores_after_restart_and_forgets_on_sign_out(
    crm: RunningServer, store: SecretStore, rig: keyring_rig.KeyringRig
) -> None:
    first = HttpCrm(crm.base_url)
    keeper = SessionKeeper(first, crm.base_url, EMAIL, store)
    assert await keeper.restore() is None  # nothing kept yet: the agent signs in
    token = await first.sign_in(PasswordCredentials(email=EMAIL, password="demo-user"))
    kept = store.get(SecretKind.CRM_TOKEN, keyring_account(crm.base_url, EMAIL))
    assert kept is not None and json.loads(kept.reveal())["token"] == token.token
    keeper.close()
    await first.aclose()
    for path in rig.data_dir.rglob("*"):
        if path.is_file():
            assert token.token.encode() not in path.read_bytes()

    restarted = HttpCrm(crm.base_url)  # a new process: no password asked
    keeper = SessionKeeper(restarted, crm.base_url, EMAIL, store)
    user = await keeper.restore()
    assert user is not None and user.email == EMAIL
    provisioning = await restarted.get_provisioning()
    assert provisioning.accounts, "provisioned accounts arrive without a second sign-in"

    fresh = await restarted.refresh_session()
    kept = store.get(SecretKind.CRM_TOKEN, keyring_account(crm.base_url, EMAIL))
    assert kept is not None and json.loads(kept.reveal())["token"] == fresh.token

    await restarted.sign_out()
    assert store.get(SecretKind.CRM_TOKEN, keyring_account(crm.base_url, EMAIL)) is None
    keeper.close()
    await restarted.aclose()


async def test_unreadable_kept_session_asks_for_sign_in_again(
    crm: RunningServer, store: SecretStore
) -> None:
    account = keyring_account(crm.base_url, EMAIL)
    store.set(SecretKind.CRM_TOKEN, account, "{not json")
    backend = HttpCrm(crm.base_url)
    keeper = SessionKeeper(backend, crm.base_url, EMAIL, store)
    assert await keeper.restore() is None
    assert store.get(SecretKind.CRM_TOKEN, account) is None
    keeper.close()
    await backend.aclose()
