"""Two simulated clocks around a FIFO: a writer and a DriftReader ticking at their own rates.

Virtual time, no threads: each test runs minutes of audio in well under a second and is
exactly repeatable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from softphone.audio.drift import DriftReader
from softphone.audio.fifo import SampleFifo

RATE = 16_000


@dataclass
class Run:
    output: npt.NDArray[np.int16]
    levels: list[int] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def sine_block(start: int, n: int, freq: float, amp: float, rate: float) -> npt.NDArray[np.int16]:
    t = (start + np.arange(n)) / rate
    return np.rint(amp * np.sin(2 * math.pi * freq * t)).astype(np.int16)


def run_clocks(
    seconds: float,
    *,
    writer_ppm: float = 0.0,
    write_block: int = 320,
    read_block: int = 160,
    target: int = 480,
    freq: float = 1000.0,
    amp: float = 8000.0,
    stall: tuple[float, float] | None = None,
) -> tuple[Run, DriftReader]:
    """Writer emits a continuous sine in `write_block`s on a clock `writer_ppm` fast; reader
    pulls `read_block`s on the nominal clock. `stall` = (start, end) seconds with no writes."""
    fifo = SampleFifo(RATE)
    reader = DriftReader(fifo, target)
    writer_period = write_block / RATE / (1 + writer_ppm * 1e-6)
    reader_period = read_block / RATE
    next_w, next_r, written = 0.0, reader_period / 3, 0
    out: list[npt.NDArray[np.int16]] = []
    levels: list[int] = []
    ratios: list[float] = []
    while next_r < seconds:
        if next_w <= next_r:
            if stall is None or not (stall[0] <= next_w < stall[1]):
                # The source keeps its own phase: a stall loses samples, as a real one would.
                fifo.write(sine_block(written, write_block, freq, amp, RATE))
            written += write_block
            next_w += writer_period
        else:
            out.append(reader.read(read_block))
            levels.append(len(fifo))
            ratios.append(reader.ratio)
            next_r += reader_period
    return Run(np.concatenate(out), levels, ratios), reader


def click_size(samples: npt.NDArray[np.int16], freq: float = 1000.0) -> float:
    """How far the signal strays from *some* sine of `freq`, sample to sample.

    A sine obeys x[n+1] - 2 cos(w) x[n] + x[n-1] = 0 whatever its amplitude and phase, so
    the residual is ~0 for clean audio, a few units for slow drift resampling or fades, and
    about the sine's slope (3000 at 1 kHz, amplitude 8000) where one sample is dropped or
    repeated, or the waveform steps.
    """
    x = samples.astype(np.float64)
    if x.size < 3:
        return 0.0
    w = 2 * math.pi * freq / RATE
    residual = x[2:] - 2 * math.cos(w) * x[1:-1] + x[:-2]
    return float(np.max(np.abs(residual)))
