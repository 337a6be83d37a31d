"""Local ringback through a real output device (PulseAudio null sink): the agent hears the
ITU ringback (425 Hz) while a far end rings with a plain 180, and not when it sends early
media (183 with SDP), where the far end's own audio is what should be heard; not even a
blip when the 183 follows the 180 a moment later, as many PBXs do."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import CallStateChanged
from softphone.types import CallState
from tests.rig.pulse import PulseRig
from tests.softphone.helpers import Recorder, wait_until
from tests.softphone.rawsip import RawUas

pytestmark = [pytest.mark.pulse, pytest.mark.slow]

RATE = 16_000
RINGBACK_HZ = 425.0


def _share_at(samples: npt.NDArray[np.float64], frequency_hz: float) -> tuple[float, float]:
    """(share of energy within 15 Hz of frequency_hz, RMS)."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1.0 / RATE)
    near = np.abs(freqs - frequency_hz) <= 15.0
    total = float(spectrum.sum()) or 1.0
    return float(spectrum[near].sum()) / total, float(np.sqrt(np.mean(samples**2)))


def _peak_at(samples: npt.NDArray[np.float64], frequency_hz: float) -> float:
    """Largest amplitude of the frequency_hz component in any 40 ms window (20 ms hop):
    catches a blip of tone that a whole-window average would dilute."""
    n, hop = RATE // 25, RATE // 50
    phase = np.exp(-2j * np.pi * frequency_hz * np.arange(n) / RATE)
    peaks = [
        2.0 * abs(np.dot(samples[i : i + n], phase)) / n
        for i in range(0, max(1, len(samples) - n + 1), hop)
    ]
    return max(peaks, default=0.0)


Rig = tuple[EngineClient, Recorder, PulseRig]


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with PulseRig(tmp_path_factory.mktemp("pulse-ringback"), sinks=("mic", "spk")) as rig:
        config = EngineConfig(rtp_bind_address="127.0.0.1", log_level=1, audio_backend="miniaudio")
        client = EngineClient(config, env=rig.env_for_clients())
        events = Recorder(client)
        client.start()
        wait_until(client.list_devices, 10, "the engine to list the rig's devices")
        client.add_account(AccountConfig("rita", "rita", "127.0.0.1", bind_address="127.0.0.1"))
        client.set_devices(input_id="mic.monitor", output_id="spk", ringer_id="spk")
        try:
            yield client, events, rig
        finally:
            assert client.stop() == 0


@pytest.mark.parametrize(
    ("early_media", "early_media_after_s"),
    [(False, None), (True, None), (False, 0.15)],
    ids=["180", "183-sdp", "180-then-183-sdp"],
)
def test_ringback_only_when_the_far_end_sends_no_early_media(
    phone: Rig, early_media: bool, early_media_after_s: float | None
) -> None:
    client, events, rig = phone
    pbx = RawUas(early_media=early_media, early_media_after_s=early_media_after_s)
    recording = rig.record("spk.monitor")
    try:
        mark = events.mark()
        call_id = client.make_call("rita", pbx.uri)
        events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == call_id and e.state is CallState.RINGING,
            start=mark,
        )
        start_s = recording.seconds
        # the ITU cadence is 1 s of tone, then 4 s of silence: 0.9 s covers the tone
        wait_until(lambda: recording.seconds >= start_s + 0.9, 10, "0.9 s of output")
        client.hangup(call_id)
        events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final, start=mark
        )
    finally:
        samples = recording.stop()
        pbx.close()
    ringing = samples[int(start_s * RATE) : int((start_s + 0.9) * RATE)]
    share, rms = _share_at(ringing, RINGBACK_HZ)
    # a full second of ringback measures rms ~0.14 here. Early media (the raw far end sends
    # no RTP) must stay silent from the 180 on, not a blip of 425 Hz: ringback started at
    # once on a 180 followed by a 183 150 ms later, or even for the instant between PJSIP's
    # EARLY state and the 183's media, measured peaks of 0.014 to 0.11 here.
    if early_media or early_media_after_s is not None:
        assert _peak_at(ringing, RINGBACK_HZ) < 0.005, (share, rms)
    else:
        assert share > 0.6 and rms > 0.05, (share, rms)
        # and it starts soon after the 180 (RINGBACK_DELAY_S = 0.3), not a second later
        late_half = ringing[int(0.45 * RATE) :]
        assert _peak_at(late_half, RINGBACK_HZ) > 0.1
