"""Launch to dialer ready, warm: process start until the dialer window is shown and painted.

Runs ``python -m app`` (offscreen Qt, null audio, embedded CRM with the demo line) in fresh
temporary folders, several times; the first run warms the OS file cache and bytecode and
is not counted. Target: 0.6 s or less.

    .venv/bin/python bench/app_launch.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_launch(tmp: Path) -> float:
    ready = tmp / "ready"
    env = {
        **os.environ,
        "LODGEPHONE_RUNTIME_DIR": str(tmp / "run"),
        "LODGEPHONE_CONFIG_DIR": str(tmp / "config"),
        "LODGEPHONE_DATA_DIR": str(tmp / "data"),
        "LODGEPHONE_LOG_DIR": str(tmp / "log"),
        "LODGEPHONE_POLICY": str(tmp / "none.toml"),
        "LODGEPHONE_AUDIO": "null",
        "LODGEPHONE_READY_FILE": str(ready),
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
    }
    t0 = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text().strip():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the app did not become ready")
        time.sleep(0.005)
    took = float(ready.read_text()) - t0
    subprocess.run(
        [sys.executable, "-m", "app", "quit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    for i in range(args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="lp-launch-") as tmp:
            took = one_launch(Path(tmp))
        if i > 0:
            times.append(took)
        print(f"run {i}{' (warm-up)' if i == 0 else ''}: {took * 1000:.0f} ms")
    result = {
        "bench": "app_launch",
        "metric": "launch_to_dialer_ready_s",
        "runs": len(times),
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "target_s": 0.6,
    }
    print(
        f"launch to dialer ready: median {result['median_s']} s "
        f"(min {result['min_s']}, max {result['max_s']}; target 0.6 s)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
