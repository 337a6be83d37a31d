"""The Qt adapter delivers events from any thread on the main thread, typed, in order."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from app.session.model import (
    CallDirection,
    CallEnd,
    CallEnded,
    CallPhase,
    CallView,
    DialRequest,
    DialSource,
    ErrorKind,
    LineState,
    LineStatus,
    MissedCallsChanged,
    Presence,
    UserError,
)
from app.session.qt_session import QtSession
from tests.app.fakes import RecordingSession


def _call(phase: CallPhase, end: CallEnd | None = None) -> CallView:
    return CallView(
        call_id="c1",
        direction=CallDirection.INBOUND,
        phase=phase,
        number="+15551234567",
        display_number="+1 555-123-4567",
        end=end,
    )


def test_events_from_a_worker_thread_arrive_on_the_main_thread_in_order(qtbot):
    fake = RecordingSession()
    qs = QtSession(fake)
    seen: list[tuple[str, bool]] = []
    main = QThread.currentThread()

    def note(name):
        return lambda _ev: seen.append((name, QThread.currentThread() is main))

    qs.registration_changed.connect(note("line"))
    qs.call_state_changed.connect(note("call"))
    qs.call_ended.connect(note("ended"))
    qs.missed_calls_changed.connect(note("missed"))

    def produce():
        fake.emit(LineStatus("a1", "Line", LineState.REGISTERED))
        fake.emit(_call(CallPhase.RINGING))
        fake.emit(_call(CallPhase.ENDED, CallEnd.MISSED))
        fake.emit(CallEnded(_call(CallPhase.ENDED, CallEnd.MISSED)))
        fake.emit(MissedCallsChanged(1))

    with qtbot.waitSignal(qs.missed_calls_changed, timeout=2000):
        t = threading.Thread(target=produce)
        t.start()
    t.join()
    assert seen == [
        ("line", True),
        ("call", True),
        ("call", True),
        ("ended", True),
        ("missed", True),
    ]
    assert qs.missed_calls == 1
    assert qs.calls() == ()
    assert qs.lines()[0].state is LineState.REGISTERED
    qs.close()


def test_active_calls_are_remembered_for_late_windows(qtbot):
    fake = RecordingSession()
    qs = QtSession(fake)
    with qtbot.waitSignal(qs.call_state_changed, timeout=2000):
        fake.emit(_call(CallPhase.IN_CALL))
    assert [c.phase for c in qs.calls()] == [CallPhase.IN_CALL]


def test_commands_reach_the_session_and_dial_requests_fill_the_dialer(qtbot):
    fake = RecordingSession()
    qs = QtSession(fake)
    qs.answer()
    qs.hangup("c9")
    qs.set_presence(Presence.DO_NOT_DISTURB)
    with qtbot.waitSignal(qs.dial_requested, timeout=2000) as blocker:
        qs.open_dial(DialRequest("+15551234567", source=DialSource.LINK))
    assert blocker.args[0].number == "+15551234567"
    qs.open_dial(DialRequest("+15551234567", source=DialSource.CLI, dial_now=True))
    assert [c[0] for c in fake.commands] == ["answer", "hangup", "set_presence", "dial"]
    assert fake.commands[0][1] == (None,)


def test_user_errors_carry_what_to_do(qtbot):
    fake = RecordingSession()
    qs = QtSession(fake)
    err = UserError(ErrorKind.NOT_CONNECTED, "Softphone not connected", "Wait a moment")
    with qtbot.waitSignal(qs.error_raised, timeout=2000) as blocker:
        fake.emit(err)
    assert blocker.args[0] == err
