"""Registration events the status dot follows: failed with code, backoff, registered."""

from __future__ import annotations

from softphone.config import AccountConfig
from softphone.events import RegistrationChanged
from softphone.types import RegistrationState
from tests.softphone.conftest import Phone
from tests.softphone.registrar import FakeRegistrar


def test_refused_registration_fails_with_code_then_recovers_with_backoff(
    alice: Phone,
) -> None:
    registrar = FakeRegistrar([403, 200])
    try:
        a0 = alice.events.mark()
        alice.client.add_account(
            AccountConfig(
                account_id="reg",
                username="ivy",
                domain="127.0.0.1",
                password="s3cret",
                registrar=f"sip:127.0.0.1:{registrar.port}",
                bind_address="127.0.0.1",
                retry_min_s=1,
            )
        )
        failed = alice.events.wait_for(
            RegistrationChanged,
            lambda e: e.account_id == "reg" and e.state is RegistrationState.FAILED,
            start=a0,
        )
        assert failed.code == 403 and failed.reason == "Forbidden"
        assert failed.retry_in_s == 1.0
        registered = alice.events.wait_for(
            RegistrationChanged,
            lambda e: e.account_id == "reg" and e.state is RegistrationState.REGISTERED,
            start=a0,
            timeout=5.0,
        )
        assert registered.code == 200 and registered.expires_s == 60
        a1 = alice.events.mark()
        alice.client.set_registration("reg", False)
        alice.events.wait_for(
            RegistrationChanged,
            lambda e: e.account_id == "reg" and e.state is RegistrationState.OFFLINE,
            start=a1,
        )
        alice.client.remove_account("reg")
        assert "reg" not in alice.client.accounts
    finally:
        registrar.close()
    assert all("s3cret" not in r for r in registrar.requests)
