"""SIP requests on the loopback wire, with the kernel's receive time: the app benches' stopwatch.

Reads every packet on ``lo`` through an AF_PACKET socket (root or CAP_NET_RAW; the benches
run as root inside ``unshare -n``) and prints one JSON line per SIP request of the asked
methods: ``{"t_ns": ..., "method": "INVITE", "sport": ..., "dport": ..., "call_id": ...}``.
``t_ns`` is the kernel's timestamp of the packet (``SO_TIMESTAMPNS``, wall clock in ns), so
neither this process's scheduling nor anyone's GIL moves it: it is the moment the request
was on the wire, comparable with ``time.time_ns()`` in any process of the machine.

It runs as its own process so that waking up for every packet (RTP included) costs the
measured app nothing. A loopback packet is seen twice (leaving and arriving); only the
first sighting of each (Call-ID, CSeq) is printed, retransmissions included once.

    .venv/bin/python bench/app_sniff.py [--methods INVITE,CANCEL]
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ETH_P_ALL = 0x0003
ETH_HEADER = 14


def open_lo() -> socket.socket:
    """A raw socket on ``lo`` that stamps each packet with its kernel arrival time."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("lo", 0))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return sock


def sip_request(frame: bytes) -> tuple[int, int, bytes] | None:
    """(source port, destination port, UDP payload) of an IPv4 UDP frame, else None."""
    if len(frame) < ETH_HEADER + 28 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[ETH_HEADER:]
    if ip[9] != socket.IPPROTO_UDP:
        return None
    udp = ip[(ip[0] & 0x0F) * 4 :]
    sport, dport = struct.unpack("!HH", udp[:4])
    return sport, dport, udp[8:]


def header(payload: bytes, name: bytes) -> str:
    for line in payload.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode(errors="replace")
    return ""


def read_request(sock: socket.socket, methods: tuple[bytes, ...]) -> dict[str, object] | None:
    """The next frame on ``sock``, as a request of one of ``methods`` (``b"INVITE "``), or
    None when that frame is something else."""
    frame, ancillary, _flags, _addr = sock.recvmsg(65535, 256)
    parsed = sip_request(frame)
    if parsed is None or not parsed[2].startswith(methods):
        return None
    sport, dport, payload = parsed
    t_ns = 0
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            t_ns = sec * 1_000_000_000 + nsec
    return {
        "t_ns": t_ns,
        "method": payload.split(b" ", 1)[0].decode(),
        "sport": sport,
        "dport": dport,
        "call_id": header(payload, b"call-id"),
        "cseq": header(payload, b"cseq"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--methods", default="INVITE", help="comma-separated SIP methods")
    args = parser.parse_args()
    methods = tuple(m.strip().encode() + b" " for m in args.methods.split(",") if m.strip())
    sock = open_lo()
    seen: set[tuple[object, object]] = set()
    print(json.dumps({"ready": True}), flush=True)
    while True:
        request = read_request(sock, methods)
        if request is None:
            continue
        key = (request["call_id"], request["cseq"])
        if key in seen:
            continue
        seen.add(key)
        try:
            print(json.dumps(request), flush=True)
        except BrokenPipeError:
            return


if __name__ == "__main__":
    sys.exit(main())
