"""Run the reference server in a background thread (tests, the demo) or in the
foreground (``python -m crmclient.server``)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import uvicorn

from crmclient.server.app import create_app
from crmclient.server.config import ServerConfig


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (read it back from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says
    # TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(config: ServerConfig, *, log_level: str = "warning") -> uvicorn.Server:
    uv_config = uvicorn.Config(
        create_app(config),
        log_level=log_level,
        access_log=False,
        ws="websockets-sansio",
        lifespan="on",
        timeout_graceful_shutdown=3,
        ws_ping_interval=None,
    )
    return uvicorn.Server(uv_config)


@dataclass
class RunningServer:
    """A server running in a thread; ``stop()`` (or leaving the ``with``) shuts it down."""

    base_url: str
    config: ServerConfig
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url[len("http") :] + "/v1/events"

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("the CRM server thread did not stop in time")

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(
    config: ServerConfig, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0
) -> RunningServer:
    """Start in a daemon thread and return once it accepts connections."""
    sock = bind(host, port)
    server = make_server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="crm-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the CRM server did not start (see its log on stderr)")
        time.sleep(0.01)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return RunningServer(f"http://{shown}:{bound[1]}", config, server, thread)
