"""Local ringback through a real output device (PulseAudio null sink): the agent hears the
ITU ringback (425 Hz) while a far end rings with a plain 180, and not when it sends early
media (183 with SDP), where the far end's own audio is what should be heard."""

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


@pytest.mark.parametrize("early_media", [False, True], ids=["180", "183-sdp"])
def test_ringback_only_when_the_far_end_sends_no_early_media(phone: Rig, early_media: bool) -> None:
    client, events, rig = phone
    pbx = RawUas(early_media=early_media)
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
    # a full second of ringback measures rms ~0.14 here; early media (the raw far end sends
    # no RTP) must stay near silence
    if early_media:
        assert rms < 0.03, (share, rms)
    else:
        assert share > 0.6 and rms > 0.05, (share, rms)
