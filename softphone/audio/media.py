"""The clock-crossing core: PJSIP's media clock on one side, device callbacks on the other.

`MediaCore` is what both clocks touch. PJSIP calls `frame_requested`/`frame_received` every
20 ms on its media clock thread; device backends call `capture`/`playback` on their own
threads. Nothing here may block or raise: an exception escaping a media callback would
reach PJSIP's C code.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from softphone.audio.drift import DriftReader
from softphone.audio.fifo import SampleFifo, Samples
from softphone.audio.frames import OutFrame, samples_of
from softphone.audio.priority import promote_current_thread
from softphone.audio.tones import ToneSource, mix_into

log = logging.getLogger(__name__)

RATE = 16_000
FRAME_SAMPLES = 320  # 20 ms, the bridge port's frame
FRAME_TYPE_AUDIO = 1  # PJMEDIA_FRAME_TYPE_AUDIO


@dataclass(frozen=True, slots=True)
class Buffering:
    """FIFO fill targets: the latency each direction adds, traded against underruns."""

    capture_target_ms: int = 30
    playback_target_ms: int = 30
    capacity_ms: int = 1000


DEFAULT_BUFFERING = Buffering()


class MediaCore:
    def __init__(self, buffering: Buffering = DEFAULT_BUFFERING) -> None:
        per_ms = RATE // 1000
        cap = buffering.capacity_ms * per_ms
        self.capture_fifo = SampleFifo(cap)
        self.playback_fifo = SampleFifo(cap)
        self.capture_reader = DriftReader(self.capture_fifo, buffering.capture_target_ms * per_ms)
        self.playback_reader = DriftReader(
            self.playback_fifo, buffering.playback_target_ms * per_ms
        )
        self._cap_lock = threading.Lock()
        self._play_lock = threading.Lock()
        self._out = OutFrame(FRAME_SAMPLES)
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.capture_open = False
        self.playback_open = False
        # Native path (softphone/audio/native): the headset is wired to the conference in
        # C, and this port only supplies the ringback and the waiting beep.
        self.tones_only = False
        self._tone_frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.muted = False
        self.ringback: ToneSource | None = None
        self.beep: ToneSource | None = None
        self.frames_requested = 0
        self.frames_received = 0
        self.samples_received = 0
        self.samples_played = 0
        self.errors = 0

    # -- PJSIP media clock thread ------------------------------------------------------
    def frame_requested(self, frame: Any) -> None:
        """Fill the frame PJSIP sends to the call(s): the microphone, or silence."""
        try:
            promote_current_thread()
            self.frames_requested += 1
            samples = self._silence
            if self.tones_only:
                samples = self._tones()
            elif self.capture_open:
                with self._cap_lock:
                    samples = self.capture_reader.read(FRAME_SAMPLES)
                if self.muted:
                    samples = self._silence
            frame.buf = self._out.fill(samples)
            frame.size = FRAME_SAMPLES * 2
            frame.type = FRAME_TYPE_AUDIO
        except Exception:
            self.errors += 1
            if self.errors <= 3:
                log.exception("audio bridge: frame request failed")

    def _tones(self) -> Samples:
        ringback, beep = self.ringback, self.beep
        if ringback is None and beep is None:
            return self._silence
        out = self._tone_frame
        out[:] = 0
        if ringback is not None:
            mix_into(out, ringback.read(FRAME_SAMPLES))
        if beep is not None:
            mix_into(out, beep.read(FRAME_SAMPLES))
        return out

    def frame_received(self, frame: Any) -> None:
        """Take the mix of the call(s) heading for the speaker."""
        try:
            promote_current_thread()
            if frame.type != FRAME_TYPE_AUDIO or not self.playback_open:
                return
            self.frames_received += 1
            samples = samples_of(frame.buf)
            self.samples_received += samples.shape[0]
            self.playback_fifo.write(samples)
        except Exception:
            self.errors += 1
            if self.errors <= 3:
                log.exception("audio bridge: frame delivery failed")

    # -- device threads ----------------------------------------------------------------
    def capture(self, samples: Samples) -> None:
        promote_current_thread()
        self.capture_fifo.write(samples)

    def playback(self, n: int) -> Samples:
        promote_current_thread()
        with self._play_lock:
            out = self.playback_reader.read(n)
        self.samples_played += n
        ringback, beep = self.ringback, self.beep
        if ringback is not None:
            mix_into(out, ringback.read(n))
        if beep is not None:
            mix_into(out, beep.read(n))
        return out

    # -- device worker thread ----------------------------------------------------------
    def set_capture_open(self, is_open: bool) -> None:
        with self._cap_lock:
            self.capture_fifo.clear()
            self.capture_reader.reset()
            self.capture_open = is_open

    def set_playback_open(self, is_open: bool) -> None:
        with self._play_lock:
            self.playback_fifo.clear()
            self.playback_reader.reset()
            self.playback_open = is_open

    def stats(self) -> dict[str, float]:
        return {
            "frames_requested": self.frames_requested,
            "frames_received": self.frames_received,
            "samples_received": self.samples_received,
            "samples_played": self.samples_played,
            "capture_level_ms": self.capture_reader.level / (RATE / 1000),
            "playback_level_ms": self.playback_reader.level / (RATE / 1000),
            "capture_underruns": self.capture_reader.underruns,
            "playback_underruns": self.playback_reader.underruns,
            "capture_ratio": self.capture_reader.ratio,
            "capture_quiet_drops": self.capture_reader.quiet_drops,
            "playback_quiet_drops": self.playback_reader.quiet_drops,
            "playback_skips": self.playback_reader.skips,
            "playback_ratio": self.playback_reader.ratio,
            "capture_overflowed": self.capture_fifo.overflowed,
            "playback_overflowed": self.playback_fifo.overflowed,
            "errors": self.errors,
        }
