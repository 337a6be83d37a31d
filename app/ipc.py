"""Single instance: the first process serves, any later one forwards its argv and exits.

Why not QLocalServer: a second process (a click on a ``tel:`` link) must be quick, and
importing Qt alone costs more than the whole forward. This module uses only the standard
library, so ``lodgephone tel:...`` connects, sends one JSON line and prints the reply in
a few tens of milliseconds.

Who is first is decided by an exclusive lock on a lock file that the first process holds
for its whole life. The kernel drops the lock when that process dies, however it dies, so:

- two processes starting together cannot both listen (only the lock holder binds);
- a socket file left by a crash is known to be stale (its owner no longer holds the lock)
  and is replaced;
- a process that loses the race waits for the winner's socket, then forwards to it.

Wire format, one JSON object per line each way::

    -> {"v": 1, "argv": ["dial", "+15551234567"], "cwd": "/home/agent"}
    <- {"ok": true, "message": "Dialing +1 555-123-4567", "data": {...}}
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "InstanceLock",
    "IpcError",
    "NotRunning",
    "Reply",
    "Server",
    "forward",
    "runtime_dir",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024
SOCKET_NAME = "lodgephone.sock"
LOCK_NAME = "lodgephone.lock"

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

    def to_line(self) -> bytes:
        body = {"ok": self.ok, "message": self.message, "data": self.data}
        return json.dumps(body, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Reply:
        try:
            body = json.loads(line)
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


# ----------------------------------------------------------------------------- client side
def forward(
    argv: list[str],
    *,
    folder: Path | None = None,
    timeout: float = 5.0,
    wait_for_start: float = 5.0,
) -> Reply:
    """Send ``argv`` to the running instance and return its reply.

    Raises ``NotRunning`` when no instance runs (so the caller may become it). When an
    instance holds the lock but is not listening yet (it is starting), waits up to
    ``wait_for_start`` seconds for it.
    """
    folder = folder or runtime_dir()
    path = _socket_path(folder)
    deadline = time.monotonic() + wait_for_start
    delay = 0.01
    while True:
        try:
            return _send(path, argv, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            if not _lock_is_held(folder) or time.monotonic() > deadline:
                raise NotRunning("Lodgestory Phone is not running") from None
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _send(path: str, argv: list[str], timeout: float) -> Reply:
    message = {"v": PROTOCOL_VERSION, "argv": list(argv), "cwd": os.getcwd()}
    data = json.dumps(message).encode() + b"\n"
    if len(data) > MAX_MESSAGE:
        raise IpcError("the command line is too long to forward")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        try:
            sock.sendall(data)
            line = _read_line(sock)
        except TimeoutError as exc:
            raise IpcError("the running app did not answer in time") from exc
        except OSError as exc:
            raise IpcError(f"the running app closed the connection: {exc}") from exc
    if not line:
        raise IpcError("the running app closed the connection without answering")
    return Reply.from_line(line)


def _read_line(sock: socket.socket) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_MESSAGE:
            raise IpcError("message too large")
    return bytes(buf.split(b"\n", 1)[0])


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
class Server:
    """Listens on the instance socket in a thread; each request goes to ``handler``.

    ``handler`` runs on the server thread; the app's handler hops to the Qt main thread and
    waits for the answer there (with a deadline), so a slow UI never blocks this thread
    forever. Requests are served one at a time, in arrival order.
    """

    def __init__(self, lock: InstanceLock, handler: Handler) -> None:
        if not lock.held:
            raise IpcError("only the process holding the instance lock may listen")
        self._handler = handler
        self.path = _socket_path(lock.folder)
        # We hold the lock, so any socket file here was left by a dead instance.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            self._sock.bind(self.path)
        finally:
            os.umask(old_umask)
        self._sock.listen(16)
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lodgephone-ipc", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        self._sock.close()
        self._wake_r.close()
        self._wake_w.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._closed.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _addr = self._sock.accept()
                    except BlockingIOError:
                        continue
                    with conn:
                        self._serve(conn)
        finally:
            sel.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        conn.settimeout(2.0)
        try:
            line = _read_line(conn)
            reply = self._answer(line)
            conn.sendall(reply.to_line())
        except (OSError, IpcError):
            return  # the client went away or sent junk; nothing to tell it

    def _answer(self, line: bytes) -> Reply:
        try:
            request = json.loads(line)
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
