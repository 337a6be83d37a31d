"""Robustness: hold/resume in quick succession, the outbound limit during an attended
transfer, and a burst of calls that must be refused cleanly instead of aborting PJSIP."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from softphone.errors import CommandRejected
from softphone.events import (
    CallStateChanged,
    CallStatsReported,
    EngineWarned,
    IncomingCallReceived,
)
from softphone.types import CallState, ErrorCode, Transport
from tests.softphone.calling import connect as _connect
from tests.softphone.calling import hang_up as _hang_up
from tests.softphone.calling import wait_state as _state
from tests.softphone.conftest import ENGINE, Phone, start_phone
from tests.softphone.helpers import tone_power, wait_until
from tests.softphone.rawsip import RawUac, RawUas


def _last(phone: Phone, call_id: str) -> CallStateChanged | None:
    changes = [e for e in phone.events.of(CallStateChanged) if e.call_id == call_id]
    return changes[-1] if changes else None


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


def _final_invite_answers(data: bytes) -> dict[str, int]:
    """Call-ID -> status of the final answer to its INVITE, from a byte stream of SIP
    responses (a UDP datagram or what a TCP connection received so far)."""
    finals: dict[str, int] = {}
    for message in data.decode(errors="replace").split("SIP/2.0 ")[1:]:
        code = message[:3]
        headers = {
            key.strip().lower(): value.strip()
            for key, _, value in (line.partition(":") for line in message.split("\r\n")[1:])
        }
        if code.isdigit() and int(code) >= 200 and headers.get("cseq", "").endswith("INVITE"):
            finals[headers.get("call-id", "")] = int(code)
    return finals


def _options_answered(port: int, transport: Transport) -> bool:
    """An out-of-dialog OPTIONS gets its 200 (the engine's SIP stack still serves)."""
    probe = RawUac(port, transport.value.upper())
    try:
        if transport is Transport.UDP:
            probe.options()
            return probe.wait_status(200, 2.0).startswith("SIP/2.0 200")
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as stream:
            probe.sock.close()
            probe.sock = stream
            probe.port = stream.getsockname()[1]
            stream.sendall(
                f"OPTIONS {probe.uri} SIP/2.0\r\n".encode()
                + probe.cancel_message(None).split(b"\r\n", 1)[1].replace(b"CANCEL", b"OPTIONS")
            )
            return stream.recv(65536).startswith(b"SIP/2.0 200")
    finally:
        probe.close()


def _udp_sockets_of(pid: int) -> int:
    """UDP sockets a process holds (Linux /proc): RTP/RTCP of its calls, plus its SIP UDP
    transports. TCP connections are left out: PJSIP keeps those open while transactions
    that used them wait for their ACK (Timer H, 32 s)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    udp = set()
    for table in ("udp", "udp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as rows:
            udp |= {row.split()[9] for row in list(rows)[1:]}
    return len(inodes & udp)


def _call_with_audio(caller: Phone, callee: Phone, uri: str, wav: Path) -> None:
    """A real call from caller to callee: answered, a 1 kHz tone from the caller recorded
    at the callee. Retried while the callee still refuses with 503 (its last second was
    a flood); any other failure fails the test."""

    tried_at = [0.0]

    def placed() -> tuple[str, str] | None:
        if time.monotonic() - tried_at[0] < 0.25:  # a caller retrying, not hammering
            return None
        tried_at[0] = time.monotonic()
        c0, d0 = caller.events.mark(), callee.events.mark()
        call_id = caller.client.make_call(caller.name, uri)
        first = caller.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == call_id and e.state in (CallState.RINGING, CallState.FAILED),
            start=c0,
        )
        if first.state is CallState.FAILED:
            assert first.code == 503, first
            return None
        incoming = callee.events.wait_for(IncomingCallReceived, start=d0)
        return call_id, incoming.call_id

    c0, d0 = caller.events.mark(), callee.events.mark()
    call_id, in_id = wait_until(placed, 10, "the callee to take a call again")
    callee.client.answer(in_id)
    _state(caller, call_id, CallState.IN_CALL, c0)
    _state(callee, in_id, CallState.IN_CALL, d0)
    caller.client.play_tone(call_id, 1000.0, level=0.3)
    callee.client.start_recording(in_id, str(wav))
    first = callee.events.wait_for(
        CallStatsReported, lambda e: e.call_id == in_id, start=d0
    ).rx_packets
    callee.events.wait_for(
        CallStatsReported, lambda e: e.call_id == in_id and e.rx_packets >= first + 40, start=d0
    )
    callee.client.stop_recording(in_id)
    _hang_up(caller, callee, call_id, in_id)
    share, rms = tone_power(wav, 1000.0)
    assert share > 0.6 and rms > 1000, (share, rms)


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.TCP], ids=["udp", "tcp"])
def test_invite_cancel_flood_never_aborts_and_the_next_call_works(
    transport: Transport, tmp_path: Path
) -> None:
    """300 INVITEs, each cancelled at once, as fast as they can be sent. PJSIP opens two
    media sockets per INVITE before the engine hears of it and frees a closed socket's
    ioqueue slot only ~0.5 s later: this churn used to run out of slots and abort the
    engine. Now an INVITE beyond what the engine can open media for is refused with 503
    before any socket exists; the engine stays the same process, still answers OPTIONS,
    tells the app once, and takes the next real call with audio both ways up."""
    callee = start_phone("callee", transport=transport)
    caller = start_phone("caller", transport=transport)
    port = callee.account.local_port
    uacs = [RawUac(port, transport.value.upper()) for _ in range(300)]
    stream: socket.socket | None = None
    try:
        pid = callee.client.pid
        assert pid is not None
        idle_sockets = _udp_sockets_of(pid)
        c0 = callee.events.mark()
        if transport is Transport.UDP:
            for uac in uacs:
                uac.invite()
                uac.cancel(None)
        else:
            stream = socket.create_connection(("127.0.0.1", port))
            stream.sendall(b"".join(uac.pair() for uac in uacs))
        warned = callee.events.wait_for(
            EngineWarned, lambda e: e.code == "inbound_calls_refused", start=c0
        )
        assert "refused" in warned.message

        # every INVITE got a final answer: cancelled (487), PJSIP's call table full (486)
        # or refused before media (503)
        answers: dict[str, int] = {}
        received = bytearray()
        resent_at = time.monotonic()

        def all_answered() -> bool:
            nonlocal resent_at
            if stream is not None:
                stream.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    while chunk := stream.recv(65536):
                        received.extend(chunk)
                answers.update(_final_invite_answers(bytes(received)))
            else:
                for uac in uacs:
                    uac.sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        while True:
                            answers.update(_final_invite_answers(uac.sock.recv(65536)))
                if time.monotonic() - resent_at > 0.5:
                    # the kernel drops datagrams a flood overfills the socket with; a UAC
                    # retransmits its INVITE and CANCEL (RFC 3261 timers A and E), so do we
                    resent_at = time.monotonic()
                    for uac in uacs:
                        if uac.call_id not in answers:
                            uac.invite()
                            uac.cancel(None)
            return all(uac.call_id in answers for uac in uacs)

        wait_until(all_answered, 15, "a final answer to every INVITE")
        codes = {answers[uac.call_id] for uac in uacs}
        assert codes <= {486, 487, 503}, codes
        assert 503 in codes

        assert callee.client.pid == pid, "the engine restarted: it aborted"
        assert _options_answered(port, transport)
        param = "" if transport is Transport.UDP else ";transport=tcp"
        _call_with_audio(caller, callee, f"{callee.uri}{param}", tmp_path / "after.wav")
        assert callee.client.pid == pid
        # nothing of the flood lingers: every call's media sockets are closed again
        wait_until(lambda: _udp_sockets_of(pid) == idle_sockets, 5, "UDP sockets back to idle")
    finally:
        if stream is not None:
            stream.close()
        for uac in uacs:
            uac.close()
        assert caller.client.stop() == 0
        assert callee.client.stop() == 0


def test_a_fifth_concurrent_call_is_refused_with_a_reason() -> None:
    """The pjsua2 wheel holds at most 4 calls at once (PJSUA_MAX_CALLS; asking for more is
    clamped without a word). A 5th outbound call is refused with resources_exhausted and
    a message that says why; a 5th inbound INVITE gets 486 Busy before any socket is
    opened (the app is told once); the four live calls are untouched, and once one ends
    a new call goes out."""
    pbx = RawUas(early_media=False)  # rings and never answers
    dialer = start_phone("dialer", replace(ENGINE, max_outbound_calls=0))
    intruder = RawUac(dialer.account.local_port)
    try:
        pid = dialer.client.pid
        d0 = dialer.events.mark()
        calls = [dialer.client.make_call("dialer", pbx.uri) for _ in range(4)]
        for call_id in calls:
            _state(dialer, call_id, CallState.RINGING, d0)
        refused = _refused(dialer, pbx.uri)
        assert refused.code is ErrorCode.RESOURCES_EXHAUSTED
        assert "4 calls" in refused.message, refused.message
        w0 = dialer.events.mark()
        intruder.invite()
        assert intruder.wait_status(486).startswith("SIP/2.0 486")
        # the agent learns a caller was turned away (once per burst, not per INVITE)
        warned = dialer.events.wait_for(
            EngineWarned, lambda e: e.code == "inbound_calls_refused", start=w0
        )
        assert "1 inbound call(s) refused" in warned.message and "486" in warned.message
        assert set(dialer.client.active_calls) == set(calls)
        assert all(dialer.client.active_calls[c].state is CallState.RINGING for c in calls)
        assert dialer.client.pid == pid

        d1 = dialer.events.mark()
        dialer.client.hangup(calls[0])
        _state(dialer, calls[0], CallState.ENDED, d1)
        fifth = dialer.client.make_call("dialer", pbx.uri)
        _state(dialer, fifth, CallState.RINGING, d1)
        for call_id in [*calls[1:], fifth]:
            dialer.client.hangup(call_id)
        wait_until(lambda: not dialer.client.active_calls, what="all calls ended")
    finally:
        intruder.close()
        assert dialer.client.stop() == 0
        pbx.close()
