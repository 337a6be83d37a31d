"""The Calls window's and settings' share of the product look, built on `app.theme`.

`app.theme` styles the dialer and popup by object name; these rules add the cards, header
bar, pills and field grids the log and settings need, in the same palette, and re-apply
when the desktop switches between light and dark.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QObject, QRectF, Qt, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QWidget

from app import theme
from crmclient.models import CallStatus

_LOCK_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" '
    'fill="none" stroke="COLOR" stroke-width="2" stroke-linecap="round" '
    'stroke-linejoin="round"><rect x="5" y="11" width="14" height="10" rx="2"/>'
    '<path d="M8 11V7a4 4 0 0 1 8 0v4"/></svg>'
)


def tint(color: str, base: str, amount: float = 0.16) -> str:
    """`color` laid thinly over `base`: soft pill and card backgrounds for both looks."""
    a, b = QColor(color), QColor(base)
    pairs = ((a.red(), b.red()), (a.green(), b.green()), (a.blue(), b.blue()))
    r, g, bl = (round(x * amount + y * (1 - amount)) for x, y in pairs)
    return QColor(r, g, bl).name()


def status_tone(status: CallStatus) -> str:
    """The palette colour name a call status reads in."""
    if status is CallStatus.COMPLETED:
        return "success"
    if status in (CallStatus.MISSED, CallStatus.FAILED):
        return "danger"
    if status in (CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.REJECTED):
        return "warning"
    if status in (CallStatus.IN_PROGRESS, CallStatus.ON_HOLD, CallStatus.DIALING):
        return "info"
    if status is CallStatus.RINGING:
        return "info"
    return "text_muted"


def lock_pixmap(size: int = 14, color: str | None = None) -> QPixmap:
    """A padlock (the shipped icon set has none) in the muted text colour."""
    svg = _LOCK_SVG.replace("COLOR", color or theme.current().text_muted).encode()
    ratio = 2.0
    image = QImage(round(size * ratio), round(size * ratio), QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(QByteArray(svg)).render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    pm = QPixmap.fromImage(image)
    pm.setDevicePixelRatio(ratio)
    return pm


def style_sheet(p: theme.Palette) -> str:
    """Rules for the log, the detail sheet and settings (scoped by object name)."""
    return f"""
QMainWindow#mainWindow, QWidget#settingsWindow {{ background: {p.window}; }}
QFrame#headerBar {{ background: {p.surface}; border-bottom: 1px solid {p.border}; }}
QLabel#pageTitle {{ font-size: 18px; font-weight: 600; color: {p.text}; }}
QLineEdit#searchField {{ border-radius: 16px; padding: 5px 10px; background: {p.surface_alt};
    min-width: 220px; }}
QFrame#summaryStrip {{ background: {p.surface}; border: 1px solid {p.border};
    border-radius: 10px; }}
QLabel#statValue {{ font-size: 17px; font-weight: 600; color: {p.text}; }}
QLabel#statLabel {{ color: {p.text_muted}; font-size: 11px; }}
QLabel#summaryText {{ color: {p.text_muted}; }}
QFrame#errorBanner {{ background: {tint(p.danger, p.surface)}; border-radius: 8px;
    border: 1px solid {tint(p.danger, p.surface, 0.4)}; }}
QFrame#errorBanner QLabel {{ color: {p.text}; }}
QFrame#listCard {{ background: {p.surface}; border: 1px solid {p.border};
    border-radius: 10px; }}
QTableView#callsTable {{ border: none; background: {p.surface};
    alternate-background-color: {tint(p.surface_alt, p.surface, 0.5)};
    selection-background-color: {tint(p.accent, p.surface, 0.22)};
    selection-color: {p.text}; gridline-color: transparent; outline: 0; }}
QTableView#callsTable::item {{ padding: 0 6px; border-bottom: 1px solid {p.surface_alt}; }}
QHeaderView::section {{ background: {p.surface}; color: {p.text_muted}; border: none;
    border-bottom: 1px solid {p.border}; padding: 6px 6px; font-weight: 600;
    font-size: 11px; }}
