"""TCP and TLS-less SRTP negotiation between two engines."""

from __future__ import annotations

import pytest

from softphone.events import CallStateChanged, IncomingCallReceived
from softphone.types import CallState, EndReason, SrtpMode, Transport
from tests.softphone.conftest import start_phone


def test_call_over_tcp() -> None:
    erin = start_phone("erin", transport=Transport.TCP)
    fred = start_phone("fred", transport=Transport.TCP, auto_answer=True)
    try:
        assert erin.account.transport is Transport.TCP
        call_id = erin.client.make_call("erin", fred.uri)
        fred.events.wait_for(IncomingCallReceived, lambda e: e.auto_answer)
        erin.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state is CallState.IN_CALL
        )
        erin.client.hangup(call_id)
        erin.events.wait_for(CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final)
    finally:
        assert erin.client.stop() == 0
        assert fred.client.stop() == 0


@pytest.mark.parametrize(
    ("caller", "callee", "connects", "secure"),
    [
        (SrtpMode.OPTIONAL, SrtpMode.OPTIONAL, True, True),
        (SrtpMode.MANDATORY, SrtpMode.OPTIONAL, True, True),
        (SrtpMode.MANDATORY, SrtpMode.MANDATORY, True, True),
        (SrtpMode.OFF, SrtpMode.OPTIONAL, True, False),
        (SrtpMode.OFF, SrtpMode.MANDATORY, False, False),
    ],
)
def test_srtp_modes(caller: SrtpMode, callee: SrtpMode, connects: bool, secure: bool) -> None:
    gina = start_phone("gina", srtp=caller)
    hank = start_phone("hank", srtp=callee, auto_answer=True)
    try:
        call_id = gina.client.make_call("gina", hank.uri)
        final_or_up = gina.events.wait_for(
            CallStateChanged,
            lambda e: (
                e.call_id == call_id
                and (
                    e.state.is_final or (e.state is CallState.IN_CALL and e.secure_media == secure)
                )
            ),
        )
        if connects:
            assert final_or_up.state is CallState.IN_CALL
            gina.client.hangup(call_id)
        else:
            assert final_or_up.state is CallState.FAILED
            assert final_or_up.end_reason is EndReason.NOT_ACCEPTABLE
            assert final_or_up.code == 488
    finally:
        assert gina.client.stop() == 0
        assert hank.client.stop() == 0
