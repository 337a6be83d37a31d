"""Desktop integration on Linux: start at login, and being the handler for phone links.

Both are plain files in the user's XDG folders plus ``xdg-mime``: nothing needs root, and
turning a setting off removes exactly what turning it on created.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SCHEMES = ("tel", "sip", "sips", "callto")
DESKTOP_ID = "lodgephone.desktop"


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def exec_line() -> str:
    exe = shutil.which("lodgephone")
    return exe if exe else f"{sys.executable} -m app"


def desktop_entry(extra: str = "") -> str:
    mime = "".join(f"x-scheme-handler/{s};" for s in SCHEMES)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Lodgestory Phone\n"
        "Comment=Softphone for agents\n"
        f"Exec={exec_line()} {extra}%u\n"
        "Icon=lodgephone\n"
        "Terminal=false\n"
        "Categories=Network;Telephony;\n"
        f"MimeType={mime}\n"
    )


def autostart_path() -> Path:
    return _config_home() / "autostart" / DESKTOP_ID


def set_start_at_login(enabled: bool, minimized: bool = True) -> Path:
    path = autostart_path()
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(desktop_entry("--minimized " if minimized else ""), encoding="utf-8")
    elif path.exists():
        path.unlink()
    return path


def register_link_handler() -> tuple[bool, str]:
    """Install our desktop file and make it the default for tel:, sip:, callto: links."""
    apps = _data_home() / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    (apps / DESKTOP_ID).write_text(desktop_entry(), encoding="utf-8")
    if shutil.which("update-desktop-database"):
        subprocess.run(["update-desktop-database", str(apps)], check=False, capture_output=True)
    if not shutil.which("xdg-mime"):
        return False, "xdg-mime is not installed; the desktop file was written to " + str(apps)
    for scheme in SCHEMES:
        proc = subprocess.run(
            ["xdg-mime", "default", DESKTOP_ID, f"x-scheme-handler/{scheme}"],
            check=False,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            return False, f"xdg-mime refused {scheme}: {proc.stderr.strip()}"
    return True, "Phone links (tel:, sip:, callto:) now open Lodgestory Phone."