QMainWindow#mainWindow QStatusBar {{ background: {p.window}; color: {p.text_muted}; }}
QLabel#emptyTitle {{ font-size: 15px; font-weight: 600; color: {p.text}; }}
QLabel#emptyText {{ color: {p.text_muted}; }}
QFrame#detailSheet {{ background: {p.surface}; border: 1px solid {p.border};
    border-radius: 10px; }}
QFrame#detailHeader {{ background: {p.surface_alt}; border-radius: 10px; }}
QLabel#detailTitle {{ font-size: 17px; font-weight: 600; color: {p.text}; }}
QLabel#detailNumber {{ color: {p.text_muted}; }}
QLabel#sectionTitle {{ color: {p.text_muted}; font-size: 11px; font-weight: 700;
    letter-spacing: 1px; padding-top: 6px; }}
QLabel#fieldLabel {{ color: {p.text_muted}; }}
QLabel#fieldValue {{ color: {p.text}; }}
QLabel#transcriptText {{ background: {p.surface_alt}; border-radius: 8px; padding: 8px;
    color: {p.text}; }}
QScrollArea#detailScroll, QScrollArea#detailScroll > QWidget > QWidget,
QScrollArea#settingsScroll, QScrollArea#settingsScroll > QWidget > QWidget {{
    background: transparent; border: none; }}
QFrame#settingsCard {{ background: {p.surface}; border: 1px solid {p.border};
    border-radius: 12px; }}
QLabel#cardTitle {{ color: {p.text}; font-size: 14px; font-weight: 600; padding-left: 2px; }}
QLabel#lockedNote {{ color: {p.text_muted}; font-size: 11px; }}
QLabel#accountLine {{ background: {p.surface_alt}; border-radius: 8px; padding: 8px;
    color: {p.text}; }}
QProgressBar#micMeter {{ background: {p.surface_alt}; border: none; border-radius: 5px; }}
QProgressBar#micMeter::chunk {{ background: {p.success}; border-radius: 5px; }}
QCheckBox {{ color: {p.text}; spacing: 8px; }}
QCheckBox:disabled {{ color: {p.text_muted}; }}
QPushButton#primaryButton:hover {{ background: {QColor(p.accent).darker(112).name()}; }}
QPushButton#secondaryButton:disabled {{ color: {p.text_muted}; }}
QPushButton#secondaryButton:checked {{ background: {tint(p.accent, p.surface, 0.25)};
    border-color: {p.accent}; }}
QToolButton#headerButton {{ padding: 5px 8px; color: {p.text}; }}
QToolButton#headerButton:checked {{ background: {tint(p.accent, p.surface, 0.22)};
    color: {p.text}; }}
"""


class _Follower(QObject):
    """Lives as the widget's child, so the theme connection dies with the widget."""

    def __init__(self, widget: QWidget, restyle: Callable[[theme.Palette], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._restyle = restyle

    @Slot(object)
    def apply(self, p: theme.Palette) -> None:
        self._widget.setStyleSheet(style_sheet(p))
        self._restyle(p)


def follow(widget: QWidget, restyle: Callable[[theme.Palette], None]) -> None:
    """Style `widget` now and again whenever the look changes."""
    installed = theme.ensure()
    follower = _Follower(widget, restyle)
    follower.apply(theme.current())
    if installed is not None:
        installed.changed.connect(follower.apply)


class Pill(QWidget):
    """A status word in a soft rounded pill of its tone (painted: style sheets square it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._tone = "text_muted"
        self._font = QFont(self.font())
        self._font.setPixelSize(11)
        self._font.setWeight(QFont.Weight.DemiBold)
        self.setFixedHeight(20)

    def text(self) -> str:
        return self._text

    def set_status(self, text: str, tone: str) -> None:
        self._text, self._tone = text, tone
        self.setFixedWidth(QFontMetrics(self._font).horizontalAdvance(text) + 18)
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = theme.current()
        color = str(getattr(p, self._tone))
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(tint(color, p.surface_alt, 0.2)))
        rect = QRectF(self.rect())
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        painter.setPen(QColor(color))
        painter.setFont(self._font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._text)
        painter.end()
