"""A stand-in notification daemon for test_notify_dbus, in its own process as the real
one is: owns org.freedesktop.Notifications, prints each call as a JSON line, and
"clicks" Answer on the first ring notification. Not a test module (no test_ prefix)."""

from __future__ import annotations

import faulthandler
import json
import sys

from PySide6.QtCore import ClassInfo, QCoreApplication, QObject, QTimer, Signal, Slot
from PySide6.QtDBus import QDBusAbstractAdaptor, QDBusConnection


def report(item: dict[str, object]) -> None:
    print(json.dumps(item), flush=True)


@ClassInfo({"D-Bus Interface": "org.freedesktop.Notifications"})
class FakeDaemon(QDBusAbstractAdaptor):
    #: Relayed by the adaptor onto the bus with D-Bus types (u, s), as a daemon sends it.
    ActionInvoked = Signal("uint", str)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.count = 100
        self.clicked = False

    @Slot(str, "uint", str, str, str, "QStringList", "QVariantMap", int, result="uint")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):  # noqa: PLR0917
        self.count += 1
        nid = self.count
        report(
            {
                "app": app,
                "replaces": int(replaces),
                "summary": summary,
                "body": body,
                "actions": list(actions),
                "timeout": timeout,
                "id": nid,
            }
        )
        if "answer" in list(actions) and not self.clicked:
            self.clicked = True
            QTimer.singleShot(300, lambda: self.ActionInvoked.emit(nid, "answer"))
        return nid

    @Slot("uint")
    def CloseNotification(self, nid):
        report({"closed": int(nid)})

    @Slot(result="QStringList")
    def GetCapabilities(self):
        return ["body", "actions"]


def main() -> int:
    faulthandler.dump_traceback_later(60, exit=True)
    app = QCoreApplication(sys.argv)
    bus = QDBusConnection.sessionBus()
    owner = QObject()
    FakeDaemon(owner)
    if not (
        bus.registerObject("/org/freedesktop/Notifications", owner)
        and bus.registerService("org.freedesktop.Notifications")
    ):
        return 2
    report({"ready": True})
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
