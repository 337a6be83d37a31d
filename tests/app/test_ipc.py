"""Single instance: forwarding, the start-up race, recovery from a crashed instance, and the
transport seam (AF_UNIX socket on POSIX, named pipe on Windows).

Every forwarding test runs with both clients: the plain-socket one POSIX uses, and the
`multiprocessing.connection` one Windows uses (here over AF_UNIX: the same code as on
Windows except the pipe itself). The server is the same Listener for both.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from app import ipc
from tests.app.helpers import ROOT

CLIENTS = {"socket": ipc.SocketTransport, "connection": ipc.ConnectionTransport}


@pytest.fixture(params=sorted(CLIENTS))
def client(request: pytest.FixtureRequest, tmp_path: Path) -> ipc.Transport:
    """The client transport under test, aimed at the instance endpoint in tmp_path."""
    endpoint = ipc.default_transport(tmp_path, "linux").endpoint
    return CLIENTS[request.param](endpoint)


def _serve(folder: Path, handler: ipc.Handler) -> tuple[ipc.InstanceLock, ipc.Server]:
    lock = ipc.InstanceLock(folder)
    assert lock.acquire()
    server = ipc.Server(lock, handler)
    server.wait_ready()
    return lock, server


def test_second_process_forwards_argv_and_gets_the_reply(
    tmp_path: Path, client: ipc.Transport
) -> None:
    seen: list[list[str]] = []

    def handler(argv: list[str], cwd: str) -> ipc.Reply:
        seen.append(argv)
        return ipc.Reply(True, "ok " + " ".join(argv), {"n": len(seen), "cwd": cwd})

    lock, server = _serve(tmp_path, handler)
    try:
        reply = ipc.forward(["dial", "+15551234567"], folder=tmp_path, transport=client)
        assert reply == ipc.Reply(True, "ok dial +15551234567", {"n": 1, "cwd": os.getcwd()})
        # non-ASCII and a long argument survive the framing
        long_arg = "sip:" + "ü" * 5000 + "@example.com"
        assert ipc.forward([long_arg], folder=tmp_path, transport=client).message.endswith(long_arg)
    finally:
        server.close()
        lock.release()
    assert not server._thread.is_alive(), "close() did not wake the accepting thread"
    assert not Path(server.path).exists()


def test_forwarding_process_imports_neither_qt_nor_multiprocessing(tmp_path: Path) -> None:
    """The real fast path on POSIX: a plain process forwards a link with light imports."""
    lock, server = _serve(tmp_path, lambda argv, cwd: ipc.Reply(True, "ok " + argv[0]))
    try:
        env = {**os.environ, "LODGEPHONE_RUNTIME_DIR": str(tmp_path)}
        code = (
            "import sys; from app import ipc; r = ipc.forward(['tel:+15551234567']);"
            "print(r.message); print('PySide6' in sys.modules, 'multiprocessing' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        assert out == ["ok", "tel:+15551234567", "False", "False"]
    finally:
        server.close()
        lock.release()


def test_no_instance_means_not_running(tmp_path: Path, client: ipc.Transport) -> None:
    with pytest.raises(ipc.NotRunning):
        ipc.forward(["status"], folder=tmp_path, wait_for_start=0.2, transport=client)


def test_a_forward_waits_for_an_instance_that_holds_the_lock_but_is_still_starting(
    tmp_path: Path, client: ipc.Transport
) -> None:
    lock = ipc.InstanceLock(tmp_path)
    assert lock.acquire()
    servers: list[ipc.Server] = []
    # the instance starts listening while the forward is already waiting
    starter = threading.Timer(
        0.3, lambda: servers.append(ipc.Server(lock, lambda a, c: ipc.Reply(True, "up")))
    )
    starter.start()
    try:
        assert ipc.forward(["status"], folder=tmp_path, transport=client).message == "up"
    finally:
        starter.join()
        for server in servers:
            server.close()
        lock.release()


def test_only_one_of_two_racing_processes_becomes_the_instance(tmp_path: Path) -> None:
    first, second = ipc.InstanceLock(tmp_path), ipc.InstanceLock(tmp_path)
    results = []
    barrier = threading.Barrier(2)

    def race(lock: ipc.InstanceLock) -> None:
        barrier.wait()
        results.append(lock.acquire())

    threads = [threading.Thread(target=race, args=(x,)) for x in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    first.release()
    second.release()


def test_stale_socket_of_a_crashed_instance_is_replaced(
    tmp_path: Path, client: ipc.Transport
) -> None:
    # A crashed instance leaves its socket file behind, and nobody holds the lock.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / ipc.SOCKET_NAME))
    stale.close()
    with pytest.raises(ipc.NotRunning):
        ipc.forward(["status"], folder=tmp_path, wait_for_start=0.2, transport=client)
    lock, server = _serve(tmp_path, lambda argv, cwd: ipc.Reply(True, "fresh"))
    try:
        assert ipc.forward(["status"], folder=tmp_path, transport=client).message == "fresh"
    finally:
        server.close()
        lock.release()


def _raw_exchange(path: str, data: bytes) -> bytes:
    """Send raw bytes; return the payload of the reply frame, or b"" when hung up on."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(data)
        out = b""
        try:
            while len(out) < 4 or len(out) < 4 + int.from_bytes(out[:4], "big"):
                chunk = s.recv(4096)
                if not chunk:
                    return b""
                out += chunk
        except ConnectionResetError:  # hung up on with our bytes unread
            return b""
        return out[4:]


