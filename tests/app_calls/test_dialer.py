"""The floating dialer as the agent uses it: typing, pasting, the Call button's reasons,
keyboard, the call controls, and the wrap-up."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

from app import theme
from app.dialer.numbertext import clean_number
from app.dialer.placement import Placement
from app.dialer.window import DialerWindow
from app.session.model import (
    CallDirection,
    CallEnd,
    CallEnded,
    CallPermission,
    CallPhase,
    CallQuality,
    ContactHit,
    ContactsFound,
    DialRequest,
    DialSource,
    DisabledReason,
    ErrorKind,
    PermissionState,
    UserError,
    WrapUp,
    WrapUpOutcome,
    WrapUpRequested,
    WrapUpSaved,
)
from tests.app_calls.conftest import OFFSCREEN_NOISE, save_shot
from tests.app_calls.factories import LINE, call, options

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def dialer(qtbot, themed, placement_file: Path) -> DialerWindow:
    window = DialerWindow(Placement("dialer", placement_file))
    qtbot.addWidget(window)
    window.set_line(LINE)
    window.show()
    return window


def type_number(qtbot, window: DialerWindow, text: str) -> None:
    qtbot.keyClicks(window.dial_page.number, text)


# ------------------------------------------------------------------ number input
@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("+1 (555) 123-4567", "+15551234567"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("tel:+1-555-123-4567", "+15551234567"),
        ("tel:%2B34%20911%20234%20567", "+34911234567"),
        ("callto://+4930123456", "+4930123456"),
        ("sip:+15551234567@pbx.example.com;transport=tcp", "+15551234567"),
        ("sip:reception@hotel.example.com", "reception@hotel.example.com"),
        ("555.123.4567", "5551234567"),
        ("\u200e+33\u00a01\u00a023\u00a045\u00a067\u00a089\u200f", "+33123456789"),
        ("\uff0b\uff11 \uff15\uff15\uff15 \uff10\uff11\uff10\uff10", "+15550100"),
        ("\u0660\u0665\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "0501234567"),
        ("Phone: +49 30 901820-00 (office)", "+493090182000"),
        ("Maria Lopez", "Maria Lopez"),
        ("*72#", "*72#"),
    ],
)
def test_pasted_numbers_are_cleaned(pasted: str, expected: str) -> None:
    assert clean_number(pasted) == expected


def test_pasting_into_the_field_keeps_the_digits(qtbot, dialer: DialerWindow) -> None:
    field = dialer.dial_page.number
    QGuiApplication.clipboard().setText("Call me on +44 (0)20 7946 0958, thanks!")
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert field.text() == "+442079460958"
    # Typing stays as typed, key by key.
    field.clear()
    qtbot.keyClicks(field, "0044 20")
    assert field.text() == "0044 20"


def test_typing_asks_the_session_about_the_number(qtbot, dialer: DialerWindow) -> None:
    with qtbot.waitSignal(dialer.prepare_requested, timeout=2000) as sig:
        type_number(qtbot, dialer, "+12125550199")
    assert sig.args[0] == "+12125550199"


# ------------------------------------------------------------- the Call button
def test_call_button_disabled_reasons(qtbot, dialer: DialerWindow) -> None:
    button = dialer.dial_page.call_button
    assert not button.isEnabled()
    assert button.toolTip() == "Calling not configured"

    dialer.set_options(options(providers=(), disabled=DisabledReason.NOT_CONFIGURED))
    type_number(qtbot, dialer, "+12125550199")
    assert button.toolTip() == "Calling not configured"

    dialer.dial_page.clear()
    dialer.set_options(options())
    assert not button.isEnabled()
    assert button.toolTip() == "No phone number available"

    dialer.set_options(options(caller_ids=(), disabled=DisabledReason.NO_CALLER_ID))
    type_number(qtbot, dialer, "+12125550199")
    assert not button.isEnabled()
    assert button.toolTip() == "No caller-ID numbers assigned"

    dialer.set_options(options())
    assert button.isEnabled()
    assert button.toolTip() == "Call (Enter)"


def test_enter_dials_with_the_chosen_caller_id(qtbot, dialer: DialerWindow) -> None:
    dialer.set_options(options())
    type_number(qtbot, dialer, "+12125550199")
    assert "(Default)" in dialer.dial_page.caller_id.currentText()
    dialer.dial_page.caller_id.setCurrentIndex(1)  # the London number instead
    with qtbot.waitSignal(dialer.dial_requested, timeout=1000) as sig:
        qtbot.keyClick(dialer.dial_page.number, Qt.Key.Key_Return)
    request: DialRequest = sig.args[0]
    assert request.number == "+12125550199"
    assert request.caller_id == "+442079460958"
    assert request.account_id == "acc1"
    assert request.dial_now and request.source is DialSource.USER


def test_destination_shows_place_local_time_and_hours_warning(qtbot, dialer) -> None:
    type_number(qtbot, dialer, "+12125550199")
    dialer.set_options(options())
    page = dialer.dial_page
    assert "New York, NY" in page.destination.text()
    assert "23:40 local time" in page.destination.text()
    assert page.hours_banner.isVisible()
    assert "outside 9:00-18:00" in page.hours_banner.text.text()
    in_hours = replace(options().destination, local_time="11:05", outside_hours=False)
    dialer.set_options(options(destination=in_hours))
    assert not page.hours_banner.isVisible()


def test_provider_and_mode_pickers_only_when_useful(qtbot, dialer) -> None:
    page = dialer.dial_page
    dialer.set_options(options())
    assert page.provider_row.isVisible()
    assert page.mode.isVisible()  # acc1 has softphone and phone mode
    one = options(providers=options().providers[1:], account_id="acc2")
    dialer.set_options(one)
    assert not page.provider_row.isVisible()
    assert not page.mode.isVisible()


def test_internal_call_to_a_teammate(qtbot, dialer) -> None:
    dialer.set_options(options())
    page = dialer.dial_page
    page.scope.button("internal").click()
    assert not page.caller_id_row.isVisible()
    assert page.call_button.toolTip() == "No phone number available"
    page.teammates.setCurrentRow(0)
    with qtbot.waitSignal(dialer.dial_requested, timeout=1000) as sig:
        page.call_button.click()
    request: DialRequest = sig.args[0]
    assert request.internal and request.number == "202" and request.teammate_id == "u2"


def test_contact_search_fills_number_and_chat(qtbot, dialer) -> None:
    dialer.set_options(options())
    with qtbot.waitSignal(dialer.contact_search_requested, timeout=1000) as sig:
        type_number(qtbot, dialer, "mar")
    assert sig.args[0] == "mar"
    hit = ContactHit("k1", "Maria Lopez", "+34 911 23 45 67", chat_id="chat1")
    dialer.set_contacts(ContactsFound("ma", (hit,)))  # stale answer: ignored
    assert dialer.dial_page.results.count() == 0
    dialer.set_contacts(ContactsFound("mar", (hit,)))
    page = dialer.dial_page
    assert page.middle.currentWidget() is page.results
    page.results.itemClicked.emit(page.results.item(0))
    assert page.number.text() == "+34911234567"
    assert page.contact_chip.text().startswith("Maria Lopez")


def test_whatsapp_chat_asks_permission_before_dialing(qtbot, dialer) -> None:
    dialer.set_options(options())
    page = dialer.dial_page
    dialer.open_dial(DialRequest("+34911234567", DialSource.CRM, chat_id="chat1"))
    dialed: list[DialRequest] = []
    dialer.dial_requested.connect(dialed.append)
    with qtbot.waitSignal(dialer.permission_requested, timeout=1000) as sig:
        page.call_button.click()
    assert sig.args[0] == "chat1"
    assert dialed == []
    assert "waiting" in page.permission_banner.text.text()
    assert not page.call_button.isEnabled()

    dialer.set_permission(CallPermission("chat1", PermissionState.DECLINED))
    assert dialed == []
    assert "declined" in page.permission_banner.text.text()
    assert page.permission_banner.tone == "danger"

    page.call_button.click()  # ask again; this time the guest allows it once
    dialer.set_permission(CallPermission("chat1", PermissionState.WAITING))
    assert dialed == []
    dialer.set_permission(CallPermission("chat1", PermissionState.ALLOWED_ONCE))
    assert len(dialed) == 1 and dialed[0].chat_id == "chat1"
    assert "allowed" in page.permission_banner.text.text()


# ------------------------------------------------------------------- keyboard
def test_keyboard_digits_and_escape(qtbot, dialer) -> None:
    dialer.set_options(options())
    dialer.dial_page.backspace.setFocus()  # focus away from the field
    qtbot.keyClicks(dialer, "123")
    assert dialer.dial_page.number.text() == "123"
    qtbot.keyClick(dialer.dial_page.number, Qt.Key.Key_Escape)
    assert dialer.dial_page.number.text() == ""

    dialer.update_call(call(CallPhase.RINGING))
    assert dialer.pages.currentWidget() is dialer.call_page
    with qtbot.waitSignal(dialer.hangup_requested, timeout=1000) as sig:
        qtbot.keyClick(dialer, Qt.Key.Key_Escape)
    assert sig.args[0] == "c1"


def test_digits_in_a_call_send_dtmf(qtbot, dialer) -> None:
    dialer.update_call(call())
    sent: list[tuple[str, str]] = []
    dialer.dtmf_requested.connect(lambda cid, d: sent.append((cid, d)))
    qtbot.keyClicks(dialer, "12#")
    dialer.call_page.buttons["keypad"].click()
    dialer.call_page.keypad.button("5").click()
    assert sent == [("c1", "1"), ("c1", "2"), ("c1", "#"), ("c1", "5")]
    assert dialer.call_page.dtmf_echo.text() == "12#5"


# ------------------------------------------------------------------- in a call
def test_in_call_controls_follow_the_session(qtbot, dialer) -> None:
    dialer.update_call(call(CallPhase.CALLING))
    page = dialer.call_page
    assert dialer.status.text() == "Calling…"
    assert not page.buttons["hold"].isEnabled()
    assert page.hangup.text() == "Cancel call"

    dialer.update_call(call())
    assert dialer.status.text() == "In call"
    assert page.name.text() == "Maria Lopez"
    assert page.hangup.text() == "Hang up"
    requested: list[tuple[str, bool]] = []
    dialer.mute_requested.connect(lambda cid, on: requested.append((cid, on)))
    page.buttons["mute"].click()
    assert requested == [("c1", True)]
    dialer.update_call(call(muted=True))
    assert page.buttons["mute"].isChecked()
    dialer.update_call(call(CallPhase.ON_HOLD, held=True))
    assert page.buttons["hold"].isChecked() and page.buttons["hold"].text() == "Resume"
    assert dialer.status.text() == "On hold"
    dialer.update_call(call(recording=True))
    assert page.recording_banner.isVisible()


def test_quality_warning_from_mos(qtbot, dialer) -> None:
    dialer.update_call(call())
    page = dialer.call_page
    dialer.set_quality(CallQuality("c1", 4.3))
    assert page.quality.mos == 4.3 and not page.quality_banner.isVisible()
    dialer.set_quality(CallQuality("other", 1.5))  # another call's stats: ignored
    assert page.quality.mos == 4.3
    dialer.set_quality(CallQuality("c1", 2.8, jitter_ms=45, loss_percent=7))
    assert page.quality_banner.isVisible()
    assert "Poor connection" in page.quality_banner.text.text()
    assert "7% packet loss" in page.quality_banner.text.text()


def test_blind_and_attended_transfer(qtbot, dialer) -> None:
    dialer.update_call(call())
    page = dialer.call_page
    page.buttons["transfer"].click()
    page.transfer.target.setText("+1 555 0142")
    with qtbot.waitSignal(dialer.transfer_requested, timeout=1000) as sig:
        page.transfer.blind.click()
    assert sig.args == ["c1", "+15550142"]

    holds: list[tuple[str, bool]] = []
    dials: list[DialRequest] = []
    dialer.hold_requested.connect(lambda cid, on: holds.append((cid, on)))
    dialer.dial_requested.connect(dials.append)
    page.transfer.consult.click()
    assert holds == [("c1", True)]
    assert dials[0].number == "+15550142"
    dialer.update_call(call(CallPhase.ON_HOLD, held=True))
    dialer.update_call(
        call(
            call_id="c2",
            contact=None,
            number="+15550142",
            display_number="+1 555-0142",
            started_at=call().started_at + 60,
        )
    )
    assert page.call.call_id == "c2"
    assert page.held_strip.isVisible() and "on hold" in page.held_strip.text()
    with qtbot.waitSignal(dialer.attended_transfer_requested, timeout=1000) as sig:
        page.transfer.complete.click()
    assert sig.args == ["c1", "c2"]


# --------------------------------------------------------------------- wrap-up
def test_wrap_up_is_saved_to_the_call(qtbot, dialer) -> None:
    dialer.update_call(call())
    ended = call(CallPhase.ENDED, end=CallEnd.COMPLETED, ended_at=call().started_at + 150)
    dialer.end_call(CallEnded(ended))
    assert dialer.status.text() == "Call ended"
    dialer.show_wrap_up(WrapUpRequested(ended, suggested=WrapUpOutcome.CONNECTED))
    page = dialer.wrap_page
    assert dialer.pages.currentWidget() is page
    assert page.outcome() is WrapUpOutcome.CONNECTED
    page.chips[WrapUpOutcome.CALLBACK_REQUESTED].click()
    qtbot.keyClicks(page.notes, "Arrives 01:30, leave key at night desk")
    with qtbot.waitSignal(dialer.wrap_up_submitted, timeout=1000) as sig:
        qtbot.keyClick(page.notes, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    saved: WrapUp = sig.args[0]
    assert saved == WrapUp(
        "c1", WrapUpOutcome.CALLBACK_REQUESTED, "Arrives 01:30, leave key at night desk"
    )
    assert not page.save_button.isEnabled()  # no double save
    dialer.wrap_up_saved(WrapUpSaved("c1", queued=True))
    assert "reaches the CRM" in page.banner.text.text()
    qtbot.waitUntil(lambda: dialer.pages.currentWidget() is dialer.dial_page, timeout=3000)
    assert dialer.status.text().startswith("Registered")


def test_wrap_up_failure_keeps_the_notes(qtbot, dialer) -> None:
    ended = call(CallPhase.ENDED, end=CallEnd.NO_ANSWER)
    dialer.show_wrap_up(WrapUpRequested(ended, suggested=WrapUpOutcome.NO_ANSWER))
    qtbot.keyClicks(dialer.wrap_page.notes, "try again tomorrow")
    dialer.wrap_page.save()
    dialer.show_error(
        UserError(
            ErrorKind.WRAP_UP_FAILED,
            "Could not save the wrap-up",
            "It is kept here; press Save again",
        )
    )
    assert dialer.wrap_page.notes.toPlainText() == "try again tomorrow"
    assert dialer.wrap_page.save_button.isEnabled()


def test_failed_call_returns_to_the_number(qtbot, dialer) -> None:
    dialer.set_options(options())
    type_number(qtbot, dialer, "+12125550199")
    dialer.update_call(call(CallPhase.CALLING))
    failed = call(CallPhase.FAILED, end=CallEnd.BUSY, end_reason="486 Busy Here")
    dialer.update_call(failed)
    assert dialer.status.text() == "Call failed: 486 Busy Here"
    qtbot.waitUntil(lambda: dialer.pages.currentWidget() is dialer.dial_page, timeout=4000)


def test_ringing_inbound_is_left_to_the_popup(qtbot, dialer) -> None:
    ringing = call(CallPhase.RINGING, CallDirection.INBOUND, call_id="in1")
    dialer.update_call(ringing)
    assert dialer.pages.currentWidget() is dialer.dial_page
    dialer.update_call(replace(ringing, phase=CallPhase.IN_CALL))
    assert dialer.pages.currentWidget() is dialer.call_page


# --------------------------------------------------------------------- placement
def test_position_is_remembered_and_kept_on_screen(qtbot, themed, placement_file) -> None:
    first = DialerWindow(Placement("dialer", placement_file))
    qtbot.addWidget(first)
    first.show()
    first.move(QPoint(120, 90))
    first.close()
    second = DialerWindow(Placement("dialer", placement_file))
    qtbot.addWidget(second)
    second.show()
    assert second.pos() == QPoint(120, 90)
    Placement("dialer", placement_file).save(QPoint(-5000, 9000))  # a monitor is gone
    third = DialerWindow(Placement("dialer", placement_file))
    qtbot.addWidget(third)
    third.show()
    screen = QGuiApplication.primaryScreen().availableGeometry()
    assert screen.contains(third.frameGeometry().topLeft())


def test_window_is_a_floating_tool(dialer) -> None:
    flags = dialer.windowFlags()
    assert flags & Qt.WindowType.WindowStaysOnTopHint
    assert flags & Qt.WindowType.FramelessWindowHint
    dialer.minimize_button.click()
    assert dialer.isMinimized()
    dialer.present()
    assert not dialer.isMinimized()


# ------------------------------------------------------------------- screenshots
def test_screenshots(qtbot, dialer) -> None:
    dialer.set_options(options())
    type_number(qtbot, dialer, "+12125550199")
    dialer.set_options(options())
    save_shot(dialer, "dialer-idle")
    dialer.update_call(call(recording=True))
    dialer.set_quality(CallQuality("c1", 2.9, jitter_ms=20, loss_percent=6))
    save_shot(dialer, "dialer-in-call")
    start = call().started_at
    ended = call(
        CallPhase.ENDED, end=CallEnd.COMPLETED, connected_at=start + 4, ended_at=start + 155
    )
    dialer.end_call(CallEnded(ended))
    dialer.show_wrap_up(WrapUpRequested(ended, suggested=WrapUpOutcome.CONNECTED))
    assert dialer.pages.currentWidget() is dialer.wrap_page
    qtbot.keyClicks(dialer.wrap_page.notes, "Late arrival confirmed; key at the night desk.")
    save_shot(dialer, "dialer-wrap-up")
    assert "02:31" in dialer.wrap_page.summary.text()


def test_dark_look(qtbot, dialer, themed) -> None:
    themed.set_mode(theme.Mode.DARK)
    try:
        dialer.set_options(options())
        type_number(qtbot, dialer, "+12125550199")
        dialer.set_options(options())
        image = save_shot(dialer, "dialer-idle-dark")
        corner = image.pixelColor(8, image.height() // 2)
        assert corner.lightness() < 80  # a dark surface, not the light one
    finally:
        themed.set_mode(theme.Mode.LIGHT)


def test_dial_pad_clicks_and_long_press_zero_for_plus(qtbot, dialer) -> None:
    pad = dialer.dial_page.pad
    pad.button("4").click()
    qtbot.mousePress(pad.button("0"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialer.dial_page.number.text().endswith("+"), timeout=2000)
    qtbot.mouseRelease(pad.button("0"), Qt.MouseButton.LeftButton)
    pad.button("0").click()
    assert dialer.dial_page.number.text() == "4+0"
    dialer.dial_page.backspace.click()
    assert dialer.dial_page.number.text() == "4+"


def test_contact_search_without_hits_says_so(qtbot, dialer) -> None:
    dialer.set_options(options())
    type_number(qtbot, dialer, "zed")
    dialer.set_contacts(ContactsFound("zed", ()))
    assert dialer.dial_page.results.item(0).text() == 'No contact matches "zed"'
    assert dialer.dial_page.call_button.toolTip() == "No phone number available"


def test_engine_warnings_in_the_dialer(qtbot, dialer) -> None:
    from app.session.errors import user_error

    dialer.set_options(options())
    dialer.show_error(user_error(ErrorKind.CALLS_REFUSED, "2 inbound call(s) refused"))
    assert not dialer.dial_page.error_banner.isVisible()  # the tray notification says it
    dialer.show_error(user_error(ErrorKind.AUDIO_DEVICE, "playback: cannot open device"))
    qtbot.waitUntil(dialer.dial_page.error_banner.isVisible, timeout=2000)
    assert "Headset or speaker not available" in dialer.dial_page.error_banner.text.text()
    save_shot(dialer, "dialer-audio-device-error")
