"""The diagnostics archive carries what IT needs and no secret."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.diagnostics import export
from app.logs import setup_logging
from crmclient.redact import add_secret


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
