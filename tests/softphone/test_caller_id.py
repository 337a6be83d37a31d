"""The caller-ID the agent picked reaches the wire: P-Preferred-Identity on every INVITE that
carries one, the From user too where the account's provider reads it there, and a malformed
number refused before anything is sent."""

from __future__ import annotations

import pytest

from softphone.errors import EngineError
from softphone.events import CallStateChanged, IncomingCallReceived
from softphone.types import CallState, ErrorCode
from tests.softphone.conftest import Phone, start_phone
from tests.softphone.helpers import wait_until
from tests.softphone.rawsip import RawUas

NUMBER = "+15551234567"


def _header(message: str, name: str) -> str | None:
    for line in message.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def _invite_to_pbx(alice: Phone, caller_id: str | None) -> str:
    """Call a raw UDP peer, return the INVITE it received, then hang up."""
    pbx = RawUas(early_media=False)
    try:
        a0 = alice.events.mark()
        call_id = alice.client.make_call("alice", pbx.uri, caller_id=caller_id)
        invite = wait_until(
            lambda: next((m for m in pbx.received if m.startswith("INVITE ")), None),
            what="the INVITE at the peer",
        )
        alice.client.hangup(call_id)
        alice.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final, start=a0
        )
        return str(invite)
    finally:
        pbx.close()


def test_chosen_caller_id_goes_out_as_p_preferred_identity(alice: Phone) -> None:
    invite = _invite_to_pbx(alice, NUMBER)
    assert _header(invite, "P-Preferred-Identity") == f"<sip:{NUMBER}@127.0.0.1>"
    # this account keeps its own From user (a PBX may identify the extension by it)
    assert "sip:alice@127.0.0.1" in (_header(invite, "From") or "")


def test_no_caller_id_no_identity_header(alice: Phone) -> None:
    invite = _invite_to_pbx(alice, None)
    assert _header(invite, "P-Preferred-Identity") is None


def test_caller_id_in_from_reaches_the_callee_as_the_calling_number(bob: Phone) -> None:
    trunk = start_phone("trunk", display_name="Front desk", caller_id_in_from=True)
    try:
        t0, b0 = trunk.events.mark(), bob.events.mark()
        call_id = trunk.client.make_call("trunk", bob.uri, caller_id=NUMBER)
        incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
        assert incoming.remote_user == NUMBER
        assert incoming.remote_display == "Front desk"
        trunk.client.hangup(call_id)
        ended = trunk.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final, start=t0
        )
        assert ended.state is CallState.ENDED
        bob.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == incoming.call_id and e.state.is_final,
            start=b0,
        )
    finally:
        assert trunk.client.stop() == 0


@pytest.mark.parametrize("bad", ["5551234567", "+0123", "+1555 123", "<sip:x@y>", ""])
def test_malformed_caller_id_is_refused_before_dialling(alice: Phone, bad: str) -> None:
    pbx = RawUas(early_media=False)
    try:
        with pytest.raises(EngineError) as info:
            alice.client.make_call("alice", pbx.uri, caller_id=bad)
        assert info.value.code is ErrorCode.INVALID_ARGUMENT
        assert "E.164" in info.value.message
        assert not any(m.startswith("INVITE ") for m in pbx.received)
    finally:
        pbx.close()
