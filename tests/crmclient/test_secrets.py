"""Secrets go to a real Secret Service (GNOME Keyring on a private bus), or nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmclient.errors import SecretStoreError
from crmclient.secrets import Backend, Secret, SecretKind, SecretStore, default_backend
from tests.crmclient import keyring_rig

SIP_SECRET = "sip-secret-7f3a9c1e"
TOKEN = "crm-token-b81d44e0a2"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[keyring_rig.KeyringRig]:
    with keyring_rig.secret_service(tmp_path_factory.mktemp("keyring")) as running:
        yield running


@pytest.fixture
def store(rig: keyring_rig.KeyringRig, monkeypatch: pytest.MonkeyPatch) -> SecretStore:
    # The bus address is scoped to this test: monkeypatch restores it afterwards.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", rig.bus_address)
    return SecretStore(Backend.SECRET_SERVICE)


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_secret_round_trip_through_gnome_keyring(
    store: SecretStore, rig: keyring_rig.KeyringRig
) -> None:
    account = "https://crm.example|agent@example.com"
    assert store.get(SecretKind.SIP_SECRET, "acc-1") is None
    store.set(SecretKind.SIP_SECRET, "acc-1", Secret(SIP_SECRET))
    store.set(SecretKind.CRM_TOKEN, account, TOKEN)

    # A second store (a restarted app) reads them back from the daemon.
    again = SecretStore(Backend.SECRET_SERVICE)
    sip = again.get(SecretKind.SIP_SECRET, "acc-1")
    assert sip is not None
    assert sip.reveal() == SIP_SECRET
    assert repr(sip) == "Secret('***')"
    token = again.get(SecretKind.CRM_TOKEN, account)
    assert token is not None
    assert token.reveal() == TOKEN
    # Kinds are separate: the token is not readable as a SIP secret.
    assert again.get(SecretKind.SIP_SECRET, account) is None

    # On disk only the keyring's encrypted file: the secret is nowhere in clear text.
    files = _files_under(rig.data_dir)
    assert any(p.suffix == ".keyring" for p in files)
    for path in files:
        assert SIP_SECRET.encode() not in path.read_bytes()

    assert again.delete(SecretKind.SIP_SECRET, "acc-1") is True
    assert again.get(SecretKind.SIP_SECRET, "acc-1") is None
    assert again.delete(SecretKind.SIP_SECRET, "acc-1") is False


async def test_async_variants_do_not_block_the_loop(store: SecretStore) -> None:
    await store.aset(SecretKind.CRM_REFRESH_TOKEN, "acc-async", "refresh-123456")
    value = await store.aget(SecretKind.CRM_REFRESH_TOKEN, "acc-async")
    assert value is not None
    assert value.reveal() == "refresh-123456"
    assert await store.adelete(SecretKind.CRM_REFRESH_TOKEN, "acc-async") is True


def test_no_secret_service_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    with pytest.raises(SecretStoreError, match="Secret Service"):
        SecretStore(Backend.SECRET_SERVICE)


def test_empty_secret_is_refused() -> None:
    class _Never:
        def get_password(self, service: str, username: str) -> str | None:
            raise AssertionError("not reached")

        def set_password(self, service: str, username: str, password: str) -> None:
            raise AssertionError("not reached")

        def delete_password(self, service: str, username: str) -> None:
            raise AssertionError("not reached")

    store = SecretStore.__new__(SecretStore)
    store.backend = Backend.SECRET_SERVICE
    store._keyring = _Never()
    with pytest.raises(ValueError, match="empty"):
        store.set(SecretKind.SIP_SECRET, "acc", "")


def test_backend_is_chosen_per_platform_never_by_discovery() -> None:
    assert default_backend("linux") is Backend.SECRET_SERVICE
    assert default_backend("darwin") is Backend.MACOS
    assert default_backend("win32") is Backend.WINDOWS


def test_secret_never_prints_itself() -> None:
    secret = Secret("visible-only-on-reveal")
    assert "visible" not in repr(secret)
    assert "visible" not in str(secret)
    assert "visible" not in f"{secret} {secret!r}"
    assert secret.reveal() == "visible-only-on-reveal"
