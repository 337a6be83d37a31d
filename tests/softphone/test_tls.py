"""SIP over TLS between two engines, with a self-signed certificate made for the test:
the caller verifies the callee against it; a caller that does not trust it gets no call."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from softphone.config import AccountConfig
from softphone.errors import CommandRejected
from softphone.events import CallStateChanged, IncomingCallReceived
from softphone.types import CallState, ErrorCode, Transport
from tests.softphone.conftest import Phone, start_phone


def _self_signed(folder: Path, name: str, common_name: str) -> tuple[Path, Path]:
    crt, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-nodes"),
            *("-days", "2", "-keyout", str(key), "-out", str(crt)),
            *("-subj", f"/CN={common_name}", "-addext", f"subjectAltName=IP:{common_name}"),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _self_signed(tmp_path_factory.mktemp("tls"), "engine", "127.0.0.1")


@pytest.fixture(scope="module")
def tess(cert: tuple[Path, Path]) -> Iterator[Phone]:
    crt, key = cert
    phone = start_phone(
        "tess",
        transport=Transport.TLS,
        auto_answer=True,
        tls_cert_file=str(crt),
        tls_key_file=str(key),
    )
    yield phone
    assert phone.client.stop() == 0


def test_call_over_tls_with_a_verified_certificate(cert: tuple[Path, Path], tess: Phone) -> None:
    crt, _ = cert
    uma = start_phone("uma", transport=Transport.TLS, tls_ca_file=str(crt))
    try:
        assert uma.account.transport is Transport.TLS and ";transport=tls" in uma.account.contact
        t0 = tess.events.mark()
        call_id = uma.client.make_call("uma", tess.uri)
        incoming = tess.events.wait_for(IncomingCallReceived, start=t0)
        assert incoming.remote_user == "uma"
        uma.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state is CallState.IN_CALL
        )
        uma.client.hangup(call_id)
        tess.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == incoming.call_id and e.state is CallState.ENDED,
            start=t0,
        )
    finally:
        assert uma.client.stop() == 0


def test_untrusted_certificate_gets_no_call_through(tess: Phone, tmp_path: Path) -> None:
    other, _ = _self_signed(tmp_path, "other", "127.0.0.2")
    vera = start_phone("vera", transport=Transport.TLS, tls_ca_file=str(other))
    try:
        t0 = tess.events.mark()
        call_id = vera.client.make_call("vera", tess.uri)
        failed = vera.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final
        )
        assert failed.state is CallState.FAILED and failed.connected_at is None, failed
        assert failed.code >= 400, failed
        assert not [e for e in tess.events.events[t0:] if isinstance(e, IncomingCallReceived)]
    finally:
        assert vera.client.stop() == 0


def test_unreadable_certificate_is_refused_with_a_clear_message(tess: Phone) -> None:
    bad = AccountConfig(
        "wes", "wes", "127.0.0.1", transport=Transport.TLS, tls_ca_file="/nonexistent/ca.pem"
    )
    with pytest.raises(CommandRejected) as info:
        tess.client.add_account(bad)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    assert "tls_ca_file" in str(info.value) and "wes" not in tess.client.accounts
