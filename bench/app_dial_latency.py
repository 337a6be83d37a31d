"""Click on Dial to INVITE on the wire, in the real app. Target: 30 ms or less.

The app runs in this process exactly as ``python -m app`` builds it (real engine process,
embedded CRM, demo line as the provider, offscreen Qt unless QT_QPA_PLATFORM says
otherwise). For each of ``--calls`` calls a number is typed into the dialer (QTest key
clicks) and, once the Call button is enabled, the button gets a real QTest mouse click:

* start: ``time.time_ns()`` on the Qt thread just before the click;
* end: the kernel timestamp of the app engine's INVITE on the loopback wire, seen on its way
  to the demo guest (``app_sniff.py``, a separate process; same clock).

Between calls the app hangs up at once (answered by the guest or not: only the INVITE is
measured), the wrap-up is skipped if one shows, and the dialer is back on its dial page
before the next number is typed. The first call is also reported
apart: it is the one an agent meets first.

    unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/app_dial_latency.py'
    ... bench/app_dial_latency.py --calls 20
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from app_rig import (
    ROOT,
    RunningApp,
    Sniffer,
    add_pace_option,
    app_environment,
    run_bench,
    summary,
    wait_until,
)

TARGET_MS = 30.0
#: A New York number that is no demo contact (no chat, no permission step before dialling).
NUMBER = "+12125550123"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20)
    add_pace_option(parser)
    args = parser.parse_args()
    app_environment("lp-dial-")
    os.chdir(ROOT)
    sniffer = Sniffer(["INVITE"])

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    rig = RunningApp()
    app = rig.app

    def scenario(rig: RunningApp) -> dict[str, Any]:
        rig.wait_ready()
        guest = app.demo_line.client
        guest_port = app.demo_line.info.port
        dialer = app.dialer
        page = dialer.dial_page
        button = page.call_button

        def type_number() -> None:
            dialer.present()
            page.number.setFocus()
            QTest.keyClicks(page.number, NUMBER)

        def click() -> int:
            t0 = time.time_ns()
            QTest.mouseClick(button, Qt.MouseButton.LeftButton)
            return t0

        def idle_again() -> bool:
            if dialer.pages.currentWidget() is dialer.wrap_page:
                dialer.wrap_page.skip.click()
                return False
            return dialer.pages.currentWidget() is page and not app.qt_session.calls()

        ended: list[object] = []
        rig.on_main(lambda: app.qt_session.call_ended.connect(ended.append))

        def placed_or_over(before: int) -> bool:
            return bool(app.qt_session.calls()) or len(ended) > before

        samples: list[float] = []
        for n in range(args.calls):
            time.sleep(args.pace)  # see --pace
            rig.on_main(type_number)
            wait_until(lambda: rig.on_main(button.isEnabled), 10, "the Call button")
            sniffer.drain()
            before = len(ended)
            t_click = rig.on_main(click)
            wire = sniffer.next(dport=guest_port)["t_ns"]
            took = (wire - t_click) / 1e6
            samples.append(took)
            print(f"call {n + 1:2d}: click to INVITE on the wire {took:6.2f} ms", flush=True)
            # Hang up at once, answered or not: only the INVITE is measured.
            wait_until(lambda b=before: rig.on_main(lambda: placed_or_over(b)), 10, "the call")
            if rig.on_main(app.qt_session.calls):
                rig.on_main(app.qt_session.hangup)
            wait_until(lambda: rig.on_main(idle_again), 15, "the dialer to be idle again")
            wait_until(lambda: not guest.active_calls, 10, "the guest to hang up")
        return {"samples": samples, "platform": app.qapp.platformName()}

    load_before = os.getloadavg()[0]
    out = rig.run(scenario)
    sniffer.close()
    samples = out["samples"]
    result = {
        "bench": "app_dial_latency",
        "metric": "click_dial_to_invite_on_wire_ms",
        "calls": len(samples),
        **summary(samples),
        "first_ms": round(samples[0], 2),
        "target_ms": TARGET_MS,
        "qt_platform": out["platform"],
        "load_average": round((load_before + os.getloadavg()[0]) / 2, 2),
    }
    print(
        f"click on Call to INVITE on the wire over {len(samples)} calls: median "
        f"{result['median_ms']} ms, p90 {result['p90_ms']} ms, max {result['max_ms']} ms "
        f"(first call {result['first_ms']} ms; target {TARGET_MS:.0f} ms); "
        f"Qt {out['platform']}, load average {result['load_average']}"
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    run_bench(main)
