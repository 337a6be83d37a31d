"""Keeps one popup per ringing call, stacked in the corner of the screen under the mouse,
and retires each one as its call is answered, rejected, missed or taken by someone else.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, QRect, QTimer, Signal
from PySide6.QtGui import QCursor, QGuiApplication
from PySide6.QtWidgets import QApplication

from app import theme
from app.popup.window import IncomingPopup
from app.session.model import (
    CallDirection,
    CallEnd,
    CallEnded,
    CallerMatched,
    CallPhase,
    CallView,
    IncomingCall,
)

MARGIN = 16
GAP = 10


class PopupManager(QObject):
    answer_requested = Signal(str)
    reject_requested = Signal(str)
    #: A popup is on screen (for the benchmark and tests: INVITE to popup visible).
    popup_shown = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        theme.ensure()
        self._popups: dict[str, IncomingPopup] = {}
        self._missed = 0
        self._active_calls: set[str] = set()
        # Build one card off-screen once the event loop runs: the first real ring then
        # skips the cold cost of fonts, style and icons (about 250 ms on a slow machine).
        QTimer.singleShot(0, self._warm_up)

    def _warm_up(self) -> None:
        sample = CallView("warm-up", CallDirection.INBOUND, CallPhase.RINGING, "+1", "+1")
        card = IncomingPopup(IncomingCall(sample))
        card.adjustSize()
        card.grab()
        card.deleteLater()

    def popup(self, call_id: str) -> IncomingPopup | None:
        return self._popups.get(call_id)

    def popups(self) -> list[IncomingPopup]:
        return list(self._popups.values())

    def bind(self, session: object) -> None:
        """Connect to a `QtSession`."""
        s = session
        s.incoming_call_received.connect(self.show_incoming)  # type: ignore[attr-defined]
        s.caller_matched.connect(self.caller_matched)  # type: ignore[attr-defined]
        s.call_state_changed.connect(self.update_call)  # type: ignore[attr-defined]
        s.call_ended.connect(self.call_ended)  # type: ignore[attr-defined]
        s.missed_calls_changed.connect(self.set_missed)  # type: ignore[attr-defined]
        self.answer_requested.connect(s.answer)  # type: ignore[attr-defined]
        self.reject_requested.connect(s.reject)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------- slots
    def show_incoming(self, incoming: IncomingCall) -> None:
        if incoming.auto_answer:
            return
        call_id = incoming.call.call_id
        existing = self._popups.get(call_id)
        if existing is not None:
            popup = existing
        else:
            waiting = incoming.waiting or bool(self._active_calls)
            popup = IncomingPopup(IncomingCall(incoming.call, waiting, False))
            popup.answer_requested.connect(self.answer_requested)
            popup.reject_requested.connect(self.reject_requested)
            popup.closed.connect(self._forget)
            popup.dismissed.connect(lambda _cid: self._restack())
            popup.set_missed(self._missed)
            self._popups[call_id] = popup
        popup.adjustSize()
        self._restack()
        popup.show()
        self.popup_shown.emit(call_id)

    def caller_matched(self, matched: CallerMatched) -> None:
        popup = self._popups.get(matched.call_id)
        if popup is not None:
            popup.caller_matched(matched)
            popup.adjustSize()
            self._restack()

    def update_call(self, call: CallView) -> None:
        ringing_here = call.direction is CallDirection.INBOUND and call.phase is CallPhase.RINGING
        if call.active and not ringing_here:
            self._active_calls.add(call.call_id)
        else:
            self._active_calls.discard(call.call_id)
        for popup in self._popups.values():
            if popup.call_id != call.call_id:
                popup.set_waiting(bool(self._active_calls))
        mine = self._popups.get(call.call_id)
        if mine is None:
            return
        if not call.active:
            self._retire(call)
        elif not ringing_here:
            self._forget(call.call_id)  # answered here: the dialer takes over
        else:
            mine.update_call(call)

    def call_ended(self, ended: CallEnded) -> None:
        self.update_call(ended.call)

    def _retire(self, call: CallView) -> None:
        popup = self._popups.get(call.call_id)
        if popup is None:
            return
        if call.end is CallEnd.ANSWERED_ELSEWHERE:
            if not popup.handled_elsewhere:
                popup.show_handled_elsewhere(call.end_reason)
                if not popup.isVisible():
                    self._forget(call.call_id)
        else:
            self._forget(call.call_id)

    def set_missed(self, count: int) -> None:
        self._missed = count
        for popup in self._popups.values():
            popup.set_missed(count)

    # --------------------------------------------------------------- placement
    def _forget(self, call_id: str) -> None:
        popup = self._popups.pop(call_id, None)
        if popup is not None:
            popup.hide()
            popup.deleteLater()
        self._restack()

    def _restack(self) -> None:
        """Top-right of the screen under the mouse, oldest first, the next ones below.

        Top-right keeps the cards clear of the floating dialer, which lives bottom-right.
        """
        screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        top = area.top() + MARGIN
        dialers = [
            w.frameGeometry()
            for w in QApplication.topLevelWidgets()
            if w.objectName() == "dialerWindow" and w.isVisible() and not w.isMinimized()
        ]
        for popup in self._popups.values():
            if popup.isHidden() and popup.property("placed"):
                continue
            hint = popup.sizeHint()
            width = max(hint.width(), popup.minimumWidth())
            spot = QRect(QPoint(area.right() - width - MARGIN + 1, top), hint)
            for dialer in dialers:
                if spot.intersects(dialer) and dialer.left() - width - GAP >= area.left():
                    spot.moveLeft(dialer.left() - width - GAP)  # beside the dialer, not on it
            popup.move(spot.topLeft())
            popup.setProperty("placed", True)
            top += hint.height() + GAP
