"""The diagnostics archive carries what IT needs and no secret."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.diagnostics import export
from app.logs import setup_logging
from crmclient.redact import add_secret

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def log_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "log"
    setup_logging(folder, console=False)
    yield folder
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_lodgephone", False)]:
        root.removeHandler(handler)
        handler.close()


def test_archive_has_logs_versions_devices_and_no_secret(tmp_path: Path, log_folder: Path) -> None:
    secret = "s3cr3t-SIP-pass-7781"
    add_secret(secret)
    log = logging.getLogger("lodgephone.test")
    log.warning("registering with password=%s", secret)
    log.warning("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig")
    for handler in logging.getLogger().handlers:
        handler.flush()
    # An old log written before redaction existed still leaves the machine clean.
    (log_folder / "lodgephone.log.1").write_text(f"old line sip_secret={secret}\n")

    out = export(
        tmp_path / "diag.zip",
        log_folder=log_folder,
        settings={"crm_url": "https://crm.example.com", "auto_answer": False},
        policy={"source": "/etc/xdg/lodgephone/policy.toml", "locked": {"srtp": "mandatory"}},
        audio_devices=[{"id": "sink-1", "name": "Headset", "kind": "output"}],
        status={"outbox_pending": 3},
    )

    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        texts = {name: archive.read(name).decode() for name in names}
    assert {"diagnostics.json", "logs/lodgephone.log", "logs/lodgephone.log.1"} <= names
    summary = json.loads(texts["diagnostics.json"])
    assert summary["versions"]["pjsua2-python"].startswith("2.15")
    assert summary["audio_devices"][0]["name"] == "Headset"
    assert summary["status"]["outbox_pending"] == 3
    assert "registering with password=" in texts["logs/lodgephone.log"]
    for text in texts.values():
        assert secret not in text
        assert "eyJhbGciOiJIUzI1NiJ9.payload.sig" not in text


def _agent_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    (home / "Desktop").mkdir(parents=True)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LODGEPHONE_")}
    return {
        **inherited,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_RUNTIME_DIR": str(runtime),
        "LODGEPHONE_POLICY": str(tmp_path / "policy.toml"),
    }


def test_diagnostics_command_works_without_a_running_app(tmp_path: Path) -> None:
    env = _agent_env(tmp_path)
    (tmp_path / "policy.toml").write_text('[locked]\nsrtp = "mandatory"\n')
    out = tmp_path / "diag.zip"
    result = subprocess.run(
        [sys.executable, "-m", "app", "diagnostics", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Diagnostics written to {out}" in result.stdout
    with zipfile.ZipFile(out) as archive:
        summary = json.loads(archive.read("diagnostics.json"))
    assert summary["status"] == {"running": False}
    assert summary["policy"]["locked"] == {"srtp": "mandatory"}
    assert summary["settings"]["srtp"] == "mandatory"
    assert isinstance(summary["audio_devices"], list)


def test_autostart_entry_starts_nothing_unless_start_at_login_is_on(tmp_path: Path) -> None:
    env = _agent_env(tmp_path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "installers" / "entry.py"), "--autostart"],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not list((tmp_path / "run").iterdir()), "the app started (it made its socket)"
