"""Run by test_notify_dbus in its own process (real xcb platform on Xvfb, private bus):
owns org.freedesktop.Notifications, lets the tray ring, and prints what arrived as JSON.

Not a test module itself (no test_ prefix)."""

from __future__ import annotations

import faulthandler
import json
import sys

from PySide6.QtCore import ClassInfo, QObject, QTimer, Signal, Slot
from PySide6.QtDBus import QDBusAbstractAdaptor, QDBusConnection
from PySide6.QtWidgets import QApplication

from app.session.model import CallDirection, CallEnd, CallEnded, CallPhase, CallView, IncomingCall
from app.tray import Tray

received: list[dict[str, object]] = []
answered: list[str] = []


@ClassInfo({"D-Bus Interface": "org.freedesktop.Notifications"})
class FakeServer(QDBusAbstractAdaptor):
    #: Relayed by the adaptor onto the bus with D-Bus types (u, s), as a daemon sends it.
    ActionInvoked = Signal("uint", str)

    @Slot(str, "uint", str, str, str, "QStringList", "QVariantMap", int, result="uint")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):  # noqa: PLR0917
        received.append(
            {
                "app": app,
                "replaces": int(replaces),
                "summary": summary,
                "body": body,
                "actions": list(actions),
                "timeout": timeout,
            }
        )
        return len(received) + 100

    @Slot("uint")
    def CloseNotification(self, nid):
        received.append({"closed": int(nid)})

    @Slot(result="QStringList")
    def GetCapabilities(self):
        return ["body", "actions"]


def main() -> int:
    faulthandler.dump_traceback_later(25, exit=True)  # never hang the test run
    app = QApplication(sys.argv)
    # The fake daemon gets a connection of its own, as a real daemon is another process.
    daemon = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, "fake-daemon")
    owner = QObject()
    server = FakeServer(owner)
    assert daemon.registerObject("/org/freedesktop/Notifications", owner)
    assert daemon.registerService("org.freedesktop.Notifications")
    tray = Tray()
    tray.answer_requested.connect(answered.append)
    assert tray.notifier.uses_dbus, "the notifier did not pick D-Bus"
    ringing = CallView(
        "in1",
        CallDirection.INBOUND,
        CallPhase.RINGING,
        "+34911234567",
        "+34 911 23 45 67",
        line_label="Demo line",
        remote_name="Maria Lopez",
    )

    def step_ring() -> None:
        tray.ringing(IncomingCall(ringing))

    def step_action() -> None:
        # The daemon reports the Answer click as a signal on the bus.
        server.ActionInvoked.emit(101, "answer")

    def step_missed() -> None:
        tray.call_ended(
            CallEnded(
                CallView(
                    "in1",
                    CallDirection.INBOUND,
                    CallPhase.ENDED,
                    "+34911234567",
                    "+34 911 23 45 67",
                    remote_name="Maria Lopez",
                    started_at=0.0,
                    end=CallEnd.MISSED,
                )
            )
        )

    def done() -> None:
        print(json.dumps({"received": received, "answered": answered}), flush=True)
        tray.shutdown()
        app.quit()

    QTimer.singleShot(50, step_ring)
    QTimer.singleShot(600, step_action)
    QTimer.singleShot(1000, step_missed)
    QTimer.singleShot(1800, done)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
