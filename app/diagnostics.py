""" "Export diagnostics": one zip an agent can send to IT.

IT needs the logs, what versions ran, which audio devices the engine saw, the settings and
the policy in force, and whether CRM writes are stuck. Nothing secret may leave: settings
hold no secrets by design, and every text file is passed through the log redactor again on
the way into the archive, in case an older log predates a redaction rule.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from crmclient.redact import redact

MAX_LOG_BYTES = 20 * 1024 * 1024  # newest logs first until this much is in the archive


def versions() -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "lodgephone": dist("lodgephone"),
        "pjsua2-python": dist("pjsua2-python"),
        "PySide6": dist("PySide6-Essentials"),
        "httpx": dist("httpx"),
        "websockets": dist("websockets"),
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "frozen": str(bool(getattr(sys, "frozen", False))),
    }


def export(
    target: Path,
    *,
    log_folder: Path,
    settings: Mapping[str, Any],
    policy: Mapping[str, Any],
    audio_devices: Sequence[Mapping[str, Any]] = (),
    status: Mapping[str, Any] | None = None,
) -> Path:
    """Write the archive to ``target`` (a .zip path) and return it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
        "settings": dict(settings),
        "policy": dict(policy),
        "audio_devices": [dict(d) for d in audio_devices],
        "status": dict(status or {}),
    }
    logs = sorted(
        (p for p in log_folder.glob("*.log*") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    budget = MAX_LOG_BYTES
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "diagnostics.json", redact(json.dumps(summary, indent=2, sort_keys=True, default=str))
        )
        for path in logs:
            if budget <= 0:
                break
            text = path.read_bytes()[-budget:].decode("utf-8", errors="replace")
            budget -= len(text)
            archive.writestr(f"logs/{path.name}", redact(text))
    return target


def _audio_devices() -> list[dict[str, Any]]:
    try:
        from softphone.audio.backends import create_backend

        backend = create_backend("miniaudio")
        try:
            return [d.to_json() for d in backend.list_devices()]
        finally:
            backend.close()
    except Exception as exc:  # a broken audio stack is itself a finding for IT
        return [{"error": f"cannot list audio devices: {exc}"}]


def _running_status() -> dict[str, Any]:
    from app import ipc

    try:
        reply = ipc.forward(["status", "--json"])
    except ipc.IpcError:  # NotRunning is one: diagnostics work without the app
        return {"running": False}
    return {"running": True, **reply.data}


def default_target() -> Path:
    home = Path.home()
    folder = home / "Desktop" if (home / "Desktop").is_dir() else home
    return folder / f"lodgephone-diagnostics-{time.strftime('%Y%m%d-%H%M%S')}.zip"


def export_for_agent(
    target: str | Path | None = None, *, status: Mapping[str, Any] | None = None
) -> Path:
    """What the tray, Settings and `lodgephone diagnostics` call: everything gathered here."""
    from app.config import ConfigStore
    from app.logs import log_dir

    store = ConfigStore()
    policy = store.policy
    return export(
        Path(target) if target else default_target(),
        log_folder=log_dir(),
        settings=store.settings.to_json(),
        policy={
            "source": policy.source,
            "locked": dict(policy.locked),
            "defaults": dict(policy.defaults),
            "problems": list(policy.problems),
        },
        audio_devices=_audio_devices(),
        status={"running": True, **status} if status is not None else _running_status(),
    )
