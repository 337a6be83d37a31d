"""The app side of test_notify_dbus (real xcb platform on Xvfb, private bus): lets the
tray ring and miss a call, and prints which calls the notification's Answer answered.
Not a test module (no test_ prefix)."""

from __future__ import annotations

import faulthandler
import json
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.session.model import CallDirection, CallEnd, CallEnded, CallPhase, CallView, IncomingCall
from app.tray import Tray


def main() -> int:
    faulthandler.dump_traceback_later(25, exit=True)  # never hang the test run
    app = QApplication(sys.argv)
    tray = Tray()
    answered: list[str] = []
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

    def missed() -> None:
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
        QTimer.singleShot(500, done)

    def done() -> None:
        print(json.dumps({"answered": answered}), flush=True)
        app.quit()

    def wait_for_answer(tries: int = 100) -> None:
        if answered or tries == 0:
            missed()
        else:
            QTimer.singleShot(50, lambda: wait_for_answer(tries - 1))

    tray.ringing(IncomingCall(ringing))
    wait_for_answer()
    code = app.exec()
    tray.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
