"""Robustness: hold/resume in quick succession, the outbound limit during an attended
transfer, and a burst of calls that must be refused cleanly instead of aborting PJSIP."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import replace

from softphone.errors import CommandRejected
from softphone.events import CallStateChanged, IncomingCallReceived
from softphone.types import CallState, ErrorCode
from tests.softphone.conftest import ENGINE, Phone, start_phone
from tests.softphone.helpers import wait_until
from tests.softphone.rawsip import RawUac


def _state(phone: Phone, call_id: str, state: CallState, start: int = 0) -> CallStateChanged:
    return phone.events.wait_for(
        CallStateChanged, lambda e: e.call_id == call_id and e.state is state, start=start
    )


def _last(phone: Phone, call_id: str) -> CallStateChanged | None:
    changes = [e for e in phone.events.of(CallStateChanged) if e.call_id == call_id]
    return changes[-1] if changes else None


def _connect(alice: Phone, bob: Phone) -> tuple[str, str]:
    a0, b0 = alice.events.mark(), bob.events.mark()
    call_id = alice.client.make_call("alice", bob.uri)
    incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
    bob.client.answer(incoming.call_id)
    _state(alice, call_id, CallState.IN_CALL, a0)
    _state(bob, incoming.call_id, CallState.IN_CALL, b0)
    return call_id, incoming.call_id


def _hang_up(caller: Phone, callee: Phone, call_id: str, callee_call: str) -> None:
    c0, d0 = caller.events.mark(), callee.events.mark()
    caller.client.hangup(call_id)
    _state(caller, call_id, CallState.ENDED, c0)
    _state(callee, callee_call, CallState.ENDED, d0)


def test_resume_right_after_hold_is_never_refused(alice: Phone, bob: Phone) -> None:
    a_call, b_call = _connect(alice, bob)
    for _ in range(10):
        a0, b0 = alice.events.mark(), bob.events.mark()
        alice.client.hold(a_call)
        alice.client.resume(a_call)  # while the hold re-INVITE is still out: queued
        # the far end really was held, then released; we showed ON_HOLD only once it agreed
        bob.events.wait_for(
            CallStateChanged, lambda e: e.call_id == b_call and e.remote_hold, start=b0
        )
        _state(alice, a_call, CallState.ON_HOLD, a0)
        wait_until(
            lambda: (last := _last(alice, a_call)) is not None and last.state is CallState.IN_CALL,
            what="alice back in the call",
        )
        wait_until(
            lambda: (last := _last(bob, b_call)) is not None and not last.remote_hold,
            what="bob no longer held",
        )
    # and a plain hold still holds
    a0 = alice.events.mark()
    alice.client.hold(a_call)
    _state(alice, a_call, CallState.ON_HOLD, a0)
    wait_until(lambda: (last := _last(bob, b_call)) is not None and last.remote_hold)
    alice.client.resume(a_call)
    _state(alice, a_call, CallState.IN_CALL, a0)
    _hang_up(alice, bob, a_call, b_call)


def test_consult_call_allowed_while_the_first_outbound_call_is_held(
    alice: Phone, bob: Phone
) -> None:
    carol = start_phone("carol")
    try:
        first, b_call = _connect(alice, bob)
        with_first_live = _refused(alice, carol.uri)
        assert with_first_live.code is ErrorCode.LIMIT_REACHED
        a0, c0 = alice.events.mark(), carol.events.mark()
        alice.client.hold(first)  # the agent holds the customer to consult a colleague
        consult = alice.client.make_call("alice", carol.uri)
        c_in = carol.events.wait_for(IncomingCallReceived, start=c0)
        carol.client.answer(c_in.call_id)
        _state(alice, consult, CallState.IN_CALL, a0)
        _state(alice, first, CallState.ON_HOLD, a0)
        # both unheld outbound calls again: the limit applies once more
        alice.client.resume(first)
        _state(alice, first, CallState.IN_CALL, a0)
        assert _refused(alice, carol.uri).code is ErrorCode.LIMIT_REACHED
        _hang_up(alice, carol, consult, c_in.call_id)
        _hang_up(alice, bob, first, b_call)
    finally:
        assert carol.client.stop() == 0


def _refused(phone: Phone, uri: str) -> CommandRejected:
    try:
        call_id = phone.client.make_call(phone.name, uri)
    except CommandRejected as exc:
        return exc
    raise AssertionError(f"call {call_id} to {uri} was not refused")


class BusyUas:
    """A SIP endpoint that answers every INVITE with 486 at once: calls end in
    milliseconds, so their sockets pile up in PJSIP's delayed-free list."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.uri = f"sip:busy@127.0.0.1:{self.sock.getsockname()[1]}"
        self.invites = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            text = data.decode(errors="replace")
            if not text.startswith("INVITE "):
                continue  # ACKs of our 486
            self.invites += 1
            keep = ("via:", "from:", "to:", "call-id:", "cseq:")
            lines = [h for h in text.split("\r\n") if h.lower().startswith(keep)]
            lines = [h + ";tag=busy" if h.lower().startswith("to:") else h for h in lines]
            reply = "SIP/2.0 486 Busy Here\r\n" + "\r\n".join(lines)
            self.sock.sendto((reply + "\r\nContent-Length: 0\r\n\r\n").encode(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def test_burst_of_calls_is_refused_cleanly_never_aborts() -> None:
    """40 make/hangup cycles as fast as possible to a peer that refuses at once: each call
    takes two of PJSIP's 64 socket slots, freed only ~0.5 s after close; running out used
    to abort the engine (SIGABRT). Now the engine refuses with a clear code."""
    busy = BusyUas()
    dialer = start_phone("dialer", replace(ENGINE, max_outbound_calls=0))
    try:
        pid = dialer.client.pid
        placed = 0
        refusals: list[CommandRejected] = []
        for _ in range(40):
            try:
                call_id = dialer.client.make_call("dialer", busy.uri)
            except CommandRejected as exc:
                refusals.append(exc)
                continue
            placed += 1
            with contextlib.suppress(CommandRejected):  # it may have ended on its own already
                dialer.client.hangup(call_id)
        assert refusals, "the burst never reached the limit: the test proves nothing"
        assert {r.code for r in refusals} == {ErrorCode.RESOURCES_EXHAUSTED}
        assert all("try again" in r.message for r in refusals)
        assert placed >= 10
        assert dialer.client.pid == pid
        dialer.client.ping()
        # once the sockets are free again, calls go out
        wait_until(lambda: not dialer.client.active_calls, what="burst calls ended")
        wait_until(lambda: _places_a_call(dialer, busy.uri), what="a call accepted again")
        assert dialer.client.pid == pid
        assert busy.invites >= placed
    finally:
        assert dialer.client.stop() == 0
        busy.close()


def _places_a_call(phone: Phone, uri: str) -> bool:
    try:
        call_id = phone.client.make_call(phone.name, uri)
    except CommandRejected as exc:
        assert exc.code is ErrorCode.RESOURCES_EXHAUSTED, exc
        return False
    with contextlib.suppress(CommandRejected):  # it may have ended on its own already
        phone.client.hangup(call_id)
    return True


def _final_status(uac: RawUac, seen: dict[int, str]) -> bool:
    """Collect what arrived so far (non-blocking); True once a final (>= 200) is here."""
    uac.sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            data, _ = uac.sock.recvfrom(65536)
            status = data.decode(errors="replace").split("\r\n", 1)[0]
            if not status.startswith("SIP/2.0 1"):
                seen[id(uac)] = status
    return id(uac) in seen


def test_flood_of_invites_is_refused_never_aborts() -> None:
    """60 INVITEs at once at a busy agent (no call waiting): PJSIP opens sockets for each
    before the engine sees it; refusing them all at once used to abort the engine. Now
    every one gets a final answer (486 busy, or 503 while sockets are closing)."""
    callee = start_phone("callee", replace(ENGINE, call_waiting=False))
    first = RawUac(callee.account.local_port)
    uacs = [RawUac(callee.account.local_port) for _ in range(60)]
    try:
        pid = callee.client.pid
        c0 = callee.events.mark()
        first.invite()
        callee.events.wait_for(IncomingCallReceived, start=c0)
        for uac in uacs:
            uac.invite()
        seen: dict[int, str] = {}
        wait_until(lambda: all(_final_status(u, seen) for u in uacs), 15, "a final answer to each")
        codes = {status.split(" ", 2)[1] for status in seen.values()}
        assert codes <= {"486", "503"}, codes
        assert callee.client.pid == pid
        callee.client.ping()
    finally:
        for uac in [first, *uacs]:
            uac.close()
        assert callee.client.stop() == 0
