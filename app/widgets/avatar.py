"""Initials in a tinted circle: who is calling, at a glance, without photos."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from app import theme

_HUES = (172, 200, 220, 262, 292, 330, 20, 38, 140)


def initials(name: str) -> str:
    """Two letters from a name; a number or an empty name gives no letters."""
    words = [w for w in name.replace("+", " ").split() if w[:1].isalpha()]
    if not words:
        return ""
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[-1][0]).upper()


class Avatar(QWidget):
    def __init__(self, parent: QWidget | None = None, diameter: int = 56) -> None:
        super().__init__(parent)
        self._d = diameter
        self._name = ""
        self.setFixedSize(QSize(diameter, diameter))

    def set_name(self, name: str) -> None:
        self._name = name
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        import hashlib  # at first paint, not while the dialer is being built (~5 ms)

        p = theme.current()
        digest = hashlib.blake2s(self._name.encode(), digest_size=2).digest()[0]
        hue = _HUES[digest % len(_HUES)]
        bg = QColor.fromHsl(hue, 120, 70 if p.dark else 215)
        fg = QColor.fromHsl(hue, 150, 215 if p.dark else 70)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bg)
        rect = QRectF(0, 0, self._d, self._d)
        painter.drawEllipse(rect)
        text = initials(self._name)
        if text:
            font = QFont(self.font())
            font.setPixelSize(int(self._d * 0.38))
            font.setWeight(QFont.Weight.DemiBold)
            painter.setFont(font)
            painter.setPen(fg)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        else:
            from app.widgets.icons import render

            size = int(self._d * 0.5)
            pm = render("contact", size, fg.name(), self.devicePixelRatioF())
            off = (self._d - size) / 2
            painter.drawPixmap(QRectF(off, off, size, size), pm, QRectF(pm.rect()))
        painter.end()
