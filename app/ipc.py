"""Single instance: the first process serves, any later one forwards its argv and exits.

Why not QLocalServer: a second process (a click on a ``tel:`` link) must be quick, and
importing Qt alone costs more than the whole forward. The client side of this module uses
only light standard-library modules, so ``lodgephone tel:...`` connects, sends one message
and prints the reply in a few tens of milliseconds.

Who is first is decided by an exclusive lock on a lock file that the first process holds
for its whole life. The kernel drops the lock when that process dies, however it dies, so:

- two processes starting together cannot both listen (only the lock holder binds);
- a socket file left by a crash is known to be stale (its owner no longer holds the lock)
  and is replaced;
- a process that loses the race waits for the winner's endpoint, then forwards to it.

Transport (the seam is `Transport`): Linux and macOS listen on an AF_UNIX socket in the
private runtime folder; Windows, where CPython has no AF_UNIX sockets, on a per-user named
pipe. The server is a `multiprocessing.connection.Listener` on every platform (one code
path, exercised on Linux with the AF_UNIX family); the POSIX client speaks the same framing
over a plain socket, so a forwarded link never imports `multiprocessing` (~20 ms).

Framing is that of `multiprocessing.connection`: a 4-byte big-endian length, then that
many bytes of JSON; one request and one reply per connection::

    -> {"v": 1, "argv": ["dial", "+15551234567"], "cwd": "/home/agent"}
    <- {"ok": true, "message": "Dialing +1 555-123-4567", "data": {...}}
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "ConnectionTransport",
    "Endpoint",
    "InstanceLock",
    "IpcError",
    "NotRunning",
    "Reply",
    "Server",
    "SocketTransport",
    "Transport",
    "default_transport",
    "forward",
    "runtime_dir",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024
SOCKET_NAME = "lodgephone.sock"
LOCK_NAME = "lodgephone.lock"
PIPE_PREFIX = "\\\\.\\pipe\\lodgephone-"
_HEADER = struct.Struct("!i")  # multiprocessing.connection's length prefix

#: The server's handler: argv and cwd of the second process in, a reply out.
Handler = Callable[[list[str], str], "Reply"]


class IpcError(Exception):
    """Talking to the running instance failed (it did not answer, or answered garbage)."""


class NotRunning(IpcError):
    """No instance is running (nobody holds the lock and nobody listens)."""


@dataclass(frozen=True)
class Reply:
    ok: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {"ok": self.ok, "message": self.message, "data": self.data}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> Reply:
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise IpcError("the running app sent an unreadable reply") from exc
        if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
            raise IpcError("the running app sent a reply without a result")
        data = body.get("data")
        return cls(
            ok=body["ok"],
            message=str(body.get("message", "")),
            data=data if isinstance(data, dict) else {},
        )


def runtime_dir() -> Path:
    """Private per-user folder for the socket and lock (``LODGEPHONE_RUNTIME_DIR`` wins)."""
    override = os.environ.get("LODGEPHONE_RUNTIME_DIR")
    if override:
        path = Path(override)
    elif os.environ.get("XDG_RUNTIME_DIR") and Path(os.environ["XDG_RUNTIME_DIR"]).is_dir():
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "lodgephone"
    else:
        uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
        import tempfile  # only here: it costs ~9 ms of imports on every forwarded link

        path = Path(tempfile.gettempdir()) / f"lodgephone-{uid}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid"):
        st = path.stat()
        if st.st_uid != os.getuid():
            raise IpcError(f"{path} belongs to another user; refusing to use it")
        if st.st_mode & 0o077:
            path.chmod(0o700)
    return path


def _socket_path(folder: Path) -> str:
    path = str(folder / SOCKET_NAME)
    if len(path.encode()) > 100:  # sun_path is 108 bytes on Linux, 104 on macOS
        raise IpcError(f"runtime folder path too long for a socket: {folder}")
    return path


def _pipe_name(folder: Path) -> str:
    """A named pipe per runtime folder (so per user, and per test folder): the folder path
    with everything but letters, digits, '-', '_' and '.' made '-' (no backslashes)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(folder))
    return (PIPE_PREFIX + safe)[:256]


# ------------------------------------------------------------------------ the transport
@dataclass(frozen=True)
class Endpoint:
    """Where the instance listens: ``family`` is a `multiprocessing.connection` family
    ("AF_UNIX": a socket path; "AF_PIPE": a Windows named pipe)."""

    family: str
    address: str


