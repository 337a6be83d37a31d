"""A call duration label that ticks once a second from a monotonic start."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget


def format_duration(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


class CallTimer(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("00:00", parent)
        self.setObjectName("timerLabel")
        self._started: float | None = None
        self._frozen: float | None = None
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._refresh)

    def start(self, started_monotonic: float | None = None) -> None:
        self._started = time.monotonic() if started_monotonic is None else started_monotonic
        self._frozen = None
        self._refresh()
        self._tick.start()

    def stop(self) -> None:
        self._tick.stop()
        self._frozen = self.elapsed()
        self._refresh()

    def reset(self) -> None:
        self._tick.stop()
        self._started = None
        self._frozen = None
        self.setText("00:00")

    def running(self) -> bool:
        return self._tick.isActive()

    def elapsed(self) -> float:
        if self._frozen is not None:
            return self._frozen
        return 0.0 if self._started is None else time.monotonic() - self._started

    def _refresh(self) -> None:
        self.setText(format_duration(self.elapsed()))
