"""The words of the status line, in one place so the dialer, popup and tray agree."""

from __future__ import annotations

from app.session.model import CallEnd, CallPhase, CallView, LineState, LineStatus
from app.widgets.status import Tone


def line_text(line: LineStatus | None) -> tuple[str, Tone]:
    if line is None:
        return "Calling not configured", Tone.NEUTRAL
    label = f" · {line.label}" if line.label else ""
    match line.state:
        case LineState.REGISTERED:
            return f"Registered{label}", Tone.OK
        case LineState.REGISTERING:
            return f"Registering{label}…", Tone.BUSY
        case LineState.FAILED:
            why = f": {line.reason}" if line.reason else ""
            return f"Registration failed{why}", Tone.BAD
        case LineState.ENGINE_DOWN:
            return "Softphone not connected: restarting…", Tone.BAD
        case LineState.OFFLINE:
            return f"Offline{label}", Tone.NEUTRAL
        case _:
            return "Calling not configured", Tone.NEUTRAL


def phase_text(call: CallView) -> tuple[str, Tone]:
    match call.phase:
        case CallPhase.CALLING:
            return "Calling…", Tone.ACTIVE
        case CallPhase.RINGING:
            return ("Incoming call…" if call.direction == "inbound" else "Ringing…"), Tone.ACTIVE
        case CallPhase.IN_CALL:
            return "In call", Tone.OK
        case CallPhase.ON_HOLD:
            return "On hold", Tone.BUSY
        case CallPhase.ENDED:
            return end_text(call), Tone.NEUTRAL
        case _:
            why = f": {call.end_reason}" if call.end_reason else ""
            return f"Call failed{why}", Tone.BAD


def end_text(call: CallView) -> str:
    return {
        CallEnd.COMPLETED: "Call ended",
        CallEnd.MISSED: "Missed call",
        CallEnd.ANSWERED_ELSEWHERE: "Answered elsewhere",
        CallEnd.REJECTED: "Call declined",
        CallEnd.NO_ANSWER: "No answer",
        CallEnd.BUSY: "Busy",
        CallEnd.CANCELLED: "Call cancelled",
        CallEnd.FAILED: "Call failed",
    }.get(call.end or CallEnd.COMPLETED, "Call ended")


def worst_line(lines: tuple[LineStatus, ...] | list[LineStatus]) -> LineStatus | None:
    """The line the agent most needs to hear about (a failure beats a success)."""
    order = {
        LineState.ENGINE_DOWN: 0,
        LineState.FAILED: 1,
        LineState.REGISTERING: 2,
        LineState.OFFLINE: 3,
        LineState.REGISTERED: 4,
        LineState.NOT_CONFIGURED: 5,
    }
    return min(lines, key=lambda line: order.get(line.state, 9), default=None)
