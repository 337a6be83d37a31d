"""How engine facts become CRM statuses and the words the agent sees. Pure functions.

Kept apart from the session so the whole table can be tested exhaustively without an
engine: every ``EndReason`` x answered/not x direction lands on a status the CRM's
transition rules (``crmclient.models.can_transition``) accept.
"""

from __future__ import annotations

from app.session.model import CallDirection, CallEnd, CallPhase, WrapUpOutcome
from crmclient.models import CallStatus, CardKind, HangupCause
from softphone.types import CallState, EndReason

PHASE: dict[CallState, CallPhase] = {
    CallState.CALLING: CallPhase.CALLING,
    CallState.RINGING: CallPhase.RINGING,
    CallState.IN_CALL: CallPhase.IN_CALL,
    CallState.ON_HOLD: CallPhase.ON_HOLD,
    CallState.ENDED: CallPhase.ENDED,
    CallState.FAILED: CallPhase.FAILED,
}

LIVE_STATUS: dict[CallState, CallStatus] = {
    CallState.CALLING: CallStatus.DIALING,
    CallState.RINGING: CallStatus.RINGING,
    CallState.IN_CALL: CallStatus.IN_PROGRESS,
    CallState.ON_HOLD: CallStatus.ON_HOLD,
}

_FAILURE_CAUSE: dict[EndReason, HangupCause] = {
    EndReason.NOT_FOUND: HangupCause.NOT_FOUND,
    EndReason.UNAVAILABLE: HangupCause.UNREACHABLE,
    EndReason.NOT_ACCEPTABLE: HangupCause.MEDIA_ERROR,
    EndReason.AUTH_FAILED: HangupCause.FORBIDDEN,
    EndReason.ENGINE_DIED: HangupCause.NETWORK_ERROR,
    EndReason.SHUTDOWN: HangupCause.LOCAL_HANGUP,
    EndReason.ERROR: HangupCause.OTHER,
}


def end_of_call(
    reason: EndReason | None, answered: bool, direction: CallDirection
) -> tuple[CallEnd, CallStatus, HangupCause]:
    """The agent-facing end, the CRM status and the CRM hangup cause of a finished call."""
    inbound = direction is CallDirection.INBOUND
    if reason is EndReason.ANSWERED_ELSEWHERE and not answered:
        # Not missed (someone took it) and not answered by this agent.
        return CallEnd.ANSWERED_ELSEWHERE, CallStatus.CANCELLED, HangupCause.ANSWERED_ELSEWHERE
    if answered:
        if reason in (None, EndReason.LOCAL_HANGUP, EndReason.SHUTDOWN):
            return CallEnd.COMPLETED, CallStatus.COMPLETED, HangupCause.LOCAL_HANGUP
        if reason in (EndReason.REMOTE_HANGUP, EndReason.TRANSFERRED, EndReason.REPLACED):
            cause = (
                HangupCause.REMOTE_HANGUP
                if reason is EndReason.REMOTE_HANGUP
                else HangupCause.OTHER
            )
            return CallEnd.COMPLETED, CallStatus.COMPLETED, cause
        return CallEnd.FAILED, CallStatus.FAILED, _FAILURE_CAUSE.get(reason, HangupCause.OTHER)
    # Never answered.
    if reason is EndReason.MISSED or (inbound and reason is EndReason.REMOTE_HANGUP):
        return CallEnd.MISSED, CallStatus.MISSED, HangupCause.CANCELLED
    if reason is EndReason.REJECTED or (inbound and reason is EndReason.LOCAL_HANGUP):
        return CallEnd.REJECTED, CallStatus.REJECTED, HangupCause.REJECTED
    if reason is EndReason.LOCAL_HANGUP or reason is None:
        return CallEnd.CANCELLED, CallStatus.CANCELLED, HangupCause.CANCELLED
    if reason is EndReason.BUSY:
        return CallEnd.BUSY, CallStatus.BUSY, HangupCause.BUSY
    if reason is EndReason.DECLINED:
        return CallEnd.REJECTED, CallStatus.REJECTED, HangupCause.REJECTED
    if reason in (EndReason.NO_ANSWER, EndReason.REMOTE_HANGUP):
        return CallEnd.NO_ANSWER, CallStatus.NO_ANSWER, HangupCause.NO_ANSWER
    if inbound and reason in (EndReason.TRANSFERRED, EndReason.REPLACED):
        return CallEnd.ANSWERED_ELSEWHERE, CallStatus.CANCELLED, HangupCause.ANSWERED_ELSEWHERE
    return CallEnd.FAILED, CallStatus.FAILED, _FAILURE_CAUSE.get(reason, HangupCause.OTHER)


def card_kind(end: CallEnd) -> CardKind:
    if end is CallEnd.COMPLETED:
        return CardKind.COMPLETED
    if end in (CallEnd.MISSED, CallEnd.NO_ANSWER, CallEnd.BUSY, CallEnd.REJECTED):
        return CardKind.MISSED
    if end is CallEnd.FAILED:
        return CardKind.FAILED
    return CardKind.MISSED


def suggested_outcome(end: CallEnd) -> WrapUpOutcome | None:
    return {
        CallEnd.COMPLETED: WrapUpOutcome.CONNECTED,
        CallEnd.NO_ANSWER: WrapUpOutcome.NO_ANSWER,
        CallEnd.BUSY: WrapUpOutcome.BUSY,
        CallEnd.CANCELLED: WrapUpOutcome.NO_ANSWER,
    }.get(end)


def wants_wrap_up(end: CallEnd, direction: CallDirection) -> bool:
    """Wrap-up after every call the agent took part in; not after missed, rejected or
    answered-elsewhere inbound calls (nothing to say about them)."""
    if direction is CallDirection.OUTBOUND:
        return True  # even a failed dial deserves a note ("wrong number")
    return end is CallEnd.COMPLETED
