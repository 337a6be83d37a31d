"""Long-lived media ports for recording a call and playing audio into it.

PJSIP 2.15's own player and recorder free their memory while the (now asynchronous)
conference bridge may still touch them (pjproject #4526), and deleting a Python
`AudioMediaPort` while the clock runs crashed under load. So these ports are created once,
reused call after call (`PortPool`), and only dropped at shutdown after the clock stopped.
The frame callbacks run on PJSIP's media clock thread: they never raise and never block
for long (a WAV write of 640 bytes at most).
"""

from __future__ import annotations

import logging
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

RATE = 16_000
FRAME = 320  # 20 ms
_FRAME_TYPE_AUDIO = 1


def _format() -> Any:
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = RATE
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = 20_000
    fmt.avgBps = RATE * 16
    fmt.maxBps = RATE * 16
    return fmt


def _samples_of(buf: Any) -> Any:
    from softphone.audio.frames import samples_of

    return samples_of(buf)


class RecorderPort(pj.AudioMediaPort):  # type: ignore[misc]
    """Writes whatever the bridge mixes into it to a 16 kHz mono WAV file."""

    def __init__(self, name: str) -> None:
        import numpy as np

        from softphone.audio.frames import OutFrame

        super().__init__()
        self._lock = threading.Lock()
        self._wav: wave.Wave_write | None = None
        self._frames = 0
        self._out = OutFrame(FRAME)
        self._silence = np.zeros(FRAME, dtype=np.int16)
        self.createPort(name, _format())

    def start(self, path: Path) -> None:
        wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed in stop()
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        with self._lock:
            self._wav = wav
            self._frames = 0

    def stop(self) -> float:
        """Close the file (header fixed up); returns the recorded duration in seconds."""
        with self._lock:
            wav, self._wav = self._wav, None
            frames = self._frames
        if wav is not None:
            wav.close()
        return frames / RATE

    def onFrameReceived(self, frame: Any) -> None:
        try:
            with self._lock:
                if self._wav is None or frame.type != _FRAME_TYPE_AUDIO:
                    return
                samples = _samples_of(frame.buf)
                self._wav.writeframesraw(samples.astype("<i2").tobytes())
                self._frames += len(samples)
        except Exception:
            log.exception("recorder port: frame dropped")

    def onFrameRequested(self, frame: Any) -> None:
        try:
            frame.buf = self._out.fill(self._silence)
            frame.size = FRAME * 2
            frame.type = _FRAME_TYPE_AUDIO
        except Exception:
            log.exception("recorder port: silence failed")


class SourcePort(pj.AudioMediaPort):  # type: ignore[misc]
    """Plays a buffer of 16 kHz samples (a WAV file or a synthesized tone) into calls."""

    def __init__(self, name: str) -> None:
        import numpy as np

        from softphone.audio.frames import OutFrame

        super().__init__()
        self._lock = threading.Lock()
        self._samples: np.ndarray[Any, np.dtype[np.int16]] | None = None
        self._pos = 0
        self._loop = False
        self._remaining: int | None = None
        self._on_end: Callable[[], None] | None = None
        self._out = OutFrame(FRAME)
        self._silence = np.zeros(FRAME, dtype=np.int16)
        self.createPort(name, _format())

    def play(
        self,
        samples: np.ndarray[Any, np.dtype[np.int16]],
        *,
        loop: bool,
        limit_samples: int | None,
        on_end: Callable[[], None],
    ) -> None:
        with self._lock:
            self._samples = samples if len(samples) else None
            self._pos = 0
            self._loop = loop
            self._remaining = limit_samples
            self._on_end = on_end

    def stop(self) -> None:
        with self._lock:
            self._samples = None
            self._on_end = None

    @property
    def playing(self) -> bool:
        return self._samples is not None

    def onFrameRequested(self, frame: Any) -> None:
        finished: Callable[[], None] | None = None
        try:
            with self._lock:
                out = self._silence
                src = self._samples
                if src is not None:
                    out = self._next(src)
                    if self._samples is None:
                        finished, self._on_end = self._on_end, None
            frame.buf = self._out.fill(out)
            frame.size = FRAME * 2
            frame.type = _FRAME_TYPE_AUDIO
        except Exception:
            log.exception("source port: frame failed")
        if finished is not None:
            finished()

    def _next(self, src: np.ndarray[Any, np.dtype[np.int16]]) -> np.ndarray[Any, Any]:
        import numpy as np

        out = np.zeros(FRAME, dtype=np.int16)
        filled = 0
        while filled < FRAME:
            take = min(FRAME - filled, len(src) - self._pos)
            if self._remaining is not None:
                take = min(take, self._remaining)
            if take <= 0:
                break
            out[filled : filled + take] = src[self._pos : self._pos + take]
            filled += take
            self._pos += take
            if self._remaining is not None:
                self._remaining -= take
            if self._pos >= len(src):
                if not self._loop:
                    break
                self._pos = 0
        if (self._remaining is not None and self._remaining <= 0) or (
            not self._loop and self._pos >= len(src)
        ):
            self._samples = None
        return out

    def onFrameReceived(self, frame: Any) -> None:
        return


def tone(frequency_hz: float, level: float, seconds: float = 1.0) -> np.ndarray[Any, Any]:
    """One second (loopable without a click: whole number of periods) of a sine tone."""
    import numpy as np

    n = int(RATE * seconds)
    periods = max(1, round(frequency_hz * n / RATE))
    t = np.arange(n)
    wave_ = np.sin(2 * np.pi * periods * t / n) * (max(0.0, min(1.0, level)) * 32767)
    return wave_.astype(np.int16)


def load_wav(path: Path) -> np.ndarray[Any, Any]:
    """Read a PCM WAV as 16 kHz mono int16 (linear resampling; fine for prompts and tests)."""
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise ValueError(f"{path.name}: only 16-bit PCM WAV is supported (got {8 * width}-bit)")
    data = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    if rate != RATE and len(data):
        n_out = int(len(data) * RATE / rate)
        data = np.interp(np.arange(n_out) * rate / RATE, np.arange(len(data)), data)
    return np.clip(data, -32768, 32767).astype(np.int16)


class PortPool:
    """Hands out idle ports and takes them back; ports live until `clear()` at shutdown."""

    def __init__(self) -> None:
        self._idle_rec: list[RecorderPort] = []
        self._idle_src: list[SourcePort] = []
        self._all: list[pj.AudioMediaPort] = []

    def recorder(self) -> RecorderPort:
        if self._idle_rec:
            return self._idle_rec.pop()
        port = RecorderPort(f"rec{len(self._all)}")
        self._all.append(port)
        return port

    def source(self) -> SourcePort:
        if self._idle_src:
            return self._idle_src.pop()
        port = SourcePort(f"src{len(self._all)}")
        self._all.append(port)
        return port

    def give_back(self, port: RecorderPort | SourcePort) -> None:
        if isinstance(port, RecorderPort):
            self._idle_rec.append(port)
        else:
            self._idle_src.append(port)

    def clear(self) -> None:
        """Only after the conference clock stopped (setNoDev)."""
        for port in self._all:
            if isinstance(port, RecorderPort | SourcePort):
                port.stop()
        self._idle_rec.clear()
        self._idle_src.clear()
        self._all.clear()
