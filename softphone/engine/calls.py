"""Calls: placing, answering, rejecting, holding, ending; and telling the app each step.

Every `EngineCall` stays in `engine.calls` until it is DISCONNECTED and the deferred
`_finish` ran outside PJSIP's callback (an incoming Call collected by Python makes the
caller hear a silent 603). The final event is deferred anyway: when a CANCEL arrives,
PJSIP reports the disconnect before the CANCEL request itself, and the CANCEL's
`Reason: SIP;cause=200` decides between "missed" and "answered elsewhere".
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pjsua2 as pj

from softphone.config import AccountConfig
from softphone.engine import states
from softphone.engine.accounts import AccountOps, EngineAccount
from softphone.engine.admission import GateAccount
from softphone.engine.base import CommandError
from softphone.engine.ports import RecorderPort, SourcePort
from softphone.events import CallStateChanged, EngineWarned, IncomingCallReceived
from softphone.types import CallDirection, CallState, ErrorCode, RejectKind, SrtpMode
from softphone.uri import InvalidUri, RemoteParty, call_target, parse_remote

log = logging.getLogger(__name__)

# A caller-ID as the engine accepts it: E.164 only (a provider checks it against the numbers
# it assigned to the trunk; anything else would be refused at the far end, or worse, ignored).
_CALLER_ID = re.compile(r"^\+[1-9][0-9]{1,14}$")
# Calls PJSIP holds at once: the pjsua2 wheel is built with PJSUA_MAX_CALLS = 4 and clamps a
# larger uaConfig.maxCalls without a word (core.MAX_CALLS asks for the same). Beyond it,
# PJSIP answers an INVITE 486 itself and makeCall fails with PJ_ETOOMANY.
CALL_SLOTS = 4
# Calls that may hold media sockets at once (live, or ended < _SLOT_REUSE_S ago): 2 slots
# each of PJSIP's 64, leaving 16 for SIP transports and connections.
MAX_MEDIA_CALLS = 24
_SLOT_REUSE_S = 1.0
_INBOUND_ROOM = MAX_MEDIA_CALLS // 2  # past this, inbound calls are refused (503)
_REFUSAL_REPORT_S = 1.0  # refusals are summed up in one EngineWarned per burst
# Local ringback starts this long after the call started ringing: PBXs often send 180 and
# then, 50 to 200 ms later, a 183 with early media (their own ringback or an announcement),
# and even a lone 183 makes PJSIP report EARLY a moment before its media; starting at once
# played a blip of our 425 Hz before their audio (tests/softphone/test_ringback.py).
RINGBACK_DELAY_S = 0.3
_REPLACES = re.compile(r"^Replaces\s*:", re.IGNORECASE | re.MULTILINE)
_CANCEL_CAUSE = re.compile(r"^Reason:\s*SIP\s*;\s*cause\s*=\s*(\d+)", re.IGNORECASE | re.MULTILINE)


class _InviteBusy(CommandError):
    """PJSIP still finishes the previous INVITE transaction (PJ_EINVALIDOP): the far end's
    answer to our last re-INVITE was processed, its transaction ends on PJSIP's next timer
    pass. A hold or resume asked right then is queued and sent a moment later."""


_INVITE_RETRY_S = 0.02


class EngineCall(pj.Call):  # type: ignore[misc]
    def __init__(
        self,
        engine: CallOps,
        account: EngineAccount,
        direction: CallDirection,
        pj_call_id: int = pj.PJSUA_INVALID_ID,
        remote_uri: str = "",
    ) -> None:
        super().__init__(account, pj_call_id)
        self.engine = engine
        self.account = account
        self.direction = direction
        self.key = engine.new_call_key()
        self.remote = parse_remote(remote_uri)
        self.state = (
            CallState.CALLING if direction is CallDirection.OUTBOUND else (CallState.RINGING)
        )
        self.code = 0
        self.reason = ""
        self.early_media = False
        self.alerting_since: float | None = None  # monotonic: first RINGING (outbound)
        self.remote_hold = False
        self.held = False
        self.muted = False
        self.secure = False
        self.remote_crypto = False  # the far end's last SDP carried SDES keys (a=crypto)
        self.connected_at: float | None = None
        self.local_hangup = False
        self.rejected = False
        self.cancel_cause: int | None = None
        self.transferred = False
        self.replaced = False
        self.unanswered = False  # we gave up ringing (EngineConfig.no_answer_timeout_s)
        self.ended = False
        self.pj_state = 0
        self.pj_id = pj_call_id
        # hold: `held` is what the agent asked for, `hold_sent` what our last re-INVITE
        # asked the far end, `local_hold` what its answer confirmed (shown as ON_HOLD).
        # One re-INVITE at a time: a change asked while one is out waits for its answer.
        self.hold_sent = False
        self.local_hold = False
        self.reinvite_busy = False
        self.media: list[Any] = []  # active AudioMedia of this call
        self.recorder: RecorderPort | None = None
        self.recording_path = ""
        self.source: SourcePort | None = None
        self.source_name = ""
        self.last_emitted: tuple[Any, ...] = ()

    # PJSIP callbacks (owner thread: mainThreadOnly) -------------------------------------
    def onCallState(self, prm: Any) -> None:
        self.engine.on_call_state(self)

    def onCallMediaState(self, prm: Any) -> None:
        self.engine.on_call_media(self)

    def onCallTsxState(self, prm: Any) -> None:
        e = prm.e
        answered = states.answered_invite_of_ours(e)
        if answered is not None and self.reinvite_busy:
            self.engine.on_reinvite_answered(self, answered)
        if e.type != states.EVENT_TSX_STATE or e.body.tsxState.type != states.EVENT_RX_MSG:
            return
        msg = str(e.body.tsxState.src.rdata.wholeMsg)
        if "application/sdp" in msg.lower():
            self.remote_crypto = _has_crypto(msg)
            if self.media and not self.ended:
                self.engine.refresh_security(self)
        if msg.startswith("CANCEL "):
            match = _CANCEL_CAUSE.search(msg)
            self.cancel_cause = int(match.group(1)) if match else 0

    def onDtmfDigit(self, prm: Any) -> None:
        self.engine.on_dtmf(self, str(prm.digit), int(prm.method))

    def onCallTransferRequest(self, prm: Any) -> None:
        self.engine.on_transfer_request(self, prm)

    def onCallTransferStatus(self, prm: Any) -> None:
        self.engine.on_transfer_status(self, prm)

    def onCallReplaced(self, prm: Any) -> None:
        self.engine.on_call_replaced(self, prm)


class CallOps(AccountOps):
    gate: GateAccount | None = None  # takes the INVITEs we have no media room for
    admitted_at: float | None = None  # an INVITE let through, not yet seen as a call
    refused: dict[int, int] = {}  # SIP code -> INVITEs turned away since the last report

    # hooks implemented by InCallOps
    def connect_media(self, call: EngineCall) -> None:
        raise NotImplementedError

    def release_media(self, call: EngineCall, final: bool = False) -> None:
        raise NotImplementedError

    def on_dtmf(self, call: EngineCall, digit: str, method: int) -> None:
        raise NotImplementedError

    def on_transfer_request(self, call: EngineCall, prm: Any) -> None:
        raise NotImplementedError

    def on_transfer_status(self, call: EngineCall, prm: Any) -> None:
        raise NotImplementedError

    def on_call_replaced(self, call: EngineCall, prm: Any) -> None:
        raise NotImplementedError

    # commands -------------------------------------------------------------------------
    def live_calls(self, exclude: EngineCall | None = None) -> list[EngineCall]:
        return [c for c in self.calls.values() if not c.ended and c is not exclude]

    def make_call(self, account_id: str, uri: str, caller_id: str | None = None) -> dict[str, Any]:
        account = self.account(account_id)
        cfg = account.config
        try:
            target = call_target(uri, cfg.domain, cfg.transport)
        except InvalidUri as exc:
            raise CommandError(ErrorCode.INVALID_URI, str(exc)) from None
        if caller_id is not None and not _CALLER_ID.match(caller_id):
            raise CommandError(
                ErrorCode.INVALID_ARGUMENT,
                f"caller_id must be an E.164 number like +15551234567, not {caller_id!r}",
            )
        limit = self.config.max_outbound_calls
        # a held call (e.g. waiting for an attended transfer) does not count: the consult
        # call must be possible
        outbound = [
            c for c in self.live_calls() if c.direction is CallDirection.OUTBOUND and not c.held
        ]
        if limit > 0 and len(outbound) >= limit:
            raise CommandError(
                ErrorCode.LIMIT_REACHED,
                f"at most {limit} outbound call(s) at a time; end {outbound[0].key} first",
            )
        self._check_call_slots()
        self._check_media_room()
        call = EngineCall(self, account, CallDirection.OUTBOUND, remote_uri=target)
        self.calls[call.key] = call
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        if caller_id:
            _present_caller_id(prm, cfg, caller_id)
        try:
            call.makeCall(target, prm)
        except pj.Error as exc:
            call.ended = True
            self.media_closed_at.append(time.monotonic())
            self.calls.pop(call.key, None)
            self.bury(call)
            if "PJ_ETOOMANY" in str(exc.info()):  # PJSIP's call table is full
                raise CommandError(
                    ErrorCode.RESOURCES_EXHAUSTED,
                    "too many calls at once (ended ones are still closing): try again in a second",
                ) from None
            raise CommandError(ErrorCode.SIP_ERROR, f"cannot call {target}: {exc.info()}") from None
        return {"call_id": call.key, "uri": target}

    def _check_call_slots(self) -> None:
        """Refuse a call PJSIP has no call slot for, saying so (rather than PJ_ETOOMANY)."""
        held = len(self.live_calls()) + (len(self.gate.live_ids()) if self.gate else 0)
        if held >= CALL_SLOTS:
            raise CommandError(
                ErrorCode.RESOURCES_EXHAUSTED,
                f"at most {CALL_SLOTS} calls at once, and {held} are up (live or ending): "
                "end one first",
            )

    def _check_media_room(self) -> None:
        """Refuse a call PJSIP has no socket slots for, instead of letting it abort.

        PJSIP's select ioqueue holds 64 sockets (SIP transports included) and frees a
        closed socket's slot only ~500 ms later; every call takes two (RTP, RTCP). Running
        out is an assertion failure (SIGABRT), so a burst of calls is refused here first.
        """
        busy = self._media_load()
        if busy >= MAX_MEDIA_CALLS:
            raise CommandError(
                ErrorCode.RESOURCES_EXHAUSTED,
                f"too many calls started or ended within {_SLOT_REUSE_S:g} s ({busy}); "
                "media sockets run out: try again in a second",
            )

    def _media_load(self, exclude: EngineCall | None = None) -> int:
        """Calls whose sockets may still take ioqueue slots: live, or ended very recently."""
        now = time.monotonic()
        self.media_closed_at = [t for t in self.media_closed_at if now - t < _SLOT_REUSE_S]
        return len(self.live_calls(exclude=exclude)) + len(self.media_closed_at)

    def _refuse_when_room(self, call: EngineCall, code: int) -> None:
        """Reject an inbound call, but only once closing its sockets cannot exhaust the
        ioqueue: PJSIP opened them before telling us about the INVITE, and a flood of
        INVITEs rejected at once piles up closed-but-not-free slots until PJSIP aborts.
        Until then the call keeps one of PJSIP's call slots, so further INVITEs get
        PJSIP's own 486 without opening sockets at all."""
        if call.ended:
            return
        if self._media_load(exclude=call) >= _INBOUND_ROOM:
            self.later(0.2, lambda: self._refuse_when_room(call, code))
            return
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        try:
            call.hangup(prm)
        except pj.Error as exc:
            log.warning("cannot refuse %s: %s", call.key, exc.info())

    # inbound admission (see admission.py) ------------------------------------------
    def install_gate(self) -> None:
        """Once, with the first account: the gate account and the selection hook.

        The gate is created after a real account so it never becomes PJSIP's default."""
        if self.gate is not None:
            return
        gate = GateAccount(on_refused=self._refused, on_call_end=self._refused_call_ended)
        gate.start()
        _PINNED.append(gate)  # never collected, not even after libDestroy (nor its calls)
        self.gate = gate
        self.ep.select_account = self.on_select_account
        self.ep.rejected_incoming = self.on_rejected_incoming

    def on_select_account(self, prm: Any) -> None:
        """PJSIP is about to create a call for an out-of-dialog request (before any media):
        an INVITE we have no media room for goes to the gate, which refuses it with 503."""
        gate = self.gate
        invite = str(prm.rdata.wholeMsg)
        if gate is None or not invite.startswith("INVITE "):
            return
        if self.admitted_at is not None:
            # the last INVITE let through never became a call (PJSIP refused it itself),
            # but may have opened and closed its sockets: count them as closing
            self.media_closed_at.append(self.admitted_at)
            self.admitted_at = None
        gate_id = int(gate.getId())
        # an INVITE with Replaces takes over a live call (attended transfer): PJSIP would
        # answer it on the gate's loopback media, so it is never gated (one call in, one out)
        if self._media_load() >= _INBOUND_ROOM and not _REPLACES.search(invite):
            prm.accountIndex = gate_id
            return
        if int(prm.accountIndex) == gate_id:  # the gate became PJSIP's default account
            real = next(iter(self.accounts.values()), None)
            if real is None:
                return  # no account to take it: the gate refuses it
            prm.accountIndex = int(real.getId())
        self.admitted_at = time.monotonic()

    def _refused(self) -> None:
        self._count_refusal(503)

    def on_rejected_incoming(self, prm: Any) -> None:
        """PJSIP turned an INVITE away itself (e.g. 486 when all call slots are taken)."""
        self._count_refusal(int(prm.statusCode))

    def _count_refusal(self, code: int) -> None:
        if not self.refused:  # a new burst: a fresh dict of our own (never the class's)
            self.refused = {}
            self.later(_REFUSAL_REPORT_S, self._report_refusals)
        self.refused[code] = self.refused.get(code, 0) + 1

    def _refused_call_ended(self) -> None:
        self.defer(self._prune_graveyard)

    def _report_refusals(self) -> None:
        """One warning per burst: the app can tell the agent callers were turned away."""
        counts, self.refused = self.refused, {}
        why = {
            503: "503: more calls started or ended within a second than the engine can "
            "open audio for; callers are asked to retry after 1 s",
            486: f"486 busy: {CALL_SLOTS} calls were up already",
        }
        parts = [f"{n} with {why.get(code, str(code))}" for code, n in sorted(counts.items())]
        total = sum(counts.values())
        log.warning("refused %d inbound INVITE(s): %s", total, counts)
        self.emit(
            EngineWarned(
                f"{total} inbound call(s) refused: " + "; ".join(parts),
                "inbound_calls_refused",
            )
        )

    def answer(self, key: str, hold_others: bool) -> dict[str, Any]:
        call = self.call(key)
        if call.direction is not CallDirection.INBOUND or call.state is not CallState.RINGING:
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} is not ringing inbound")
        if hold_others:
            for other in self.live_calls(exclude=call):
                if other.state is CallState.IN_CALL:
                    try:
                        self.hold(other.key)
                    except CommandError as exc:  # e.g. it is ending right now
                        log.info("could not hold %s before answering: %s", other.key, exc)
        prm = pj.CallOpParam(True)
        prm.statusCode = 200
        try:
            call.answer(prm)
        except pj.Error as exc:
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None
        self._update_alerting()
        return {}

    def reject(self, key: str, kind: RejectKind) -> dict[str, Any]:
        call = self.call(key)
        if call.direction is not CallDirection.INBOUND or call.state is not CallState.RINGING:
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} is not ringing inbound")
        self._hangup(call, 486 if kind is RejectKind.BUSY else 603)
        call.rejected = True
        return {}

    def hangup(self, key: str) -> dict[str, Any]:
        call = self.call(key)
        unanswered_inbound = (
            call.direction is CallDirection.INBOUND and call.state is CallState.RINGING
        )
        self._hangup(call, 603 if unanswered_inbound else 0)
        call.rejected = unanswered_inbound
        return {}

    def _hangup(self, call: EngineCall, code: int) -> None:
        prm = pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        call.local_hangup = True
        try:
            call.hangup(prm)
        except pj.Error as exc:
            if "already terminated" in str(exc.info()):
                return  # it is ending anyway; its final event follows
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None

    def hold(self, key: str) -> dict[str, Any]:
        call = self.call(key)
        if call.held:
            return {}
        if call.state not in (CallState.IN_CALL, CallState.ON_HOLD):
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} is not in a call")
        call.held = True
        self.release_media(call)  # silence at once; ON_HOLD once the far end agreed
        try:
            self._sync_hold(call)
        except _InviteBusy:
            self.later(_INVITE_RETRY_S, lambda: self._sync_hold_soon(call))
        except CommandError:
            call.held = False
            self.on_call_media(call)
            raise
        return {}

    def resume(self, key: str) -> dict[str, Any]:
        call = self.call(key)
        if not call.held:
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} is not on hold")
        call.held = False
        try:
            self._sync_hold(call)
        except _InviteBusy:
            self.later(_INVITE_RETRY_S, lambda: self._sync_hold_soon(call))
        except CommandError:
            call.held = True
            raise
        self.on_call_media(call)  # audio back now if the hold never reached the far end
        return {}

    def _sync_hold(self, call: EngineCall) -> None:
        """Send the re-INVITE that brings the far end to `call.held`, unless one is out
        already (its answer sends the next) or the ACK of our answer is not here yet
        (CONFIRMED sends it): PJSIP refuses a second INVITE transaction (PJ_EINVALIDOP)."""
        if call.ended or call.reinvite_busy or call.held == call.hold_sent:
            return
        if not states.is_fully_confirmed(call.pj_state):
            return
        try:
            if call.held:
                call.setHold(pj.CallOpParam(True))
            else:
                prm = pj.CallOpParam(True)
                prm.opt.flag = states.UNHOLD_FLAG
                call.reinvite(prm)
        except pj.Error as exc:
            if "PJ_EINVALIDOP" in str(exc.info()):
                raise _InviteBusy(ErrorCode.SIP_ERROR, str(exc.info())) from None
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None
        call.hold_sent = call.held
        call.reinvite_busy = True

    def _sync_hold_soon(self, call: EngineCall, attempt: int = 0) -> None:
        """Queued hold/resume, outside PJSIP callbacks; retried briefly if PJSIP is still
        busy with another INVITE transaction (e.g. the far end's own re-INVITE)."""
        try:
            self._sync_hold(call)
        except CommandError as exc:
            if attempt < 20:
                self.later(0.1, lambda: self._sync_hold_soon(call, attempt + 1))
                return
            log.warning("cannot %s %s: %s", "hold" if call.held else "resume", call.key, exc)
            call.held = call.hold_sent
            self.on_call_media(call)

    def on_reinvite_answered(self, call: EngineCall, code: int) -> None:
        call.reinvite_busy = False
        if code >= 300:
            log.warning(
                "%s re-INVITE of %s answered %d",
                "hold" if call.hold_sent else "resume",
                call.key,
                code,
            )
            failed = call.hold_sent
            call.hold_sent = call.local_hold
            if call.held == failed:  # nothing newer asked: give up on it, show the truth
                call.held = call.local_hold
                self.defer(lambda: self.on_call_media(call))
        self.defer(lambda: self._sync_hold_soon(call))

    def set_muted(self, key: str, muted: bool) -> dict[str, Any]:
        call = self.call(key)
        call.muted = muted
        for media in call.media:
            media.adjustRxLevel(0.0 if muted else 1.0)
        self.publish(call)
        return {}

    # PJSIP events -----------------------------------------------------------------------
    def on_incoming_call(self, account: EngineAccount, pj_call_id: int, invite: str) -> None:
        self.admitted_at = None  # the INVITE on_select_account let through: now a call
        call = EngineCall(self, account, CallDirection.INBOUND, pj_call_id)
        call.remote_crypto = _has_crypto(invite)
        self.calls[call.key] = call
        info = call.getInfo()
        call.remote = parse_remote(str(info.remoteUri))
        others = self.live_calls(exclude=call)
        crowded = self._media_load(exclude=call) >= _INBOUND_ROOM  # an INVITE flood
        busy = crowded or (bool(others) and not self.config.call_waiting)
        prm = pj.CallOpParam(True)
        prm.statusCode = 486 if busy else 180
        auto = account.config.auto_answer and not others
        self.emit(
            IncomingCallReceived(
                call_id=call.key,
                account_id=account.config.account_id,
                remote_uri=call.remote.uri,
                remote_display=call.remote.display,
                remote_user=call.remote.user,
                waiting=bool(others),
                auto_answer=auto and not busy,
                at=time.time(),
                sip_call_id=str(info.callIdString),
            )
        )
        if busy:
            call.rejected = True
            call.local_hangup = True
            self._refuse_when_room(call, 503 if crowded else 486)
            return
        try:
            call.answer(prm)
        except pj.Error as exc:
            log.warning("cannot send 180: %s", exc.info())
        self.publish(call)
        if others and self.bridge is not None:
            self.bridge.play_waiting_beep()
        self._update_alerting()
        if auto:
            self.defer(lambda: self._auto_answer(call))
        elif self.config.no_answer_timeout_s > 0 and not busy:
            self.later(self.config.no_answer_timeout_s, lambda: self._give_up_ringing(call))

    def _give_up_ringing(self, call: EngineCall) -> None:
        """Nobody answered in time: end the call as missed (480 to the caller)."""
        if call.ended or call.state is not CallState.RINGING:
            return
        call.unanswered = True
        prm = pj.CallOpParam(True)
        prm.statusCode = 480
        prm.reason = "No Answer"
        try:
            call.hangup(prm)
        except pj.Error as exc:
            log.warning("cannot end unanswered call %s: %s", call.key, exc.info())

    def _auto_answer(self, call: EngineCall) -> None:
        if not call.ended and call.state is CallState.RINGING:
            try:
                self.answer(call.key, hold_others=True)
            except CommandError as exc:
                log.warning("auto-answer failed: %s", exc.message)

    def on_call_state(self, call: EngineCall) -> None:
        try:
            info = call.getInfo()
        except pj.Error:
            return
        call.code = int(info.lastStatusCode)
        call.reason = str(info.lastReason)
        if states.is_disconnected(info.state):
            if not call.ended:
                call.ended = True
                self.media_closed_at.append(time.monotonic())
                self.defer(lambda: self._finish(call))
            return
        call.pj_state = int(info.state)
        call.pj_id = int(info.id)
        if states.is_confirmed(info.state) and call.connected_at is None:
            call.connected_at = time.time()
        if call.held != call.hold_sent and states.is_fully_confirmed(info.state):
            self.defer(lambda: self._sync_hold_soon(call))
        if call.direction is CallDirection.OUTBOUND and not call.remote.display:
            call.remote = _merge_remote(call.remote, parse_remote(str(info.remoteUri)))
        call.state = states.live_call_state(info.state, call.local_hold)
        if call.state is CallState.RINGING and call.alerting_since is None:
            call.alerting_since = time.monotonic()
        self._update_alerting()
        self.publish(call)

    def on_call_media(self, call: EngineCall) -> None:
        try:
            info = call.getInfo()
        except pj.Error:
            return
        active: list[Any] = []
        remote_hold = local_hold = False
        for media_info in info.media:
            if media_info.type != states.MEDIA_TYPE_AUDIO:
                continue
            local_hold = local_hold or media_info.status == states.MEDIA_LOCAL_HOLD
            if media_info.status == states.MEDIA_REMOTE_HOLD:
                remote_hold = True
            if media_info.status in (states.MEDIA_ACTIVE, states.MEDIA_REMOTE_HOLD):
                active.append(call.getAudioMedia(media_info.index))
                try:
                    stream = call.getStreamInfo(media_info.index)
                    call.secure = states.is_secure_proto(int(stream.proto)) or (
                        call.remote_crypto and call.account.config.srtp is not SrtpMode.OFF
                    )
                except pj.Error:
                    pass
        call.remote_hold = remote_hold
        call.local_hold = local_hold
        if call.state in (CallState.IN_CALL, CallState.ON_HOLD):
            call.state = CallState.ON_HOLD if local_hold else CallState.IN_CALL
        if not active or call.held:
            self.release_media(call)
        else:
            self.release_media(call)
            call.media = active
            self.connect_media(call)
        if call.direction is CallDirection.OUTBOUND and call.connected_at is None and active:
            call.early_media = True
        self._update_alerting()
        self.publish(call)

    def bury(self, call: EngineCall) -> None:
        """Keep an ended call referenced while its pjsua id might be live again."""
        self.graveyard.append(call)
        self._prune_graveyard()

    def _prune_graveyard(self) -> None:
        """pj.Call's destructor hangs up (and nulls the user data of) whatever call now has
        its old id; pjsua reuses ids. So an ended call is only dropped while no live call
        (ours or one the gate is refusing) holds that id, and the newest few are always
        kept. Dropped ones are destroyed right here (no cycles point at them)."""
        live_ids = {c.pj_id for c in self.live_calls()}
        if self.gate is not None:
            live_ids |= self.gate.live_ids()
            self.gate.prune(live_ids)
        recent = self.graveyard[-4:]
        keep = [c for c in self.graveyard[:-4] if c.pj_id in live_ids or c.pj_id < 0]
        self.graveyard = keep + recent

    def refresh_security(self, call: EngineCall) -> None:
        """SDES-SRTP with `optional` keeps RTP/AVP: the a=crypto lines tell the truth."""
        secure = call.remote_crypto and call.account.config.srtp is not SrtpMode.OFF
        if secure != call.secure:
            call.secure = secure
            self.publish(call)

    def _finish(self, call: EngineCall) -> None:
        """After DISCONNECTED, outside the callback: final event, cleanup, drop the call."""
        self.release_media(call, final=True)
        state, reason = states.end_of_call(
            direction=call.direction,
            connected=call.connected_at is not None,
            code=call.code,
            local_hangup=call.local_hangup,
            rejected=call.rejected,
            cancel_cause=call.cancel_cause,
            transferred=call.transferred,
            replaced=call.replaced,
            unanswered=call.unanswered,
        )
        call.state = state
        self.publish(call, end_reason=reason)
        self.calls.pop(call.key, None)
        self._update_alerting()
        self.bury(call)

    def _update_alerting(self) -> None:
        if self.bridge is None:
            return
        live = self.live_calls()
        inbound_ringing = [
            c for c in live if c.direction is CallDirection.INBOUND and c.state is CallState.RINGING
        ]
        talking = [c for c in live if c.state in (CallState.IN_CALL, CallState.ON_HOLD)]
        if inbound_ringing and not talking:
            self.bridge.start_ringtone()
        else:
            self.bridge.stop_ringtone()
        now = time.monotonic()
        waiting = [  # ringing far ends that sent no early media (yet)
            now - (c.alerting_since or now)
            for c in live
            if c.direction is CallDirection.OUTBOUND
            and c.state is CallState.RINGING
            and not c.early_media
        ]
        if any(age >= RINGBACK_DELAY_S for age in waiting):
            self.bridge.start_ringback()
            return
        self.bridge.stop_ringback()
        if waiting:  # look again once the oldest of them is due
            self.later(RINGBACK_DELAY_S - max(waiting), self._update_alerting)

    def publish(self, call: EngineCall, end_reason: Any = None) -> None:
        signature = (
            call.state,
            call.code,
            call.early_media,
            call.remote_hold,
            call.muted,
            call.secure,
            end_reason,
        )
        if signature == call.last_emitted:
            return
        call.last_emitted = signature
        self.emit(
            CallStateChanged(
                call_id=call.key,
                account_id=call.account.config.account_id,
                direction=call.direction,
                state=call.state,
                remote_uri=call.remote.uri,
                code=call.code,
                reason=call.reason,
                end_reason=end_reason,
                early_media=call.early_media,
                remote_hold=call.remote_hold,
                muted=call.muted,
                secure_media=call.secure,
                connected_at=call.connected_at,
                at=time.time(),
            )
        )

    def call_snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "call_id": c.key,
                "account_id": c.account.config.account_id,
                "direction": c.direction.value,
                "state": c.state.value,
                "remote_uri": c.remote.uri,
                "muted": c.muted,
                "connected_at": c.connected_at,
            }
            for c in self.live_calls()
        ]


_PINNED: list[GateAccount] = []


def _present_caller_id(prm: Any, cfg: AccountConfig, caller_id: str) -> None:
    """Ask the provider to present ``caller_id``: P-Preferred-Identity (RFC 3325) always,
    and the From user too when the account says its provider reads the caller-ID there
    (a PBX that identifies the extension by the From user must keep the account's own)."""
    identity = f"sip:{caller_id}@{cfg.domain}"
    header = pj.SipHeader()
    header.hName = "P-Preferred-Identity"
    header.hValue = f"<{identity}>"
    prm.txOption.headers.append(header)
    if cfg.caller_id_in_from:
        display = cfg.display_name.replace('"', "").replace("\\", "")
        prm.txOption.localUri = f'"{display}" <{identity}>' if display else f"<{identity}>"


def _merge_remote(old: RemoteParty, new: RemoteParty) -> RemoteParty:
    return RemoteParty(uri=old.uri or new.uri, display=new.display, user=old.user or new.user)


def _has_crypto(sip_message: str) -> bool:
    return "\na=crypto:" in sip_message
