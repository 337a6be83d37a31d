"""Our own vocabulary for the engine: every state and reason the app may see.

These enums are the only states that leave the engine; pjsua2 constants are translated into
them in exactly one place (`softphone/engine/states.py`), so the UI, the CRM wiring and the
tests never depend on PJSIP's numbering. Values are stable lowercase strings because they
travel over the JSON protocol and end up in logs and call records.
"""

from __future__ import annotations

from enum import StrEnum


class RegistrationState(StrEnum):
    """What the status dot of an account follows."""

    REGISTERING = "registering"  #: REGISTER sent, no final answer yet (also while retrying)
    REGISTERED = "registered"  #: the registrar accepted us; inbound calls can reach us
    FAILED = "failed"  #: registrar refused or unreachable; a retry is scheduled (see event)
    OFFLINE = "offline"  #: not registered on purpose (unregistered, account removed)
    DIRECT = "direct"  #: account without registrar: reachable directly at its bound address


class CallState(StrEnum):
    """Where a call stands, as the agent sees it."""

    CALLING = "calling"  #: outbound INVITE sent, no ringing yet
    RINGING = "ringing"  #: outbound: far end alerting (180/183); inbound: we are alerting
    IN_CALL = "in_call"  #: answered, media flowing (or about to)
    ON_HOLD = "on_hold"  #: we put the call on hold
    ENDED = "ended"  #: finished normally (hung up, rejected by us, answered elsewhere ...)
    FAILED = "failed"  #: could not be set up or broke (busy, declined, unreachable, crash)

    @property
    def is_final(self) -> bool:
        return self in (CallState.ENDED, CallState.FAILED)


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class EndReason(StrEnum):
    """Why a call ended; what the call log and the CRM record say."""

    LOCAL_HANGUP = "local_hangup"  #: we hung up (or cancelled our outbound call)
    REMOTE_HANGUP = "remote_hangup"  #: the other side hung up after answering
    REJECTED = "rejected"  #: we rejected an inbound call (busy or decline)
    MISSED = "missed"  #: inbound call cancelled by the caller before anyone answered
    ANSWERED_ELSEWHERE = "answered_elsewhere"  #: CANCEL with Reason: SIP;cause=200 (RFC 3326)
    BUSY = "busy"  #: far end busy (486, 600)
    DECLINED = "declined"  #: far end declined (603)
    NO_ANSWER = "no_answer"  #: far end never answered (408, 480 after ringing)
    NOT_FOUND = "not_found"  #: no such number/user (404, 484, 604)
    UNAVAILABLE = "unavailable"  #: temporarily unavailable / unreachable (480, 503, network)
    NOT_ACCEPTABLE = "not_acceptable"  #: no common codec or SRTP mismatch (488, 606)
    AUTH_FAILED = "auth_failed"  #: our credentials were refused (401, 403, 407)
    TRANSFERRED = "transferred"  #: we handed the call to someone else (blind or attended)
    REPLACED = "replaced"  #: an attended transfer replaced this call with another one
    ENGINE_DIED = "engine_died"  #: the engine process died during the call
    SHUTDOWN = "shutdown"  #: the engine was stopped during the call
    ERROR = "error"  #: anything else; the SIP code and reason tell more


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


class SrtpMode(StrEnum):
    OFF = "off"
    OPTIONAL = "optional"  #: offer SRTP, accept plain RTP
    MANDATORY = "mandatory"  #: refuse calls without SRTP (488)


class DtmfMethod(StrEnum):
    AUTO = "auto"  #: RFC 2833 when the peer negotiated telephone-event, else SIP INFO
    RFC2833 = "rfc2833"
    SIP_INFO = "sip_info"


class RejectKind(StrEnum):
    BUSY = "busy"  #: 486 Busy Here: the caller may try another agent
    DECLINE = "decline"  #: 603 Decline: the agent does not want this call


class TransferKind(StrEnum):
    BLIND = "blind"
    ATTENDED = "attended"


class ErrorCode(StrEnum):
    """Error codes of command replies (engine side) and client-side failures."""

    BAD_REQUEST = "bad_request"  #: not a JSON object, missing id/cmd, wrong argument types
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGUMENT = "invalid_argument"  #: well-formed but unacceptable value
    INVALID_URI = "invalid_uri"  #: refused before reaching PJSIP
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_CALL = "unknown_call"
    DUPLICATE = "duplicate"  #: e.g. an account id that already exists
    INVALID_STATE = "invalid_state"  #: e.g. answering a call that is already answered
    LIMIT_REACHED = "limit_reached"  #: e.g. a second outbound call while one is active
    RESOURCES_EXHAUSTED = "resources_exhausted"  #: too many calls at once (media sockets)
    SIP_ERROR = "sip_error"  #: PJSIP refused the operation (message carries its text)
    MEDIA_ERROR = "media_error"  #: recorder, player or audio device problem
    INTERNAL = "internal"  #: a bug in the engine; it stays up
    # client side only
    ENGINE_UNAVAILABLE = "engine_unavailable"  #: not started, died, or restarting
    TIMEOUT = "timeout"  #: no reply within the deadline
