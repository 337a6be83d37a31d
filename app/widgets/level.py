"""A microphone level meter: segments that light green, then amber near the top, red at
clipping, and fall back slowly so speech reads as a steady bar instead of a flicker."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import theme

SEGMENTS = 24
AMBER_FROM = 0.75  # share of the scale (about -15 dBFS on a 60 dB meter)
RED_FROM = 0.92  # about -5 dBFS: close to clipping
FALL_PER_UPDATE = 0.06  # the bar sinks this much per update (50 ms): ~1 s from full


class LevelMeter(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = 0.0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(12)
        self.setAccessibleName("Microphone level")

    def sizeHint(self) -> QSize:
        return QSize(200, 12)

    def value(self) -> float:
        """0 (silence) to 1 (full scale)."""
        return self._value

    def show_level(self, level: float) -> None:
        """Rise at once to a louder level, sink slowly from a quieter one."""
        level = max(0.0, min(1.0, level))
        self._value = max(level, self._value - FALL_PER_UPDATE)
        self.update()

    def reset(self) -> None:
        self._value = 0.0
        self.update()

    def lit_segments(self) -> int:
        return round(self._value * SEGMENTS)

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = theme.current()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        gap = 3.0
        width = (self.width() - gap * (SEGMENTS - 1)) / SEGMENTS
        lit = self.lit_segments()
        off = QColor(p.border)
        for i in range(SEGMENTS):
            share = (i + 1) / SEGMENTS
            if i < lit:
                name = (
                    p.danger if share > RED_FROM else p.warning if share > AMBER_FROM else p.success
                )
                painter.setBrush(QColor(name))
            else:
                painter.setBrush(off)
            rect = QRectF(i * (width + gap), 0, width, self.height())
            painter.drawRoundedRect(rect, 2.0, 2.0)
        painter.end()
