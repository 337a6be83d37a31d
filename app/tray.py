"""The tray icon: registration at a glance (green, amber, red), missed calls as a badge,
the presence menu, and the ring/missed-call notifications.

The icon is painted from the status SVGs plus a red count badge, so the agent sees
"3 missed" without opening anything.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from app import theme
from app.dialer.texts import line_text, worst_line
from app.notify import Note, Notifier
from app.session.model import (
    CallEnd,
    CallEnded,
    CallerMatched,
    ErrorKind,
    IncomingCall,
    LineState,
    LineStatus,
    Presence,
    UserError,
)
from app.widgets.icons import app_icon, icon, render


class TrayState(Enum):
    """Colour of the tray dot; the value names the SVG variant."""

    REGISTERED = "registered"  # green
    REGISTERING = "registering"  # amber
    FAILED = "failed"  # red
    OFFLINE = "offline"  # grey: not configured or signed out


STATE_COLORS = {
    TrayState.REGISTERED: "#22c55e",
    TrayState.REGISTERING: "#f59e0b",
    TrayState.FAILED: "#ef4444",
    TrayState.OFFLINE: "#94a3b8",
}

PRESENCE_LABELS = {
    Presence.AVAILABLE: "Available",
    Presence.BUSY: "Busy",
    Presence.DO_NOT_DISTURB: "Do not disturb",
}


def tray_state(lines: list[LineStatus]) -> TrayState:
    """Green only when every line is registered; any failure is red."""
    line = worst_line(lines)
    if line is None:
        return TrayState.OFFLINE
    return {
        LineState.REGISTERED: TrayState.REGISTERED,
        LineState.REGISTERING: TrayState.REGISTERING,
        LineState.FAILED: TrayState.FAILED,
        LineState.ENGINE_DOWN: TrayState.FAILED,
    }.get(line.state, TrayState.OFFLINE)


def tray_pixmap(state: TrayState, missed: int, size: int = 64) -> QPixmap:
    pixmap = render(f"tray-{state.value}", size)
    if missed <= 0:
        return pixmap
    image = pixmap.toImage()
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    logical = size
    badge = QRectF(0, 0, logical * 0.56, logical * 0.46)
    painter.setPen(QColor("#ffffff"))
    painter.setBrush(QColor("#dc2626"))
    scale = image.width() / logical
    painter.scale(scale, scale)
    painter.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2)
    font = QFont()
    font.setPixelSize(int(logical * 0.34))
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(missed) if missed < 10 else "9+")
    painter.end()
    out = QPixmap.fromImage(image)
    out.setDevicePixelRatio(pixmap.devicePixelRatio())
    return out


class Tray(QObject):
    show_main_requested = Signal()
    show_dialer_requested = Signal()
    presence_selected = Signal(Presence)
    quit_requested = Signal()
    #: The agent asked for a diagnostics zip to send to IT.
    diagnostics_requested = Signal()
    answer_requested = Signal(str)
    reject_requested = Signal(str)
    #: The agent looked at the missed calls (opened the app from the tray).
    missed_seen = Signal()

    def __init__(self, notifier: Notifier | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        theme.ensure()
        self._lines: dict[str, LineStatus] = {}
        self._missed = 0
        self._presence = Presence.AVAILABLE
        self._ringing: dict[str, IncomingCall] = {}
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self._build_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.notifier = notifier if notifier is not None else Notifier(self.icon, parent=self)
        self.notifier.action_invoked.connect(self._on_note_action)
        self._refresh()

    def _build_menu(self) -> None:
        self.status_action = QAction("", self.menu)
        self.status_action.setEnabled(False)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.show_action = self.menu.addAction("Show Lodgestory Phone")
        self.show_action.triggered.connect(self._show_main)
        self.show_action.setIcon(app_icon())
        self.dialer_action = self.menu.addAction("Dialer")
        self.dialer_action.setIcon(icon("dialpad"))
        self.dialer_action.triggered.connect(self.show_dialer_requested)
        self.menu.addSeparator()
        self.presence_menu = self.menu.addMenu("Presence")
        group = QActionGroup(self.presence_menu)
        group.setExclusive(True)
        self.presence_actions: dict[Presence, QAction] = {}
        for presence, label in PRESENCE_LABELS.items():
            action = QAction(label, group)
            action.setCheckable(True)
            action.setIcon(self._presence_icon(presence))
            action.triggered.connect(lambda _=False, p=presence: self.presence_selected.emit(p))
            self.presence_menu.addAction(action)
            self.presence_actions[presence] = action
        self.presence_actions[Presence.AVAILABLE].setChecked(True)
        self.menu.addSeparator()
        self.diagnostics_action = self.menu.addAction("Export diagnostics…")
        self.diagnostics_action.triggered.connect(self.diagnostics_requested)
        self.quit_action = self.menu.addAction("Quit")
        self.quit_action.triggered.connect(self.quit_requested)

    @staticmethod
    def _presence_icon(presence: Presence) -> QIcon:
        color = {
            Presence.AVAILABLE: "#22c55e",
            Presence.BUSY: "#f59e0b",
            Presence.DO_NOT_DISTURB: "#ef4444",
        }[presence]
        pixmap = QPixmap(32, 32)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(color))
        painter.drawEllipse(8, 8, 16, 16)
        painter.end()
        return QIcon(pixmap)

    def bind(self, session: object) -> None:
        """Connect to a `QtSession`."""
        s = session
        s.registration_changed.connect(self.set_line)  # type: ignore[attr-defined]
        s.missed_calls_changed.connect(self.set_missed)  # type: ignore[attr-defined]
        s.presence_changed.connect(self.set_presence)  # type: ignore[attr-defined]
        s.incoming_call_received.connect(self.ringing)  # type: ignore[attr-defined]
        s.caller_matched.connect(self.caller_matched)  # type: ignore[attr-defined]
        s.call_ended.connect(self.call_ended)  # type: ignore[attr-defined]
        s.call_state_changed.connect(self._call_changed)  # type: ignore[attr-defined]
        s.error_raised.connect(self.error)  # type: ignore[attr-defined]
        self.presence_selected.connect(s.set_presence)  # type: ignore[attr-defined]
        self.answer_requested.connect(s.answer)  # type: ignore[attr-defined]
        self.reject_requested.connect(s.reject)  # type: ignore[attr-defined]
        self.missed_seen.connect(s.clear_missed)  # type: ignore[attr-defined]
        for line in s.lines():  # type: ignore[attr-defined]
            self.set_line(line)
        self.set_missed(s.missed_calls)  # type: ignore[attr-defined]
        self.set_presence(s.presence)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------- state
    @property
    def state(self) -> TrayState:
        return tray_state(list(self._lines.values()))

    def set_line(self, line: LineStatus) -> None:
        self._lines[line.account_id] = line
        self._refresh()

    def set_missed(self, count: int) -> None:
        self._missed = max(0, count)
        self._refresh()

    def set_presence(self, presence: Presence) -> None:
        self._presence = presence
        self.presence_actions[presence].setChecked(True)
        self._refresh()

    def _refresh(self) -> None:
        text, _tone = line_text(worst_line(list(self._lines.values())))
        self.status_action.setText(text)
        self.icon.setIcon(QIcon(tray_pixmap(self.state, self._missed)))
        tip = [f"Lodgestory Phone: {text}", PRESENCE_LABELS[self._presence]]
        if self._missed:
            tip.append(f"{self._missed} missed call{'s' if self._missed != 1 else ''}")
        self.icon.setToolTip("\n".join(tip))
        self.presence_menu.setTitle(f"Presence: {PRESENCE_LABELS[self._presence]}")

    def show(self) -> None:
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon.show()

    # ------------------------------------------------------------- notifications
    def ringing(self, incoming: IncomingCall) -> None:
        if incoming.auto_answer or self._presence is Presence.DO_NOT_DISTURB:
            return
        self._ringing[incoming.call.call_id] = incoming
        self._notify_ring(incoming.call.call_id)

    def _notify_ring(self, call_id: str) -> None:
        incoming = self._ringing[call_id]
        call = incoming.call
        details = [call.display_number] if call.title != call.display_number else []
        if call.location:
            details.append(call.location)
        if call.line_label:
            details.append(f"on {call.line_label}")
        self.notifier.show(
            Note(
                key=f"ring:{call_id}",
                summary=f"{'Call waiting' if incoming.waiting else 'Incoming call'}: {call.title}",
                body=" · ".join(details),
                actions=(("answer", "Answer"), ("reject", "Reject")),
                timeout_ms=0,
                urgent=True,
            )
        )

    def caller_matched(self, matched: CallerMatched) -> None:
        incoming = self._ringing.get(matched.call_id)
        if incoming is None:
            return
        from dataclasses import replace

        call = replace(incoming.call, contact=matched.contact, location=matched.location)
        self._ringing[matched.call_id] = replace(incoming, call=call)
        self._notify_ring(matched.call_id)

    def _call_changed(self, call: object) -> None:
        call_id = getattr(call, "call_id", None)
        phase = getattr(call, "phase", None)
        if call_id in self._ringing and phase is not None and phase != "ringing":
            self._ringing.pop(str(call_id), None)
            self.notifier.close(f"ring:{call_id}")

    def call_ended(self, ended: CallEnded) -> None:
        call = ended.call
        self._ringing.pop(call.call_id, None)
        self.notifier.close(f"ring:{call.call_id}")
        if call.end is CallEnd.MISSED:
            when = ""
            if call.started_at:
                import time

                when = time.strftime("%H:%M", time.localtime(call.started_at))
            body = " · ".join(
                x
                for x in (
                    call.display_number if call.title != call.display_number else "",
                    f"at {when}" if when else "",
                )
                if x
            )
            self.notifier.show(
                Note(
                    key=f"missed:{call.call_id}",
                    summary=f"Missed call: {call.title}",
                    body=body,
                    actions=(("callback", "Call back"),),
                )
            )

    def error(self, error: UserError) -> None:
        """Warnings that happen away from the dialer (callers turned away, a headset gone)
        also go to the desktop's notifications: the dialer may be hidden."""
        if error.kind not in (ErrorKind.CALLS_REFUSED, ErrorKind.AUDIO_DEVICE):
            return
        self.notifier.show(
            Note(key=f"warning:{error.kind.value}", summary=error.message, body=error.what_to_do)
        )

    def _on_note_action(self, key: str, action: str) -> None:
        kind, _, call_id = key.partition(":")
        if kind == "ring" and action == "answer":
            self.answer_requested.emit(call_id)
        elif kind == "ring" and action == "reject":
            self.reject_requested.emit(call_id)
        elif action in ("default", "callback"):
            self.show_dialer_requested.emit()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self._show_main()

    def _show_main(self) -> None:
        self.show_main_requested.emit()
        if self._missed:
            self.missed_seen.emit()

    def render_menu(self, parent: QWidget | None = None) -> QPixmap:
        """The menu as the agent would see it (for screenshots and tests)."""
        self.menu.adjustSize()
        return self.menu.grab()

    def shutdown(self) -> None:
        self.icon.hide()
        self.notifier.shutdown()
