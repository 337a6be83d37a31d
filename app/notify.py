"""Desktop notifications for rings and missed calls.

On Linux they go to `org.freedesktop.Notifications` over QtDBus, so they look native
and carry Answer/Reject actions. PySide6 cannot build a D-Bus uint32 in a plain message,
so the call goes through a `QDBusInterface` (which types the arguments from the service's
introspection) on a worker thread: a hung notification daemon never freezes the UI.
Elsewhere, or without a daemon, `QSystemTrayIcon.showMessage` is the fallback.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    Q_ARG,
    Q_RETURN_ARG,
    SLOT,
    QCoreApplication,
    QMetaObject,
    QObject,
    Qt,
    QThread,
    Signal,
    Slot,
)
from PySide6.QtWidgets import QSystemTrayIcon

if TYPE_CHECKING:
    from PySide6.QtDBus import QDBusInterface

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
APP_NAME = "Lodgestory Phone"


@dataclass(frozen=True)
class Note:
    """One notification. ``key`` lets a later note replace or close this one."""

    key: str
    summary: str
    body: str
    actions: tuple[tuple[str, str], ...] = ()  # (action id, label)
    timeout_ms: int = -1  # -1: the server's default
    urgent: bool = False


class _DBusWorker(QObject):
    """Lives on its own thread; every call on it may block on the bus."""

    sent = Signal(str, int)  # key, server id (0 when it failed)
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._iface: QDBusInterface | None = None

    def _interface(self) -> QDBusInterface | None:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface

        if self._iface is None:
            bus = QDBusConnection.sessionBus()
            if not bus.isConnected():
                return None
            iface = QDBusInterface(SERVICE, PATH, INTERFACE, bus)
            if not iface.isValid():
                return None
            self._iface = iface
        return self._iface

    @Slot(object, int)
    def notify(self, note: Note, replaces: int) -> None:
        key = note.key
        iface = self._interface()
        if iface is None:
            self.failed.emit(key)
            return
        actions = [part for pair in note.actions for part in pair]
        hints = {"desktop-entry": "lodgephone", "category": "im.received" if note.urgent else "im"}
        invoke: Any = QMetaObject.invokeMethod
        result = invoke(
            iface,
            "Notify",
            Qt.ConnectionType.DirectConnection,
            Q_RETURN_ARG("uint"),
            Q_ARG(str, APP_NAME),
            Q_ARG("uint", replaces),
            Q_ARG(str, "lodgephone"),
            Q_ARG(str, note.summary),
            Q_ARG(str, note.body),
            Q_ARG("QStringList", actions),
            Q_ARG("QVariantMap", hints),
            Q_ARG(int, note.timeout_ms),
        )
        if not isinstance(result, int) or result == 0:
            self._iface = None  # the daemon may have restarted: introspect again next time
            self.failed.emit(key)
            return
        self.sent.emit(key, int(result))

    @Slot(int)
    def close(self, server_id: int) -> None:
        iface = self._interface()
        if iface is None:
            return
        invoke: Any = QMetaObject.invokeMethod
        invoke(
            iface,
            "CloseNotification",
            Qt.ConnectionType.DirectConnection,
            Q_ARG("uint", server_id),
        )


class Notifier(QObject):
    """Shows, replaces and closes notifications; reports clicked actions."""

    #: The agent clicked an action button of the note with this key.
    action_invoked = Signal(str, str)
    _send = Signal(object, int)
    _close = Signal(int)

    def __init__(
        self,
        tray: QSystemTrayIcon | None = None,
        use_dbus: bool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        self._pending: dict[str, Note] = {}
        self._use_dbus = sys.platform.startswith("linux") if use_dbus is None else use_dbus
        self._thread: QThread | None = None
        if self._use_dbus:
            self._start_dbus()

    def _start_dbus(self) -> None:
        from PySide6.QtDBus import QDBusConnection

        bus = QDBusConnection.sessionBus()
        if not bus.isConnected():
            self._use_dbus = False
            return
        self._thread = QThread(self)
        self._thread.setObjectName("notify-dbus")
        self._worker = _DBusWorker()
        self._worker.moveToThread(self._thread)
        self._send.connect(self._worker.notify, Qt.ConnectionType.QueuedConnection)
        self._close.connect(self._worker.close, Qt.ConnectionType.QueuedConnection)
        self._worker.sent.connect(self._on_sent, Qt.ConnectionType.QueuedConnection)
        self._worker.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:
            # A QThread still running when Qt tears down aborts the process.
            app.aboutToQuit.connect(self.shutdown)
        # PySide6 wants the SLOT() string here although its stubs say bytes.
        connect: Any = bus.connect
        try:
            connect(
                SERVICE, PATH, INTERFACE, "ActionInvoked", self, SLOT("_on_action(uint,QString)")
            )
            connect(
                SERVICE, PATH, INTERFACE, "NotificationClosed", self, SLOT("_on_closed(uint,uint)")
            )
        except (TypeError, ValueError):
            log.warning("notification buttons unavailable: could not listen to D-Bus signals")

    @property
    def uses_dbus(self) -> bool:
        return self._use_dbus

    def show(self, note: Note) -> None:
        if self._use_dbus:
            self._pending[note.key] = note
            self._send.emit(note, self._ids.get(note.key, 0))
        else:
            self._tray_message(note)

    def close(self, key: str) -> None:
        self._pending.pop(key, None)
        server_id = self._ids.pop(key, None)
        if server_id is not None:
            self._keys.pop(server_id, None)
            if self._use_dbus:
                self._close.emit(server_id)

    def _tray_message(self, note: Note) -> None:
        if self._tray is not None and QSystemTrayIcon.supportsMessages():
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if note.urgent
                else QSystemTrayIcon.MessageIcon.Information
            )
            timeout = note.timeout_ms if note.timeout_ms > 0 else 10000
            self._tray.showMessage(note.summary, note.body, icon, timeout)

    @Slot(str, int)
    def _on_sent(self, key: str, server_id: int) -> None:
        if key not in self._pending:
            self._close.emit(server_id)  # closed before the server answered
            return
        self._ids[key] = server_id
        self._keys[server_id] = key

    @Slot(str)
    def _on_failed(self, key: str) -> None:
        note = self._pending.pop(key, None)
        if note is not None:
            log.info("notification service unavailable; using the tray balloon")
            self._tray_message(note)

    @Slot("uint", str)
    def _on_action(self, server_id: int, action: str) -> None:
        key = self._keys.get(int(server_id))
        if key is not None:
            self.action_invoked.emit(key, action)

    @Slot("uint", "uint")
    def _on_closed(self, server_id: int, _reason: int) -> None:
        key = self._keys.pop(int(server_id), None)
        if key is not None:
            self._ids.pop(key, None)
            self._pending.pop(key, None)

    def shutdown(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(2000)
            self._thread = None
