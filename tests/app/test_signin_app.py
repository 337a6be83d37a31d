"""Sign in once, through the real app: the first start asks for the password in Settings,
the second start (a new process) gets its provisioning from the CRM without asking, through
the CRM session the first one left in the OS keyring (a real GNOME Keyring on a private
D-Bus), and neither the password nor a token is ever written to a file.

The first run is this module run as a script (``python -m tests.app.test_signin_app``): the
whole app, started the way ``lodgephone`` starts it, with the agent typing into Settings
and clicking Sign in. The second run is plain ``python -m app``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmclient.secrets import Backend, SecretKind, SecretStore
from crmclient.server import RunningServer, ServerConfig, start_server
from tests.app.helpers import ROOT, wait_until
from tests.crmclient import keyring_rig
from tests.rig.appenv import app_cli, private_app_env

EMAIL = "maya@lodgestory.test"
PASSWORD = "demo-user"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not keyring_rig.available(), reason="needs gnome-keyring"),
]


# ------------------------------------------------------------------ first run (a process)
def first_run() -> int:
    """Start the app, let the agent sign in from Settings, print what it showed, quit
    (once provisioned and following the CRM's events; else the faulthandler ends it)."""
    import faulthandler

    from PySide6.QtCore import QTimer

    from app import ipc
    from app.application import Application
    from app.cli import parse_args
    from app.logs import log_dir, setup_logging

    faulthandler.dump_traceback_later(60, exit=True)  # never hang the test run
    setup_logging(log_dir(), console=False)
    lock = ipc.InstanceLock()
    assert lock.acquire(), "another app instance holds the lock"
    app = Application(parse_args(["--minimized"]), lock)
    seen: dict[str, Any] = {}

    def step() -> None:
        session = app.session
        if session is None or not session.ready.is_set():
            QTimer.singleShot(50, step)
            return
        if "before" not in seen:
            seen["before"] = app.status_data()
            app.show_settings()
            window = app.settings_window
            window.crm_user.setText(EMAIL)
            window.password.setText(PASSWORD)
            window.sign_in.click()
            seen["password_field_after_click"] = window.password.text()
        message = app.settings_window.message.property("plain") or ""
        lines = app.status_data()["lines"]
        if message.startswith("Sign-in failed"):
            seen["message"] = message
            app.quit()
        elif (
            message.startswith("Signed in as")
            and lines
            and all(x["account"] for x in lines)
            and session.crm_stream_connected  # the CRM's events flow without a restart
        ):
            seen["message"] = message
            seen["after"] = app.status_data()
            app.quit()
        else:
            QTimer.singleShot(50, step)

    QTimer.singleShot(0, step)
    code = app.run()
    print("RESULT " + json.dumps(seen), flush=True)
    return code


# ---------------------------------------------------------------------------- the test
@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[keyring_rig.KeyringRig]:
    with keyring_rig.secret_service(tmp_path_factory.mktemp("keyring")) as running:
        yield running


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(ServerConfig(db_path=tmp_path / "crm.sqlite"))
    yield server
    server.stop()


def _env(tmp: Path, rig: keyring_rig.KeyringRig) -> dict[str, str]:
    return private_app_env(
        tmp, QT_QPA_PLATFORM="offscreen", DBUS_SESSION_BUS_ADDRESS=rig.bus_address
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return app_cli(env, *args)


def _status(env: dict[str, str]) -> dict[str, Any] | None:
    proc = _cli(env, "status", "--json")
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in folder.rglob("*") if p.is_file())


def test_signed_in_once_the_restarted_app_is_provisioned_without_the_password(
    crm: RunningServer, rig: keyring_rig.KeyringRig, tmp_path: Path, monkeypatch
) -> None:
    env = _env(tmp_path, rig)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text(json.dumps({"crm_url": crm.base_url}))

    first = subprocess.run(
        [sys.executable, "-m", "tests.app.test_signin_app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    line = next((x for x in first.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert first.returncode == 0 and line, f"first run: {first.returncode}\n{first.stderr[-3000:]}"
    seen = json.loads(line[len("RESULT ") :])
    # First start: nothing kept, so the app asks for a sign-in and provisions nothing.
    assert [(x["state"], x["reason"]) for x in seen["before"]["lines"]] == [
        ("not_configured", "Sign in to the CRM in Settings")
    ]
    assert seen["password_field_after_click"] == ""  # the password left the field at once
    assert seen["message"] == "Signed in as Maya Lopez."
    assert seen["after"]["user"] == EMAIL
    assert {x["label"] for x in seen["after"]["lines"]} == {"US lines", "India lines"}

    # What the first run kept: the session in the keyring, the email in the settings file.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", rig.bus_address)
    kept = SecretStore(Backend.SECRET_SERVICE).get(SecretKind.CRM_TOKEN, f"{crm.base_url}|{EMAIL}")
    assert kept is not None
    token = json.loads(kept.reveal())["token"]
    settings = json.loads((tmp_path / "config" / "settings.json").read_text())
    assert settings["crm_user"] == EMAIL

    # Second start, a new process: provisioning arrives, nobody typed a password.
    log = (tmp_path / "second.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--minimized"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        wait_until(
            lambda: (
                (s := _status(env)) is not None
                and {x["label"] for x in s["lines"]} == {"US lines", "India lines"}
            ),
            timeout=30,
            what="the restarted app's provisioned lines",
            step=0.2,
        )
        status = _status(env)
        assert status is not None and status["user"] == EMAIL
        assert status["crm"] == crm.base_url
        assert _cli(env, "quit").returncode == 0
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    # Neither the password nor the session token was written to any file of the app.
    for path in _files_under(tmp_path / "config", tmp_path / "data", tmp_path / "log"):
        data = path.read_bytes()
        assert PASSWORD.encode() not in data, path
        assert token.encode() not in data, path


if __name__ == "__main__":
    code = first_run()
    sys.stdout.flush()
    os._exit(code)  # as app/__main__: no interpreter teardown of Qt objects
