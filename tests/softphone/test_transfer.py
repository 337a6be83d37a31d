"""Blind and attended transfer among three real engines."""

from __future__ import annotations

from softphone.events import (
    CallReplaced,
    CallStateChanged,
    CallTransferredAway,
    IncomingCallReceived,
    TransferProgressed,
)
from softphone.types import CallState, EndReason
from tests.softphone.conftest import Phone, start_phone


def _in_call(phone: Phone, call_id: str, start: int = 0) -> None:
    phone.events.wait_for(
        CallStateChanged,
        lambda e: e.call_id == call_id and e.state is CallState.IN_CALL,
        start=start,
    )


def _ended(phone: Phone, call_id: str, start: int = 0) -> CallStateChanged:
    return phone.events.wait_for(
        CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final, start=start
    )


def test_blind_transfer_connects_the_caller_to_the_target(alice: Phone, bob: Phone) -> None:
    carol = start_phone("carol", auto_answer=True)
    try:
        a0, b0, c0 = alice.events.mark(), bob.events.mark(), carol.events.mark()
        a_call = alice.client.make_call("alice", bob.uri)
        b_in = bob.events.wait_for(IncomingCallReceived, start=b0)
        bob.client.answer(b_in.call_id)
        _in_call(alice, a_call, a0)
        bob.client.transfer(b_in.call_id, carol.uri)
        away = alice.events.wait_for(CallTransferredAway, start=a0)
        assert away.call_id == a_call and away.target_uri.startswith("sip:carol@")
        c_in = carol.events.wait_for(IncomingCallReceived, start=c0)
        assert c_in.remote_user == "alice"
        _in_call(alice, away.new_call_id, a0)
        _in_call(carol, c_in.call_id, c0)
        done = bob.events.wait_for(TransferProgressed, lambda e: e.final, start=b0)
        assert done.code == 200
        assert _ended(bob, b_in.call_id, b0).end_reason is EndReason.TRANSFERRED
        assert _ended(alice, a_call, a0).end_reason is EndReason.TRANSFERRED
        alice.client.hangup(away.new_call_id)
        _ended(carol, c_in.call_id, c0)
    finally:
        assert carol.client.stop() == 0


def test_attended_transfer_replaces_the_consult_call(alice: Phone, bob: Phone) -> None:
    carol = start_phone("carol")
    try:
        a0, b0, c0 = alice.events.mark(), bob.events.mark(), carol.events.mark()
        # alice calls bob; bob consults carol; bob connects alice with carol
        a_call = alice.client.make_call("alice", bob.uri)
        b_in = bob.events.wait_for(IncomingCallReceived, start=b0)
        bob.client.answer(b_in.call_id)
        _in_call(alice, a_call, a0)
        bob.client.hold(b_in.call_id)
        consult = bob.client.make_call("bob", carol.uri)
        c_in = carol.events.wait_for(IncomingCallReceived, start=c0)
        carol.client.answer(c_in.call_id)
        _in_call(bob, consult, b0)
        bob.client.attended_transfer(b_in.call_id, consult)
        away = alice.events.wait_for(CallTransferredAway, start=a0)
        replaced = carol.events.wait_for(CallReplaced, start=c0)
        assert replaced.old_call_id == c_in.call_id
        _in_call(alice, away.new_call_id, a0)
        _in_call(carol, replaced.new_call_id, c0)
        assert _ended(carol, c_in.call_id, c0).end_reason is EndReason.REPLACED
        _ended(bob, b_in.call_id, b0)
        _ended(bob, consult, b0)
        wait_bob_idle = bob.client.active_calls
        assert b_in.call_id not in wait_bob_idle
        alice.client.hangup(away.new_call_id)
        _ended(carol, replaced.new_call_id, c0)
    finally:
        assert carol.client.stop() == 0
