"""Refusing inbound INVITEs before PJSIP opens media sockets for them.

PJSIP opens an inbound call's RTP and RTCP sockets (two of the media ioqueue's 64 slots)
before it tells the application anything about the call, and a closed socket's slot is
reusable only ~500 ms later (PJ_IOQUEUE_KEY_FREE_DELAY). A fast INVITE+CANCEL flood churns
through the slots that way, and running out is an assertion in this wheel: SIGABRT, the
engine restarts and live calls drop.

The one callback that runs before media creation is account selection
(`Endpoint.onSelectAccount`). PJSIP ignores an invalid account there, so an INVITE the
engine has no room for is handed to a *gate* account instead: its calls use PJSIP's
loopback media transport (no sockets at all) and are refused at once with 503 and
Retry-After. Gate calls are referenced until PJSIP reports them DISCONNECTED and then
buried like any call (a collected pj.Call hangs up whatever call reuses its id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from softphone.engine import states

log = logging.getLogger(__name__)

GATE_URI = "sip:lodgephone-gate@gate.invalid"
RETRY_AFTER_S = 1


class RefusedCall(pj.Call):  # type: ignore[misc]
    """An INVITE the gate answered 503; its account keeps it (see GateAccount.prune)."""

    def __init__(self, account: GateAccount, pj_call_id: int) -> None:
        super().__init__(account, pj_call_id)
        self.pj_id = pj_call_id
        self.ended = False
        self._on_end = account.on_call_end

    def onCallState(self, prm: Any) -> None:
        try:
            disconnected = states.is_disconnected(self.getInfo().state)
        except pj.Error:
            disconnected = True
        if disconnected and not self.ended:
            self.ended = True
            self._on_end()


class GateAccount(pj.Account):  # type: ignore[misc]
    """Takes the INVITEs the engine refuses; never registers, never places calls.

    It keeps every RefusedCall until `prune` finds it ended and its id free. The engine
    pins the gate for the life of the process, so nothing of it is collected after
    libDestroy (a pjsua2 destructor then would abort)."""

    def __init__(self, on_refused: Callable[[], None], on_call_end: Callable[[], None]) -> None:
        super().__init__()
        self.on_refused = on_refused
        self.on_call_end = on_call_end
        self.calls: list[RefusedCall] = []
        self.refused = 0  # total, for logs and tests

    def start(self) -> None:
        cfg = pj.AccountConfig()
        cfg.idUri = GATE_URI
        cfg.regConfig.registerOnAdd = False
        cfg.mediaConfig.useLoopMedTp = True  # no RTP/RTCP sockets for a call we refuse
        self.create(cfg, False)

    def live_ids(self) -> set[int]:
        return {c.pj_id for c in self.calls if not c.ended}

    def prune(self, live_ids: set[int]) -> None:
        """Drop ended calls whose pjsua id no live call holds (a dropped pj.Call hangs up
        whatever call has its id now); the newest few are kept anyway."""
        recent = self.calls[-4:]
        older = self.calls[:-4]
        self.calls = [c for c in older if not c.ended or c.pj_id in live_ids] + recent

    def onIncomingCall(self, prm: Any) -> None:
        call = RefusedCall(self, int(prm.callId))
        self.calls.append(call)  # referenced before anything can end it
        self.refused += 1
        op = pj.CallOpParam(True)
        op.statusCode = 503
        op.reason = "Too Many Calls"
        header = pj.SipHeader()
        header.hName = "Retry-After"
        header.hValue = str(RETRY_AFTER_S)
        op.txOption.headers.append(header)
        try:
            call.hangup(op)
        except pj.Error as exc:
            log.warning("gate: cannot refuse call %d: %s", prm.callId, exc.info())
        self.on_refused()
