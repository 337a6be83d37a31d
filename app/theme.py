"""Light and dark looks that follow the desktop, in one place.

Widgets never hard-code colours: they ask for the current `Palette` (for painting) or use
object names the style sheet below knows (`#callButton`, `#hangupButton`, ...). Switching
the system between light and dark re-applies everything live, because agents leave the
app open for days.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


class Mode(Enum):
    """What the user picked in settings; SYSTEM follows the desktop."""

    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True)
class Palette:
    """Named colours of one look; hex strings so they drop into style sheets and SVGs."""

    dark: bool
    window: str
    surface: str
    surface_alt: str
    border: str
    text: str
    text_muted: str
    accent: str
    accent_text: str
    success: str
    warning: str
    danger: str
    info: str
    key_bg: str
    key_hover: str

    def qcolor(self, name: str) -> QColor:
        return QColor(str(getattr(self, name)))


LIGHT = Palette(
    dark=False,
    window="#f4f6f8",
    surface="#ffffff",
    surface_alt="#eef1f4",
    border="#d9dee4",
    text="#17202a",
    text_muted="#5f6b78",
    accent="#0f766e",
    accent_text="#ffffff",
    success="#16a34a",
    warning="#b45309",
    danger="#dc2626",
    info="#2563eb",
    key_bg="#eef1f4",
    key_hover="#e1e6eb",
)

DARK = Palette(
    dark=True,
    window="#15191e",
    surface="#1d2329",
    surface_alt="#262d35",
    border="#343d47",
    text="#e8edf2",
    text_muted="#9aa6b2",
    accent="#2dd4bf",
    accent_text="#062925",
    success="#22c55e",
    warning="#f59e0b",
    danger="#f05252",
    info="#60a5fa",
    key_bg="#262d35",
    key_hover="#303943",
)


def system_is_dark() -> bool:
    """The desktop's preference; Unknown counts as light (the common default)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def palette_for(mode: Mode) -> Palette:
    if mode is Mode.DARK:
        return DARK
    if mode is Mode.LIGHT:
        return LIGHT
    return DARK if system_is_dark() else LIGHT


_current: Palette = LIGHT


def current() -> Palette:
    """The palette in force now (LIGHT until `Theme.apply` ran)."""
    return _current


def _qpalette(p: Palette) -> QPalette:
    pal = QPalette()
    role = QPalette.ColorRole
    pal.setColor(role.Window, QColor(p.window))
    pal.setColor(role.WindowText, QColor(p.text))
    pal.setColor(role.Base, QColor(p.surface))
    pal.setColor(role.AlternateBase, QColor(p.surface_alt))
    pal.setColor(role.Text, QColor(p.text))
    pal.setColor(role.PlaceholderText, QColor(p.text_muted))
    pal.setColor(role.Button, QColor(p.surface_alt))
    pal.setColor(role.ButtonText, QColor(p.text))
    pal.setColor(role.Highlight, QColor(p.accent))
    pal.setColor(role.HighlightedText, QColor(p.accent_text))
    pal.setColor(role.ToolTipBase, QColor(p.surface))
    pal.setColor(role.ToolTipText, QColor(p.text))
    pal.setColor(role.Link, QColor(p.accent))
    pal.setColor(role.BrightText, QColor(p.danger))
    pal.setColor(role.Mid, QColor(p.border))
    pal.setColor(role.Midlight, QColor(p.surface_alt))
    pal.setColor(role.Dark, QColor(p.border))
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.Text, role.ButtonText, role.WindowText):
        pal.setColor(disabled, r, QColor(p.text_muted))
    return pal


