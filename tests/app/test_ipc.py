"""Single instance: forwarding, the start-up race, and recovery from a crashed instance."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from app import ipc
from tests.app.helpers import ROOT


def test_second_process_forwards_argv_and_gets_the_reply(tmp_path):
    lock = ipc.InstanceLock(tmp_path)
    assert lock.acquire()
    seen: list[list[str]] = []

    def handler(argv, cwd):
        seen.append(argv)
        return ipc.Reply(True, "ok " + " ".join(argv), {"n": len(seen)})

    server = ipc.Server(lock, handler)
    try:
        reply = ipc.forward(["dial", "+15551234567"], folder=tmp_path)
        assert reply == ipc.Reply(True, "ok dial +15551234567", {"n": 1})
        # A plain process with no Qt at all: the real fast path.
        env = {**os.environ, "LODGEPHONE_RUNTIME_DIR": str(tmp_path)}
        code = (
            "import sys; from app import ipc; r = ipc.forward(['tel:+15551234567']);"
            "print(r.message); print('PySide6' in sys.modules)"
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
        assert out == ["ok", "tel:+15551234567", "False"]
        assert seen[-1] == ["tel:+15551234567"]
    finally:
        server.close()
        lock.release()


def test_no_instance_means_not_running(tmp_path):
    with pytest.raises(ipc.NotRunning):
        ipc.forward(["status"], folder=tmp_path, wait_for_start=0.2)


def test_only_one_of_two_racing_processes_becomes_the_instance(tmp_path):
    first, second = ipc.InstanceLock(tmp_path), ipc.InstanceLock(tmp_path)
    results = []
    barrier = threading.Barrier(2)

    def race(lock):
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


def test_stale_socket_of_a_crashed_instance_is_replaced(tmp_path):
    # A crashed instance leaves its socket file behind, and nobody holds the lock.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / ipc.SOCKET_NAME))
    stale.close()
    with pytest.raises(ipc.NotRunning):
        ipc.forward(["status"], folder=tmp_path, wait_for_start=0.2)
    lock = ipc.InstanceLock(tmp_path)
    assert lock.acquire()
    server = ipc.Server(lock, lambda argv, cwd: ipc.Reply(True, "fresh"))
    try:
        assert ipc.forward(["status"], folder=tmp_path).message == "fresh"
    finally:
        server.close()
        lock.release()


def test_garbage_and_old_versions_get_an_answer_not_a_crash(tmp_path):
    lock = ipc.InstanceLock(tmp_path)
    assert lock.acquire()
    server = ipc.Server(lock, lambda argv, cwd: ipc.Reply(True, "fine"))
    try:
        for payload in (b"not json\n", b'{"v": 99, "argv": []}\n', b'{"v": 1, "argv": [1]}\n'):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(server.path)
                s.sendall(payload)
                reply = ipc.Reply.from_line(s.recv(4096).split(b"\n")[0])
            assert reply.ok is False and reply.message
        assert ipc.forward(["x"], folder=tmp_path).message == "fine"
    finally:
        server.close()
        lock.release()
