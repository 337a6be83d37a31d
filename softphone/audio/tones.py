"""Call-progress tones synthesized in code (no sound files to ship or lose).

A pattern is rendered once into a sample array with short raised-cosine ramps on every
segment, so starting, stopping and looping never click; a `ToneSource` then hands it out
block by block from whichever thread plays it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softphone.audio.fifo import Samples

RATE = 16_000
RAMP_MS = 5


@dataclass(frozen=True, slots=True)
class Segment:
    """`freqs` sound together for `ms` milliseconds; no freqs means silence."""

    freqs: tuple[float, ...]
    ms: int
    level: float = 0.25  # peak amplitude as a fraction of full scale


@dataclass(frozen=True, slots=True)
class Pattern:
    segments: tuple[Segment, ...]
    loop: bool


# ITU-T E.180 ringing tone (425 Hz, 1 s on, 4 s off): what most of Europe hears.
RINGBACK_ITU = Pattern((Segment((425.0,), 1000, 0.2), Segment((), 4000)), loop=True)
# North American ringback (440 + 480 Hz, 2 s on, 4 s off).
RINGBACK_NA = Pattern((Segment((440.0, 480.0), 2000, 0.15), Segment((), 4000)), loop=True)
# Call waiting: two short 440 Hz beeps, once; quiet enough not to cover the caller's voice.
WAITING_BEEP = Pattern(
    (Segment((440.0,), 200, 0.15), Segment((), 150), Segment((440.0,), 200, 0.15)),
    loop=False,
)
# Ringtone: a warm two-note trill, twice, then a pause; louder since it must be noticed.
_TRILL = tuple(Segment(f, 50, 0.35) for _ in range(8) for f in ((660.0, 1320.0), (880.0, 1760.0)))
RINGTONE = Pattern((*_TRILL, Segment((), 300), *_TRILL, Segment((), 2000)), loop=True)
# Soft: a slow rising three-note chime at a lower level, for quiet offices.
_CHIME = (
    Segment((523.25,), 220, 0.22),
    Segment((659.25,), 220, 0.22),
    Segment((783.99,), 420, 0.22),
)
SOFT_RINGTONE = Pattern((*_CHIME, Segment((), 600), *_CHIME, Segment((), 2400)), loop=True)
# Digital: the short double beep of a desk phone, four times, then a pause.
_BEEPS = tuple(s for _ in range(4) for s in (Segment((1400.0, 2100.0), 80, 0.3), Segment((), 70)))
DIGITAL_RINGTONE = Pattern((*_BEEPS, Segment((), 250), *_BEEPS, Segment((), 2200)), loop=True)

#: The ringtones an agent can choose (Settings > Ringtone), by the name the app saves.
RINGTONES: dict[str, Pattern] = {
    "classic": RINGTONE,
    "soft": SOFT_RINGTONE,
    "digital": DIGITAL_RINGTONE,
}


def ringtone(name: str) -> Pattern:
    """The named ringtone; an unknown name (an old or hand-edited setting) rings classic."""
    return RINGTONES.get(name, RINGTONE)


def render(pattern: Pattern, rate: int = RATE) -> Samples:
    """The whole pattern as int16 samples (a few seconds at most)."""
    parts: list[npt.NDArray[np.float32]] = []
    ramp = max(1, rate * RAMP_MS // 1000)
    for seg in pattern.segments:
        n = rate * seg.ms // 1000
        if not seg.freqs:
            parts.append(np.zeros(n, dtype=np.float32))
            continue
        t = np.arange(n, dtype=np.float64) / rate
        y = sum(np.sin(2 * np.pi * f * t) for f in seg.freqs) / len(seg.freqs)
        env = np.ones(n)
        r = min(ramp, n // 2)
        if r:
            edge = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, r))
            env[:r] = edge
            env[n - r :] = edge[::-1]
        parts.append((y * env * seg.level).astype(np.float32))
    whole = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    out: Samples = np.rint(whole * 32767).astype(np.int16)
    return out


class ToneSource:
    """Thread-safe reader over a rendered pattern; silent once a one-shot pattern ends."""

    def __init__(self, pattern: Pattern, rate: int = RATE) -> None:
        self._samples = render(pattern, rate)
        self._loop = pattern.loop
        self._pos = 0
        self._lock = threading.Lock()
        self._fade_left = -1  # >= 0 while fading out after stop()
        self._fade_len = max(1, rate * RAMP_MS * 2 // 1000)

    @property
    def finished(self) -> bool:
        if self._fade_left == 0:
            return True
        return not self._loop and self._pos >= self._samples.shape[0]

    @property
    def stopping(self) -> bool:
        return self._fade_left >= 0

    def stop(self) -> None:
        """Fade out over 10 ms from wherever the pattern is (cutting mid-wave clicks)."""
        with self._lock:
            if self._fade_left < 0:
                self._fade_left = self._fade_len

    def read(self, n: int) -> Samples:
        out = np.zeros(n, dtype=np.int16)
        total = self._samples.shape[0]
        if total == 0:
            return out
        with self._lock:
            filled = 0
            while filled < n:
                if self._pos >= total:
                    if not self._loop:
                        break
                    self._pos = 0
                k = min(n - filled, total - self._pos)
                out[filled : filled + k] = self._samples[self._pos : self._pos + k]
                self._pos += k
                filled += k
            if self._fade_left >= 0:
                k = min(n, self._fade_left)
                start = self._fade_len - self._fade_left
                ramp = 1.0 - np.arange(start, start + k, dtype=np.float32) / self._fade_len
                out[:k] = np.rint(out[:k] * ramp).astype(np.int16)
                out[k:] = 0
                self._fade_left -= k
        return out


def mix_into(dest: Samples, src: Samples) -> None:
    """dest += src with saturation instead of wrap-around (a wrap is a loud click)."""
    acc = dest.astype(np.int32) + src.astype(np.int32)
    np.clip(acc, -32768, 32767, out=acc)
    dest[:] = acc.astype(np.int16)
