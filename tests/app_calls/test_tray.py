"""The tray: status colours, missed-call badge, menu, presence, and notifications."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from app.notify import Note, Notifier
from app.session.errors import user_error
from app.session.model import (
    CallDirection,
    CallEnd,
    CallEnded,
    CallPhase,
    ErrorKind,
    IncomingCall,
    LineState,
    LineStatus,
    Presence,
)
from app.tray import STATE_COLORS, Tray, TrayState, tray_pixmap, tray_state
from tests.app_calls.conftest import OFFSCREEN_NOISE, SHOTS
from tests.app_calls.factories import call

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


class RecordingNotifier(Notifier):
    """The real Notifier minus D-Bus: records what would be shown or closed."""

    def __init__(self) -> None:
        super().__init__(use_dbus=False)
        self.shown: list[Note] = []
        self.closed: list[str] = []

    def show(self, note: Note) -> None:
        self.shown.append(note)

    def close(self, key: str) -> None:
        self.closed.append(key)


@pytest.fixture
def tray(qtbot, themed):
    t = Tray(RecordingNotifier())
    yield t
    t.shutdown()


def line(state: LineState, account: str = "a1") -> LineStatus:
    return LineStatus(account, "Lodgestory SIP", state)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], TrayState.OFFLINE),
        ([LineState.REGISTERED], TrayState.REGISTERED),
        ([LineState.REGISTERING], TrayState.REGISTERING),
        ([LineState.REGISTERED, LineState.FAILED], TrayState.FAILED),
        ([LineState.REGISTERED, LineState.REGISTERING], TrayState.REGISTERING),
        ([LineState.ENGINE_DOWN], TrayState.FAILED),
        ([LineState.NOT_CONFIGURED], TrayState.OFFLINE),
    ],
)
def test_status_colour_follows_the_worst_line(states, expected) -> None:
    lines = [line(s, f"a{i}") for i, s in enumerate(states)]
    assert tray_state(lines) is expected


@pytest.mark.parametrize("state", list(TrayState))
def test_icon_really_shows_the_colour(qtbot, themed, state: TrayState) -> None:
    image = tray_pixmap(state, 0, 64).toImage()
    dot = QColor(image.pixelColor(int(image.width() * 50 / 64), int(image.height() * 50 / 64)))
    want = QColor(STATE_COLORS[state])
    assert abs(dot.red() - want.red()) < 12
    assert abs(dot.green() - want.green()) < 12
    assert abs(dot.blue() - want.blue()) < 12


def test_missed_badge_is_drawn(qtbot, themed) -> None:
    plain = tray_pixmap(TrayState.REGISTERED, 0, 64).toImage()
    badged = tray_pixmap(TrayState.REGISTERED, 3, 64).toImage()
    corner = badged.pixelColor(int(badged.width() * 0.05), int(badged.height() * 0.2))
    assert corner.red() > 180 and corner.green() < 80  # the red badge, top-left
    assert plain.pixelColor(int(plain.width() * 0.05), int(plain.height() * 0.2)) != corner


def test_menu_and_presence(qtbot, tray: Tray) -> None:
    tray.set_line(line(LineState.REGISTERED))
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts[:3] == ["Registered · Lodgestory SIP", "Show Lodgestory Phone", "Dialer"]
    assert texts[-1] == "Quit"
    assert tray.presence_menu.title() == "Presence: Available"
    with qtbot.waitSignal(tray.presence_selected, timeout=1000) as sig:
        tray.presence_actions[Presence.DO_NOT_DISTURB].trigger()
    assert sig.args == [Presence.DO_NOT_DISTURB]
    tray.set_presence(Presence.DO_NOT_DISTURB)
    assert tray.presence_menu.title() == "Presence: Do not disturb"
    assert tray.presence_actions[Presence.DO_NOT_DISTURB].isChecked()
    with qtbot.waitSignal(tray.show_dialer_requested, timeout=1000):
        tray.dialer_action.trigger()
    with qtbot.waitSignal(tray.quit_requested, timeout=1000):
        tray.quit_action.trigger()


def test_tooltip_and_missed_seen(qtbot, tray: Tray) -> None:
    tray.set_line(line(LineState.FAILED))
    tray.set_missed(2)
    assert tray.state is TrayState.FAILED
    assert "2 missed calls" in tray.icon.toolTip()
    with qtbot.waitSignal(tray.missed_seen, timeout=1000):
        tray.show_action.trigger()


def test_ring_and_missed_notifications(qtbot, tray: Tray) -> None:
    notifier: RecordingNotifier = tray.notifier  # type: ignore[assignment]
    ringing = call(CallPhase.RINGING, CallDirection.INBOUND, call_id="in1")
    tray.ringing(IncomingCall(ringing))
    note = notifier.shown[-1]
    assert note.key == "ring:in1"
    assert note.summary == "Incoming call: Maria Lopez"
    assert "+1 212-555-0199" in note.body and dict(note.actions)["answer"] == "Answer"
    with qtbot.waitSignal(tray.answer_requested, timeout=1000) as sig:
        notifier.action_invoked.emit("ring:in1", "answer")
    assert sig.args == ["in1"]
    missed = ringing.__class__(
        **{**ringing.__dict__, "phase": CallPhase.ENDED, "end": CallEnd.MISSED}
    )
    tray.call_ended(CallEnded(missed))
    assert "ring:in1" in notifier.closed
    assert notifier.shown[-1].summary == "Missed call: Maria Lopez"
    tray.set_presence(Presence.DO_NOT_DISTURB)
    count = len(notifier.shown)
    tray.ringing(IncomingCall(ringing))
    assert len(notifier.shown) == count  # do not disturb: no ring notification


def test_engine_warnings_become_notifications(qtbot, tray: Tray) -> None:
    notifier: RecordingNotifier = tray.notifier  # type: ignore[assignment]
    count = len(notifier.shown)
    tray.error(user_error(ErrorKind.BUSY_WITH_CALL))  # the dialer's business, not the tray's
    assert len(notifier.shown) == count
    tray.error(user_error(ErrorKind.CALLS_REFUSED, "2 inbound call(s) refused"))
    note = notifier.shown[-1]
    assert note.key == "warning:calls_refused"
    assert note.summary == "Some callers could not get through"
    assert "call back" in note.body and "503" not in note.body  # no technical detail
    with qtbot.waitSignal(tray.show_dialer_requested, timeout=1000):
        notifier.action_invoked.emit(note.key, "default")


def test_tray_menu_screenshot(qtbot, tray: Tray) -> None:
    tray.set_line(line(LineState.REGISTERED))
    tray.set_missed(2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pixmap = tray.render_menu()
    assert pixmap.save(str(SHOTS / "tray-menu.png"))
    assert pixmap.width() > 100 and pixmap.height() > 100
    icon = tray_pixmap(tray.state, 2, 64)
    assert icon.save(str(SHOTS / "tray-icon.png"))
