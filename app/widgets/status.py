"""A coloured dot plus a short text: how the dialer and popup say what is going on."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from app import theme


class Tone(Enum):
    """Meaning of a status, mapped to a palette colour at paint time."""

    NEUTRAL = "text_muted"
    OK = "success"
    BUSY = "warning"
    BAD = "danger"
    ACTIVE = "accent"


class Dot(QWidget):
    def __init__(self, parent: QWidget | None = None, diameter: int = 9) -> None:
        super().__init__(parent)
        self._tone = Tone.NEUTRAL
        self._d = diameter
        self.setFixedSize(QSize(diameter, diameter))

    @property
    def tone(self) -> Tone:
        return self._tone

    def set_tone(self, tone: Tone) -> None:
        self._tone = tone
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.current().qcolor(self._tone.value)))
        painter.drawEllipse(0, 0, self._d, self._d)
        painter.end()


class StatusLine(QWidget):
    """`● Registered · 101@pbx.example` style line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.dot = Dot(self)
        self.label = QLabel(self)
        self.label.setProperty("role", "muted")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        layout.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.label, 1)

    def set_status(self, text: str, tone: Tone) -> None:
        self.label.setText(text)
        self.label.setToolTip(text)
        self.dot.set_tone(tone)

    def text(self) -> str:
        return self.label.text()

    def tone(self) -> Tone:
        return self.dot.tone
