"""Where the shipped icons, sounds and desktop file live, in a checkout and when frozen."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_dir() -> Path:
    """The `resources/` folder: next to the package in a checkout, or PyInstaller's bundle."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidate = Path(frozen) / "resources"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[2] / "resources"


def icon_path(name: str) -> Path:
    return resource_dir() / "icons" / f"{name}.svg"


def sound_path(name: str) -> Path:
    return resource_dir() / "sounds" / name
