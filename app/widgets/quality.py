"""Call quality from the MOS estimate: four bars and a plain-words warning when poor.

Thresholds follow the usual E-model reading of MOS: 4.0 and up good, 3.6 fair,
3.1 poor (people notice), below that bad (people complain).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from app import theme

GOOD = 4.0
FAIR = 3.6
POOR = 3.1


def bars_for(mos: float | None) -> int:
    """0 (unknown) to 4 bars."""
    if mos is None:
        return 0
    if mos >= GOOD:
        return 4
    if mos >= FAIR:
        return 3
    if mos >= POOR:
        return 2
    return 1


def is_poor(mos: float | None) -> bool:
    return mos is not None and mos < FAIR


def describe(mos: float | None) -> str:
    if mos is None:
        return "Measuring call quality…"
    label = {4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}[bars_for(mos)]
    return f"{label} call quality (MOS {mos:.1f})"


class QualityBars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._mos: float | None = None
        self.setFixedSize(QSize(22, 16))
        self.setToolTip(describe(None))

    @property
    def mos(self) -> float | None:
        return self._mos

    def set_mos(self, mos: float | None) -> None:
        self._mos = mos
        self.setToolTip(describe(mos))
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = theme.current()
        lit = bars_for(self._mos)
        on = QColor(p.success if lit >= 3 else p.warning if lit == 2 else p.danger)
        off = QColor(p.border)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        width = 4.0
        for i in range(4):
            h = 4 + i * 4
            painter.setBrush(on if i < lit else off)
            painter.drawRoundedRect(QRectF(i * (width + 2), 16 - h, width, h), 1.5, 1.5)
        painter.end()
