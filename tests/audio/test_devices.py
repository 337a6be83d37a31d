"""Real device streams through PulseAudio null sinks: enumeration, hotplug, switching the
output mid-stream, the ringer on its own device, and mic/speaker audio through the core."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from softphone.audio.backends.mini import MiniaudioBackend
from softphone.audio.devices import AudioDevice, DeviceKind
from softphone.audio.media import MediaCore
from softphone.audio.router import DeviceRouter
from softphone.audio.tones import RINGBACK_ITU, RINGTONE, WAITING_BEEP, ToneSource, render
from tests.rig.pulse import PulseRig, Recording
from tests.rig.tones import analyse, sine
from tests.rig.waiting import EventLog, wait_until

pytestmark = pytest.mark.pulse
RATE = 16_000


class Changes(EventLog[list[AudioDevice]]):
    pass


@pytest.fixture
def router(pulse: PulseRig) -> Iterator[tuple[DeviceRouter, MediaCore, Changes]]:
    changes = Changes()
    core = MediaCore()
    r = DeviceRouter(MiniaudioBackend(), core, on_devices_changed=changes, poll_interval=0.1)
    yield r, core, changes
    r.close()


def _ids(devices: list[AudioDevice], kind: DeviceKind) -> set[str]:
    return {d.id for d in devices if d.kind is kind}


def test_lists_inputs_and_outputs_by_stable_name(pulse: PulseRig) -> None:
    backend = MiniaudioBackend()
    try:
        devices = backend.list_devices()
    finally:
        backend.close()
    assert {"mic", "spk", "ring"} <= _ids(devices, DeviceKind.OUTPUT)
    assert {"mic.monitor", "spk.monitor"} <= _ids(devices, DeviceKind.INPUT)
    assert sum(d.is_default for d in devices if d.kind is DeviceKind.OUTPUT) == 1
    assert all(d == AudioDevice.from_json(d.to_json()) for d in devices)


def test_plug_and_unplug_are_reported(
    pulse: PulseRig, router: tuple[DeviceRouter, MediaCore, Changes]
) -> None:
    r, _, changes = router
    module = pulse.add_sink("usbheadset")
    added = changes.wait_for(lambda d: "usbheadset" in _ids(d, DeviceKind.OUTPUT), 5, "plug")
    assert "usbheadset.monitor" in _ids(added, DeviceKind.INPUT)
    pulse.remove_module(module)
    changes.wait_for(lambda d: "usbheadset" not in _ids(d, DeviceKind.OUTPUT), 5, "unplug")
    assert "usbheadset" not in _ids(r.devices(), DeviceKind.OUTPUT)


def test_speaker_audio_reaches_the_chosen_output_and_follows_a_switch(
    pulse: PulseRig, router: tuple[DeviceRouter, MediaCore, Changes]
) -> None:
    r, core, _ = router
    spk, ring = pulse.record("spk.monitor"), pulse.record("ring.monitor")
    r.want(output_id="spk", playback=True)
    assert r.settle()
    # Stand in for PJSIP's clock: push 20 ms frames of a 1 kHz tone as they are consumed.
    tone = (sine(1000.0, 0.02, RATE, 0.3) * 32767).astype(np.int16)

    def fed_until(rec_ok: object) -> bool:
        while len(core.playback_fifo) < 960:
            core.playback_fifo.write(tone)
        return bool(rec_ok)

    def tone_on(rec: Recording, windows: int) -> bool:
        return fed_until(analyse(rec.samples(), RATE).tone_windows >= windows)

    wait_until(lambda: tone_on(spk, 10), 10, "tone on spk")
    r.want(output_id="ring")  # switch mid-stream: the stream moves, the FIFO keeps going
    assert r.settle()
    assert r.open_devices()["output"] == "ring"
    wait_until(lambda: tone_on(ring, 10), 10, "tone on ring")
    before = analyse(spk.samples(), RATE).tone_windows
    wait_until(lambda: tone_on(ring, 30), 10, "more tone")
    assert analyse(spk.samples(), RATE).tone_windows <= before + 2  # spk stopped getting it


def test_mic_audio_arrives_in_the_capture_fifo(
    pulse: PulseRig, router: tuple[DeviceRouter, MediaCore, Changes]
) -> None:
    r, core, _ = router
    r.want(input_id="mic.monitor", capture=True)
    assert r.settle()
    got: list[np.ndarray] = []
    play = pulse.play("mic", sine(1000.0, 8.0, RATE, 0.5))
    buf = np.zeros(RATE, dtype=np.int16)

    def heard() -> bool:
        got.append(buf[: core.capture_fifo.read_into(buf)].copy())
        return analyse(np.concatenate(got) / 32768.0, RATE).tone_windows >= 25

    wait_until(heard, 10, "the mic tone in the capture FIFO", interval=0.02)
    play.stop()


def test_ringtone_plays_on_the_ringer_device_only(
    pulse: PulseRig, router: tuple[DeviceRouter, MediaCore, Changes]
) -> None:
    r, _, _ = router
    ring, spk = pulse.record("ring.monitor"), pulse.record("spk.monitor")
    r.want(ringer_id="ring", output_id="spk", ringer=True)
    assert r.settle()
    assert r.open_devices() == {"input": None, "output": None, "ringer": "ring"}
    # The ringtone's first note (660 + 1320 Hz) is heard on the ringer device.
    wait_until(
        lambda: analyse(ring.samples(), RATE, 660.0, purity=0.3).tone_windows >= 5, 10, "ringtone"
    )
    r.want(ringer=False)
    wait_until(lambda: r.open_devices()["ringer"] is None, 5, "ringer stream closed")
    assert np.abs(spk.samples()).max(initial=0.0) < 0.01


def test_unplugged_choice_falls_back_to_default_and_returns(
    pulse: PulseRig, router: tuple[DeviceRouter, MediaCore, Changes]
) -> None:
    r, _, changes = router
    module = pulse.add_sink("dock")
    changes.wait_for(lambda d: "dock" in _ids(d, DeviceKind.OUTPUT), 5, "dock plugged")
    r.want(output_id="dock", playback=True)
    assert r.settle()
    assert r.open_devices()["output"] == "dock"
    pulse.remove_module(module)
    wait_until(lambda: r.open_devices()["output"] == "", 5, "fallback to the default output")
    pulse.add_sink("dock")
    wait_until(lambda: r.open_devices()["output"] == "dock", 5, "back on the dock")


def test_tone_source_matches_render() -> None:
    tone = ToneSource(RINGTONE)
    assert np.array_equal(tone.read(1000), render(RINGTONE)[:1000])


def test_ringback_plays_on_the_output_and_stops_with_a_fade(
    pulse: PulseRig, router: tuple[DeviceRouter, MediaCore, Changes]
) -> None:
    r, core, _ = router
    spk = pulse.record("spk.monitor")
    r.want(output_id="spk")
    core.ringback = ToneSource(RINGBACK_ITU)  # what AudioBridge.start_ringback does
    r.want()
    wait_until(lambda: r.open_devices()["output"] == "spk", 5, "speaker opened for ringback")
    wait_until(
        lambda: analyse(spk.samples(), RATE, 425.0).tone_windows >= 10, 10, "425 Hz ringback"
    )
    core.ringback.stop()
    r.want()
    wait_until(lambda: core.ringback is None, 5, "ringback faded out and dropped")
    wait_until(lambda: r.open_devices()["output"] is None, 5, "speaker closed again")


def test_waiting_beep_plays_once_over_the_call(
    pulse: PulseRig, router: tuple[DeviceRouter, MediaCore, Changes]
) -> None:
    r, core, _ = router
    spk = pulse.record("spk.monitor")
    r.want(output_id="spk", playback=True)
    assert r.settle()
    core.beep = ToneSource(WAITING_BEEP)  # what AudioBridge.play_waiting_beep does
    r.want()
    wait_until(lambda: core.beep is None, 5, "beep finished")
    wait_until(
        lambda: analyse(spk.samples(), RATE, 440.0, window=0.01).tone_windows >= 30,
        5,
        "two 200 ms beeps at 440 Hz",
    )
    assert r.open_devices()["output"] == "spk"  # the call's speaker stays open
