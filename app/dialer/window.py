"""The floating dialer window: a small always-on-top panel that behaves like a desk phone.

It owns three pages (dial, in call, wrap-up) and the status line, and translates between
them and the session: request signals out, update slots in. `bind()` connects it to
`QtSession`; tests drive the slots with hand-made dataclasses instead.

Only the dial page is built with the window: the in-call and wrap-up pages (and their
modules) are built on first use or at `bind()`, whichever comes first, so the dialer an
agent sees at start-up is on screen ~15 ms sooner.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QMoveEvent,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.dialer.idle import DialPage
from app.dialer.placement import Placement, visible_position
from app.dialer.texts import line_text, phase_text, worst_line
from app.session.model import (
    CallDirection,
    CallEnded,
    CallPermission,
    CallPhase,
    CallQuality,
    CallView,
    ContactsFound,
    DialRequest,
    DialSource,
    ErrorKind,
    LineStatus,
    OutboundOptions,
    UserError,
    WrapUp,
    WrapUpRequested,
    WrapUpSaved,
)
from app.widgets.icons import app_icon, icon
from app.widgets.status import StatusLine

if TYPE_CHECKING:
    from app.dialer.incall import InCallPage
    from app.dialer.wrapup import WrapUpPage

DIALER_SIZE = QSize(340, 640)
#: How long "Call ended" stays up when no wrap-up follows.
ENDED_LINGER_MS = 1800

_DIGITS = set("0123456789*#+")


def _ringing_here(call: CallView) -> bool:
    return call.direction is CallDirection.INBOUND and call.phase is CallPhase.RINGING


class DialerWindow(QWidget):
    """Request signals mirror `QtSession`'s command slots one to one."""

    dial_requested = Signal(DialRequest)
    prepare_requested = Signal(str, str)
    contact_search_requested = Signal(str)
    permission_requested = Signal(str)
    hangup_requested = Signal(str)
    mute_requested = Signal(str, bool)
    hold_requested = Signal(str, bool)
    record_requested = Signal(str, bool)
    dtmf_requested = Signal(str, str)
    transfer_requested = Signal(str, str)
    attended_transfer_requested = Signal(str, str)
    wrap_up_submitted = Signal(WrapUp)

    def __init__(self, placement: Placement | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._built = False  # palette events can arrive before the children exist
        theme.ensure()
        self.setObjectName("dialerWindow")
        self.setWindowTitle("Lodgestory Phone")
        self.setWindowIcon(app_icon())
        self.setWindowFlags(
            Qt.WindowType.Window
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
        )
        self.setFixedWidth(DIALER_SIZE.width())
        self.resize(DIALER_SIZE)
        self._placement = placement if placement is not None else Placement("dialer")
        self._placed = False
        self._drag_from: QPoint | None = None
        self._call_page: InCallPage | None = None
        self._wrap_page: WrapUpPage | None = None
        self._lines: dict[str, LineStatus] = {}
        self._calls: dict[str, CallView] = {}
        self._front: str | None = None
        self._wrap_pending: str | None = None
        self._save_pos = QTimer(self)
        self._save_pos.setSingleShot(True)
        self._save_pos.setInterval(400)
        self._save_pos.timeout.connect(lambda: self._placement.save(self.pos()))
        self._linger = QTimer(self)
        self._linger.setSingleShot(True)
        self._linger.setInterval(ENDED_LINGER_MS)
        self._linger.timeout.connect(self._back_to_idle)
        self._build()
        self._wire_pages()
        self._shortcuts()
        self._built = True
        self._refresh_status()

    # -------------------------------------------------------------------- layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        surface = QWidget(self)
        surface.setObjectName("callSurface")
        outer.addWidget(surface)
        root = QVBoxLayout(surface)
        root.setContentsMargins(0, 0, 0, 8)
        root.setSpacing(0)

        self.header = QWidget(surface)
        self.header.setObjectName("dialerHeader")
        self.header.setCursor(Qt.CursorShape.OpenHandCursor)
        head = QHBoxLayout(self.header)
        head.setContentsMargins(12, 8, 8, 4)
        head.setSpacing(6)
        self.logo = QLabel(self.header)
        self.logo.setPixmap(app_icon().pixmap(QSize(20, 20)))
        title = QLabel("Lodgestory Phone", self.header)
        title.setObjectName("titleLabel")
        self.missed = QLabel(self.header)
        self.missed.setObjectName("missedBadge")
        self.missed.hide()
        self.minimize_button = QToolButton(self.header)
        self.minimize_button.setObjectName("headerButton")
        self.minimize_button.setToolTip("Minimize")
        self.minimize_button.clicked.connect(self.showMinimized)
        self.close_button = QToolButton(self.header)
        self.close_button.setObjectName("headerButton")
        self.close_button.setToolTip("Hide the dialer (calls keep ringing; open it from the tray)")
        self.close_button.clicked.connect(self.hide)
        for button in (self.minimize_button, self.close_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setIconSize(QSize(16, 16))
        head.addWidget(self.logo)
        head.addWidget(title)
        head.addWidget(self.missed)
        head.addStretch(1)
        head.addWidget(self.minimize_button)
        head.addWidget(self.close_button)
        root.addWidget(self.header)

        self.pages = QStackedWidget(surface)
        self.dial_page = DialPage(self.pages)
        self.pages.addWidget(self.dial_page)
        root.addWidget(self.pages, 1)

        self.status = StatusLine(surface)
        self.status.setContentsMargins(16, 4, 16, 0)
        root.addWidget(self.status)
        self._refresh_icons()

    def _refresh_icons(self) -> None:
        muted = theme.current().text_muted
        self.minimize_button.setIcon(icon("minimize", muted))
        self.close_button.setIcon(icon("close", muted))
        self.dial_page.refresh_icons()
        if self._call_page is not None:
            self._call_page.refresh_icons()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and self._built:
            self._refresh_icons()
        super().changeEvent(event)

    @property
    def call_page(self) -> InCallPage:
        """The in-call page, built the first time it is needed."""
        if self._call_page is None:
            from app.dialer.incall import InCallPage

            c = InCallPage(self.pages)
            self.pages.addWidget(c)
            c.refresh_icons()
            self._call_page = c
            c.hangup_requested.connect(self.hangup_requested)
            c.mute_toggled.connect(self.mute_requested)
            c.hold_toggled.connect(self.hold_requested)
            c.record_toggled.connect(self.record_requested)
            c.dtmf_requested.connect(self.dtmf_requested)
            c.blind_transfer_requested.connect(self.transfer_requested)
            c.attended_transfer_requested.connect(self.attended_transfer_requested)
            c.consult_requested.connect(self._consult)
            c.swap_requested.connect(self._swap)
        return self._call_page

    @property
    def wrap_page(self) -> WrapUpPage:
        """The wrap-up page, built the first time it is needed."""
        if self._wrap_page is None:
            from app.dialer.wrapup import WrapUpPage

            w = WrapUpPage(self.pages)
            self.pages.addWidget(w)
            self._wrap_page = w
            w.submitted.connect(self.wrap_up_submitted)
            w.finished.connect(self._back_to_idle)
        return self._wrap_page

    def _build_pages(self) -> None:
        _ = self.call_page, self.wrap_page

    def _wire_pages(self) -> None:
        d = self.dial_page
        d.call_requested.connect(self.dial_requested)
        d.prepare_requested.connect(self.prepare_requested)
        d.contact_search_requested.connect(self.contact_search_requested)
        d.permission_requested.connect(self.permission_requested)

    def _shortcuts(self) -> None:
        def toggle(key: str) -> None:
            page = self._call_page
            if page is None or self.pages.currentWidget() is not page:
                return
            button = page.buttons[key]
            if button.isEnabled():
                button.click()

        for seq, key in (
            ("Ctrl+M", "mute"),
            ("Ctrl+H", "hold"),
            ("Ctrl+K", "keypad"),
            ("Ctrl+T", "transfer"),
            ("Ctrl+R", "record"),
        ):
            QShortcut(QKeySequence(seq), self, lambda k=key: toggle(k))

    # ------------------------------------------------------------------ binding
    def bind(self, session: object) -> None:
        """Connect to a `QtSession` (typed loosely so widget tests need no session)."""
        # Calls can come from now on: build the pages kept out of the first paint, on the
        # next event-loop turn (a call that comes first builds its page itself).
        QTimer.singleShot(0, self._build_pages)
        s = session
        s.registration_changed.connect(self.set_line)  # type: ignore[attr-defined]
        s.outbound_options_changed.connect(self.set_options)  # type: ignore[attr-defined]
        s.contacts_found.connect(self.set_contacts)  # type: ignore[attr-defined]
        s.call_state_changed.connect(self.update_call)  # type: ignore[attr-defined]
        s.call_ended.connect(self.end_call)  # type: ignore[attr-defined]
        s.call_stats_reported.connect(self.set_quality)  # type: ignore[attr-defined]
        s.wrap_up_requested.connect(self.show_wrap_up)  # type: ignore[attr-defined]
        s.wrap_up_saved.connect(self.wrap_up_saved)  # type: ignore[attr-defined]
        s.call_permission_changed.connect(self.set_permission)  # type: ignore[attr-defined]
        s.error_raised.connect(self.show_error)  # type: ignore[attr-defined]
        s.dial_requested.connect(self.open_dial)  # type: ignore[attr-defined]
        s.missed_calls_changed.connect(self.set_missed)  # type: ignore[attr-defined]
        self.dial_requested.connect(s.dial)  # type: ignore[attr-defined]
        self.prepare_requested.connect(s.prepare_outbound)  # type: ignore[attr-defined]
        self.contact_search_requested.connect(s.search_contacts)  # type: ignore[attr-defined]
        self.permission_requested.connect(s.request_call_permission)  # type: ignore[attr-defined]
        self.hangup_requested.connect(s.hangup)  # type: ignore[attr-defined]
        self.mute_requested.connect(s.set_muted)  # type: ignore[attr-defined]
        self.hold_requested.connect(s.set_held)  # type: ignore[attr-defined]
        self.record_requested.connect(s.set_recording)  # type: ignore[attr-defined]
        self.dtmf_requested.connect(s.send_dtmf)  # type: ignore[attr-defined]
        self.transfer_requested.connect(s.transfer)  # type: ignore[attr-defined]
        self.attended_transfer_requested.connect(s.transfer_attended)  # type: ignore[attr-defined]
        self.wrap_up_submitted.connect(s.save_wrap_up)  # type: ignore[attr-defined]
        for line in s.lines():  # type: ignore[attr-defined]
            self.set_line(line)
        if s.last_options is not None:  # type: ignore[attr-defined]
            self.set_options(s.last_options)  # type: ignore[attr-defined]
        for call in s.calls():  # type: ignore[attr-defined]
            self.update_call(call)
        self.set_missed(s.missed_calls)  # type: ignore[attr-defined]
        self.prepare_requested.emit("", "")

    # --------------------------------------------------------------- update slots
    def set_line(self, line: LineStatus) -> None:
        self._lines[line.account_id] = line
        self._refresh_status()

    def set_options(self, options: OutboundOptions) -> None:
        self.dial_page.set_options(options)

    def set_contacts(self, found: ContactsFound) -> None:
        self.dial_page.set_contacts(found)

    def set_permission(self, permission: CallPermission) -> None:
        self.dial_page.set_permission(permission)

    def set_missed(self, count: int) -> None:
        self.missed.setText(str(count) if count < 100 else "99+")
        self.missed.setToolTip(f"{count} missed call{'s' if count != 1 else ''}")
        self.missed.setVisible(count > 0)

    def open_dial(self, request: DialRequest) -> None:
        """Show the dialer filled in with a number from a link, the CLI or the CRM."""
        if self.pages.currentWidget() is self.dial_page:
            self.dial_page.fill(request)
        self.present()

    def update_call(self, call: CallView) -> None:
        known = call.call_id in self._calls
        if call.active:
            self._calls[call.call_id] = call
        inbound_ringing = (
            call.direction is CallDirection.INBOUND and call.phase is CallPhase.RINGING
        )
        if inbound_ringing and not known:
            return  # the popup handles ringing calls; we show it once answered
        if not call.active:
            self._finish(call)
            return
        self._linger.stop()
        front = self._pick_front()
        if front is None:
            return
        for other in self._calls.values():
            if other.call_id != front.call_id:
                self.call_page.note_other(other)
        self.call_page.show_call(front)
        self._front = front.call_id
        if self.pages.currentWidget() is not self.call_page:
            self.pages.setCurrentWidget(self.call_page)
            self.present()
        if call.direction is CallDirection.OUTBOUND and self.dial_page.text():
            self.dial_page.clear()
        self._refresh_status()

    def _pick_front(self) -> CallView | None:
        active = [
            c
            for c in self._calls.values()
            if c.active
            and not (c.direction is CallDirection.INBOUND and c.phase is CallPhase.RINGING)
        ]
        if not active:
            return None
        talking = [c for c in active if c.phase is not CallPhase.ON_HOLD and not c.held]
        pool = talking or active
        return max(pool, key=lambda c: c.started_at)

    def _finish(self, call: CallView) -> None:
        self._calls.pop(call.call_id, None)
        if self._front == call.call_id:
            self.call_page.show_call(call)
            self._front = None
            front = self._pick_front()
            if front is not None:
                self.call_page.show_call(front)
                self._front = front.call_id
            elif self._wrap_pending != call.call_id:
                self._linger.start()
        else:
            self.call_page.note_other(call)
        self._refresh_status(ended=call)

    def end_call(self, ended: CallEnded) -> None:
        self.update_call(ended.call)

    def set_quality(self, stats: CallQuality) -> None:
        self.call_page.set_quality(stats)

    def show_wrap_up(self, request: WrapUpRequested) -> None:
        if self._pick_front() is not None:
            return  # still on another call: the wrap-up would hide it
        self._linger.stop()
        self._wrap_pending = request.call.call_id
        self.wrap_page.start(request)
        self.pages.setCurrentWidget(self.wrap_page)

    def wrap_up_saved(self, saved: WrapUpSaved) -> None:
        self.wrap_page.mark_saved(saved)

    def show_error(self, error: UserError) -> None:
        if error.kind is ErrorKind.CALLS_REFUSED:
            return  # news, not something to act on here: the tray says it
        if error.kind is ErrorKind.WRAP_UP_FAILED:
            self.wrap_page.mark_failed(f"{error.message}. {error.what_to_do}")
            return
        if self.pages.currentWidget() is self._call_page and error.call_id is None:
            self.call_page.quality_banner.show_message(
                f"{error.message}. {error.what_to_do}", "danger"
            )
        else:
            self.dial_page.cancel_pending()
            self.dial_page.show_error(error)
            if self.pages.currentWidget() is self._call_page and self._pick_front() is None:
                self._back_to_idle()
        self.present()

    # ------------------------------------------------------------------ behaviour
    def _consult(self, held_call_id: str, target: str) -> None:
        self.hold_requested.emit(held_call_id, True)
        self.dial_requested.emit(DialRequest(number=target, source=DialSource.USER, dial_now=True))

    def _swap(self, call_id: str) -> None:
        if self._front is not None:
            self.hold_requested.emit(self._front, True)
        self.hold_requested.emit(call_id, False)

    def _back_to_idle(self) -> None:
        self._linger.stop()
        self._wrap_pending = None
        if self._pick_front() is not None:
            return
        self.call_page.reset()
        self.pages.setCurrentWidget(self.dial_page)
        self.dial_page.number.setFocus()
        self._refresh_status()

    def _refresh_status(self, ended: CallView | None = None) -> None:
        front = self._calls.get(self._front) if self._front else None
        if front is not None:
            text, tone = phase_text(front)
        elif ended is not None:
            text, tone = phase_text(ended)
        else:
            chosen = self.dial_page._selected_account()
            line = self._lines.get(chosen) if chosen else None
            text, tone = line_text(line or worst_line(list(self._lines.values())))
        self.status.set_status(text, tone)

    def present(self) -> None:
        """Show, un-minimize and raise, without fighting the agent's focus elsewhere."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()

    # ------------------------------------------------------------------- keyboard
    def keyPressEvent(self, event: QKeyEvent) -> None:
        page = self.pages.currentWidget()
        text = event.text()
        if event.key() == Qt.Key.Key_Escape:
            self._escape()
            return
        if page is self._call_page and text and text in _DIGITS:
            self.call_page.send_dtmf(text)
            return
        if page is self.dial_page:
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.dial_page.press_call()
                return
            if text and (text in _DIGITS or text.isalpha()):
                self.dial_page.number.setFocus()
                self.dial_page.number.insert(text)
                self.dial_page._on_text_edited(self.dial_page.number.text())
                return
        super().keyPressEvent(event)

    def _escape(self) -> None:
        page = self.pages.currentWidget()
        front = self._calls.get(self._front) if self._front else None
        if page is self._call_page and front is not None:
            if front.direction is CallDirection.OUTBOUND and front.phase in (
                CallPhase.CALLING,
                CallPhase.RINGING,
            ):
                self.hangup_requested.emit(front.call_id)
            elif self.call_page.panel.currentIndex() != 0:
                self.call_page.buttons["keypad"].setChecked(False)
                self.call_page.buttons["transfer"].setChecked(False)
        elif page is self.dial_page:
            if self.dial_page._pending_dial is not None:
                self.dial_page.cancel_pending()
            else:
                self.dial_page.clear()

    def event(self, event: QEvent) -> bool:
        # Esc typed inside the number field reaches us as a ShortcutOverride first.
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):
            event.accept()
            return True
        return super().event(event)

    # ------------------------------------------------------------- place and drag
    def showEvent(self, event: QShowEvent) -> None:
        if not self._placed:
            self._placed = True
            self.move(visible_position(self._placement.load(), self.size()))
        super().showEvent(event)

    def moveEvent(self, event: QMoveEvent) -> None:
        if self._placed and self.isVisible():
            self._save_pos.start()
        super().moveEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._placed:
            self._placement.save(self.pos())
        super().closeEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.header.geometry().contains(
            event.position().toPoint()
        ):
            handle = self.windowHandle()
            if handle is not None and handle.startSystemMove():
                return
            self._drag_from = event.globalPosition().toPoint() - self.frameGeometry().topLeft()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.move(event.globalPosition().toPoint() - self._drag_from)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            self._drag_from = None
            self._placement.save(self.pos())
        super().mouseReleaseEvent(event)

    def placement_path(self) -> Path | None:  # pragma: no cover - debugging aid
        return getattr(self._placement, "_path", None)
