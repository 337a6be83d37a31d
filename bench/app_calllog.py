"""Main window over 100,000 calls in the embedded store: first page and filter change.

Builds an embedded CRM with N calls (default 100,000), opens the Calls window (offscreen
Qt) and measures, on the Qt main thread, from the request to the rows being in the model:

- first page: opening the window / "All time" filter (100 rows);
- filter change: status "Missed", direction "Outbound", a search text, a 7-day range.

Targets: first page 150 ms or less, filter change 100 ms or less.

    .venv/bin/python bench/app_calllog.py [--calls 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from app.mainwindow.source import CallLogSource
    from app.mainwindow.window import MainWindow
    from app.runloop import AsyncRunner, MainThread
    from crmclient.embedded import EmbeddedCrm
    from tests.app.helpers import seed_calls

    qapp = QApplication([])
    runner = AsyncRunner()
    with tempfile.TemporaryDirectory(prefix="lp-calllog-") as tmp:

        async def make() -> EmbeddedCrm:
            return EmbeddedCrm(Path(tmp) / "crm.sqlite")

        crm = runner.run(make())
        t0 = time.perf_counter()
        batch = 10_000
        for start in range(0, args.calls, batch):
            calls = seed_calls(min(batch, args.calls - start), agents=("local", "a2", "a3"))
            calls = [
                type(c)(
                    **{
                        **{f: getattr(c, f) for f in c.__dataclass_fields__},
                        "id": f"b{start}-{c.id}",
                    }
                )
                for c in calls
            ]

            async def add(calls=calls) -> None:
                crm.add_calls(calls)

            runner.run(add(), timeout=120)
        seeded = time.perf_counter() - t0
        print(f"seeded {args.calls} calls in {seeded:.1f} s")

        main = MainThread()
        window = MainWindow(
            CallLogSource(crm, runner, main),
            sees_all=True,
            agents={"local": "Me", "a2": "Ana", "a3": "Ben"},
        )

        def timed(change) -> float:
            done = []
            window.model.loaded.connect(lambda _n: done.append(time.perf_counter()))
            start = time.perf_counter()
            change()
            deadline = time.monotonic() + 30
            while not done:
                qapp.processEvents()
                if time.monotonic() > deadline:
                    raise RuntimeError("no answer")
                time.sleep(0.0005)
            window.model.loaded.disconnect()
            return done[0] - start

        first = []
        for _ in range(args.repeat):
            window.range.blockSignals(True)
            window.range.setCurrentText("All time")
            window.range.blockSignals(False)
            first.append(timed(window.apply_filters))
        rows = window.model.rowCount()
        changes = {
            "status_missed": lambda: window.status.setCurrentText("Missed"),
            "status_any": lambda: window.status.setCurrentText("Any status"),
            "direction_outbound": lambda: window.direction.setCurrentText("Outbound"),
            "direction_all": lambda: window.direction.setCurrentText("All directions"),
            "range_7_days": lambda: window.range.setCurrentText("7 days"),
            "range_all": lambda: window.range.setCurrentText("All time"),
            "search_text": lambda: (window.search.setText("Souza"), window.apply_filters()),
            "search_clear": lambda: (window.search.setText(""), window.apply_filters()),
        }
        change_times: dict[str, list[float]] = {k: [] for k in changes}
        for _ in range(args.repeat):
            for name, change in changes.items():
                change_times[name].append(timed(change))
        runner.run(crm.aclose())
        runner.stop()

    med_first = statistics.median(first)
    per_change = {k: round(statistics.median(v) * 1000, 1) for k, v in change_times.items()}
    worst_change = max(per_change.values())
    print(
        f"first page ({rows} rows of {args.calls}): median {med_first * 1000:.1f} ms "
        f"(target 150 ms)"
    )
    for k, v in per_change.items():
        print(f"filter change {k:20s} median {v:7.1f} ms (target 100 ms)")
    print(
        json.dumps(
            {
                "bench": "app_calllog",
                "calls": args.calls,
                "first_page_ms_median": round(med_first * 1000, 1),
                "filter_change_ms_median": per_change,
                "filter_change_ms_worst_median": worst_change,
                "targets_ms": {"first_page": 150, "filter_change": 100},
                "load_average": os.getloadavg()[0],
            }
        )
    )
    os._exit(0)


if __name__ == "__main__":
    main()
