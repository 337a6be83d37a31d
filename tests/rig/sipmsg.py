"""Tiny raw SIP over UDP: enough to probe a peer with OPTIONS and to see what arrives.

Used to tell when a peer is ready (it answers OPTIONS), to check a peer is still alive after
garbage, and by the latency bench as a bare UDP endpoint that timestamps INVITEs.
"""

from __future__ import annotations

import secrets
import socket
import time

from tests.rig.ports import HOST


def options_request(target: str, local_port: int, *, transport: str = "UDP") -> bytes:
    """An OPTIONS request to `target` (host:port) from 127.0.0.1:`local_port`."""
    branch = "z9hG4bK" + secrets.token_hex(8)
    tag = secrets.token_hex(4)
    call_id = secrets.token_hex(8)
    return (
        f"OPTIONS sip:{target} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {HOST}:{local_port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{HOST}:{local_port}>;tag={tag}\r\n"
        f"To: <sip:{target}>\r\n"
        f"Call-ID: {call_id}@{HOST}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:probe@{HOST}:{local_port}>\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def status_code(message: bytes) -> int | None:
    """The status code of a SIP response, None for a request or garbage."""
    first = message.split(b"\r\n", 1)[0].split()
    if len(first) >= 2 and first[0] == b"SIP/2.0" and first[1].isdigit():
        return int(first[1])
    return None


def udp_options(host: str, port: int, timeout: float = 0.5) -> int | None:
    """Send one OPTIONS over UDP; the final status code, or None if nothing answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        s.settimeout(timeout)
        local_port = s.getsockname()[1]
        try:
            s.sendto(options_request(f"{host}:{port}", local_port), (host, port))
            deadline = time.monotonic() + timeout
            while True:
                s.settimeout(max(0.001, deadline - time.monotonic()))
                data, _ = s.recvfrom(65535)
                code = status_code(data)
                if code is not None and code >= 200:
                    return code
        except (TimeoutError, ConnectionRefusedError, OSError):
            return None
