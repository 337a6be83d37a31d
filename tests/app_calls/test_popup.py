"""The incoming-call popup: answer, reject, dismiss, handled elsewhere, call waiting."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from app.popup.manager import PopupManager
from app.session.model import (
    CallDirection,
    CallEnd,
    CallEnded,
    CallerMatched,
    CallPhase,
    ContactMatch,
    IncomingCall,
)
from tests.app_calls.conftest import OFFSCREEN_NOISE, save_shot
from tests.app_calls.factories import call

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


def ringing(call_id: str = "in1", **changes: object):
    base = call(
        CallPhase.RINGING,
        CallDirection.INBOUND,
        call_id=call_id,
        contact=None,
        number="+34911234567",
        display_number="+34 911 23 45 67",
        location="Madrid, Spain",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def manager(qtbot, themed):
    m = PopupManager()
    yield m
    for popup in m.popups():
        popup.close()


def test_ring_shows_number_then_name_and_answers(qtbot, manager: PopupManager) -> None:
    with qtbot.waitSignal(manager.popup_shown, timeout=1000):
        manager.show_incoming(IncomingCall(ringing()))
    popup = manager.popup("in1")
    assert popup is not None and popup.isVisible()
    assert popup.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert popup.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert popup.name.text() == "+34 911 23 45 67"
    assert popup.location.text() == "Madrid, Spain"
    assert popup.contact_line.text() == "Not in your contacts"
    assert "Lodgestory SIP" in popup.heading.text()
    maria = ContactMatch("k1", "Maria Lopez", chat_id="ch1", chat_title="WhatsApp · Booking 4411")
    manager.caller_matched(CallerMatched("in1", maria, "Madrid, Spain"))
    assert popup.name.text() == "Maria Lopez"
    assert popup.number.text() == "+34 911 23 45 67"
    assert "Chat: WhatsApp · Booking 4411" in popup.contact_line.text()
    with qtbot.waitSignal(manager.answer_requested, timeout=1000) as sig:
        popup.answer.click()
    assert sig.args == ["in1"]
    manager.update_call(ringing(phase=CallPhase.IN_CALL))
    assert manager.popup("in1") is None


def test_reject(qtbot, manager) -> None:
    manager.show_incoming(IncomingCall(ringing()))
    with qtbot.waitSignal(manager.reject_requested, timeout=1000) as sig:
        manager.popup("in1").reject.click()
    assert sig.args == ["in1"]
    manager.call_ended(CallEnded(ringing(phase=CallPhase.ENDED, end=CallEnd.REJECTED)))
    assert manager.popup("in1") is None


def test_dismiss_hides_but_the_call_keeps_ringing(qtbot, manager) -> None:
    manager.show_incoming(IncomingCall(ringing()))
    popup = manager.popup("in1")
    answered: list[str] = []
    manager.answer_requested.connect(answered.append)
    manager.reject_requested.connect(answered.append)
    popup.dismiss.click()
    assert not popup.isVisible()
    assert answered == []  # dismiss answers nothing and rejects nothing
    assert manager.popup("in1") is popup  # still tracked: it rings for teammates
    manager.call_ended(CallEnded(ringing(phase=CallPhase.ENDED, end=CallEnd.MISSED)))
    assert manager.popup("in1") is None


def test_being_handled_elsewhere(qtbot, manager) -> None:
    manager.show_incoming(IncomingCall(ringing()))
    popup = manager.popup("in1")
    ended = ringing(phase=CallPhase.ENDED, end=CallEnd.ANSWERED_ELSEWHERE, end_reason="Ana Silva")
    manager.call_ended(CallEnded(ended))
    assert popup.isVisible()
    assert popup.banner.text.text() == "Being handled elsewhere by Ana Silva"
    assert not popup.answer.isEnabled() and not popup.reject.isEnabled()
    save_shot(popup, "popup-handled-elsewhere")
    qtbot.waitUntil(lambda: manager.popup("in1") is None, timeout=5000)


def test_call_waiting_and_missed_badge(qtbot, manager) -> None:
    manager.update_call(call())  # already talking to someone
    manager.set_missed(3)
    manager.show_incoming(IncomingCall(ringing("in2")))
    popup = manager.popup("in2")
    assert popup.heading.text().startswith("Call waiting")
    assert "Answering puts it on hold" in popup.banner.text.text()
    assert popup.answer.text() == "Hold && answer"
    assert popup.missed.isVisible() and popup.missed.text() == "3 missed"
    manager.update_call(call(phase=CallPhase.ENDED, end=CallEnd.COMPLETED))
    assert popup.answer.text() == "Answer"


def test_two_rings_stack_on_screen(qtbot, manager) -> None:
    manager.show_incoming(IncomingCall(ringing("a")))
    manager.show_incoming(IncomingCall(ringing("b", display_number="+1 212-555-0199")))
    first, second = manager.popup("a"), manager.popup("b")
    assert first.geometry().top() < second.geometry().top()
    assert not first.geometry().intersects(second.geometry())
    screen = QGuiApplication.primaryScreen().availableGeometry()
    for popup in (first, second):
        assert screen.contains(popup.frameGeometry()), "a popup is off the screen"


def test_popup_screenshot(qtbot, manager) -> None:
    maria = ContactMatch("k1", "Maria Lopez", chat_id="ch1", chat_title="WhatsApp · Booking 4411")
    manager.set_missed(2)
    manager.show_incoming(IncomingCall(ringing(contact=maria)))
    save_shot(manager.popup("in1"), "popup")


def test_popup_never_covers_the_dialer(qtbot, manager, tmp_path) -> None:
    from app.dialer.placement import Placement
    from app.dialer.window import DialerWindow

    dialer = DialerWindow(Placement("dialer", tmp_path / "w.ini"))
    qtbot.addWidget(dialer)
    dialer.show()
    area = QGuiApplication.primaryScreen().availableGeometry()
    dialer.move(area.right() - dialer.width() - 10, area.top() + 10)  # top-right corner
    manager.show_incoming(IncomingCall(ringing()))
    popup = manager.popup("in1")
    assert not popup.frameGeometry().intersects(dialer.frameGeometry())
    assert area.contains(popup.frameGeometry())
