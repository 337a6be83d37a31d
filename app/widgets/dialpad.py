"""The twelve-key pad, shared by the dialer (digits into the number) and the in-call
keypad (DTMF). Holding 0 types "+", like on a mobile phone."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QEnterEvent, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import QAbstractButton, QGridLayout, QSizePolicy, QWidget

from app import theme

KEYS: tuple[tuple[str, str], ...] = (
    ("1", ""),
    ("2", "ABC"),
    ("3", "DEF"),
    ("4", "GHI"),
    ("5", "JKL"),
    ("6", "MNO"),
    ("7", "PQRS"),
    ("8", "TUV"),
    ("9", "WXYZ"),
    ("*", ""),
    ("0", "+"),
    ("#", ""),
)

LONG_PRESS_MS = 550


class KeyButton(QAbstractButton):
    """A round key: the digit big, its letters small underneath, like a phone."""

    def __init__(self, digit: str, letters: str, size: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.digit = digit
        self.letters = letters
        self._hover = False
        self.setText(digit)
        self.setFixedSize(QSize(size, size))

    def enterEvent(self, event: QEnterEvent) -> None:
        self._hover = True
        self.update()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._hover = False
        self.update()
        super().leaveEvent(event)

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = theme.current()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        bg = p.border if self.isDown() else p.key_hover if self._hover else p.key_bg
        painter.setBrush(QColor(bg))
        side = min(self.width(), self.height())
        painter.drawEllipse(QRectF(0, 0, side, side))
        digit_font = QFont(self.font())
        digit_font.setPixelSize(int(side * 0.40))
        painter.setFont(digit_font)
        painter.setPen(QColor(p.text))
        top = QRectF(
            0, side * (0.10 if self.letters else 0.0), side, side * (0.62 if self.letters else 1.0)
        )
        painter.drawText(top, Qt.AlignmentFlag.AlignCenter, self.digit)
        if self.letters:
            small = QFont(self.font())
            small.setPixelSize(max(8, int(side * 0.17)))
            small.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 115)
            painter.setFont(small)
            painter.setPen(QColor(p.text_muted))
            painter.drawText(
                QRectF(0, side * 0.60, side, side * 0.26),
                Qt.AlignmentFlag.AlignCenter,
                self.letters,
            )
        painter.end()


class DialPad(QWidget):
    """Emits `key_pressed` with one of 0-9 * # +."""

    #: A key was pressed (one character).
    key_pressed = Signal(str)

    def __init__(self, parent: QWidget | None = None, key_size: int = 52) -> None:
        super().__init__(parent)
        self.setObjectName("dialPad")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(8)
        self._buttons: dict[str, KeyButton] = {}
        self._hold = QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.setInterval(LONG_PRESS_MS)
        self._hold.timeout.connect(self._on_zero_held)
        self._zero_became_plus = False
        for index, (digit, letters) in enumerate(KEYS):
            button = KeyButton(digit, letters, key_size, self)
            button.setObjectName("dialKey")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            button.setAccessibleName(f"Key {digit}")
            if digit == "0":
                button.pressed.connect(self._on_zero_pressed)
                button.released.connect(self._on_zero_released)
            else:
                button.clicked.connect(lambda _=False, d=digit: self.key_pressed.emit(d))
            self._buttons[digit] = button
            grid.addWidget(button, index // 3, index % 3, Qt.AlignmentFlag.AlignCenter)

    def button(self, key: str) -> KeyButton:
        return self._buttons[key]

    def _on_zero_pressed(self) -> None:
        self._zero_became_plus = False
        self._hold.start()

    def _on_zero_held(self) -> None:
        self._zero_became_plus = True
        self.key_pressed.emit("+")

    def _on_zero_released(self) -> None:
        self._hold.stop()
        if not self._zero_became_plus:
            self.key_pressed.emit("0")
