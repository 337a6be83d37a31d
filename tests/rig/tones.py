"""Test tones: write a sine WAV, and tell whether (and how loud) a tone is in some audio.

Detection uses the Goertzel filter per short window, so a 1 kHz tone is told apart from
noise, clicks or another tone: a window "has the tone" when the tone's bin holds most of the
window's energy and the tone is loud enough. Shared with the audio team's tests and benches.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def sine(freq: float, seconds: float, rate: int = 8000, amplitude: float = 0.5) -> FloatArray:
    """A sine wave as floats in [-1, 1]."""
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    return amplitude * np.sin(2.0 * math.pi * freq * t)


def write_wav(path: Path | str, samples: npt.ArrayLike, rate: int) -> Path:
    """Write mono 16-bit PCM."""
    path = Path(path)
    data = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    pcm = (data * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def write_sine_wav(
    path: Path | str,
    freq: float = 1000.0,
    seconds: float = 5.0,
    rate: int = 8000,
    amplitude: float = 0.5,
) -> Path:
    """A mono 16-bit sine WAV (8 kHz for G.711 peers such as baresip's aufile source)."""
    return write_wav(path, sine(freq, seconds, rate, amplitude), rate)


def _read_any(path: Path | str) -> tuple[int, int, int, bytes]:
    """Parse a PCM WAV, also one still being written whose sizes are not filled in yet.

    Writers fix the data size at close; while a call runs, the header may claim 0 bytes or
    one frame. The declared size is trusted only when another chunk follows it.
    """
    blob = Path(path).read_bytes()
    fmt = blob.find(b"fmt ")
    data = blob.find(b"data", fmt + 8 if fmt >= 0 else 0)
    if blob[:4] != b"RIFF" or fmt < 0 or data < 0 or len(blob) < fmt + 24:
        raise ValueError(f"{path}: not a WAV file (yet)")
    channels, rate = struct.unpack_from("<HI", blob, fmt + 10)
    (bits,) = struct.unpack_from("<H", blob, fmt + 22)
    width = max(1, bits // 8)
    start = data + 8
    (declared,) = struct.unpack_from("<I", blob, data + 4) if len(blob) >= start else (0,)
    available = len(blob) - start
    end = start + available
    if 0 < declared <= available:
        after = blob[start + declared + (declared & 1) : start + declared + (declared & 1) + 4]
        if after == b"" or (len(after) == 4 and after.isalpha()):
            end = start + declared
    raw = blob[start:end]
    frame = width * max(1, channels)
    return max(1, channels), width, rate, raw[: len(raw) // frame * frame]


def read_wav(path: Path | str) -> tuple[FloatArray, int]:
    """Samples (first channel, floats in [-1, 1]) and the sample rate of a PCM WAV.

    Also reads a WAV another process is still writing (call dumps and recordings mid-call).
    """
    channels, width, rate, raw = _read_any(path)
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
    else:
        raise ValueError(f"{path}: unsupported sample width {width}")
    if channels > 1:
        data = data[::channels]
    return data, rate


def goertzel_power(samples: FloatArray, rate: int, freq: float) -> float:
    """Mean power of `samples` at `freq` (a sine of amplitude A gives about A**2 / 2)."""
    n = len(samples)
    if n == 0:
        return 0.0
    k = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples.tolist():
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return 2.0 * power / (n * n)


def _window_powers(
    samples: FloatArray, rate: int, freq: float, window: float
) -> tuple[FloatArray, FloatArray]:
    """Per window: power at `freq` (vectorised single-bin DFT) and total mean power."""
    size = max(1, int(rate * window))
    count = len(samples) // size
    if count == 0:
        return np.zeros(0), np.zeros(0)
    frames = samples[: count * size].reshape(count, size)
    t = np.arange(size) / rate
    ref = np.exp(-2j * math.pi * freq * t)
    bins = frames @ ref
    tone = 2.0 * np.abs(bins) ** 2 / (size * size)
    total = np.mean(frames**2, axis=1)
    return tone, total


@dataclass(frozen=True)
class ToneReport:
    """What `analyse` found: how much of the audio carries the tone, and how loud."""

    freq: float
    windows: int
    tone_windows: int
    level_dbfs: float  # median tone level over the windows that carry it (-inf if none)
    first_onset: float | None  # seconds from the start to the first window with the tone

    @property
    def fraction(self) -> float:
        return self.tone_windows / self.windows if self.windows else 0.0

    def __str__(self) -> str:
        onset = "never" if self.first_onset is None else f"{self.first_onset:.3f}s"
        return (
            f"{self.freq:.0f} Hz in {self.tone_windows}/{self.windows} windows "
            f"({self.fraction:.0%}), level {self.level_dbfs:.1f} dBFS, first at {onset}"
        )


def analyse(
    samples: npt.ArrayLike,
    rate: int,
    freq: float = 1000.0,
    *,
    window: float = 0.02,
    min_dbfs: float = -40.0,
    purity: float = 0.5,
) -> ToneReport:
    """Find the windows where `freq` holds at least `purity` of the energy above `min_dbfs`.

    Levels are dBFS of the tone's RMS (a full-scale sine is about -3 dBFS).
    """
    data = np.asarray(samples, dtype=np.float64)
    tone, total = _window_powers(data, rate, freq, window)
    floor = 10.0 ** (min_dbfs / 10.0)
    has = (tone >= floor) & (tone >= purity * np.maximum(total, 1e-20))
    hits = np.flatnonzero(has)
    level = float(10.0 * np.log10(np.median(tone[hits]))) if hits.size else float("-inf")
    onset = float(hits[0] * window) if hits.size else None
    return ToneReport(freq, int(tone.size), int(hits.size), level, onset)


def analyse_wav(path: Path | str, freq: float = 1000.0, **kwargs: float) -> ToneReport:
    samples, rate = read_wav(path)
    return analyse(samples, rate, freq, **kwargs)


def try_analyse_wav(path: Path | str, freq: float = 1000.0, **kwargs: float) -> ToneReport:
    """Like analyse_wav, but a file that is missing or has no samples yet reports no tone."""
    try:
        return analyse_wav(path, freq, **kwargs)
    except (OSError, ValueError, struct.error, wave.Error, EOFError):
        return ToneReport(freq, 0, 0, float("-inf"), None)


def has_tone(
    samples: npt.ArrayLike, rate: int, freq: float = 1000.0, *, min_seconds: float = 0.5
) -> bool:
    """True when at least `min_seconds` of the audio carries the tone."""
    report = analyse(samples, rate, freq)
    return report.tone_windows * 0.02 >= min_seconds