def frame(payload: bytes) -> bytes:
    """One message as `multiprocessing.connection` sends it (send_bytes)."""
    if len(payload) > MAX_MESSAGE:
        raise IpcError("message too large")
    return _HEADER.pack(len(payload)) + payload


class Transport:
    """How a request reaches the instance. Every transport listens the same way (below);
    they differ in the client, i.e. in what a forwarded link has to import."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def exchange(self, request: bytes, timeout: float) -> bytes:
        """Send one request, return the reply's payload. FileNotFoundError or
        ConnectionRefusedError when nobody listens; IpcError when the exchange fails."""
        raise NotImplementedError

    def listen(self) -> _Listening:
        return _Listening(self.endpoint)


class SocketTransport(Transport):
    """POSIX client: a plain AF_UNIX socket speaking the Listener's framing."""

    def exchange(self, request: bytes, timeout: float) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.endpoint.address)
            try:
                sock.sendall(frame(request))
                return _read_frame(sock)
            except TimeoutError as exc:
                raise IpcError("the running app did not answer in time") from exc
            except OSError as exc:
                raise IpcError(f"the running app closed the connection: {exc}") from exc


class ConnectionTransport(Transport):
    """`multiprocessing.connection.Client`: the Windows client (named pipes); it works with
    AF_UNIX too, which is how Linux tests run this code path."""

    def exchange(self, request: bytes, timeout: float) -> bytes:
        from multiprocessing.connection import Client

        if len(request) > MAX_MESSAGE:
            raise IpcError("message too large")
        conn = Client(self.endpoint.address, family=self.endpoint.family)
        try:
            conn.send_bytes(request)
            if not conn.poll(timeout):
                raise IpcError("the running app did not answer in time")
            return conn.recv_bytes(MAX_MESSAGE)
        except EOFError:
            raise IpcError("the running app closed the connection without answering") from None
        except OSError as exc:
            raise IpcError(f"the running app closed the connection: {exc}") from exc
        finally:
            conn.close()


def default_transport(folder: Path, platform: str = sys.platform) -> Transport:
    """Named pipe on Windows (no AF_UNIX in CPython there), AF_UNIX socket elsewhere."""
    if platform == "win32":
        return ConnectionTransport(Endpoint("AF_PIPE", _pipe_name(folder)))
    return SocketTransport(Endpoint("AF_UNIX", _socket_path(folder)))


