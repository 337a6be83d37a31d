"""baresip as an independent SIP peer of our engine: calls both ways with real audio.

Audio is checked where the user would hear it: baresip's decoded-audio dump for what the
engine sent, the engine's call recording for what baresip sent (recorded while the engine
itself plays nothing, so the tone can only have come from the far end).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from softphone.events import CallReplaced, TransferProgressed
from softphone.types import CallDirection, CallState, EndReason
from tests.rig import tones
from tests.rig.baresip import Baresip
from tests.rig.engine import TERMINAL, EnginePeer
from tests.rig.waiting import wait_until

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("baresip-peer")


@pytest.fixture(scope="module")
def engine(workdir: Path) -> Iterator[EnginePeer]:
    # max_outbound_calls=0: the consult call of an attended transfer is a second outbound
    # call while the first is on hold, which the default limit of 1 refuses.
    with EnginePeer("agent", workdir=workdir / "agent", max_outbound_calls=0) as peer:
        peer.add_direct_account("agent")
        yield peer


@pytest.fixture(scope="module")
def engine_c(workdir: Path) -> Iterator[EnginePeer]:
    """A second engine that answers by itself: the third party of transfers."""
    with EnginePeer("carol", workdir=workdir / "carol") as peer:
        peer.add_direct_account("carol", auto_answer=True)
        yield peer


@pytest.fixture(scope="module")
def bob(workdir: Path) -> Iterator[Baresip]:
    with Baresip("bob", workdir=workdir / "bob") as ua:
        yield ua


@pytest.fixture(autouse=True)
def _no_calls_left(engine: EnginePeer, bob: Baresip) -> Iterator[None]:
    yield
    engine.hangup_all()
    bob.end_all_calls()


def _call_bob(engine: EnginePeer, bob: Baresip) -> str:
    """Engine calls bob (who answers by himself); returns the engine's call id."""
    mark, bmark = engine.events.mark(), bob.events.mark()
    call_id = engine.client.make_call(engine.account_id, bob.uri)
    engine.wait_call(CallState.IN_CALL, 5, call_id=call_id, since=mark)
    bob.wait_event("CALL_ESTABLISHED", 5, since=bmark)
    return call_id


def _tone_fraction(path: str | Path) -> tones.ToneReport:
    return tones.try_analyse_wav(path, 1000.0)


def test_engine_calls_baresip_and_a_1khz_tone_arrives_each_way(
    engine: EnginePeer, bob: Baresip
) -> None:
    call_id = _call_bob(engine, bob)
    # baresip -> engine: record while the engine itself sends nothing.
    path = engine.client.start_recording(call_id)
    wait_until(
        lambda: _tone_fraction(path).tone_windows >= 50,
        5,
        "1 s of bob's 1 kHz tone in the engine's recording",
    )
    engine.client.stop_recording(call_id)
    heard = _tone_fraction(path)
    assert heard.fraction > 0.8 and heard.level_dbfs > -15.0, heard
    # engine -> baresip: bob's dump of what he received stays silent until we play.
    before = _tone_fraction(bob.received_wavs()[-1])
    assert before.tone_windows == 0, f"bob heard a tone before we played one: {before}"
    engine.client.play_tone(call_id, 1000.0, level=0.5)
    wait_until(bob.heard_tone, 5, "bob to hear 0.5 s of the engine's 1 kHz tone")
    engine.client.hangup(call_id)
    ended = engine.wait_call(TERMINAL, 5, call_id=call_id)
    assert ended.state == CallState.ENDED and ended.end_reason == EndReason.LOCAL_HANGUP


def test_baresip_calls_the_engine_which_rings_then_answers(
    engine: EnginePeer, bob: Baresip
) -> None:
    mark, bmark = engine.events.mark(), bob.events.mark()
    bob.dial(engine.uri)
    incoming = engine.wait_incoming(5, since=mark)
    assert incoming.remote_user == "bob" and not incoming.auto_answer, incoming
    ringing = engine.wait_call(CallState.RINGING, 5, call_id=incoming.call_id, since=mark)
    assert ringing.direction == CallDirection.INBOUND
    bob.wait_event("CALL_RINGING", 5, since=bmark)
    engine.client.answer(incoming.call_id)
    engine.wait_call(CallState.IN_CALL, 5, call_id=incoming.call_id, since=mark)
    bob.wait_event("CALL_ESTABLISHED", 5, since=bmark)
    path = engine.client.start_recording(incoming.call_id)
    wait_until(lambda: _tone_fraction(path).tone_windows >= 25, 5, "bob's tone at the engine")
    bob.hangup()
    ended = engine.wait_call(TERMINAL, 5, call_id=incoming.call_id, since=mark)
    assert ended.state == CallState.ENDED and ended.end_reason == EndReason.REMOTE_HANGUP


def test_dtmf_digits_arrive_both_ways(engine: EnginePeer, bob: Baresip) -> None:
    call_id = _call_bob(engine, bob)
    bmark = bob.events.mark()
    engine.client.send_dtmf(call_id, "40#*9")
    got = [bob.wait_event("CALL_DTMF_START", 5, since=bmark).param for _ in range(5)]
    assert got == ["4", "0", "#", "*", "9"]
    mark = engine.events.mark()
    bob.send_dtmf("1*7#")
    digits = [engine.wait_dtmf(5, since=mark) for _ in range(4)]
    assert [d.digit for d in digits] == ["1", "*", "7", "#"]
    assert all(d.call_id == call_id for d in digits)


