"""Clock drift between PJSIP and the sound card must never click or grow the delay."""

from __future__ import annotations

import numpy as np
import pytest

from softphone.audio.drift import DriftReader
from softphone.audio.fifo import SampleFifo
from tests.audio.clocks import RATE, click_size, run_clocks, sine_block

AMP = 8000.0
CLICK = 300.0  # click_size of one dropped sample here is about 3000


def test_fifo_keeps_order_across_wraparound() -> None:
    fifo = SampleFifo(1000)
    data = np.arange(5000, dtype=np.int16)
    out = np.zeros(5000, dtype=np.int16)
    got = 0
    for i in range(0, 5000, 300):
        fifo.write(data[i : i + 300])
        got += fifo.read_into(out[got : got + 290 + (i % 7)])
    got += fifo.read_into(out[got:])
    assert got == 5000
    assert np.array_equal(out, data)


def test_fifo_drops_the_oldest_when_full() -> None:
    fifo = SampleFifo(100)
    fifo.write(np.arange(80, dtype=np.int16))
    fifo.write(np.arange(80, 160, dtype=np.int16))
    out = np.zeros(100, dtype=np.int16)
    assert fifo.read_into(out) == 100
    assert np.array_equal(out, np.arange(60, 160, dtype=np.int16))
    assert fifo.overflowed == 60


@pytest.mark.parametrize("ppm", [-3000.0, -300.0, 0.0, 300.0, 3000.0])
def test_drift_is_absorbed_without_clicks_or_growing_delay(ppm: float) -> None:
    run, reader = run_clocks(40.0, writer_ppm=ppm, amp=AMP)
    settled = run.output[RATE:]  # after the first second (fade-in)
    assert click_size(settled) < CLICK
    half = len(run.levels) // 2
    late = np.array(run.levels[half:])  # level after each read: target minus one block
    # Level stays near the 30 ms target: no latency creeping up, no underruns.
    assert abs(float(late.mean()) + 160 - reader.target) < 80
    assert late.max() < reader.target + 320
    assert reader.underruns == 0
    assert reader.skips == 0
    # The resampling ratio learns the writer's clock. (At small offsets the two clocks'
    # block phases beat over a minute, which the level reading follows; the level checks
    # above are what matters there.)
    if abs(ppm) >= 1000:
        mean_ppm = (float(np.mean(run.ratios[half:])) - 1) * 1e6
        assert abs(mean_ppm - ppm) < 0.05 * abs(ppm)


def test_output_is_the_input_tone() -> None:
    run, _ = run_clocks(5.0, writer_ppm=1000.0, amp=AMP)
    x = run.output[RATE:].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    peak_hz = np.argmax(spectrum) * RATE / x.size
    assert abs(peak_hz - 1000.0) < 5.0
    # Interpolation noise stays 40 dB under the tone.
    band = spectrum[int(980 * x.size / RATE) : int(1020 * x.size / RATE)]
    assert float(np.sum(band**2)) > 1e4 * (float(np.sum(spectrum**2)) - float(np.sum(band**2)))


def test_writer_stall_fades_out_and_back_in() -> None:
    run, reader = run_clocks(4.0, amp=AMP, stall=(2.0, 2.3))
    assert reader.underruns == 1
    assert click_size(run.output[RATE:]) < CLICK  # fade, not a cliff, at both ends
    after = run.output[int(2.5 * RATE) :]
    assert np.abs(after).max() > 0.9 * AMP  # sound came back


def test_a_backlog_is_skipped_with_a_crossfade() -> None:
    fifo = SampleFifo(RATE)
    reader = DriftReader(fifo, 480)
    pos, out = 0, []
    for i in range(60):
        block = 160 if i != 30 else 160 + 8000  # half a second arrives at once
        fifo.write(sine_block(pos, block, 1000.0, AMP, RATE))
        pos += block
        out.append(reader.read(160))
    assert reader.skips == 1
    assert reader.underruns == 0
    assert len(fifo) < 480 + 320
    assert click_size(np.concatenate(out[5:])) < CLICK


def test_the_click_measure_catches_a_dropped_sample() -> None:
    clean = sine_block(0, 4000, 1000.0, AMP, RATE)
    assert click_size(clean) < 10
    assert click_size(np.delete(clean, 1234)) > 5 * CLICK


def test_start_discards_what_piled_up_before_the_first_read() -> None:
    fifo = SampleFifo(RATE)
    reader = DriftReader(fifo, 480)
    fifo.write(np.ones(8000, dtype=np.int16))
    reader.read(160)
    assert len(fifo) <= 480
