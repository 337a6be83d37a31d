"""Wake the owner thread out of `libHandleEvents` when another thread queues work.

The owner thread sleeps inside PJSIP's ioqueue `select()` until a socket is readable or a
PJSIP timer is due. Polling it every few milliseconds instead (so queued commands are seen)
cost 1 to 2 % of a core on an idle engine, and a longer poll made commands late. So the
engine listens on a private loopback UDP SIP transport and any thread that queues work
sends it a CRLF keep-alive datagram: `select()` returns at once (0.1 to 0.3 ms measured)
and PJSIP discards a bare CRLF keep-alive without a log line or a reply.

Accounts are bound to their own transports (`sipConfig.transportId`), so PJSIP never picks
this one for outgoing requests.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pjsua2 as pj

log = logging.getLogger(__name__)

KEEPALIVE = b"\r\n\r\n"


class Waker:
    """Created on the owner thread after `libInit`; `wake()` is safe from any thread."""

    def __init__(self, ep: Any) -> None:
        cfg = pj.TransportConfig()
        cfg.port = 0
        cfg.boundAddress = "127.0.0.1"
        self.transport_id = int(ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, cfg))
        host, port = str(ep.transportGetInfo(self.transport_id).localName).rsplit(":", 1)
        self._addr = (host, int(port))
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._signalled = False
        self.sent = 0

    def wake(self) -> None:
        """Any thread. At most one datagram is in flight per loop pass: a flood of posts
        between two passes costs one `sendto`, not one each."""
        if self._signalled:
            return
        self._signalled = True
        try:
            self._sock.sendto(KEEPALIVE, self._addr)
            self.sent += 1
        except OSError as exc:  # a full socket buffer already holds a wake-up
            log.debug("waker: sendto failed: %s", exc)

    def rearm(self) -> None:
        """Owner thread, after `libHandleEvents` returned and before the queue is drained:
        work posted from now on sends a fresh datagram."""
        self._signalled = False

    def close(self) -> None:
        self._sock.close()
