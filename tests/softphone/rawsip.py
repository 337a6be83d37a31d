"""A minimal SIP UAC over a UDP socket: INVITE, wait for 180, CANCEL (with a Reason).

Enough to test how the engine reads a CANCEL; real interop lives in tests/interop/.
"""

from __future__ import annotations

import socket
import time
import uuid


class RawUac:
    def __init__(self, target_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", target_port)
        self.call_id = uuid.uuid4().hex
        self.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        self.tag = uuid.uuid4().hex[:8]
        self.uri = f"sip:bob@127.0.0.1:{target_port}"

    def close(self) -> None:
        self.sock.close()

    def _headers(self, method: str) -> str:
        return (
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch={self.branch}\r\n"
            f"Max-Forwards: 70\r\n"
            f'From: "Queue" <sip:queue@127.0.0.1:{self.port}>;tag={self.tag}\r\n'
            f"To: <{self.uri}>\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: 1 {method}\r\n"
        )

    def invite(self) -> None:
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        msg = (
            f"INVITE {self.uri} SIP/2.0\r\n"
            + self._headers("INVITE")
            + f"Contact: <sip:queue@127.0.0.1:{self.port}>\r\n"
            + "Content-Type: application/sdp\r\n"
            + f"Content-Length: {len(sdp)}\r\n\r\n"
            + sdp
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

    def cancel(self, reason: str | None) -> None:
        extra = f"Reason: {reason}\r\n" if reason else ""
        msg = (
            f"CANCEL {self.uri} SIP/2.0\r\n"
            + self._headers("CANCEL")
            + extra
            + "Content-Length: 0\r\n\r\n"
        )
        self.sock.sendto(msg.encode(), self.target)