def style_sheet(p: Palette) -> str:
    """Style rules keyed by object name, so widgets stay free of colour code."""
    return f"""
QWidget#callSurface {{ background: {p.surface}; border: 1px solid {p.border};
    border-radius: 14px; }}
QWidget#dialerHeader {{ background: transparent; }}
QLabel#titleLabel {{ font-weight: 600; color: {p.text}; }}
QLabel[role="muted"] {{ color: {p.text_muted}; }}
QLabel[role="heading"] {{ font-size: 17px; font-weight: 600; color: {p.text}; }}
QLabel[role="warning"] {{ color: {p.warning}; }}
QLabel[role="danger"] {{ color: {p.danger}; }}
QLabel[role="success"] {{ color: {p.success}; }}
QLabel#timerLabel {{ font-size: 15px; font-family: "DejaVu Sans Mono", monospace;
    color: {p.text}; }}
QLineEdit#numberField {{ font-size: 20px; padding: 6px 8px; border: 1px solid {p.border};
    border-radius: 10px; background: {p.surface_alt}; color: {p.text}; }}
QLineEdit#numberField:focus {{ border: 1px solid {p.accent}; }}
QLineEdit, QPlainTextEdit, QComboBox {{ border: 1px solid {p.border}; border-radius: 8px;
    padding: 4px 6px; background: {p.surface}; color: {p.text}; }}
QComboBox::drop-down {{ border: none; width: 22px; }}
QComboBox::down-arrow {{ image: url("{_chevron()}"); width: 14px; height: 14px; }}
QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus {{ border: 1px solid {p.accent}; }}
QToolButton#dialKey {{ background: {p.key_bg}; border: none; border-radius: 26px;
    color: {p.text}; font-size: 20px; }}
QToolButton#dialKey:hover {{ background: {p.key_hover}; }}
QToolButton#dialKey:pressed {{ background: {p.border}; }}
QPushButton#callButton {{ background: {p.success}; color: #ffffff; border: none;
    border-radius: 24px; font-size: 15px; font-weight: 600; padding: 10px 18px; }}
QPushButton#callButton:hover {{ background: #15803d; }}
QPushButton#callButton:disabled {{ background: {p.border}; color: {p.text_muted}; }}
QPushButton#hangupButton {{ background: {p.danger}; color: #ffffff;
    border: none; border-radius: 24px; font-size: 15px; font-weight: 600;
    padding: 10px 18px; }}
QPushButton#rejectButton {{ background: {p.danger}; color: #ffffff; border: none;
    border-radius: 12px; font-size: 15px; font-weight: 600; padding: 8px 14px; }}
QPushButton#hangupButton:hover, QPushButton#rejectButton:hover {{ background: #b91c1c; }}
QPushButton#answerButton {{ background: {p.success}; color: #ffffff; border: none;
    border-radius: 12px; font-size: 15px; font-weight: 600; padding: 8px 14px; }}
QPushButton#answerButton:hover {{ background: #15803d; }}
QPushButton#primaryButton {{ background: {p.accent}; color: {p.accent_text}; border: none;
    border-radius: 8px; padding: 7px 14px; font-weight: 600; }}
QPushButton#primaryButton:disabled {{ background: {p.border}; color: {p.text_muted}; }}
QPushButton#secondaryButton, QPushButton#dismissButton {{ background: {p.surface_alt};
    color: {p.text}; border: 1px solid {p.border}; border-radius: 8px; padding: 7px 14px; }}
QPushButton#secondaryButton:hover, QPushButton#dismissButton:hover {{
    background: {p.key_hover}; }}
QToolButton#callAction {{ background: {p.key_bg}; border: none; border-radius: 12px;
    color: {p.text}; padding: 6px; font-size: 11px; }}
QToolButton#callAction:hover {{ background: {p.key_hover}; }}
QToolButton#callAction:checked {{ background: {p.accent}; color: {p.accent_text}; }}
QToolButton#callAction:disabled {{ color: {p.text_muted}; }}
QToolButton#headerButton {{ background: transparent; border: none; border-radius: 6px;
    padding: 3px; }}
QToolButton#headerButton:hover {{ background: {p.surface_alt}; }}
QToolButton#segment {{ background: {p.surface_alt}; border: 1px solid {p.border};
    padding: 4px 12px; color: {p.text_muted}; }}
QToolButton#segment:checked {{ background: {p.accent}; color: {p.accent_text};
    border-color: {p.accent}; }}
QToolButton#outcomeChip {{ background: {p.surface_alt}; border: 1px solid {p.border};
    border-radius: 14px; padding: 5px 11px; color: {p.text}; }}
QToolButton#outcomeChip:checked {{ background: {p.accent}; color: {p.accent_text};
    border-color: {p.accent}; }}
QFrame#banner {{ border-radius: 8px; padding: 2px; }}
QFrame#banner[tone="warning"] {{ background: {_mix(p.warning, p.surface)};
    color: {p.text}; }}
QFrame#banner[tone="danger"] {{ background: {_mix(p.danger, p.surface)}; }}
QFrame#banner[tone="success"] {{ background: {_mix(p.success, p.surface)}; }}
QFrame#banner[tone="info"] {{ background: {_mix(p.info, p.surface)}; }}
QLabel#badge {{ background: {p.accent}; color: {p.accent_text}; border-radius: 8px;
    padding: 1px 6px; font-size: 11px; font-weight: 600; }}
QLabel#missedBadge {{ background: {p.danger}; color: #ffffff; border-radius: 7px;
    padding: 1px 7px; font-size: 11px; font-weight: 700; }}
QToolTip {{ background: {p.surface}; color: {p.text}; border: 1px solid {p.border};
    padding: 4px; }}
"""


def _chevron() -> str:
    from app.widgets.resources import icon_path

    return icon_path("chevron-down").as_posix()


def _mix(color: str, base: str, amount: float = 0.16) -> str:
    """A tint of `color` over `base`, for soft banners that read in both looks."""
    a, b = QColor(color), QColor(base)
    r = round(a.red() * amount + b.red() * (1 - amount))
    g = round(a.green() * amount + b.green() * (1 - amount))
    bl = round(a.blue() * amount + b.blue() * (1 - amount))
    return QColor(r, g, bl).name()


class Theme(QObject):
    """Applies a look to the application and follows the desktop when mode is SYSTEM."""

    #: The palette changed (system switched, or the user picked another mode).
    changed = Signal(object)

    def __init__(self, app: QApplication, mode: Mode = Mode.SYSTEM) -> None:
        super().__init__(app)
        self._app = app
        self._mode = mode
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_changed)

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        self._mode = mode
        self.apply()

    def apply(self) -> Palette:
        global _current, _installed
        p = palette_for(self._mode)
        _current = p
        _installed = self
        self._app.setStyle("Fusion")
        self._app.setPalette(_qpalette(p))
        self._app.setStyleSheet(style_sheet(p))
        self.changed.emit(p)
        return p

    def _on_system_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self._mode is Mode.SYSTEM:
            self.apply()


_installed: Theme | None = None


def ensure(mode: Mode | str | None = None) -> Theme | None:
    """Install the look once per application (the first call wins unless `mode` is given).

    The dialer, popup and tray call this, so the app looks right even if nobody set a
    theme up explicitly; settings call it with the user's choice ("system", "light",
    "dark") to switch live.
    """
    global _installed
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return None
    wanted = Mode(mode) if mode is not None else None
    if _installed is None or _installed.parent() is not app:
        _installed = Theme(app, wanted or Mode.SYSTEM)
        _installed.apply()
    elif wanted is not None and wanted is not _installed.mode:
        _installed.set_mode(wanted)
    return _installed
