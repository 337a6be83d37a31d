"""After-call wrap-up: one click for the outcome, a line of notes, saved to the call.

The outcome the session suggests (busy, no answer, connected) is preselected so most
wrap-ups are one keystroke: Ctrl+Enter saves.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.dialer.texts import end_text
from app.session.model import (
    CallDirection,
    CallView,
    WrapUp,
    WrapUpOutcome,
    WrapUpRequested,
    WrapUpSaved,
)
from app.widgets.avatar import Avatar
from app.widgets.banner import Banner
from app.widgets.timer import format_duration

OUTCOME_LABELS = {
    WrapUpOutcome.CONNECTED: "Connected",
    WrapUpOutcome.NO_ANSWER: "No answer",
    WrapUpOutcome.VOICEMAIL: "Voicemail",
    WrapUpOutcome.BUSY: "Busy",
    WrapUpOutcome.WRONG_NUMBER: "Wrong number",
    WrapUpOutcome.CALLBACK_REQUESTED: "Call back",
    WrapUpOutcome.OTHER: "Other",
}

NOTES_LIMIT = 4000


class _Notes(QPlainTextEdit):
    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class WrapUpPage(QWidget):
    #: The agent saved the wrap-up.
    submitted = Signal(WrapUp)
    #: The agent skipped it, or it was saved and shown as such: back to the dial page.
    finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._call: CallView | None = None
        self._saving = False
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 12, 16, 14)
        root.setSpacing(10)
        head = QHBoxLayout()
        self.avatar = Avatar(self, 44)
        names = QVBoxLayout()
        names.setSpacing(0)
        self.title = QLabel(self)
        self.title.setProperty("role", "heading")
        self.summary = QLabel(self)
        self.summary.setProperty("role", "muted")
        names.addWidget(self.title)
        names.addWidget(self.summary)
        head.addWidget(self.avatar)
        head.addLayout(names, 1)
        root.addLayout(head)

        question = QLabel("How did it go?", self)
        question.setStyleSheet("font-weight: 600;")
        root.addWidget(question)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.chips: dict[WrapUpOutcome, QToolButton] = {}
        grid = QGridLayout()
        grid.setSpacing(6)
        for index, outcome in enumerate(WrapUpOutcome):
            chip = QToolButton(self)
            chip.setObjectName("outcomeChip")
            chip.setText(OUTCOME_LABELS.get(outcome, outcome.value.replace("_", " ").title()))
            chip.setCheckable(True)
            chip.setSizePolicy(chip.sizePolicy().Policy.Expanding, chip.sizePolicy().Policy.Fixed)
            self.group.addButton(chip)
            self.chips[outcome] = chip
            grid.addWidget(chip, index // 2, index % 2)
        self.group.buttonToggled.connect(lambda *_: self._refresh())
        root.addLayout(grid)

        notes_label = QLabel("Notes", self)
        notes_label.setProperty("role", "muted")
        self.notes = _Notes(self)
        self.notes.setPlaceholderText("What was agreed? (saved to the call in the CRM)")
        self.notes.setTabChangesFocus(True)
        self.notes.submitted.connect(self.save)
        self.notes.textChanged.connect(self._refresh)
        root.addWidget(notes_label)
        root.addWidget(self.notes, 1)
        self.banner = Banner(self)
        root.addWidget(self.banner)
        buttons = QHBoxLayout()
        self.skip = QPushButton("Skip", self)
        self.skip.setObjectName("secondaryButton")
        self.skip.clicked.connect(self._skip)
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("primaryButton")
        self.save_button.setToolTip("Save (Ctrl+Enter)")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.skip)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        root.addLayout(buttons)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.save)
        self._done_timer = QTimer(self)
        self._done_timer.setSingleShot(True)
        self._done_timer.setInterval(1200)
        self._done_timer.timeout.connect(self.finished)

    @property
    def call_id(self) -> str | None:
        return self._call.call_id if self._call else None

    def start(self, request: WrapUpRequested) -> None:
        call = request.call
        self._call = call
        self._saving = False
        self.avatar.set_name(call.contact.name if call.contact else call.remote_name)
        self.title.setText(call.title)
        arrow = "Outbound" if call.direction is CallDirection.OUTBOUND else "Inbound"
        length = ""
        if call.connected_at and call.ended_at:
            length = f" · {format_duration(call.ended_at - call.connected_at)}"
        self.summary.setText(f"{arrow} · {end_text(call)}{length}")
        for outcome, chip in self.chips.items():
            chip.setVisible(outcome in request.outcomes)
        self.group.setExclusive(False)
        for chip in self.chips.values():
            chip.setChecked(False)
        self.group.setExclusive(True)
        if request.suggested is not None and request.suggested in self.chips:
            self.chips[request.suggested].setChecked(True)
        self.notes.clear()
        self.banner.clear()
        self.notes.setFocus()
        self._refresh()

    def outcome(self) -> WrapUpOutcome | None:
        for outcome, chip in self.chips.items():
            if chip.isChecked():
                return outcome
        return None

    def _refresh(self) -> None:
        too_long = len(self.notes.toPlainText()) > NOTES_LIMIT
        if too_long:
            self.banner.show_message(
                f"Notes are limited to {NOTES_LIMIT} characters; shorten them to save.", "warning"
            )
        elif self.banner.tone == "warning":
            self.banner.clear()
        self.save_button.setEnabled(
            self._call is not None
            and self.outcome() is not None
            and not too_long
            and not self._saving
        )

    def save(self) -> None:
        outcome = self.outcome()
        if self._call is None or outcome is None or not self.save_button.isEnabled():
            return
        self._saving = True
        self._refresh()
        self.submitted.emit(
            WrapUp(call_id=self._call.call_id, outcome=outcome, notes=self.notes.toPlainText())
        )

    def mark_saved(self, saved: WrapUpSaved) -> None:
        if self._call is None or saved.call_id != self._call.call_id:
            return
        if saved.queued:
            text = "Saved here; it reaches the CRM as soon as it is reachable."
        else:
            text = "Saved to the call."
        self.banner.show_message(text, "success", "check")
        self._done_timer.start()

    def mark_failed(self, message: str) -> None:
        self._saving = False
        self.banner.show_message(message, "danger")
        self._refresh()

    def _skip(self) -> None:
        self._call = None
        self.finished.emit()
