"""THE device path: two real engines, real devices (PulseAudio null sinks).

A tone played into caller A's microphone comes out of callee B's speaker, and the other
way round; the output moves to another device mid-call without dropping the call; device
plug events reach the client as AudioDevicesChanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pytest

from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.errors import CommandRejected
from softphone.events import (
    AccountAdded,
    AudioDevicesChanged,
    AudioStarted,
    CallStateChanged,
    Event,
    IncomingCallReceived,
)
from softphone.types import CallState
from tests.rig.pulse import PulseRig, Recording
from tests.rig.tones import analyse, sine
from tests.rig.waiting import EventLog, wait_until

pytestmark = [pytest.mark.pulse, pytest.mark.slow]
RATE = 16_000
ENGINE = EngineConfig(rtp_bind_address="127.0.0.1", log_level=3, audio_backend="miniaudio")


@dataclass
class Phone:
    client: EngineClient
    events: EventLog[Event]
    account: AccountAdded
    log: BinaryIO  # the engine's stderr (PJSIP log)

    @property
    def uri(self) -> str:
        return f"sip:{self.account.account_id}@127.0.0.1:{self.account.local_port}"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    sinks = ("a_mic", "a_spk", "a_ring", "b_mic", "b_spk", "b_alt")
    with PulseRig(tmp_path_factory.mktemp("pulse-path"), sinks=sinks) as pulse:
        yield pulse


def _phone(rig: PulseRig, name: str, mic: str, spk: str, *, auto_answer: bool, path: str) -> Phone:
    log_path = rig.root / f"engine-{name}-{path}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the engine writes it until the rig goes
    env = rig.env_for_clients()
    env["LODGEPHONE_AUDIO_NATIVE"] = "1" if path == "native" else "0"
    client = EngineClient(ENGINE, env=env, stderr=log)
    events: EventLog[Event] = EventLog()
    client.subscribe(events)
    client.start()
    # The engine opens its audio bridge just after saying hello (a fast start).
    started = events.wait_for(lambda e: isinstance(e, AudioStarted), 10, "audio bridge up")
    assert isinstance(started, AudioStarted)
    assert started.backend.startswith("miniaudio-pulseaudio")
    assert started.backend.endswith("-native") == (path == "native"), started.backend
    wait_until(client.list_devices, 10, f"engine {name} to list the rig's devices")
    account = client.add_account(
        AccountConfig(
            account_id=name,
            username=name,
            domain="127.0.0.1",
            bind_address="127.0.0.1",
            auto_answer=auto_answer,
        )
    )
    client.set_devices(input_id=f"{mic}.monitor", output_id=spk, ringer_id=spk)
    return Phone(client, events, account, log)


@pytest.fixture(scope="module", params=["native", "python"])
def phones(rig: PulseRig, request: pytest.FixtureRequest) -> Iterator[tuple[Phone, Phone]]:
    """Both audio paths: C device callbacks driving the conference (the default where the
    helper is built) and the Python bridge (the fallback, e.g. on Windows)."""
    a = _phone(rig, "a", "a_mic", "a_spk", auto_answer=False, path=request.param)
    b = _phone(rig, "b", "b_mic", "b_spk", auto_answer=True, path=request.param)
    try:
        yield a, b
    finally:
        codes = [a.client.stop(), b.client.stop()]
        a.log.close()
        b.log.close()
        assert codes == [0, 0]


def _tone_seconds(rec: Recording, freq: float) -> float:
    return analyse(rec.samples(), RATE, freq).tone_windows * 0.02


def _in_call(phone: Phone, timeout: float = 10.0) -> CallStateChanged:
    event = phone.events.wait_for(
        lambda e: isinstance(e, CallStateChanged) and e.state is CallState.IN_CALL,
        timeout,
        "call in progress",
    )
    assert isinstance(event, CallStateChanged)
    return event


def test_tone_goes_from_mic_to_the_far_speaker_both_ways(
    rig: PulseRig, phones: tuple[Phone, Phone]
) -> None:
    a, b = phones
    b_ear, a_ear = rig.record("b_spk.monitor"), rig.record("a_spk.monitor")
    a.client.make_call("a", b.uri)
    call = _in_call(a)
    rig.play("a_mic", sine(1000.0, 30.0, RATE, 0.5))
    rig.play("b_mic", sine(700.0, 30.0, RATE, 0.5))
    wait_until(lambda: _tone_seconds(b_ear, 1000.0) >= 1.0, 20, "A's 1 kHz on B's speaker")
    wait_until(lambda: _tone_seconds(a_ear, 700.0) >= 1.0, 20, "B's 700 Hz on A's speaker")
    # Each speaker carries the far end only: no local echo of its own microphone.
    assert _tone_seconds(a_ear, 1000.0) == 0.0
    assert _tone_seconds(b_ear, 700.0) == 0.0

    # Output switch mid-call: B's audio moves to b_alt, the call stays up.
    alt = rig.record("b_alt.monitor")
    b.client.set_devices(input_id="b_mic.monitor", output_id="b_alt", ringer_id="b_spk")
    wait_until(lambda: _tone_seconds(alt, 1000.0) >= 1.0, 20, "A's tone on B's new output")
    assert call.call_id in a.client.active_calls
    a.events.assert_none(
        lambda e: isinstance(e, CallStateChanged) and e.state in (CallState.ENDED, CallState.FAILED)
    )

    # Mute: A's microphone still plays the tone, B hears nothing of it, A still hears B.
    a.client.set_muted(call.call_id, True)
    muted, a_muted_ear = rig.record("b_alt.monitor"), rig.record("a_spk.monitor")
    wait_until(lambda: muted.seconds >= 2.0, 10, "2 s of B's output while A is muted")
    # the first second may still carry audio that was in flight; the next one is silent
    tail = muted.samples()[RATE : 2 * RATE]
    assert analyse(tail, RATE, 1000.0).tone_windows == 0
    wait_until(lambda: _tone_seconds(a_muted_ear, 700.0) >= 1.0, 10, "B's voice while A muted")
    a.client.set_muted(call.call_id, False)
    wait_until(lambda: _tone_seconds(muted, 1000.0) >= 1.0, 20, "A's tone again after unmute")
    a.client.hangup(call.call_id)
    a.events.wait_for(
        lambda e: isinstance(e, CallStateChanged) and e.state is CallState.ENDED, 10, "hang-up"
    )


def test_plugging_a_device_reaches_the_client(rig: PulseRig, phones: tuple[Phone, Phone]) -> None:
    a, _ = phones
    since = a.events.mark()
    module = rig.add_sink("usb_headset")
    added = a.events.wait_for(
        lambda e: (
            isinstance(e, AudioDevicesChanged) and any(d.id == "usb_headset" for d in e.devices)
        ),
        10,
        "AudioDevicesChanged with the headset",
        since=since,
    )
    assert isinstance(added, AudioDevicesChanged)
    assert any(d.id == "usb_headset" for d in a.client.list_devices())
    rig.remove_module(module)
    a.events.wait_for(
        lambda e: (
            isinstance(e, AudioDevicesChanged) and not any(d.id == "usb_headset" for d in e.devices)
        ),
        10,
        "AudioDevicesChanged without the headset",
        since=since,
    )


def test_call_waiting_beeps_over_the_call_on_the_agents_speaker(
    rig: PulseRig, phones: tuple[Phone, Phone]
) -> None:
    a, b = phones
    rig.stop_playing()  # earlier tests' tones may still be playing
    b.client.set_devices(input_id="b_mic.monitor", output_id="b_spk", ringer_id="b_spk")
    a_ear = rig.record("a_spk.monitor")
    first = a.client.make_call("a", b.uri)
    _in_call(a)
    voice = rig.play("b_mic", sine(700.0, 30.0, RATE, 0.5))
    wait_until(lambda: _tone_seconds(a_ear, 700.0) >= 0.5, 20, "B's voice on A's speaker")
    voice.stop()  # B pauses, so the beep is the only tone on A's speaker
    since = a.events.mark()
    second = b.client.make_call("b", a.uri)  # a second call reaches A during the first
    waiting = a.events.wait_for(
        lambda e: isinstance(e, IncomingCallReceived) and e.waiting, 10, "call waiting", since=since
    )
    assert isinstance(waiting, IncomingCallReceived)
    # two 200 ms beeps at 440 Hz over the call, and the call's audio goes on
    wait_until(
        lambda: analyse(a_ear.samples(), RATE, 440.0, window=0.01).tone_windows >= 15,
        10,
        "the waiting beep on A's speaker",
    )
    heard = _tone_seconds(a_ear, 700.0)
    rig.play("b_mic", sine(700.0, 30.0, RATE, 0.5))
    wait_until(lambda: _tone_seconds(a_ear, 700.0) >= heard + 0.5, 10, "B's voice after the beep")
    b.client.hangup(second)
    a.client.hangup(first)
    for phone in (a, b):
        phone.events.wait_for(
            lambda e: isinstance(e, CallStateChanged) and e.state is CallState.ENDED,
            10,
            "hang-up",
            since=since,
        )


def test_the_chosen_ringtone_rings_on_the_ringer(
    rig: PulseRig, phones: tuple[Phone, Phone]
) -> None:
    a, b = phones
    rig.stop_playing()
    a.client.set_devices(input_id="a_mic.monitor", output_id="a_spk", ringer_id="a_ring")
    with pytest.raises(CommandRejected, match="no ringtone 'jazz'"):
        a.client.set_ringtone("jazz")
    for name, hz in (("digital", 1400.0), ("soft", 523.25)):
        a.client.set_ringtone(name)
        ring = rig.record("a_ring.monitor")
        since = a.events.mark()
        call = b.client.make_call("b", a.uri)
        incoming = a.events.wait_for(
            lambda e: isinstance(e, IncomingCallReceived), 10, "A rings", since=since
        )
        assert isinstance(incoming, IncomingCallReceived)
        wait_until(
            lambda ring=ring, hz=hz: (
                analyse(ring.samples(), RATE, hz, purity=0.3).tone_windows >= 5
            ),
            10,
            f"the {name} ringtone ({hz} Hz) on A's ringer",
        )
        b.client.hangup(call)
        a.events.wait_for(
            lambda e: isinstance(e, CallStateChanged) and e.state is CallState.ENDED,
            10,
            "the ring to end",
            since=since,
        )