def test_hold_and_resume_both_ways(engine: EnginePeer, bob: Baresip) -> None:
    call_id = _call_bob(engine, bob)
    mark = engine.events.mark()
    engine.client.hold(call_id)
    engine.wait_call(CallState.ON_HOLD, 5, call_id=call_id, since=mark)
    # ON_HOLD means bob answered the hold re-INVITE; a resume is accepted at once.
    engine.client.resume(call_id)
    engine.wait_call(CallState.IN_CALL, 5, call_id=call_id, since=mark)
    # After resuming, audio flows again: bob's tone reaches a fresh recording.
    path = engine.client.start_recording(call_id)
    wait_until(lambda: _tone_fraction(path).tone_windows >= 25, 5, "bob's tone after resume")
    engine.client.stop_recording(call_id)
    # bob holds us: the engine shows the far end's hold, then its release.
    mark = engine.events.mark()
    bob.hold()
    engine.events.wait_for(
        lambda e: getattr(e, "call_id", None) == call_id and getattr(e, "remote_hold", False),
        5,
        "remote hold from bob",
        since=mark,
    )
    bob.resume()
    engine.events.wait_for(
        lambda e: (
            getattr(e, "call_id", None) == call_id
            and getattr(e, "state", None) == CallState.IN_CALL
            and not getattr(e, "remote_hold", True)
        ),
        5,
        "bob releasing the hold",
        since=mark,
    )


def test_blind_transfer_hands_bob_to_carol(
    engine: EnginePeer, engine_c: EnginePeer, bob: Baresip
) -> None:
    call_id = _call_bob(engine, bob)
    mark, cmark = engine.events.mark(), engine_c.events.mark()
    engine.client.transfer(call_id, engine_c.uri)
    incoming = engine_c.wait_incoming(5, since=cmark)
    assert incoming.remote_user == "bob", incoming
    engine_c.wait_call(CallState.IN_CALL, 5, call_id=incoming.call_id, since=cmark)
    done = engine.events.wait_for(
        lambda e: isinstance(e, TransferProgressed) and e.call_id == call_id and e.final,
        5,
        "the final transfer progress",
        since=mark,
    )
    assert 200 <= done.code < 300, done
    ended = engine.wait_call(TERMINAL, 5, call_id=call_id, since=mark)
    assert ended.end_reason == EndReason.TRANSFERRED, ended
    # carol really talks to bob now: his tone reaches her recording.
    path = engine_c.client.start_recording(incoming.call_id)
    wait_until(lambda: _tone_fraction(path).tone_windows >= 25, 5, "bob's tone at carol")
    engine_c.hangup_all()


def test_attended_transfer_joins_dave_and_carol(engine: EnginePeer, engine_c: EnginePeer) -> None:
    """The agent talks to dave, consults carol, then joins them (REFER with Replaces).

    All three are engines: baresip 1.0 neither sends nor honours Replaces.
    """
    with EnginePeer("dave", workdir=engine.workdir.parent / "dave") as dave:
        dave.add_direct_account("dave", auto_answer=True)
        mark, cmark, dmark = engine.events.mark(), engine_c.events.mark(), dave.events.mark()
        call_id = engine.client.make_call(engine.account_id, dave.uri)
        engine.wait_call(CallState.IN_CALL, 5, call_id=call_id, since=mark)
        first_at_d = dave.wait_incoming(5, since=dmark)
        engine.client.hold(call_id)
        engine.wait_call(CallState.ON_HOLD, 5, call_id=call_id, since=mark)
        consult = engine.client.make_call(engine.account_id, engine_c.uri)
        engine.wait_call(CallState.IN_CALL, 5, call_id=consult, since=mark)
        consult_at_c = engine_c.wait_incoming(5, since=cmark)
        engine_c.wait_call(CallState.IN_CALL, 5, call_id=consult_at_c.call_id, since=cmark)

        engine.client.attended_transfer(call_id, consult)

        replaced = engine_c.events.wait_for(
            lambda e: isinstance(e, CallReplaced) and e.old_call_id == consult_at_c.call_id,
            5,
            "carol's consult call to be replaced by dave's",
            since=cmark,
        )
        for cid in (call_id, consult):
            ended = engine.wait_call(TERMINAL, 5, call_id=cid, since=mark)
            assert ended.end_reason in (EndReason.TRANSFERRED, EndReason.REPLACED), ended
        engine_c.wait_call(CallState.IN_CALL, 5, call_id=replaced.new_call_id, since=cmark)
        new_at_d = dave.events.wait_for(
            lambda e: (
                getattr(e, "state", None) == CallState.IN_CALL and e.call_id != first_at_d.call_id
            ),
            5,
            "dave's new call to carol",
            since=dmark,
        )
        # dave and carol really talk: a tone dave plays reaches carol's recording.
        path = engine_c.client.start_recording(replaced.new_call_id)
        assert _tone_fraction(path).tone_windows == 0
        dave.client.play_tone(new_at_d.call_id, 1000.0)
        wait_until(lambda: _tone_fraction(path).tone_windows >= 25, 5, "dave's tone at carol")
        engine_c.hangup_all()
        dave.hangup_all()
