"""Call-progress tones: the right frequencies and cadence, and no clicks when they start,
loop or stop."""

from __future__ import annotations

import numpy as np

from softphone.audio.tones import (
    RINGBACK_ITU,
    RINGBACK_NA,
    RINGTONE,
    WAITING_BEEP,
    ToneSource,
    mix_into,
    render,
)
from tests.rig.tones import analyse

RATE = 16_000


def _floats(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) / 32768.0


def _max_step(x: np.ndarray) -> int:
    return int(np.max(np.abs(np.diff(x.astype(np.int32)))))


def test_itu_ringback_is_425_hz_one_second_in_five() -> None:
    tone = ToneSource(RINGBACK_ITU)
    audio = np.concatenate([tone.read(320) for _ in range(50 * 10)])  # 10 s
    report = analyse(_floats(audio), RATE, 425.0, min_dbfs=-30)
    assert 0.17 < report.fraction < 0.21  # 2 s of tone in 10 s
    assert report.first_onset == 0.0
    quiet = analyse(_floats(audio[RATE * 2 : RATE * 4]), RATE, 425.0, min_dbfs=-60)
    assert quiet.tone_windows == 0


def test_north_american_ringback_has_both_frequencies() -> None:
    audio = render(RINGBACK_NA)[: RATE * 2]
    for freq in (440.0, 480.0):
        assert analyse(_floats(audio), RATE, freq, purity=0.3, window=0.1).fraction > 0.9


def test_waiting_beep_plays_once_then_is_silent() -> None:
    tone = ToneSource(WAITING_BEEP)
    audio = np.concatenate([tone.read(160) for _ in range(100)])  # 1 s
    assert tone.finished
    beeps = analyse(_floats(audio), RATE, 440.0, window=0.01)
    assert 0.3 <= beeps.tone_windows * 0.01 <= 0.45
    assert not audio[int(0.55 * RATE) :].any()


def test_tones_loop_and_stop_without_clicks() -> None:
    for pattern in (RINGTONE, RINGBACK_ITU, RINGBACK_NA):
        tone = ToneSource(pattern)
        blocks = [tone.read(441) for _ in range(400)]  # odd block size: wraps mid-block
        tone.stop()
        blocks += [tone.read(441) for _ in range(3)]
        audio = np.concatenate(blocks)
        assert tone.finished
        assert not audio[-441:].any()
        # Biggest sample-to-sample step stays what the loudest tone itself makes: no edges.
        rendered = render(pattern)
        assert _max_step(audio) <= _max_step(rendered) + 50


def test_stop_mid_tone_fades_instead_of_cutting() -> None:
    tone = ToneSource(RINGBACK_ITU)
    head = tone.read(4000)  # inside the 1 s tone
    tone.stop()
    tail = tone.read(400)
    assert np.abs(head[-100:]).max() > 5000
    assert _max_step(np.concatenate([head, tail])) <= _max_step(render(RINGBACK_ITU)) + 50
    assert not tail[200:].any()


def test_mixing_saturates_instead_of_wrapping() -> None:
    dest = np.array([30000, -30000, 100], dtype=np.int16)
    mix_into(dest, np.array([10000, -10000, 5], dtype=np.int16))
    assert dest.tolist() == [32767, -32768, 105]
