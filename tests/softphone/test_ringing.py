"""Ringing as the agent meets it: early media from a PBX (183 with SDP) versus plain 180,
and an inbound call nobody answers ending as missed after EngineConfig.no_answer_timeout_s."""

from __future__ import annotations

import dataclasses

import pytest

from softphone.events import CallStateChanged, IncomingCallReceived
from softphone.types import CallState, EndReason
from tests.softphone.conftest import ENGINE, Phone, start_phone
from tests.softphone.helpers import wait_until
from tests.softphone.rawsip import RawUas


@pytest.mark.parametrize("early_media", [True, False], ids=["183-sdp", "180"])
def test_outbound_ringing_reports_early_media_only_with_183_sdp(
    alice: Phone, early_media: bool
) -> None:
    pbx = RawUas(early_media=early_media)
    try:
        a0 = alice.events.mark()
        call_id = alice.client.make_call("alice", pbx.uri)
        ringing = alice.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == call_id and e.state is CallState.RINGING,
            start=a0,
        )
        # the early-media flag may follow the 183 in a second event once media is up
        if early_media:
            ringing = alice.events.wait_for(
                CallStateChanged,
                lambda e: e.call_id == call_id and e.early_media,
                start=a0,
            )
            assert ringing.state is CallState.RINGING and ringing.code == 183
        else:
            assert ringing.code == 180
        a1 = alice.events.mark()
        alice.client.hangup(call_id)
        ended = alice.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final, start=a1
        )
        assert ended.end_reason is EndReason.LOCAL_HANGUP
        wait_until(lambda: any(r.startswith("CANCEL ") for r in pbx.received), 5.0, "CANCEL")
        seen = alice.events.events[a0:]
        flagged = [e for e in seen if isinstance(e, CallStateChanged) and e.call_id == call_id]
        assert any(e.early_media for e in flagged) is early_media
    finally:
        pbx.close()


def test_unanswered_inbound_call_ends_as_missed_after_the_timeout(alice: Phone) -> None:
    nora = start_phone("nora", dataclasses.replace(ENGINE, no_answer_timeout_s=1))
    try:
        a0, n0 = alice.events.mark(), nora.events.mark()
        call_id = alice.client.make_call("alice", nora.uri)
        incoming = nora.events.wait_for(IncomingCallReceived, start=n0)
        missed = nora.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == incoming.call_id and e.state.is_final,
            start=n0,
            timeout=5.0,
        )
        assert (missed.state, missed.end_reason) == (CallState.ENDED, EndReason.MISSED)
        assert missed.connected_at is None
        caller = alice.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final, start=a0
        )
        assert caller.code == 480 and caller.end_reason is EndReason.UNAVAILABLE, caller
        ringing_for = missed.at - incoming.at
        assert 0.9 <= ringing_for < 3.0, ringing_for
    finally:
        assert nora.client.stop() == 0
