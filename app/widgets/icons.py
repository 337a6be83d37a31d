"""SVG icons tinted to the current look and rendered sharp at every device pixel ratio.

The SVGs in resources/icons draw with `currentColor`; we substitute the wanted colour
before rendering, so one file serves light, dark, disabled and checked states.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app import theme
from app.widgets.resources import icon_path


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


class _SvgEngine(QIconEngine):
    """Renders an icon only at the sizes Qt asks for, and remembers them.

    Rendering every size up front cost ~5 ms per icon and made the first ring popup slow;
    on demand, a popup needs two or three small renders.
    """

    def __init__(self, name: str, color: str, disabled: str, checked: str | None) -> None:
        super().__init__()
        self._name = name
        self._colors = (color, disabled, checked)
        self._cache: dict[tuple[int, int, bool], QPixmap] = {}

    def _color(self, mode: QIcon.Mode, state: QIcon.State) -> str:
        color, disabled, checked = self._colors
        if mode == QIcon.Mode.Disabled:
            return disabled
        if state == QIcon.State.On and checked is not None:
            return checked
        return color

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        side = max(1, min(size.width(), size.height()))
        key = (side, mode.value, state == QIcon.State.On)
        cached = self._cache.get(key)
        if cached is None:
            cached = render(self._name, side, self._color(mode, state))
            self._cache[key] = cached
        return cached

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        pm = self.pixmap(size * scale, mode, state)
        pm.setDevicePixelRatio(scale)
        return pm

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        pm = self.pixmap(rect.size() * ratio, mode, state)
        painter.drawPixmap(rect, pm)

    def clone(self) -> QIconEngine:
        return _SvgEngine(self._name, *self._colors)


@lru_cache(maxsize=256)
def _icon(name: str, color: str, disabled: str, checked: str | None) -> QIcon:
    _svg_bytes(name)  # fail now, not at paint time, when the file is missing
    return QIcon(_SvgEngine(name, color, disabled, checked))


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
    for size in (16, 20, 32, 48, 64, 128, 256):
        icon.addPixmap(render(name, size))
    return icon


def pixmap(name: str, size: int, color: str | None = None) -> QPixmap:
    p = theme.current()
    return render(name, size, color or p.text, 2.0)


ICON_SIZE = QSize(20, 20)
