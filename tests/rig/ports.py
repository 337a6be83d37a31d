"""Free ports on 127.0.0.1 for peers that need an explicit listening port.

A port is free for both UDP and TCP when returned, so SIP peers can listen on both with one
number. There is a window between choosing and binding; inside a private network namespace
only this test run competes for ports, and each allocation is remembered so one run never
hands out the same number twice.
"""

from __future__ import annotations

import socket
import threading

HOST = "127.0.0.1"

_lock = threading.Lock()
_handed_out: set[int] = set()


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port number currently free for both UDP and TCP on 127.0.0.1."""
    with _lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((HOST, 0))
                port: int = s.getsockname()[1]
            if port in _handed_out or not _bindable(port, socket.SOCK_STREAM):
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free UDP+TCP port found on 127.0.0.1")


def free_ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]
