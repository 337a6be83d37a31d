"""Engine start to ready: spawn `python -m softphone` until its hello, and until a first
command (add a direct account) is answered. Prints a table and JSON.

    .venv/bin/python bench/engine_start.py [--runs 10]
    chrt -f 10 .venv/bin/python bench/engine_start.py   # on a machine shared with other load

The engine's modules are byte-compiled first, as an installed package ships them (this dev
environment sets PYTHONDONTWRITEBYTECODE, and compiling the sources each start cost
about 30 ms). On a shared, loaded machine, `chrt -f` (root) keeps other processes' load
out of the figure; the load average is printed either way.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from softphone.client import EngineClient  # noqa: E402
from softphone.config import AccountConfig, EngineConfig  # noqa: E402


def one_run() -> dict[str, float]:
    client = EngineClient(EngineConfig(log_level=0), stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    hello = client.start()
    t_hello = time.perf_counter()
    client.add_account(AccountConfig("bench", "bench", "127.0.0.1", bind_address="127.0.0.1"))
    t_account = time.perf_counter()
    t_stop0 = time.perf_counter()
    code = client.stop()
    t_stop = time.perf_counter()
    assert code == 0, f"engine exited with {code}"
    return {
        "spawn_to_hello_ms": (t_hello - t0) * 1000,
        "spawn_to_first_account_ms": (t_account - t0) * 1000,
        "inside_engine_startup_ms": hello.startup_ms,
        "stop_ms": (t_stop - t_stop0) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "softphone", quiet=1)
    one_run()  # warm the page cache
    runs = [one_run() for _ in range(args.runs)]
    result: dict[str, object] = {"bench": "engine_start", "runs": args.runs}
    for key in runs[0]:
        values = sorted(r[key] for r in runs)
        result[key] = {
            "median": round(statistics.median(values), 1),
            "min": round(values[0], 1),
            "max": round(values[-1], 1),
        }
    result["target_ms"] = 300
    result["load_average"] = os.getloadavg()[0]
    result["realtime_priority"] = os.sched_getscheduler(0) != os.SCHED_OTHER
    for key, value in result.items():
        print(f"{key:28} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
