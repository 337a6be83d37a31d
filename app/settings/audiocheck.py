"""Settings' speaker test tone and microphone level meter.

They run in the app, on the same device code the engine uses (softphone's miniaudio
backend) and by the same device ids the engine lists, so the tone comes out of the very
speaker (or ringer) a call will use and the meter listens to the very microphone. Streams
are opened only while a test runs: an idle Settings window holds no sound device.

No Qt here: the window polls ``level()`` on a timer and closes the tone when it is over.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Protocol

RATE = 16_000
TONE_HZ = 440.0
TONE_S = 1.2
TONE_LEVEL = 0.3  # about -10 dBFS: clearly audible, never harsh in a headset
FADE_S = 0.02  # no click at either end
FLOOR_DB = -60.0  # the meter's empty end; 0 dBFS is full


class AudioCheckError(RuntimeError):
    """A test could not start; the text completes "Could not play on DEVICE: ..."."""


class AudioCheck(Protocol):
    """What the Settings window needs; a fake stands in for pure widget tests."""

    def play_tone(self, output_id: str, ring: bool = False, ringtone: str = "classic") -> float:
        """Start the test tone (``ring``: one ring of ``ringtone``) on ``output_id`` ("" =
        default); returns how long it plays, in seconds."""
        ...

    def stop_tone(self) -> None: ...
    def start_meter(self, input_id: str) -> None: ...
    def level(self) -> float:
        """Loudest moment since the last call, 0 (silence, <= -60 dBFS) to 1 (full scale)."""
        ...

    def stop_meter(self) -> None: ...
    def close(self) -> None: ...


def level_of_peak(peak: int) -> float:
    """A 16-bit sample peak on the meter's scale: decibels, as people hear loudness."""
    if peak <= 0:
        return 0.0
    db = 20.0 * math.log10(min(peak, 32767) / 32767.0)
    return max(0.0, min(1.0, (db - FLOOR_DB) / -FLOOR_DB))


def tone_samples(ring: bool = False, ringtone: str = "classic") -> Any:
    """The test tone (or one ring of the engine's own `ringtone`) as int16 numpy samples."""
    import numpy as np

    if ring:
        from softphone.audio.tones import Pattern, Segment, render
        from softphone.audio.tones import ringtone as pattern_of

        # One ring without the long pause after it (a short tail lets the device drain).
        segments = pattern_of(ringtone).segments
        return render(Pattern((*segments[:-1], Segment((), 200)), loop=False))

    n = round(TONE_S * RATE)
    t = np.arange(n, dtype=np.float64) / RATE
    wave = TONE_LEVEL * np.sin(2.0 * math.pi * TONE_HZ * t)
    fade = round(FADE_S * RATE)
    ramp = np.linspace(0.0, 1.0, fade)
    wave[:fade] *= ramp
    wave[-fade:] *= ramp[::-1]
    return (wave * 32767.0).round().astype(np.int16)


class DeviceAudioCheck:
    """The real thing: miniaudio streams on the chosen devices."""

    def __init__(self) -> None:
        self._backend: Any = None
        self._tone: Any = None
        self._meter: Any = None
        self._peak = 0
        self._lock = threading.Lock()

    def _open_backend(self) -> Any:
        if self._backend is None:
            from softphone.audio.backends.mini import MiniaudioBackend

            try:
                self._backend = MiniaudioBackend()
            except RuntimeError as exc:
                raise AudioCheckError("no sound system is available") from exc
        return self._backend

    def _open(self, capture: bool, device_id: str, callback: Any) -> Any:
        backend = self._open_backend()
        opener = backend.open_capture if capture else backend.open_playback
        try:
            return opener(device_id or None, callback)
        except LookupError as exc:
            raise AudioCheckError("the device is not plugged in") from exc
        except Exception as exc:  # miniaudio's own errors name no device
            raise AudioCheckError(f"the device would not open ({exc})") from exc

    def play_tone(self, output_id: str, ring: bool = False, ringtone: str = "classic") -> float:
        import numpy as np

        self.stop_tone()
        samples = tone_samples(ring, ringtone)
        position = 0

        def source(frames: int) -> Any:
            nonlocal position
            block = samples[position : position + frames]
            position += len(block)
            if len(block) < frames:
                block = np.concatenate((block, np.zeros(frames - len(block), np.int16)))
            return block

        self._tone = self._open(False, output_id, source)
        return len(samples) / RATE

    def stop_tone(self) -> None:
        tone, self._tone = self._tone, None
        if tone is not None:
            tone.close()

    def start_meter(self, input_id: str) -> None:
        import numpy as np

        self.stop_meter()

        def sink(view: Any) -> None:
            peak = int(np.abs(view.astype(np.int32)).max()) if len(view) else 0
            with self._lock:
                self._peak = max(self._peak, peak)

        self._meter = self._open(True, input_id, sink)

    def level(self) -> float:
        with self._lock:
            peak, self._peak = self._peak, 0
        return level_of_peak(peak)

    def stop_meter(self) -> None:
        meter, self._meter = self._meter, None
        if meter is not None:
            meter.close()
        with self._lock:
            self._peak = 0

    def close(self) -> None:
        self.stop_tone()
        self.stop_meter()
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()
