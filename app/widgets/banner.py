"""A one-line tinted message with an icon: warnings, permission states, errors."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from app import theme
from app.widgets.icons import pixmap

_TONE_COLOR = {"warning": "warning", "danger": "danger", "success": "success", "info": "info"}


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self._tone = "info"
        self._icon_name = "warning"
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 5, 8, 5)
        layout.setSpacing(7)
        self.icon = QLabel(self)
        self.icon.setFixedSize(16, 16)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        self.hide()

    @property
    def tone(self) -> str:
        return self._tone

    def show_message(self, text: str, tone: str = "info", icon: str = "warning") -> None:
        self._tone = tone
        self._icon_name = icon
        self.setProperty("tone", tone)
        self.style().unpolish(self)
        self.style().polish(self)
        color = getattr(theme.current(), _TONE_COLOR.get(tone, "info"))
        self.icon.setPixmap(pixmap(icon, 16, color))
        self.text.setText(text)
        self.show()

    def clear(self) -> None:
        self.text.clear()
        self.hide()
