"""The dialer during a call: who, how long, how it sounds, and the desk-phone buttons.

Mute, hold, keypad, transfer and record are toggles that show the state the session
reports (`CallView`), not the state we asked for, so a refused hold never lies on screen.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.dialer.numbertext import clean_number
from app.dialer.texts import phase_text
from app.session.model import CallDirection, CallPhase, CallQuality, CallView
from app.widgets import quality as q
from app.widgets.avatar import Avatar
from app.widgets.banner import Banner
from app.widgets.dialpad import DialPad
from app.widgets.icons import icon
from app.widgets.timer import CallTimer

_ACTIONS = (
    ("mute", "Mute", "mic-off", "Ctrl+M"),
    ("hold", "Hold", "hold", "Ctrl+H"),
    ("keypad", "Keypad", "dialpad", "Ctrl+K"),
    ("transfer", "Transfer", "transfer", "Ctrl+T"),
    ("record", "Record", "record", "Ctrl+R"),
)


def _monotonic_from_wall(wall: float | None) -> float | None:
    """The monotonic instant matching a wall-clock time (for a window opened mid-call)."""
    if wall is None:
        return None
    return time.monotonic() - max(0.0, time.time() - wall)


class TransferPanel(QWidget):
    """Blind ("Transfer now") or attended ("Talk first") transfer to a number."""

    #: Blind transfer to the target.
    blind_requested = Signal(str)
    #: Attended: hold this call and call the target first.
    consult_requested = Signal(str)
    #: Attended: join the held call with the consultation and drop out.
    complete_requested = Signal()
    #: Give up the transfer (hang up the consultation, resume the guest).
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        title = QLabel("Transfer to", self)
        title.setProperty("role", "muted")
        self.target = QLineEdit(self)
        self.target.setPlaceholderText("Number or extension")
        self.target.setAccessibleName("Transfer target")
        self.target.textChanged.connect(self._refresh)
        self.target.returnPressed.connect(self._blind)
        row = QHBoxLayout()
        self.blind = QPushButton("Transfer now", self)
        self.blind.setObjectName("primaryButton")
        self.blind.setToolTip("Blind transfer: the guest rings the target, you leave the call")
        self.blind.clicked.connect(self._blind)
        self.consult = QPushButton("Talk first", self)
        self.consult.setObjectName("secondaryButton")
        self.consult.setToolTip("Attended transfer: hold the guest, call the target, then join")
        self.consult.clicked.connect(self._consult)
        row.addWidget(self.blind)
        row.addWidget(self.consult)
        self.consult_row = QWidget(self)
        consult_layout = QHBoxLayout(self.consult_row)
        consult_layout.setContentsMargins(0, 0, 0, 0)
        self.complete = QPushButton("Complete transfer", self.consult_row)
        self.complete.setObjectName("primaryButton")
        self.complete.clicked.connect(self.complete_requested)
        self.cancel = QPushButton("Cancel", self.consult_row)
        self.cancel.setObjectName("secondaryButton")
        self.cancel.clicked.connect(self.cancel_requested)
        consult_layout.addWidget(self.complete)
        consult_layout.addWidget(self.cancel)
        self.consult_row.hide()
        layout.addWidget(title)
        layout.addWidget(self.target)
        layout.addLayout(row)
        layout.addWidget(self.consult_row)
        layout.addStretch(1)
        self._refresh()

    def _value(self) -> str:
        return clean_number(self.target.text())

    def _refresh(self) -> None:
        ok = bool(self._value())
        self.blind.setEnabled(ok)
        self.consult.setEnabled(ok)

    def _blind(self) -> None:
        if self._value():
            self.blind_requested.emit(self._value())

    def _consult(self) -> None:
        if self._value():
            self.consult_requested.emit(self._value())

    def set_consulting(self, consulting: bool) -> None:
        self.consult_row.setVisible(consulting)
        self.blind.setVisible(not consulting)
        self.consult.setVisible(not consulting)
        self.target.setEnabled(not consulting)

    def reset(self) -> None:
        self.target.clear()
        self.set_consulting(False)


class InCallPage(QWidget):
    """Shows one call (the one in front); other calls appear in the held strip."""

    mute_toggled = Signal(str, bool)
    hold_toggled = Signal(str, bool)
    record_toggled = Signal(str, bool)
    dtmf_requested = Signal(str, str)
    hangup_requested = Signal(str)
    blind_transfer_requested = Signal(str, str)
    consult_requested = Signal(str, str)
    attended_transfer_requested = Signal(str, str)
    #: Swap to another call (resume it, hold the current one).
    swap_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._call: CallView | None = None
        self._consult_from: str | None = None  # the held guest call during a consult
        self._others: dict[str, CallView] = {}
        self._build()

    @property
    def call(self) -> CallView | None:
        return self._call

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 10, 16, 14)
        root.setSpacing(8)

        self.held_strip = QPushButton(self)
        self.held_strip.setObjectName("secondaryButton")
        self.held_strip.clicked.connect(self._swap_to_held)
        self.held_strip.hide()
        root.addWidget(self.held_strip)

        self.avatar = Avatar(self, 64)
        root.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignHCenter)
        self.name = QLabel(self)
        self.name.setProperty("role", "heading")
        self.name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name.setWordWrap(True)
        self.number = QLabel(self)
        self.number.setProperty("role", "muted")
        self.number.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.number.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.location = QLabel(self)
        self.location.setProperty("role", "muted")
        self.location.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.location.setWordWrap(True)
        root.addWidget(self.name)
        root.addWidget(self.number)
        root.addWidget(self.location)

        status_row = QHBoxLayout()
        status_row.addStretch(1)
        self.phase = QLabel(self)
        self.timer = CallTimer(self)
        self.quality = q.QualityBars(self)
        status_row.addWidget(self.phase)
        status_row.addSpacing(10)
        status_row.addWidget(self.timer)
        status_row.addSpacing(10)
        status_row.addWidget(self.quality)
        status_row.addStretch(1)
        root.addLayout(status_row)

        self.quality_banner = Banner(self)
        self.recording_banner = Banner(self)
        root.addWidget(self.quality_banner)
        root.addWidget(self.recording_banner)

        self.buttons: dict[str, QToolButton] = {}
        grid_holder = QWidget(self)
        grid = QVBoxLayout(grid_holder)
        grid.setContentsMargins(0, 6, 0, 6)
        grid.setSpacing(10)
        rows = [QHBoxLayout(), QHBoxLayout()]
        for row in rows:
            row.setSpacing(10)
            row.addStretch(1)
            grid.addLayout(row)
        grid.addStretch(1)
        for index, (key, text, _icon, shortcut) in enumerate(_ACTIONS):
            button = QToolButton(grid_holder)
            button.setObjectName("callAction")
            button.setText(text)
            button.setToolTip(f"{text} ({shortcut})")
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIconSize(QSize(24, 24))
            button.setFixedSize(QSize(84, 66))
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            self.buttons[key] = button
            rows[index // 3].addWidget(button)
        for row in rows:
            row.addStretch(1)
        self.buttons["mute"].clicked.connect(lambda on: self._emit_for_call(self.mute_toggled, on))
        self.buttons["hold"].clicked.connect(lambda on: self._emit_for_call(self.hold_toggled, on))
        self.buttons["record"].clicked.connect(
            lambda on: self._emit_for_call(self.record_toggled, on)
        )
        self.buttons["keypad"].toggled.connect(self._show_panel)
        self.buttons["transfer"].toggled.connect(self._show_panel)

        self.panel = QStackedWidget(self)
        self.panel.addWidget(grid_holder)
        self.keypad = DialPad(self.panel, key_size=46)
        self.keypad.key_pressed.connect(self.send_dtmf)
        keypad_holder = QWidget(self.panel)
        kl = QVBoxLayout(keypad_holder)
        kl.setContentsMargins(0, 0, 0, 0)
        self.dtmf_echo = QLabel(keypad_holder)
        self.dtmf_echo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.dtmf_echo.setObjectName("timerLabel")
        hide_keypad = QPushButton("Hide keypad", keypad_holder)
        hide_keypad.setObjectName("secondaryButton")
        hide_keypad.clicked.connect(lambda: self.buttons["keypad"].setChecked(False))
        kl.addWidget(self.dtmf_echo)
        kl.addWidget(self.keypad, 0, Qt.AlignmentFlag.AlignCenter)
        kl.addWidget(hide_keypad, 0, Qt.AlignmentFlag.AlignHCenter)
        self.transfer = TransferPanel(self.panel)
        self.transfer.blind_requested.connect(
            lambda target: self._emit_for_call(self.blind_transfer_requested, target)
        )
        self.transfer.consult_requested.connect(self._start_consult)
        self.transfer.complete_requested.connect(self._complete_consult)
        self.transfer.cancel_requested.connect(self._cancel_consult)
        transfer_holder = QWidget(self.panel)
        tl = QVBoxLayout(transfer_holder)
        tl.setContentsMargins(0, 0, 0, 0)
        back = QPushButton("Back to call controls", transfer_holder)
        back.setObjectName("secondaryButton")
        back.clicked.connect(lambda: self.buttons["transfer"].setChecked(False))
        tl.addWidget(self.transfer, 1)
        tl.addWidget(back, 0, Qt.AlignmentFlag.AlignHCenter)
        self.panel.addWidget(keypad_holder)
        self.panel.addWidget(transfer_holder)
        root.addWidget(self.panel, 1)

        self.hangup = QPushButton("Hang up", self)
        self.hangup.setObjectName("hangupButton")
        self.hangup.setIconSize(QSize(20, 20))
        self.hangup.setMinimumHeight(48)
        self.hangup.setToolTip("Hang up (Esc while it rings)")
        self.hangup.setCursor(Qt.CursorShape.PointingHandCursor)
        self.hangup.clicked.connect(lambda: self._emit_for_call(self.hangup_requested))
        root.addWidget(self.hangup)
        self.refresh_icons()

    def refresh_icons(self) -> None:
        p = theme.current()
        for key, _text, name, _shortcut in _ACTIONS:
            self.buttons[key].setIcon(icon(name, p.text, p.accent_text))
        self.hangup.setIcon(icon("hangup", "#ffffff"))

    # ------------------------------------------------------------------ behaviour
    def _emit_for_call(self, signal: SignalInstance, *args: object) -> None:
        if self._call is not None:
            signal.emit(self._call.call_id, *args)

    def _show_panel(self, _on: bool) -> None:
        sender = self.sender()
        if sender is self.buttons["keypad"] and self.buttons["keypad"].isChecked():
            self.buttons["transfer"].setChecked(False)
            self.panel.setCurrentIndex(1)
        elif sender is self.buttons["transfer"] and self.buttons["transfer"].isChecked():
            self.buttons["keypad"].setChecked(False)
            self.panel.setCurrentIndex(2)
            self.transfer.target.setFocus()
        elif not (self.buttons["keypad"].isChecked() or self.buttons["transfer"].isChecked()):
            self.panel.setCurrentIndex(0)

    def send_dtmf(self, key: str) -> None:
        if key == "+" or self._call is None:
            return
        self.dtmf_echo.setText((self.dtmf_echo.text() + key)[-18:])
        self.dtmf_requested.emit(self._call.call_id, key)

    def _start_consult(self, target: str) -> None:
        if self._call is None:
            return
        self._consult_from = self._call.call_id
        self.transfer.set_consulting(True)
        self.consult_requested.emit(self._call.call_id, target)

    def _complete_consult(self) -> None:
        if self._consult_from and self._call and self._call.call_id != self._consult_from:
            self.attended_transfer_requested.emit(self._consult_from, self._call.call_id)

    def _cancel_consult(self) -> None:
        if self._call is not None and self._call.call_id != self._consult_from:
            self.hangup_requested.emit(self._call.call_id)
        if self._consult_from:
            self.hold_toggled.emit(self._consult_from, False)
        self._consult_from = None
        self.transfer.set_consulting(False)

    def _swap_to_held(self) -> None:
        other = next(iter(self._others.values()), None)
        if other is not None:
            self.swap_requested.emit(other.call_id)

    # ---------------------------------------------------------------- from session
    def show_call(self, call: CallView) -> None:
        """Draw `call` as the call in front."""
        first = self._call is None or self._call.call_id != call.call_id
        self._others.pop(call.call_id, None)
        self._call = call
        self.avatar.set_name(call.contact.name if call.contact else call.remote_name)
        self.name.setText(call.title)
        number = call.display_number if call.title != call.display_number else ""
        via = f"via {call.line_label}" if call.line_label else ""
        self.number.setText("  ·  ".join(x for x in (number, via) if x))
        self.number.setVisible(bool(self.number.text()))
        where = call.location
        if call.contact and call.contact.chat_title:
            where = f"{where} · {call.contact.chat_title}" if where else call.contact.chat_title
        self.location.setText(where)
        self.location.setVisible(bool(where))
        text, tone = phase_text(call)
        self.phase.setText(text)
        color = getattr(theme.current(), tone.value)
        self.phase.setStyleSheet(f"color: {color}; font-weight: 600;")
        if first:
            self.timer.reset()
            self.quality.set_mos(None)
            self.quality_banner.clear()
            self.dtmf_echo.clear()
        if call.phase in (CallPhase.IN_CALL, CallPhase.ON_HOLD):
            if not self.timer.running():
                self.timer.start(_monotonic_from_wall(call.connected_at))
        elif not call.active:
            self.timer.stop()
        self.timer.setVisible(
            call.phase in (CallPhase.IN_CALL, CallPhase.ON_HOLD)
            or (not call.active and call.connected_at is not None)
        )
        talking = call.phase in (CallPhase.IN_CALL, CallPhase.ON_HOLD)
        self.buttons["mute"].setChecked(call.muted)
        self.buttons["hold"].setChecked(call.held or call.phase is CallPhase.ON_HOLD)
        self.buttons["hold"].setText("Resume" if self.buttons["hold"].isChecked() else "Hold")
        self.buttons["hold"].setIcon(
            icon(
                "resume" if self.buttons["hold"].isChecked() else "hold",
                theme.current().text,
                theme.current().accent_text,
            )
        )
        self.buttons["record"].setChecked(call.recording)
        for key in ("hold", "keypad", "transfer", "record"):
            self.buttons[key].setEnabled(talking)
        self.buttons["mute"].setEnabled(call.active)
        if call.recording:
            self.recording_banner.show_message("Recording this call", "danger", "record")
        else:
            self.recording_banner.clear()
        ringing_out = call.direction is CallDirection.OUTBOUND and call.phase in (
            CallPhase.CALLING,
            CallPhase.RINGING,
        )
        self.hangup.setText("Cancel call" if ringing_out else "Hang up")
        self.hangup.setEnabled(call.active)
        if self._consult_from and call.call_id == self._consult_from and not call.active:
            self._consult_from = None
            self.transfer.set_consulting(False)
        self._refresh_strip()

    def note_other(self, call: CallView) -> None:
        """Another call changed (held guest during a consult, call waiting)."""
        if call.active:
            self._others[call.call_id] = call
        else:
            self._others.pop(call.call_id, None)
            if call.call_id == self._consult_from:
                self._consult_from = None
                self.transfer.set_consulting(False)
        self._refresh_strip()

    def _refresh_strip(self) -> None:
        other = next(iter(self._others.values()), None)
        if other is None:
            self.held_strip.hide()
            return
        state = "on hold" if other.phase is CallPhase.ON_HOLD or other.held else other.phase
        self.held_strip.setText(f"{other.title} · {state}  ·  Switch")
        self.held_strip.setToolTip("Hold this call and switch to the other one")
        self.held_strip.show()

    def set_quality(self, stats: CallQuality) -> None:
        if self._call is None or stats.call_id != self._call.call_id:
            return
        self.quality.set_mos(stats.mos)
        if q.is_poor(stats.mos):
            detail = []
            if stats.loss_percent >= 1:
                detail.append(f"{stats.loss_percent:.0f}% packet loss")
            if stats.jitter_ms >= 30:
                detail.append(f"{stats.jitter_ms:.0f} ms jitter")
            extra = f" ({', '.join(detail)})" if detail else ""
            self.quality_banner.show_message(
                f"Poor connection{extra}: the guest may hear you badly.", "warning", "warning"
            )
        else:
            self.quality_banner.clear()

    def reset(self) -> None:
        self._call = None
        self._others.clear()
        self._consult_from = None
        self.timer.reset()
        self.transfer.reset()
        for button in self.buttons.values():
            button.setChecked(False)
        self.panel.setCurrentIndex(0)
        self.quality_banner.clear()
        self.recording_banner.clear()
        self.held_strip.hide()
