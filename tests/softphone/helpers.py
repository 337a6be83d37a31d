"""Event recorder with deadline waits (no sleeps), and tone detection for recordings."""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from softphone.client import EngineClient
from softphone.events import Event

E = TypeVar("E")


class Recorder:
    """Collects every event of one client; `wait_for` blocks until a match or deadline."""

    def __init__(self, client: EngineClient) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self.unsubscribe = client.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(
        self,
        kind: type[E],
        predicate: Callable[[E], bool] = lambda _e: True,
        timeout: float = 10.0,
        start: int = 0,
    ) -> E:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if isinstance(event, kind) and predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = [
                        (type(e).__name__, getattr(e, "state", ""), getattr(e, "end_reason", ""))
                        for e in self.events[-8:]
                    ]
                    raise AssertionError(f"no {kind.__name__} within {timeout} s; last: {names}")
                self._cond.wait(remaining)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def of(self, kind: type[E]) -> list[E]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        threading.Event().wait(0.02)


def tone_power(path: Path, frequency_hz: float, skip_s: float = 0.0) -> tuple[float, float]:
    """(share of signal energy at frequency_hz, RMS) of a 16-bit mono WAV, via FFT.

    `skip_s` ignores the start (audio still in flight when a change was made)."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    data = data[int(skip_s * rate) :]
    if len(data) < rate // 10:
        return 0.0, 0.0
    spectrum = np.abs(np.fft.rfft(data * np.hanning(len(data)))) ** 2
    freqs = np.fft.rfftfreq(len(data), 1 / rate)
    band = (freqs > frequency_hz - 30) & (freqs < frequency_hz + 30)
    total = float(spectrum.sum()) or 1.0
    return float(spectrum[band].sum()) / total, float(np.sqrt(np.mean(data**2)))
