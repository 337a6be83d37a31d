"""One ringing call as a small card in the corner of the screen the agent is looking at.

It never takes keyboard focus (the agent may be typing a reply to a guest), shows the
caller's number at once and their name as soon as the CRM answers, and says so when a
teammate picked the call up instead of just vanishing.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.session.model import CallerMatched, CallView, ContactMatch, IncomingCall
from app.widgets.avatar import Avatar
from app.widgets.banner import Banner
from app.widgets.icons import app_icon, icon

POPUP_WIDTH = 340
#: How long "Being handled elsewhere" stays before the card goes away.
HANDLED_LINGER_MS = 2500


class IncomingPopup(QWidget):
    answer_requested = Signal(str)
    reject_requested = Signal(str)
    #: Hidden by the agent; the call keeps ringing for others (and in the tray).
    dismissed = Signal(str)
    #: The card is gone for good (answered, ended, handled elsewhere).
    closed = Signal(str)

    def __init__(self, incoming: IncomingCall, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("incomingPopup")
        self.setWindowTitle("Incoming call")
        self.setWindowIcon(app_icon())
        self.setWindowFlags(
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus
        )
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFixedWidth(POPUP_WIDTH)
        self._call = incoming.call
        self._waiting = incoming.waiting
        self._handled_elsewhere = False
        self._linger = QTimer(self)
        self._linger.setSingleShot(True)
        self._linger.setInterval(HANDLED_LINGER_MS)
        self._linger.timeout.connect(self._finish)
        self._build()
        self._draw()

    @property
    def call_id(self) -> str:
        return self._call.call_id

    @property
    def handled_elsewhere(self) -> bool:
        return self._handled_elsewhere

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        surface = QWidget(self)
        surface.setObjectName("callSurface")
        outer.addWidget(surface)
        root = QVBoxLayout(surface)
        root.setContentsMargins(16, 12, 16, 14)
        root.setSpacing(8)

        top = QHBoxLayout()
        self.heading = QLabel(surface)
        self.heading.setProperty("role", "muted")
        self.missed = QLabel(surface)
        self.missed.setObjectName("missedBadge")
        self.missed.hide()
        top.addWidget(self.heading, 1)
        top.addWidget(self.missed)
        root.addLayout(top)

        who = QHBoxLayout()
        who.setSpacing(12)
        self.avatar = Avatar(surface, 52)
        names = QVBoxLayout()
        names.setSpacing(1)
        self.name = QLabel(surface)
        self.name.setProperty("role", "heading")
        self.name.setWordWrap(True)
        self.number = QLabel(surface)
        self.number.setProperty("role", "muted")
        self.location = QLabel(surface)
        self.location.setProperty("role", "muted")
        names.addWidget(self.name)
        names.addWidget(self.number)
        names.addWidget(self.location)
        who.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignTop)
        who.addLayout(names, 1)
        root.addLayout(who)

        self.contact_line = QLabel(surface)
        self.contact_line.setWordWrap(True)
        self.contact_line.setTextFormat(Qt.TextFormat.PlainText)
        root.addWidget(self.contact_line)

        self.banner = Banner(surface)
        root.addWidget(self.banner)

        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.answer = QPushButton("Answer", surface)
        self.answer.setObjectName("answerButton")
        self.answer.setMinimumHeight(42)
        self.answer.setIconSize(QSize(18, 18))
        self.answer.clicked.connect(lambda: self.answer_requested.emit(self.call_id))
        self.reject = QPushButton("Reject", surface)
        self.reject.setObjectName("rejectButton")
        self.reject.setMinimumHeight(42)
        self.reject.setIconSize(QSize(18, 18))
        self.reject.setToolTip("Decline this call for you; it goes to voicemail or a teammate")
        self.reject.clicked.connect(lambda: self.reject_requested.emit(self.call_id))
        for b in (self.answer, self.reject):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setCursor(Qt.CursorShape.PointingHandCursor)
        buttons.addWidget(self.answer, 1)
        buttons.addWidget(self.reject, 1)
        root.addLayout(buttons)
        self.dismiss = QPushButton("Dismiss", surface)
        self.dismiss.setObjectName("dismissButton")
        self.dismiss.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.dismiss.setToolTip("Hide this card; teammates can still answer")
        self.dismiss.clicked.connect(self._dismiss)
        root.addWidget(self.dismiss)
        self.answer.setIcon(icon("call", "#ffffff"))
        self.reject.setIcon(icon("hangup", "#ffffff"))

    def _draw(self) -> None:
        call = self._call
        line = f" · {call.line_label}" if call.line_label else ""
        self.heading.setText(("Call waiting" if self._waiting else "Incoming call") + line)
        self.name.setText(call.title)
        self.avatar.set_name(call.contact.name if call.contact else call.remote_name)
        self.number.setText(call.display_number if call.title != call.display_number else "")
        self.number.setVisible(bool(self.number.text()))
        self.location.setText(call.location)
        self.location.setVisible(bool(call.location))
        self._draw_contact(call.contact)
        if self._handled_elsewhere:
            return
        if self._waiting:
            self.banner.show_message(
                "You are on a call. Answering puts it on hold.", "warning", "hold"
            )
            self.answer.setText("Hold && answer")
        else:
            self.banner.clear()
            self.answer.setText("Answer")

    def _draw_contact(self, contact: ContactMatch | None) -> None:
        p = theme.current()
        if contact is None:
            self.contact_line.setText("Not in your contacts")
            self.contact_line.setStyleSheet(f"color: {p.text_muted};")
            return
        # The name is already the big title; say what else we know about them.
        parts = [] if contact.confirmed else [contact.label]
        if contact.company:
            parts.append(contact.company)
        if contact.chat_title:
            parts.append(f"Chat: {contact.chat_title}")
        self.contact_line.setText("  ·  ".join(parts) or "In your contacts")
        color = p.accent if contact.confirmed else p.text_muted
        self.contact_line.setStyleSheet(f"color: {color}; font-weight: 600;")

    # ---------------------------------------------------------------- updates
    def set_waiting(self, waiting: bool) -> None:
        self._waiting = waiting
        self._draw()

    def update_call(self, call: CallView) -> None:
        if call.call_id == self.call_id:
            self._call = call
            self._draw()

    def caller_matched(self, matched: CallerMatched) -> None:
        if matched.call_id != self.call_id:
            return
        from dataclasses import replace

        self._call = replace(
            self._call, contact=matched.contact, location=matched.location or self._call.location
        )
        self._draw()

    def set_missed(self, count: int) -> None:
        self.missed.setText(f"{count} missed")
        self.missed.setToolTip(f"{count} missed call{'s' if count != 1 else ''}")
        self.missed.setVisible(count > 0)

    def show_handled_elsewhere(self, who: str = "") -> None:
        """Someone else answered: say so, disable the buttons, then go."""
        self._handled_elsewhere = True
        text = f"Being handled elsewhere by {who}" if who else "Being handled elsewhere"
        self.banner.show_message(text, "info", "headset")
        self.heading.setText("Answered elsewhere")
        self.answer.setEnabled(False)
        self.reject.setEnabled(False)
        self.answer.hide()
        self.reject.hide()
        self.dismiss.setText("Close")
        self._linger.start()

    def _dismiss(self) -> None:
        if self._handled_elsewhere:
            self._finish()
            return
        self.hide()
        self.dismissed.emit(self.call_id)

    def _finish(self) -> None:
        self._linger.stop()
        self.hide()
        self.closed.emit(self.call_id)
