"""Registration events the status dot follows: failed with code, backoff, registered."""

from __future__ import annotations

from softphone.config import AccountConfig
from softphone.events import CallStateChanged, IncomingCallReceived, RegistrationChanged
from softphone.types import CallState, RegistrationState
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


def test_ip_change_re_registers_and_keeps_answering(alice: Phone, bob: Phone) -> None:
    """After `handle_ip_change` (network switch, VPN up) the account registers again at once
    and the engine still takes calls on its accounts."""
    registrar = FakeRegistrar([200])
    try:
        a0 = alice.events.mark()
        alice.client.add_account(
            AccountConfig(
                account_id="roam",
                username="ivy",
                domain="127.0.0.1",
                registrar=f"sip:127.0.0.1:{registrar.port}",
                bind_address="127.0.0.1",
            )
        )
        alice.events.wait_for(
            RegistrationChanged,
            lambda e: e.account_id == "roam" and e.state is RegistrationState.REGISTERED,
            start=a0,
        )
        registers = len(registrar.requests)
        a1 = alice.events.mark()
        alice.client.handle_ip_change()
        alice.events.wait_for(
            RegistrationChanged,
            lambda e: e.account_id == "roam" and e.state is RegistrationState.REGISTERED,
            start=a1,
            timeout=5.0,
        )
        assert len(registrar.requests) > registers
        failed = [
            e
            for e in alice.events.events[a1:]
            if isinstance(e, RegistrationChanged) and e.state is RegistrationState.FAILED
        ]
        assert not failed, failed

        b0 = bob.events.mark()
        call_id = bob.client.make_call("bob", alice.uri)
        incoming = alice.events.wait_for(IncomingCallReceived, start=a1)
        alice.client.answer(incoming.call_id)
        bob.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == call_id and e.state is CallState.IN_CALL,
            start=b0,
        )
        bob.client.hangup(call_id)
        alice.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == incoming.call_id and e.state.is_final,
            start=a1,
        )
        alice.client.remove_account("roam")
    finally:
        registrar.close()
