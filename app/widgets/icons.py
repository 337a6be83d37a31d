"""SVG icons tinted to the current look and rendered sharp at every device pixel ratio.

The SVGs in resources/icons draw with `currentColor`; we substitute the wanted colour
before rendering, so one file serves light, dark, disabled and checked states.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app import theme
from app.widgets.resources import icon_path

_SIZES = (16, 20, 24, 32, 48, 64, 128)


@lru_cache(maxsize=64)
def _svg_bytes(name: str) -> bytes:
    path = icon_path(name)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"icon {name!r} missing at {path}") from exc


def render(name: str, size: int, color: str | None = None, ratio: float = 1.0) -> QPixmap:
    """One pixmap of `name` at `size` logical pixels, tinted with `color`."""
    data = _svg_bytes(name)
    if color is not None:
        data = data.replace(b"currentColor", color.encode())
    renderer = QSvgRenderer(QByteArray(data))
    px = max(1, round(size * ratio))
    image = QImage(px, px, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, px, px))
    painter.end()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


@lru_cache(maxsize=256)
def _icon(name: str, color: str, disabled: str, checked: str | None) -> QIcon:
    icon = QIcon()
    for size in _SIZES:
        for ratio in (1.0, 2.0):
            icon.addPixmap(render(name, size, color, ratio), QIcon.Mode.Normal, QIcon.State.Off)
            icon.addPixmap(
                render(name, size, disabled, ratio), QIcon.Mode.Disabled, QIcon.State.Off
            )
            if checked is not None:
                icon.addPixmap(
                    render(name, size, checked, ratio), QIcon.Mode.Normal, QIcon.State.On
                )
    return icon


def icon(name: str, color: str | None = None, checked_color: str | None = None) -> QIcon:
    """A themed icon; by default in the text colour, greyed when disabled."""
    p = theme.current()
    return _icon(name, color or p.text, p.text_muted, checked_color)


def app_icon() -> QIcon:
    """The full-colour application icon (not tinted)."""
    return _icon_untinted("lodgephone")


@lru_cache(maxsize=16)
def _icon_untinted(name: str) -> QIcon:
    icon = QIcon()
    for size in _SIZES:
        icon.addPixmap(render(name, size))
    return icon


def pixmap(name: str, size: int, color: str | None = None) -> QPixmap:
    p = theme.current()
    return render(name, size, color or p.text, 2.0)


ICON_SIZE = QSize(20, 20)