def test_garbage_and_old_versions_get_an_answer_not_a_crash(tmp_path: Path) -> None:
    lock, server = _serve(tmp_path, lambda argv, cwd: ipc.Reply(True, "fine"))
    try:
        for payload in (b"not json", b'{"v": 99, "argv": []}', b'{"v": 1, "argv": [1]}'):
            reply = ipc.Reply.from_bytes(_raw_exchange(server.path, ipc.frame(payload)))
            assert reply.ok is False and reply.message
        # a newline-framed request (the old wire format) or an absurd length: hung up on
        for junk in (b'{"v": 1, "argv": ["x"]}\n', b"\x7f\xff\xff\xff" + b"x" * 10):
            assert _raw_exchange(server.path, junk) == b""
        assert ipc.forward(["x"], folder=tmp_path).message == "fine"
    finally:
        server.close()
        lock.release()


def test_framing_is_the_one_multiprocessing_connection_speaks() -> None:
    """The POSIX client frames by hand what the Listener reads with recv_bytes: check it
    against the real Connection both ways."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        conn = Connection(os.dup(theirs.fileno()))
        try:
            conn.send_bytes(b'{"ok":true}')
            assert ours.recv(64) == ipc.frame(b'{"ok":true}') == b'\x00\x00\x00\x0b{"ok":true}'
            ours.sendall(ipc.frame("dial ü".encode()))
            assert conn.recv_bytes(100) == "dial ü".encode()
        finally:
            conn.close()
    with pytest.raises(ipc.IpcError):
        ipc.frame(b"x" * (ipc.MAX_MESSAGE + 1))


def test_transport_seam_picks_a_named_pipe_on_windows_and_a_socket_elsewhere(
    tmp_path: Path,
) -> None:
    folder = Path("C:/Users/Ana María/AppData/Local/Temp/lodgephone-ana")
    windows = ipc.default_transport(folder, "win32")
    assert isinstance(windows, ipc.ConnectionTransport)
    assert windows.endpoint.family == "AF_PIPE"
    name = windows.endpoint.address
    assert name.startswith("\\\\.\\pipe\\lodgephone-")
    rest = name[len("\\\\.\\pipe\\") :]
    assert "\\" not in rest and "/" not in rest and ":" not in rest and len(name) <= 256
    # one pipe per runtime folder, i.e. per user (and per test folder)
    other = ipc.default_transport(folder.with_name("lodgephone-bob"), "win32").endpoint
    assert other.address != name
    for platform in ("linux", "darwin"):
        posix = ipc.default_transport(tmp_path, platform)
        assert isinstance(posix, ipc.SocketTransport)
        assert posix.endpoint == ipc.Endpoint("AF_UNIX", str(tmp_path / ipc.SOCKET_NAME))
    assert isinstance(ipc.default_transport(tmp_path), ipc.SocketTransport)


def test_an_endpoint_that_cannot_open_is_reported(tmp_path: Path) -> None:
    lock = ipc.InstanceLock(tmp_path)
    assert lock.acquire()
    nowhere = ipc.Endpoint("AF_UNIX", str(tmp_path / "missing" / "x.sock"))
    server = ipc.Server(lock, lambda a, c: ipc.Reply(True), transport=ipc.SocketTransport(nowhere))
    try:
        with pytest.raises(ipc.IpcError, match="cannot listen"):
            server.wait_ready()
    finally:
        server.close()
        lock.release()
