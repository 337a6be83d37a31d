"""Ring and missed-call notifications really travel over D-Bus to
org.freedesktop.Notifications, under a real X server (Xvfb) with a private session bus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent

pytestmark = [
    pytest.mark.xvfb,
    pytest.mark.skipif(
        not (shutil.which("Xvfb") and shutil.which("dbus-daemon")), reason="needs Xvfb and dbus"
    ),
]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory) -> Iterator[dict[str, str]]:
    """An Xvfb display and a private session bus; their environment for a child process."""
    tmp = tmp_path_factory.mktemp("desktop")
    display_read, display_write = os.pipe()
    xvfb = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(display_write),
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(display_write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(display_write)
    with os.fdopen(display_read) as pipe:
        display = pipe.readline().strip()  # Xvfb writes the display number once it is ready
    bus = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",
            "--nofork",
            "--print-address=1",
            f"--address=unix:path={tmp}/bus",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()  # printed once the bus listens
    try:
        assert display and address
        yield {"DISPLAY": f":{display}", "DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        for proc in (bus, xvfb):
            proc.terminate()
            proc.wait(timeout=10)
        bus.stdout.close()


def test_ring_and_missed_reach_the_notification_service(desktop: dict[str, str]) -> None:
    env = {**os.environ, **desktop, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
    env.pop("XDG_RUNTIME_DIR", None)
    daemon = subprocess.Popen(
        [sys.executable, str(HERE / "notify_daemon.py")],
        env={**env, "QT_QPA_PLATFORM": "offscreen"},
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert daemon.stdout is not None
    try:
        assert json.loads(daemon.stdout.readline()) == {"ready": True}
        done = subprocess.run(
            [sys.executable, str(HERE / "notify_probe.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
    finally:
        daemon.terminate()
        rest, _ = daemon.communicate(timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    received = [json.loads(line) for line in rest.splitlines() if line.strip()]
    notes = [r for r in received if "summary" in r]
    ring, missed = notes[0], notes[-1]
    assert ring["app"] == "Lodgestory Phone"
    assert ring["summary"] == "Incoming call: Maria Lopez"
    assert ring["body"] == "+34 911 23 45 67 · on Demo line"
    assert ring["actions"] == ["answer", "Answer", "reject", "Reject"]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["answered"] == ["in1"]  # the notification's Answer button answers
    assert {"closed": ring["id"]} in received  # the ring note goes when the call ends
    assert missed["summary"] == "Missed call: Maria Lopez"
