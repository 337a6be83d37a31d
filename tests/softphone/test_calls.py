"""Two engines call each other directly on loopback through EngineClient."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from softphone.errors import CommandRejected
from softphone.events import (
    CallStateChanged,
    CallStatsReported,
    DtmfReceived,
    IncomingCallReceived,
    RecordingStopped,
)
from softphone.types import CallDirection, CallState, DtmfMethod, EndReason, ErrorCode, RejectKind
from tests.softphone.calling import connect as _connect
from tests.softphone.calling import hang_up as _end
from tests.softphone.calling import wait_state as _state
from tests.softphone.conftest import Phone, start_phone
from tests.softphone.helpers import tone_power, wait_until
from tests.softphone.rawsip import RawUac


@pytest.fixture
def call(alice: Phone, bob: Phone) -> Iterator[tuple[str, str]]:
    a_call, b_call = _connect(alice, bob)
    yield a_call, b_call
    if a_call in alice.client.active_calls:
        _end(alice, bob, a_call, b_call)


def _packets_after(phone: Phone, call_id: str, start: int, packets: int) -> None:
    """Wait (on stats events) until `packets` more RTP packets arrived on call_id."""
    first = phone.events.wait_for(
        CallStatsReported, lambda e: e.call_id == call_id, start=start
    ).rx_packets
    phone.events.wait_for(
        CallStatsReported,
        lambda e: e.call_id == call_id and e.rx_packets >= first + packets,
        start=start,
    )


def test_call_connects_and_hangs_up(alice: Phone, bob: Phone) -> None:
    a0, b0 = alice.events.mark(), bob.events.mark()
    call_id = alice.client.make_call("alice", bob.uri)
    incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
    assert incoming.remote_user == "alice"
    assert not incoming.waiting
    # the INVITE's Call-ID: what a CRM that routed the call knows it by
    assert re.fullmatch(r"[\w.+\-@:]{8,}", incoming.sip_call_id), incoming.sip_call_id
    _state(alice, call_id, CallState.RINGING, a0)
    assert _state(bob, incoming.call_id, CallState.RINGING, b0).direction is CallDirection.INBOUND
    bob.client.answer(incoming.call_id)
    connected = _state(alice, call_id, CallState.IN_CALL, a0)
    assert connected.direction is CallDirection.OUTBOUND
    assert connected.code == 200
    _state(bob, incoming.call_id, CallState.IN_CALL, b0)
    bob.client.hangup(incoming.call_id)
    ended = _state(alice, call_id, CallState.ENDED, a0)
    assert ended.end_reason is EndReason.REMOTE_HANGUP
    b_end = _state(bob, incoming.call_id, CallState.ENDED, b0)
    assert b_end.end_reason is EndReason.LOCAL_HANGUP
    wait_until(lambda: not alice.client.active_calls and not bob.client.active_calls)


@pytest.mark.parametrize(
    ("kind", "code", "reason"),
    [(RejectKind.BUSY, 486, EndReason.BUSY), (RejectKind.DECLINE, 603, EndReason.DECLINED)],
)
def test_reject_gives_the_caller_the_sip_code(
    alice: Phone, bob: Phone, kind: RejectKind, code: int, reason: EndReason
) -> None:
    a0, b0 = alice.events.mark(), bob.events.mark()
    call_id = alice.client.make_call("alice", bob.uri)
    incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
    bob.client.reject(incoming.call_id, kind)
    failed = _state(alice, call_id, CallState.FAILED, a0)
    assert (failed.code, failed.end_reason) == (code, reason)
    assert _state(bob, incoming.call_id, CallState.ENDED, b0).end_reason is EndReason.REJECTED


def test_hold_and_resume_seen_on_both_sides(
    alice: Phone, bob: Phone, call: tuple[str, str]
) -> None:
    a_call, b_call = call
    a0, b0 = alice.events.mark(), bob.events.mark()
    alice.client.hold(a_call)
    _state(alice, a_call, CallState.ON_HOLD, a0)
    bob.events.wait_for(CallStateChanged, lambda e: e.call_id == b_call and e.remote_hold, start=b0)
    a1, b1 = alice.events.mark(), bob.events.mark()
    alice.client.resume(a_call)
    _state(alice, a_call, CallState.IN_CALL, a1)
    bob.events.wait_for(
        CallStateChanged, lambda e: e.call_id == b_call and not e.remote_hold, start=b1
    )


@pytest.mark.parametrize("method", [DtmfMethod.AUTO, DtmfMethod.RFC2833, DtmfMethod.SIP_INFO])
def test_dtmf_digits_arrive_in_order(
    alice: Phone, bob: Phone, call: tuple[str, str], method: DtmfMethod
) -> None:
    a_call, b_call = call
    b0 = bob.events.mark()
    alice.client.send_dtmf(a_call, "19#*", method)
    bob.events.wait_for(
        DtmfReceived,
        lambda _e: len([d for d in bob.events.events[b0:] if isinstance(d, DtmfReceived)]) >= 4,
        start=b0,
    )
    received = [e for e in bob.events.events[b0:] if isinstance(e, DtmfReceived)]
    assert "".join(e.digit for e in received) == "19#*"
    assert all(e.call_id == b_call for e in received)
    expected = DtmfMethod.SIP_INFO if method is DtmfMethod.SIP_INFO else DtmfMethod.RFC2833
    assert {e.method for e in received} == {expected}


def test_recording_holds_the_tone_the_far_end_played(
    alice: Phone, bob: Phone, call: tuple[str, str], tmp_path: object
) -> None:
    from pathlib import Path

    a_call, b_call = call
    path = Path(str(tmp_path)) / "bob.wav"
    alice.client.play_tone(a_call, 1000.0, level=0.3)
    b0 = bob.events.mark()
    assert bob.client.start_recording(b_call, str(path)) == str(path)
    _packets_after(bob, b_call, b0, 40)
    bob.client.stop_recording(b_call)
    stopped = bob.events.wait_for(RecordingStopped, lambda e: e.call_id == b_call, start=b0)
    assert stopped.path == str(path) and stopped.duration_s > 0.5
    share, rms = tone_power(path, 1000.0)
    assert share > 0.6, f"1 kHz share {share:.2f}"
    assert rms > 1000

    # muted: the far end hears silence even though the tone still plays
    alice.client.set_muted(a_call, True)
    alice.events.wait_for(CallStateChanged, lambda e: e.call_id == a_call and e.muted)
    muted_path = Path(str(tmp_path)) / "muted.wav"
    b1 = bob.events.mark()
    bob.client.start_recording(b_call, str(muted_path))
    _packets_after(bob, b_call, b1, 40)
    bob.client.stop_recording(b_call)
    _share, muted_rms = tone_power(muted_path, 1000.0, skip_s=0.3)
    assert muted_rms < 50, f"muted call still carried audio (rms {muted_rms:.0f})"
    alice.client.set_muted(a_call, False)
    alice.client.stop_playback(a_call)


def test_stats_report_codec_and_quality(alice: Phone, bob: Phone, call: tuple[str, str]) -> None:
    a_call, _ = call
    a0 = alice.events.mark()
    stats = alice.events.wait_for(
        CallStatsReported, lambda e: e.call_id == a_call and e.rx_packets > 0, start=a0
    )
    assert stats.codec == "G722/16000"
    assert 1.0 <= stats.mos <= 4.5 and stats.mos > 4.0
    assert stats.loss_percent == 0.0


def test_call_waiting_answer_holds_the_first_call(alice: Phone, bob: Phone) -> None:
    carol = start_phone("carol")
    try:
        a_call, b_call = _connect(alice, bob)
        b0, a0 = bob.events.mark(), alice.events.mark()
        c_call = carol.client.make_call("carol", bob.uri)
        waiting = bob.events.wait_for(IncomingCallReceived, start=b0)
        assert waiting.waiting and waiting.remote_user == "carol"
        bob.client.answer(waiting.call_id)
        _state(bob, b_call, CallState.ON_HOLD, b0)
        alice.events.wait_for(
            CallStateChanged, lambda e: e.call_id == a_call and e.remote_hold, start=a0
        )
        _state(carol, c_call, CallState.IN_CALL)
        carol.client.hangup(c_call)
        _state(bob, waiting.call_id, CallState.ENDED, b0)
        _end(alice, bob, a_call, b_call)
    finally:
        assert carol.client.stop() == 0


def test_second_outbound_call_is_refused(alice: Phone, bob: Phone) -> None:
    a0, b0 = alice.events.mark(), bob.events.mark()
    first = alice.client.make_call("alice", bob.uri)
    incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
    with pytest.raises(CommandRejected) as refused:
        alice.client.make_call("alice", bob.uri)
    assert refused.value.code is ErrorCode.LIMIT_REACHED
    alice.client.hangup(first)
    assert _state(alice, first, CallState.ENDED, a0).end_reason is EndReason.LOCAL_HANGUP
    assert _state(bob, incoming.call_id, CallState.ENDED, b0).end_reason is EndReason.MISSED


@pytest.mark.parametrize("uri", ["", "not a number", "sip:bob@host\r\nX-Evil: 1", "sip:@@", "<>"])
def test_invalid_uris_are_refused_before_pjsip(alice: Phone, uri: str) -> None:
    with pytest.raises(CommandRejected) as refused:
        alice.client.make_call("alice", uri)
    assert refused.value.code is ErrorCode.INVALID_URI
    assert alice.client.ping() < 1.0


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ('SIP;cause=200;text="Call completed elsewhere"', EndReason.ANSWERED_ELSEWHERE),
        (None, EndReason.MISSED),
    ],
)
def test_cancel_reason_tells_answered_elsewhere_from_missed(
    bob: Phone, reason: str | None, expected: EndReason
) -> None:
    b0 = bob.events.mark()
    uac = RawUac(bob.account.local_port)
    try:
        uac.invite()
        uac.wait_status(180)
        incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
        assert incoming.remote_display == "Queue"
        uac.cancel(reason)
        ended = _state(bob, incoming.call_id, CallState.ENDED, b0)
        assert ended.end_reason is expected
    finally:
        uac.close()


def test_played_wav_file_reaches_the_far_end(
    alice: Phone, bob: Phone, call: tuple[str, str], tmp_path: object
) -> None:
    import wave
    from pathlib import Path

    import numpy as np

    from softphone.events import PlaybackFinished

    a_call, b_call = call
    folder = Path(str(tmp_path))
    prompt = folder / "prompt-8k.wav"
    t = np.arange(8000 * 2) / 8000  # 2 s of 600 Hz at 8 kHz, resampled by the engine
    with wave.open(str(prompt), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes((np.sin(2 * np.pi * 600 * t) * 9000).astype("<i2").tobytes())
    heard = folder / "heard.wav"
    a0, b0 = alice.events.mark(), bob.events.mark()
    bob.client.start_recording(b_call, str(heard))
    alice.client.play_file(a_call, str(prompt))
    done = alice.events.wait_for(PlaybackFinished, lambda e: e.call_id == a_call, start=a0)
    assert done.source == str(prompt)
    bob.client.stop_recording(b_call)
    bob.events.wait_for(RecordingStopped, lambda e: e.call_id == b_call, start=b0)
    share, _rms = tone_power(heard, 600.0)
    assert share > 0.5, f"600 Hz share {share:.2f}"
