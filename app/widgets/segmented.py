"""Two or three exclusive choices side by side (External | Internal, Softphone | Phone)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QToolButton, QWidget


class Segmented(QWidget):
    #: The chosen key changed.
    changed = Signal(str)

    def __init__(self, choices: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._buttons: dict[str, QToolButton] = {}
        for index, (key, text) in enumerate(choices):
            button = QToolButton(self)
            button.setObjectName("segment")
            button.setText(text)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            left = "8px" if index == 0 else "0"
            right = "8px" if index == len(choices) - 1 else "0"
            button.setStyleSheet(
                f"border-top-left-radius: {left}; border-bottom-left-radius: {left};"
                f"border-top-right-radius: {right}; border-bottom-right-radius: {right};"
            )
            self._group.addButton(button)
            self._buttons[key] = button
            button.toggled.connect(lambda on, k=key: self._on_toggled(on, k))
            layout.addWidget(button)
        if choices:
            self._buttons[choices[0][0]].setChecked(True)

    def _on_toggled(self, on: bool, key: str) -> None:
        if on:
            self.changed.emit(key)

    def value(self) -> str:
        for key, button in self._buttons.items():
            if button.isChecked():
                return key
        return ""

    def set_value(self, key: str) -> None:
        if key in self._buttons:
            self._buttons[key].setChecked(True)

    def button(self, key: str) -> QToolButton:
        return self._buttons[key]
