"""A private D-Bus session bus with an unlocked GNOME Keyring: a real Secret Service.

The bus only has what we start on it (no service activation), so nothing else answers
for org.freedesktop.secrets, and the keyring's files live in a temporary home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.crmclient.waiting import wait_until

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass(frozen=True)
class KeyringRig:
    bus_address: str
    data_dir: Path


def available() -> bool:
    return bool(shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon"))


def _secret_service_owned(address: str) -> bool:
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    try:
        with open_dbus_connection(address) as conn:
            reply = conn.send_and_get_reply(
                new_method_call(bus, "NameHasOwner", "s", ("org.freedesktop.secrets",)),
                timeout=2,
            )
    except (OSError, ConnectionError):
        return False
    return bool(reply.body[0])


@contextmanager
def secret_service(root: Path, password: str = "rig-password") -> Iterator[KeyringRig]:
    """Start dbus-daemon and gnome-keyring-daemon; stop both (by pid) afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    runtime = root / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    socket = runtime / "bus"
    config = root / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=socket), encoding="utf-8")
    address = f"unix:path={socket}"
    env = {
        **os.environ,
        "HOME": str(root),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "DBUS_SESSION_BUS_ADDRESS": address,
    }
    env.pop("DISPLAY", None)
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    keyring: subprocess.Popen[bytes] | None = None
    try:
        wait_until(socket.exists, timeout=10, what="the D-Bus socket")
        keyring = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert keyring.stdin is not None
        keyring.stdin.write(password.encode())
        keyring.stdin.close()
        wait_until(
            lambda: _secret_service_owned(address), timeout=15, what="org.freedesktop.secrets"
        )
        yield KeyringRig(bus_address=address, data_dir=root / "data")
    finally:
        for proc in (keyring, bus):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if bus.stderr is not None:
            bus.stderr.close()
