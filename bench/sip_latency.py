"""SIP signalling latency of the engine, measured on loopback with a bare UDP socket.

1. command -> INVITE on the wire: `MakeCall` submitted through EngineClient until our own
   UDP socket (the "far end") receives the INVITE. Target: median <= 5 ms. The same for
   baresip's ctrl_tcp `dial` as a reference (measured 0.4 ms on this stack).
2. INVITE arrival -> incoming-call event: a raw INVITE sent from our socket until the
   EngineClient callback delivers IncomingCallReceived. Target: median <= 10 ms.

Every call is then ended properly (486 + ACK, or the engine rejects), so iterations do not
pile up. One clock (time.perf_counter in this process) for both ends of every sample.

    .venv/bin/python bench/sip_latency.py [--iterations 200] [--json-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from softphone import commands
from softphone.errors import CommandRejected, EngineError
from softphone.events import CallStateChanged, IncomingCallReceived
from softphone.types import CallState, RejectKind
from tests.rig.baresip import Baresip
from tests.rig.engine import EnginePeer

HOST = "127.0.0.1"
#: Pause between calls. The wheel's select ioqueue has 64 socket slots and frees a closed
#: call's RTP/RTCP slots only 500 ms later; more than ~30 calls per 0.5 s abort the engine
#: inside makeCall (reported to the engine owner). Agents never dial that fast.
PACE_S = 0.04
# Inbound calls slower: the engine refuses INVITEs with 503 once 12 calls have come and gone
# within a second (its INVITE-flood guard, softphone/engine/admission.py); 0.1 s keeps under.
PACE_IN_S = 0.1
STUCK: list[str] = []


def _headers(msg: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), value.strip())
    return out


def _first(msg: bytes) -> str:
    return msg.split(b"\r\n", 1)[0].decode(errors="replace")


class FarEnd:
    """A UDP socket that plays a minimal far end: answers INVITEs with 486 and ACKs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port: int = self.sock.getsockname()[1]
        self.busy_ids: set[str] = set()

    def recv(self, timeout: float = 5.0) -> tuple[bytes, tuple[str, int], float]:
        self.sock.settimeout(timeout)
        data, addr = self.sock.recvfrom(65535)
        return data, addr, time.perf_counter()

    def recv_request(self, method: str, timeout: float = 5.0) -> tuple[bytes, Any, float]:
        """The next new `method` request; retransmitted INVITEs are answered busy again."""
        deadline = time.monotonic() + timeout
        while True:
            data, addr, at = self.recv(max(0.01, deadline - time.monotonic()))
            first = _first(data)
            if first.startswith("INVITE ") and _headers(data).get("call-id") in self.busy_ids:
                self.reply(data, addr, 486, "Busy Here", to_tag="again")
                continue
            if first.startswith(method + " "):
                return data, addr, at
            if _first(data).startswith(("OPTIONS ", "NOTIFY ", "BYE ", "CANCEL ")):
                self.reply(data, addr, 200, "OK")

    def reply(self, req: bytes, addr: Any, code: int, reason: str, to_tag: str = "") -> None:
        h = _headers(req)
        to = h["to"] if not to_tag or "tag=" in h["to"] else f"{h['to']};tag={to_tag}"
        vias = [
            line.split(":", 1)[1].strip()
            for line in req.decode(errors="replace").split("\r\n")
            if line.lower().startswith(("via:", "v:"))
        ]
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in vias]
        lines += [
            f"From: {h['from']}",
            f"To: {to}",
            f"Call-ID: {h['call-id']}",
            f"CSeq: {h['cseq']}",
            "Content-Length: 0",
            "",
            "",
        ]
        self.sock.sendto("\r\n".join(lines).encode(), addr)

    def busy(self, invite: bytes, addr: Any) -> None:
        """486 the INVITE and swallow the ACK, so the caller's call ends at once."""
        self.busy_ids.add(_headers(invite)["call-id"])
        self.reply(invite, addr, 486, "Busy Here", to_tag=secrets.token_hex(4))
        self.recv_request("ACK", 5.0)

    def invite(self, target_port: int, user: str) -> tuple[bytes, str, str]:
        """A fresh INVITE with SDP; returns (bytes, call_id, branch)."""
        call_id = secrets.token_hex(8)
        branch = "z9hG4bK" + secrets.token_hex(8)
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
        )
        msg = (
            f"INVITE sip:{user}@{HOST}:{target_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:bench@{HOST}:{self.port}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:{user}@{HOST}:{target_port}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 INVITE\r\n"
            f"Contact: <sip:bench@{HOST}:{self.port}>\r\n"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        return msg.encode(), call_id, branch

    def ack_final(self, invite: bytes, response: bytes, target: tuple[str, int]) -> None:
        """ACK a non-2xx final response (same branch as the INVITE, To with the tag)."""
        hi, hr = _headers(invite), _headers(response)
        via = hi["via"]
        msg = (
            f"ACK {_first(invite).split()[1]} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"From: {hi['from']}\r\nTo: {hr['to']}\r\nCall-ID: {hi['call-id']}\r\n"
            "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        )
        self.sock.sendto(msg.encode(), target)

    def close(self) -> None:
        self.sock.close()


def summary(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]

    return {
        "n": len(s),
        "median_ms": round(statistics.median(s), 3),
        "p90_ms": round(pct(90), 3),
        "p99_ms": round(pct(99), 3),
        "min_ms": round(s[0], 3),
        "max_ms": round(s[-1], 3),
    }


def bench_command_to_invite(peer: EnginePeer, far: FarEnd, n: int) -> list[float]:
    out: list[float] = []
    stuck: list[str] = []
    ended: queue.Queue[str] = queue.Queue()
    unsubscribe = peer.client.subscribe(
        lambda e: (
            ended.put(e.call_id)
            if isinstance(e, CallStateChanged) and e.state in (CallState.ENDED, CallState.FAILED)
            else None
        )
    )
    uri = f"sip:far@{HOST}:{far.port}"
    for _ in range(n):
        t0 = time.perf_counter()
        future = peer.client.submit(commands.MakeCall(peer.account_id, uri))
        try:
            invite, addr, t1 = far.recv_request("INVITE")
        except TimeoutError:
            raise RuntimeError(f"no INVITE; make_call gave {future.exception(5)!r}") from None
        out.append((t1 - t0) * 1000.0)
        far.busy(invite, addr)
        call_id = str(future.result(5)["call_id"])
        deadline = time.monotonic() + 2
        try:
            while ended.get(timeout=max(0.01, deadline - time.monotonic())) != call_id:
                pass
        except queue.Empty:
            # Seen 1-2 times per 200 calls before engine commit f07d9ec (a collected pj.Call
            # hung up a new call with a reused id), none since: the engine kept the call
            # CALLING after the 486. Counted in the JSON so a regression shows.
            stuck.append(call_id)
            with contextlib.suppress(EngineError):
                peer.client.hangup(call_id)
        time.sleep(PACE_S)
    unsubscribe()
    if stuck:
        print(f"command_to_invite: {len(stuck)} calls stayed CALLING after 486: {stuck}")
    STUCK.extend(stuck)
    return out


def bench_baresip_dial_to_invite(ua: Baresip, far: FarEnd, n: int) -> list[float]:
    out: list[float] = []
    uri = f"sip:far@{HOST}:{far.port}"
    for _ in range(n):
        mark = ua.events.mark()
        t0 = time.perf_counter()
        ua.ctrl.send("dial", uri)
        invite, addr, t1 = far.recv_request("INVITE")
        out.append((t1 - t0) * 1000.0)
        far.busy(invite, addr)
        ua.wait_event("CALL_CLOSED", 5, since=mark)
        time.sleep(PACE_S)
    return out


def bench_invite_to_event(peer: EnginePeer, far: FarEnd, n: int) -> list[float]:
    out: list[float] = []
    errors: list[str] = []
    arrived: queue.Queue[tuple[float, str]] = queue.Queue()
    unsubscribe = peer.client.subscribe(
        lambda e: (
            arrived.put((time.perf_counter(), e.call_id))
            if isinstance(e, IncomingCallReceived)
            else None
        )
    )
    assert peer.added is not None
    target = (HOST, peer.added.local_port)
    for _ in range(n):
        invite, _call_id, _branch = far.invite(peer.added.local_port, "agent")
        t0 = time.perf_counter()
        far.sock.sendto(invite, target)
        t1, call_id = arrived.get(timeout=5)
        out.append((t1 - t0) * 1000.0)
        try:
            peer.client.reject(call_id, RejectKind.BUSY)
        except CommandRejected as exc:  # the engine already ended it (e.g. refused the SDP)
            errors.append(str(exc))
        while True:  # 100 / 180 first, then the final 486 to ACK
            data, _addr, _at = far.recv(5)
            code = _first(data).split()[1] if _first(data).startswith("SIP/2.0") else ""
            if code.isdigit() and int(code) >= 300:
                far.ack_final(invite, data, target)
                break
        time.sleep(PACE_IN_S)
    unsubscribe()
    if errors:
        print(f"invite_to_event: {len(errors)} calls had ended before reject: {errors[0]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    n = args.iterations
    work = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    results: dict[str, Any] = {"bench": "sip_latency", "iterations": n}
    far = FarEnd()
    with EnginePeer("bench", workdir=work / "engine", log_level=1, max_outbound_calls=0) as peer:
        peer.add_direct_account("agent")
        for _ in range(5):  # warm-up: first calls load codecs and allocate ports
            bench_command_to_invite(peer, far, 1)
        results["command_to_invite"] = summary(bench_command_to_invite(peer, far, n))
        results["command_to_invite"]["target_median_ms"] = 5.0
        results["command_to_invite"]["calls_stuck_after_486"] = len(STUCK)
        time.sleep(1.1)  # the outbound calls' sockets count toward the flood guard for 1 s
        bench_invite_to_event(peer, far, 5)
        results["invite_to_incoming_event"] = summary(bench_invite_to_event(peer, far, n))
        results["invite_to_incoming_event"]["target_median_ms"] = 10.0
    with Baresip("bench", workdir=work / "baresip") as ua:
        bench_baresip_dial_to_invite(ua, far, 5)
        results["baresip_dial_to_invite"] = summary(bench_baresip_dial_to_invite(ua, far, n))
        results["baresip_dial_to_invite"]["reference_median_ms"] = 0.4
    far.close()
    if not args.json_only:
        for name in ("command_to_invite", "invite_to_incoming_event", "baresip_dial_to_invite"):
            r = results[name]
            print(
                f"{name:28s} median {r['median_ms']:7.3f} ms  p90 {r['p90_ms']:7.3f} ms  "
                f"p99 {r['p99_ms']:7.3f} ms  (n={r['n']})"
            )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
