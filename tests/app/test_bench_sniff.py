"""The app benches' stopwatch (bench/app_sniff.py): it must find a SIP request in a loopback
frame and stamp it with the kernel's time. A broken stopwatch would make the popup and dial
benchmarks report any number at all."""

from __future__ import annotations

import importlib.util
import os
import socket
import struct
import time
from types import ModuleType

import pytest

from tests.app.helpers import ROOT

INVITE = (
    b"INVITE sip:agent@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtest\r\n"
    b"Call-ID: bench-sniff-test@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def _sniff() -> ModuleType:
    spec = importlib.util.spec_from_file_location("app_sniff", ROOT / "bench" / "app_sniff.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frame(payload: bytes, *, proto: int = 17, ethertype: int = 0x0800) -> bytes:
    udp = struct.pack("!HHHH", 5070, 5080, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, proto, 0, b"\x7f\0\0\1", b"\x7f\0\0\1"
    )
    return b"\0" * 12 + struct.pack("!H", ethertype) + ip + udp


def test_finds_the_sip_request_in_a_loopback_frame() -> None:
    sniff = _sniff()
    assert sniff.sip_request(_frame(INVITE)) == (5070, 5080, INVITE)
    assert sniff.header(INVITE, b"call-id") == "bench-sniff-test@127.0.0.1"
    assert sniff.header(INVITE, b"cseq") == "1 INVITE"
    assert sniff.sip_request(_frame(INVITE, proto=6)) is None  # TCP
    assert sniff.sip_request(_frame(INVITE, ethertype=0x86DD)) is None  # not IPv4
    assert sniff.sip_request(_frame(INVITE)[:30]) is None  # truncated


@pytest.mark.skipif(os.geteuid() != 0, reason="AF_PACKET needs root (CI runs as root)")
def test_stamps_an_invite_on_loopback_with_the_kernel_time() -> None:
    sniff = _sniff()
    raw = sniff.open_lo()
    raw.settimeout(5)
    with (
        raw,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        before = time.time_ns()
        tx.sendto(INVITE, ("127.0.0.1", port))
        after = time.time_ns()
        deadline = time.monotonic() + 5
        request = None
        while request is None or request["dport"] != port:  # other loopback traffic: skip
            assert time.monotonic() < deadline, "the INVITE never showed up on lo"
            request = sniff.read_request(raw, (b"INVITE ",))
    assert request["method"] == "INVITE"
    assert request["call_id"] == "bench-sniff-test@127.0.0.1"
    assert request["cseq"] == "1 INVITE"
    # Stamped inside sendto(), by the kernel. Its packet clock and user space's reading of
    # CLOCK_REALTIME were seen 23 us apart on a loaded machine (CI), so allow 0.2 ms: the
    # benches built on these stamps measure milliseconds.
    skew = 200_000
    assert before - skew <= request["t_ns"] <= after + skew
