"""Fixtures for the call UI: the theme applied once, a private window-position file, and
screenshots under artifacts/screenshots checked not to be blank."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from app import theme

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"

# The offscreen platform cannot raise windows or pass size hints to a window manager;
# it says so as a Qt warning, which is not a defect of ours.
OFFSCREEN_NOISE = r"This plugin does not support (raise\(\)|propagateSizeHints\(\))"


@pytest.fixture(scope="session")
def themed(qapp: QApplication) -> Iterator[theme.Theme]:
    t = theme.Theme(qapp, theme.Mode.LIGHT)
    t.apply()
    yield t


@pytest.fixture
def placement_file(tmp_path: Path) -> Path:
    return tmp_path / "windows.ini"


def distinct_colors(image: QImage, step: int = 4) -> int:
    seen = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            seen.add(image.pixel(x, y))
            if len(seen) > 64:
                return len(seen)
    return len(seen)


def save_shot(widget: QWidget, name: str) -> QImage:
    """Render `widget` to artifacts/screenshots/NAME.png and check it is not blank."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    pixmap = widget.grab()
    path = SHOTS / f"{name}.png"
    assert pixmap.save(str(path)), f"could not write {path}"
    image = pixmap.toImage()
    assert image.width() > 100 and image.height() > 100
    assert distinct_colors(image) > 8, f"{name} looks blank"
    return image
