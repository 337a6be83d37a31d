"""Minimal SIP over a UDP socket: a UAC (INVITE, wait for 180, CANCEL with a Reason) and
a UAS that rings with or without early media.

Enough to test how the engine reads a CANCEL and a 183; real interop lives in tests/interop/.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid


class RawUac:
    """One SIP dialog's worth of requests from a UDP socket (or, with transport="TCP",
    only the message text: `pair()` for the caller's own stream)."""

    def __init__(self, target_port: int, transport: str = "UDP") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", target_port)
        self.transport = transport
        self.call_id = uuid.uuid4().hex
        self.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        self.tag = uuid.uuid4().hex[:8]
        param = "" if transport == "UDP" else f";transport={transport.lower()}"
        self.uri = f"sip:bob@127.0.0.1:{target_port}{param}"

    def close(self) -> None:
        self.sock.close()

    def _headers(self, method: str) -> str:
        return (
            f"Via: SIP/2.0/{self.transport} 127.0.0.1:{self.port};rport;branch={self.branch}\r\n"
            f"Max-Forwards: 70\r\n"
            f'From: "Queue" <sip:queue@127.0.0.1:{self.port}>;tag={self.tag}\r\n'
            f"To: <{self.uri}>\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: 1 {method}\r\n"
        )

    def invite_message(self) -> bytes:
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        return (
            f"INVITE {self.uri} SIP/2.0\r\n"
            + self._headers("INVITE")
            + f"Contact: <sip:queue@127.0.0.1:{self.port}>\r\n"
            + "Content-Type: application/sdp\r\n"
            + f"Content-Length: {len(sdp)}\r\n\r\n"
            + sdp
        ).encode()

    def cancel_message(self, reason: str | None) -> bytes:
        extra = f"Reason: {reason}\r\n" if reason else ""
        return (
            f"CANCEL {self.uri} SIP/2.0\r\n"
            + self._headers("CANCEL")
            + extra
            + "Content-Length: 0\r\n\r\n"
        ).encode()

    def pair(self) -> bytes:
        """INVITE and its CANCEL back to back (a caller that gives up at once)."""
        return self.invite_message() + self.cancel_message(None)

    def invite(self) -> None:
        self.sock.sendto(self.invite_message(), self.target)

    def cancel(self, reason: str | None) -> None:
        self.sock.sendto(self.cancel_message(reason), self.target)

    def options(self) -> None:
        """An out-of-dialog OPTIONS, as PBXs send to probe an endpoint."""
        msg = (
            f"OPTIONS {self.uri} SIP/2.0\r\n"
            + self._headers("OPTIONS")
            + "Accept: application/sdp\r\nContent-Length: 0\r\n\r\n"
        )
        self.sock.sendto(msg.encode(), self.target)

    def wait_status(self, code: int, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                break
            text = data.decode(errors="replace")
            if text.startswith(f"SIP/2.0 {code} "):
                return text
        raise AssertionError(f"no {code} response within {timeout} s")


class RawUas:
    """A minimal SIP UAS over UDP that alerts and never answers: each INVITE gets 100 and
    then 180 (no SDP) or 183 with an SDP answer (early media); a CANCEL gets 200 and the
    INVITE 487. Enough to show the engine the two kinds of ringing a PBX sends.

    `early_media_after_s`: 180 first, then that much later a 183 with SDP (a PBX that
    rings, then starts its own announcement or ringback as early media)."""

    def __init__(self, early_media: bool, early_media_after_s: float | None = None) -> None:
        self.early_media = early_media
        self.early_media_after_s = early_media_after_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.uri = f"sip:pbx@127.0.0.1:{self.port}"
        self.tag = uuid.uuid4().hex[:8]
        self.received: list[str] = []
        self._invites: dict[str, str] = {}  # Call-ID -> headers of our answers to it
        self._timers: list[threading.Timer] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.sock.close()
        self._thread.join(2.0)

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            text = data.decode(errors="replace")
            self.received.append(text)
            method = text.split(" ", 1)[0]
            call_id = _header(text, "call-id", "i")
            if method == "INVITE":
                headers = _dialog_headers(text, self.tag)
                self._invites[call_id] = headers
                self._send(peer, "100 Trying", _dialog_headers(text, ""))
                if self.early_media:
                    self._send(peer, "183 Session Progress", headers, _sdp(self.port))
                    continue
                self._send(peer, "180 Ringing", headers)
                if self.early_media_after_s is not None:
                    timer = threading.Timer(
                        self.early_media_after_s,
                        self._send,
                        (peer, "183 Session Progress", headers, _sdp(self.port)),
                    )
                    self._timers.append(timer)
                    timer.start()
            elif method == "CANCEL":
                self._send(peer, "200 OK", _dialog_headers(text, self.tag))
                self._send(peer, "487 Request Terminated", self._invites.get(call_id, ""))

    def _send(self, peer: tuple[str, int], status: str, headers: str, sdp: str = "") -> None:
        body_headers = "Content-Type: application/sdp\r\n" if sdp else ""
        msg = (
            f"SIP/2.0 {status}\r\n{headers}Contact: <{self.uri}>\r\n{body_headers}"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        with contextlib.suppress(OSError):
            self.sock.sendto(msg.encode(), peer)


def _header(message: str, *names: str) -> str:
    for line in message.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() in names:
            return value.strip()
    return ""


def _dialog_headers(request: str, to_tag: str) -> str:
    """The request's Via/From/To/Call-ID/CSeq lines for a response (To tagged if asked)."""
    out = []
    for line in request.split("\r\n"):
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            out.append(line)
        elif name in ("to", "t"):
            out.append(line if not to_tag or "tag=" in line else f"{line};tag={to_tag}")
    return "".join(f"{line}\r\n" for line in out)


def _sdp(port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
