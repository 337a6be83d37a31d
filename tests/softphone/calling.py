"""Call steps the engine tests share: wait for a call state, connect two phones, hang up."""

from __future__ import annotations

from softphone.events import CallStateChanged, IncomingCallReceived
from softphone.types import CallState
from tests.softphone.conftest import Phone


def wait_state(phone: Phone, call_id: str, state: CallState, start: int = 0) -> CallStateChanged:
    return phone.events.wait_for(
        CallStateChanged, lambda e: e.call_id == call_id and e.state is state, start=start
    )


def connect(alice: Phone, bob: Phone) -> tuple[str, str]:
    """Alice calls bob, bob answers; both ids once both are in the call."""
    a0, b0 = alice.events.mark(), bob.events.mark()
    call_id = alice.client.make_call("alice", bob.uri)
    incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
    bob.client.answer(incoming.call_id)
    wait_state(alice, call_id, CallState.IN_CALL, a0)
    wait_state(bob, incoming.call_id, CallState.IN_CALL, b0)
    return call_id, incoming.call_id


def hang_up(caller: Phone, callee: Phone, call_id: str, callee_call: str) -> None:
    """The caller hangs up; both sides end."""
    c0, d0 = caller.events.mark(), callee.events.mark()
    caller.client.hangup(call_id)
    wait_state(caller, call_id, CallState.ENDED, c0)
    wait_state(callee, callee_call, CallState.ENDED, d0)
