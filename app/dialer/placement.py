"""Remembering where the agent put the floating dialer, and never restoring it off-screen.

Monitors get unplugged between days; a window restored onto a screen that no longer
exists is a window the agent cannot find. We keep the position in an INI file in the
config folder and clamp it into a screen that exists now.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSettings, QSize
from PySide6.QtGui import QGuiApplication


def default_store_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("lodgephone", appauthor=False)) / "windows.ini"


class Placement:
    """Loads and saves one window's top-left corner under a key."""

    def __init__(self, key: str, path: Path | None = None) -> None:
        self._key = key
        self._path = path or default_store_path()

    def _settings(self) -> QSettings:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        return QSettings(str(self._path), QSettings.Format.IniFormat)

    def load(self) -> QPoint | None:
        value = self._settings().value(f"{self._key}/pos")
        if isinstance(value, QPoint):
            return value
        if isinstance(value, (list, tuple)) and len(value) == 2:
            try:
                return QPoint(int(value[0]), int(value[1]))
            except (TypeError, ValueError):
                return None
        return None

    def save(self, pos: QPoint) -> None:
        settings = self._settings()
        settings.setValue(f"{self._key}/pos", [pos.x(), pos.y()])
        settings.sync()


def visible_position(wanted: QPoint | None, size: QSize) -> QPoint:
    """`wanted` if the window's title area lands on a screen, else bottom-right of the
    primary screen (where a desk phone's dialer is least in the way)."""
    screens = QGuiApplication.screens()
    if wanted is not None:
        grip = QRect(wanted, QSize(size.width(), 40))
        for screen in screens:
            area = screen.availableGeometry()
            if area.intersects(grip):
                x = min(max(wanted.x(), area.left()), area.right() - size.width() + 1)
                y = min(max(wanted.y(), area.top()), area.bottom() - size.height() + 1)
                return QPoint(max(x, area.left()), max(y, area.top()))
    primary = QGuiApplication.primaryScreen()
    if primary is None:
        return QPoint(0, 0)
    area = primary.availableGeometry()
    return QPoint(area.right() - size.width() - 24, area.bottom() - size.height() - 24)