def _read_frame(sock: socket.socket) -> bytes:
    (size,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
    if not 0 <= size <= MAX_MESSAGE:
        raise IpcError("message too large")
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise IpcError("the running app closed the connection without answering")
        buf += chunk
    return bytes(buf)


# ----------------------------------------------------------------------------- client side
def forward(
    argv: list[str],
    *,
    folder: Path | None = None,
    timeout: float = 5.0,
    wait_for_start: float = 5.0,
    transport: Transport | None = None,
) -> Reply:
    """Send ``argv`` to the running instance and return its reply.

    Raises ``NotRunning`` when no instance runs (so the caller may become it). When an
    instance holds the lock but is not listening yet (it is starting), waits up to
    ``wait_for_start`` seconds for it.
    """
    folder = folder or runtime_dir()
    transport = transport or default_transport(folder)
    message = {"v": PROTOCOL_VERSION, "argv": list(argv), "cwd": os.getcwd()}
    request = json.dumps(message).encode()
    if len(request) > MAX_MESSAGE:
        raise IpcError("the command line is too long to forward")
    deadline = time.monotonic() + wait_for_start
    delay = 0.01
    while True:
        try:
            return Reply.from_bytes(transport.exchange(request, timeout))
        except (FileNotFoundError, ConnectionRefusedError):
            if not _lock_is_held(folder) or time.monotonic() > deadline:
                raise NotRunning("Lodgestory Phone is not running") from None
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


# ------------------------------------------------------------------------------ the lock
class InstanceLock:
    """The exclusive lock that makes a process the instance. Hold it for the process life."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or runtime_dir()
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Try once, without waiting. True: this process is now the instance."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock_is_held(folder: Path) -> bool:
    """True while some process holds the instance lock (it may still be starting)."""
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        # Getting it means nobody held it; closing the descriptor releases it again.
        return not _try_lock(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- server side
class _Listening:
    """A `multiprocessing.connection.Listener` (no authkey: the endpoint is private to the
    user: a 0600 socket in a 0700 folder, or a pipe whose default DACL gives other users
    read access only). Created on the server thread: its imports stay off the UI thread."""

    def __init__(self, endpoint: Endpoint) -> None:
        from multiprocessing.connection import Listener

        self.endpoint = endpoint
        if endpoint.family == "AF_UNIX":
            # we hold the lock, so a socket file here was left by a dead instance
            with contextlib.suppress(FileNotFoundError):
                os.unlink(endpoint.address)
            old_umask = os.umask(0o177)
            try:
                self._listener = Listener(endpoint.address, family="AF_UNIX", backlog=16)
            finally:
                os.umask(old_umask)
        else:
            self._listener = Listener(endpoint.address, family=endpoint.family)

    def accept(self) -> Any:
        return self._listener.accept()

    def wake(self) -> None:
        """Unblock a pending `accept` (a Windows pipe accept cannot be interrupted any
        other way): connect once and hang up."""
        from multiprocessing.connection import Client

        with contextlib.suppress(OSError):
            Client(self.endpoint.address, family=self.endpoint.family).close()

    def close(self) -> None:
        self._listener.close()
        if self.endpoint.family == "AF_UNIX":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.endpoint.address)


class Server:
    """Listens on the instance endpoint in a thread; each request goes to ``handler``.

    ``handler`` runs on the server thread; the app's handler hops to the Qt main thread and
    waits for the answer there (with a deadline), so a slow UI never blocks this thread
    forever. Requests are served one at a time, in arrival order; a client that stops in
    the middle of a message holds the server only until that client exits (its own
    timeout), when the connection closes.

    The endpoint is opened on the server thread (no import on the caller's thread);
    forwarders wait for it while the lock is held. `wait_ready` blocks until it is open.
    """

    def __init__(
        self, lock: InstanceLock, handler: Handler, transport: Transport | None = None
    ) -> None:
        if not lock.held:
            raise IpcError("only the process holding the instance lock may listen")
        self._handler = handler
        self.transport = transport or default_transport(lock.folder)
        self.endpoint = self.transport.endpoint
        self.path = self.endpoint.address
        self.error: Exception | None = None
        self._listening: _Listening | None = None
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lodgephone-ipc", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float = 5.0) -> None:
        """Block until the endpoint is open; raise IpcError if it could not be."""
        if not self._ready.wait(timeout):
            raise IpcError("the instance endpoint did not open in time")
        if self.error is not None:
            raise IpcError(f"cannot listen on {self.path}: {self.error}") from self.error

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._ready.wait(5)
        if self._listening is not None:
            self._listening.wake()
        self._thread.join(timeout=5)
        if self._listening is not None:
            self._listening.close()

    def _run(self) -> None:
        try:
            listening = self._listening = self.transport.listen()
        except Exception as exc:  # reported through wait_ready and the app's log
            import logging

            logging.getLogger(__name__).error("single instance: cannot listen: %s", exc)
            self.error = exc
            return
        finally:
            self._ready.set()
        while not self._closed.is_set():
            try:
                conn = listening.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            with conn:
                if self._closed.is_set():
                    return
                self._serve(conn)

    def _serve(self, conn: Any) -> None:
        try:
            if not conn.poll(2.0):
                return
            request = conn.recv_bytes(MAX_MESSAGE)
            conn.send_bytes(self._answer(request).to_bytes())
            # let the client read the reply and hang up first: a Windows pipe the server
            # closes at once may drop what the client has not read yet
            conn.poll(1.0)
        except (OSError, EOFError, IpcError):
            return  # the client went away or sent junk; nothing to tell it

    def _answer(self, payload: bytes) -> Reply:
        try:
            request = json.loads(payload)
        except ValueError:
            return Reply(False, "unreadable request")
        if not isinstance(request, dict) or request.get("v") != PROTOCOL_VERSION:
            return Reply(False, "this lodgephone is a different version; restart the app")
        argv = request.get("argv")
        cwd = request.get("cwd", "")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            return Reply(False, "request without a command line")
        try:
            return self._handler(argv, cwd if isinstance(cwd, str) else "")
        except Exception as exc:  # the handler's bug must not kill the server thread
            return Reply(False, f"the app failed to handle the request: {exc}")
