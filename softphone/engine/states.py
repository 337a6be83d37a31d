"""The ONLY place that translates pjsua2 constants and SIP codes into our enums.

Keeping this in one module means PJSIP's numbering never leaks into the app, and a
reviewer can check every mapping in one screen.
"""

from __future__ import annotations

from typing import Any

import pjsua2 as pj

from softphone.types import (
    CallDirection,
    CallState,
    DtmfMethod,
    EndReason,
    RegistrationState,
    SrtpMode,
    Transport,
)

TRANSPORT_TYPES: dict[Transport, int] = {
    Transport.UDP: pj.PJSIP_TRANSPORT_UDP,
    Transport.TCP: pj.PJSIP_TRANSPORT_TCP,
    Transport.TLS: pj.PJSIP_TRANSPORT_TLS,
}

SRTP_USE: dict[SrtpMode, int] = {
    SrtpMode.OFF: pj.PJMEDIA_SRTP_DISABLED,
    SrtpMode.OPTIONAL: pj.PJMEDIA_SRTP_OPTIONAL,
    SrtpMode.MANDATORY: pj.PJMEDIA_SRTP_MANDATORY,
}

DTMF_METHODS: dict[DtmfMethod, int] = {
    DtmfMethod.RFC2833: pj.PJSUA_DTMF_METHOD_RFC2833,
    DtmfMethod.SIP_INFO: pj.PJSUA_DTMF_METHOD_SIP_INFO,
}

MEDIA_ACTIVE = pj.PJSUA_CALL_MEDIA_ACTIVE
MEDIA_LOCAL_HOLD = pj.PJSUA_CALL_MEDIA_LOCAL_HOLD
MEDIA_REMOTE_HOLD = pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
MEDIA_TYPE_AUDIO = pj.PJMEDIA_TYPE_AUDIO
UNHOLD_FLAG = pj.PJSUA_CALL_UNHOLD
EVENT_TSX_STATE = pj.PJSIP_EVENT_TSX_STATE
EVENT_RX_MSG = pj.PJSIP_EVENT_RX_MSG


def dtmf_method_of(pj_method: int) -> DtmfMethod:
    return (
        DtmfMethod.SIP_INFO if pj_method == pj.PJSUA_DTMF_METHOD_SIP_INFO else (DtmfMethod.RFC2833)
    )


def direction_of(info: Any) -> CallDirection:
    return CallDirection.OUTBOUND if info.role == pj.PJSIP_ROLE_UAC else CallDirection.INBOUND


def transport_lost(pj_tp_state: int) -> bool:
    """A connection-oriented transport (TCP/TLS) went down: its registrations are gone."""
    return bool(pj_tp_state == pj.PJSIP_TP_STATE_DISCONNECTED)


def is_disconnected(pj_state: int) -> bool:
    return bool(pj_state == pj.PJSIP_INV_STATE_DISCONNECTED)


def is_confirmed(pj_state: int) -> bool:
    return pj_state in (pj.PJSIP_INV_STATE_CONNECTING, pj.PJSIP_INV_STATE_CONFIRMED)


def is_fully_confirmed(pj_state: int) -> bool:
    """ACK exchanged: re-INVITEs (hold) are allowed."""
    return bool(pj_state == pj.PJSIP_INV_STATE_CONFIRMED)


def answered_invite_of_ours(event: Any) -> int | None:
    """Status code when a tsx-state event is the final answer to an INVITE we sent.

    A hold/resume re-INVITE is finished (and the next one may go out) at that point:
    a non-2xx answer moves the transaction to COMPLETED, a 2xx or a timeout straight to
    TERMINATED; the later COMPLETED -> TERMINATED step is not a second answer.
    """
    if event.type != pj.PJSIP_EVENT_TSX_STATE:
        return None
    tsx = event.body.tsxState.tsx
    if tsx.role != pj.PJSIP_ROLE_UAC or str(tsx.method) != "INVITE":
        return None
    code = int(tsx.statusCode)
    if code < 200 or code in (401, 407):  # auth challenges are retried by PJSIP itself
        return None
    if tsx.state == pj.PJSIP_TSX_STATE_COMPLETED:
        return code
    prev = int(event.body.tsxState.prevState)
    if tsx.state == pj.PJSIP_TSX_STATE_TERMINATED and prev != pj.PJSIP_TSX_STATE_COMPLETED:
        return code
    return None


def live_call_state(pj_state: int, held: bool) -> CallState:
    """State of a call that has not ended yet."""
    if pj_state in (pj.PJSIP_INV_STATE_CALLING, pj.PJSIP_INV_STATE_NULL):
        return CallState.CALLING
    if pj_state in (pj.PJSIP_INV_STATE_INCOMING, pj.PJSIP_INV_STATE_EARLY):
        return CallState.RINGING
    return CallState.ON_HOLD if held else CallState.IN_CALL


def end_of_call(
    *,
    direction: CallDirection,
    connected: bool,
    code: int,
    local_hangup: bool,
    rejected: bool,
    cancel_cause: int | None,
    transferred: bool,
    replaced: bool,
    unanswered: bool = False,
) -> tuple[CallState, EndReason]:
    """Final state and reason from what we know when the call is DISCONNECTED."""
    if replaced:
        return CallState.ENDED, EndReason.REPLACED
    if transferred:
        return CallState.ENDED, EndReason.TRANSFERRED
    if connected:
        return CallState.ENDED, (
            EndReason.LOCAL_HANGUP if local_hangup else EndReason.REMOTE_HANGUP
        )
    if direction is CallDirection.INBOUND:
        if unanswered:
            return CallState.ENDED, EndReason.MISSED
        if rejected:
            return CallState.ENDED, EndReason.REJECTED
        if cancel_cause == 200:
            return CallState.ENDED, EndReason.ANSWERED_ELSEWHERE
        if local_hangup:
            return CallState.ENDED, EndReason.REJECTED
        if code in (487, 0) or cancel_cause is not None:
            return CallState.ENDED, EndReason.MISSED
        return CallState.FAILED, _failure(code)
    if local_hangup:
        return CallState.ENDED, EndReason.LOCAL_HANGUP
    return CallState.FAILED, _failure(code)


def _failure(code: int) -> EndReason:
    if code in (486, 600):
        return EndReason.BUSY
    if code == 603:
        return EndReason.DECLINED
    if code in (404, 484, 604):
        return EndReason.NOT_FOUND
    if code in (408, 487):
        return EndReason.NO_ANSWER
    if code in (480, 502, 503, 504) or code == 0:
        return EndReason.UNAVAILABLE
    if code in (415, 488, 606):
        return EndReason.NOT_ACCEPTABLE
    if code in (401, 403, 407):
        return EndReason.AUTH_FAILED
    return EndReason.ERROR


def registration_state(code: int, expiration: int, unregistering: bool) -> RegistrationState:
    if 100 <= code < 200:
        return RegistrationState.REGISTERING
    if 200 <= code < 300:
        if unregistering or expiration <= 0:
            return RegistrationState.OFFLINE
        return RegistrationState.REGISTERED
    return RegistrationState.FAILED


def is_secure_proto(proto: int) -> bool:
    """SRTP in use on a stream (RTP/SAVP or DTLS-SRTP profiles)."""
    return proto in (
        pj.PJMEDIA_TP_PROTO_RTP_SAVP,
        pj.PJMEDIA_TP_PROTO_RTP_SAVPF,
        pj.PJMEDIA_TP_PROTO_DTLS_SRTP,
        pj.PJMEDIA_TP_PROTO_DTLS_SRTPF,
    )
