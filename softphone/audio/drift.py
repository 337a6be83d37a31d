"""Clock drift control on the reading side of a FIFO, without clicks.

The writer and the reader run on different clocks (PJSIP's timer and the sound card's
crystal), so the FIFO slowly fills or drains. Dropping or repeating single samples clicks;
instead the reader resamples by a tiny ratio (at most +-1 %, inaudible) steered by the
smoothed fill level, interpolating across block boundaries so the waveform stays
continuous. Underruns fade out and, once the FIFO has refilled, fade back in; a reader that
fell far behind (a stalled device) skips ahead with a cross-fade.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from softphone.audio.fifo import SampleFifo, Samples

Floats = npt.NDArray[np.float32]

MAX_CORRECTION = 0.01
FADE_SAMPLES = 64  # 4 ms at 16 kHz
INTEGRAL_TIME_S = 5.0
RATE = 16_000
QUIET = 200  # below -44 dBFS: a pause, not speech
QUIET_DROP_MIN = 480  # only for 30 ms or more over target (stalls, not jitter)
QUIET_KEEP = 160  # ...and keep 10 ms of it as headroom against the next late callback
SKIP_EXCESS = 1280  # 80 ms over target: too much to work off by resampling (8 s at 1 %)


class DriftReader:
    """Reads exactly n samples per call from a FIFO, steering its level to `target`."""

    def __init__(
        self, fifo: SampleFifo, target: int, *, settle: int = 48_000, smoothing: float = 0.02
    ) -> None:
        """`settle`: samples over which an excess of fill is worked off (3 s at 16 kHz);
        `smoothing`: weight of each new level reading in the running average."""
        if target <= 0:
            raise ValueError("target must be positive")
        self.fifo = fifo
        self.target = target
        self._settle = float(settle)
        self._alpha = smoothing
        self._avg = float(target)
        self._carry: Floats = np.zeros(0, dtype=np.float32)
        self._phase = 0.0
        self._integral = 0.0  # learned clock-rate difference; survives underruns
        self._primed = False  # False: waiting for the FIFO to reach `target` (start/underrun)
        self._scratch: Samples = np.zeros(0, dtype=np.int16)
        self.ratio = 1.0
        self.underruns = 0
        self.skips = 0
        self.quiet_drops = 0

    @property
    def level(self) -> float:
        """Smoothed fill level in samples (what the controller steers)."""
        return self._avg

    def reset(self) -> None:
        self._carry = np.zeros(0, dtype=np.float32)
        self._phase = 0.0
        self._primed = False
        self._avg = float(self.target)
        self.ratio = 1.0

    def read(self, n: int) -> Samples:
        level = len(self.fifo)
        if not self._primed:
            if level < self.target:
                return np.zeros(n, dtype=np.int16)
            self._primed = True
            # Start (or restart after an underrun) exactly at target: whatever piled up
            # while nobody read would otherwise be latency worked off only at 1 %.
            self.fifo.discard(level - self.target)
            self._avg = float(self.target)
            self._carry = np.zeros(0, dtype=np.float32)
            self._phase = 0.0
            return self._faded(self._resample(n), fade_in=True)
        if level > self.target + max(self.target, SKIP_EXCESS):
            return self._skip_ahead(n)
        excess = level - self.target
        if excess > QUIET_DROP_MIN and self._drop_quiet(excess - QUIET_KEEP):
            level = len(self.fifo)
        self._avg += self._alpha * (level - self._avg)
        # PI control: the proportional part reacts, the integral part learns the clocks'
        # steady rate difference so the level settles on target instead of beside it.
        error = (self._avg - self.target) / self._settle
        self._integral += error * n / (INTEGRAL_TIME_S * RATE)
        self._integral = max(-MAX_CORRECTION, min(MAX_CORRECTION, self._integral))
        correction = error + self._integral
        self.ratio = 1.0 + max(-MAX_CORRECTION, min(MAX_CORRECTION, correction))
        return self._resample(n)

    def _drop_quiet(self, excess: int) -> bool:
        """A stall piled up `excess`: if it is silence (a pause in speech), drop it now
        instead of working it off at 1 % for seconds. Nothing audible is lost."""
        if self._carry.size and float(np.max(np.abs(self._carry))) >= QUIET:
            return False
        if self._scratch.shape[0] < excess:
            self._scratch = np.zeros(excess, dtype=np.int16)
        got = self.fifo.peek_into(self._scratch[:excess])
        if got < excess or int(np.max(np.abs(self._scratch[:got].astype(np.int32)))) >= QUIET:
            return False
        self.fifo.discard(excess)
        self._avg = float(len(self.fifo))
        self.quiet_drops += 1
        return True

    def _needed(self, n: int) -> int:
        return int(np.floor(self._phase + (n - 1) * self.ratio)) + 2

    def _take(self, count: int) -> tuple[Floats, bool]:
        """`count` input samples (carry first); short=True when the FIFO ran dry."""
        have = self._carry.shape[0]
        want = max(0, count - have)
        if self._scratch.shape[0] < want:
            self._scratch = np.zeros(want, dtype=np.int16)
        got = self.fifo.read_into(self._scratch[:want])
        x = np.empty(have + got, dtype=np.float32)
        x[:have] = self._carry
        x[have:] = self._scratch[:got]
        return x, got < want

    def _resample(self, n: int) -> Samples:
        x, short = self._take(self._needed(n))
        if short:
            return self._underrun(x, n)
        t = self._phase + np.arange(n, dtype=np.float64) * self.ratio
        i = t.astype(np.int64)
        f = (t - i).astype(np.float32)
        y = x[i] + (x[i + 1] - x[i]) * f
        adv = self._phase + n * self.ratio
        m = int(np.floor(adv))
        self._carry = x[m:].copy()
        self._phase = adv - m
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)

    def _underrun(self, x: Floats, n: int) -> Samples:
        """Play what is left, fading to zero, then wait for the FIFO to refill."""
        self.underruns += 1
        self._primed = False
        out = np.zeros(n, dtype=np.float32)
        k = min(n, x.shape[0])
        if k:
            # Fade the real samples we still have down to zero (a ramp of the last value
            # would leave a kink in the waveform, which is audible as a tick).
            out[:k] = x[:k]
            fade = min(FADE_SAMPLES, k)
            out[k - fade : k] *= np.linspace(1.0, 0.0, fade + 1, dtype=np.float32)[1:]
        self._carry = np.zeros(0, dtype=np.float32)
        self._phase = 0.0
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    def _skip_ahead(self, n: int) -> Samples:
        """Drop the backlog down to `target`, cross-fading old into new over one block."""
        self.skips += 1
        self.ratio = 1.0
        old = self._resample(n).astype(np.float32)
        self.fifo.discard(len(self.fifo) - self.target - n)
        self._carry = np.zeros(0, dtype=np.float32)
        self._phase = 0.0
        self._avg = float(self.target)
        new = self._resample(n).astype(np.float32)
        w = np.linspace(0.0, 1.0, n, dtype=np.float32)
        return np.clip(np.rint(old * (1 - w) + new * w), -32768, 32767).astype(np.int16)

    @staticmethod
    def _faded(block: Samples, *, fade_in: bool) -> Samples:
        k = min(FADE_SAMPLES, block.shape[0])
        y = block.astype(np.float32)
        ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
        if fade_in:
            y[:k] *= ramp
        else:
            y[-k:] *= ramp[::-1]
        return np.rint(y).astype(np.int16)
