"""Idle cost of the running app: memory (RSS) of the app and its engine, and CPU use.

Starts ``python -m app --minimized`` (offscreen Qt, null audio, embedded CRM, demo line),
waits until the line is registered and no call is active, lets it settle, then samples
/proc for ``--seconds``: RSS of the app and of its engine process (the demo guest's own
engine is reported apart: it is not part of a real deployment), and CPU time used over
the window. Targets: app + engine 180 MB RSS or less; idle CPU under 0.5 % of one core.
Also reported: wake-ups per second of each process (context switches of all its threads)
and its busiest thread, which is where a periodic timer or a polling loop shows up first.

    .venv/bin/python bench/app_idle.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.rig.appenv import app_cli, private_app_env

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wakeups(pid: int) -> dict[str, int]:
    """Context switches so far per thread ("name/tid"); threads that ended are left out."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = dict(line.split(":", 1) for line in (task / "status").read_text().splitlines())
        except OSError:
            continue
        out[f"{name}/{task.name}"] = int(fields["voluntary_ctxt_switches"]) + int(
            fields["nonvoluntary_ctxt_switches"]
        )
    return out


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out.extend(int(k) for k in kids)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lp-idle-") as tmp:
        env = private_app_env(Path(tmp))

        def cli(*a: str) -> subprocess.CompletedProcess[str]:
            return app_cli(env, *a)

        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--minimized"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            status: dict = {}
            while time.monotonic() < deadline:
                r = cli("status", "--json")
                if r.returncode == 0:
                    status = json.loads(r.stdout)
                    lines = [x["state"] for x in status.get("lines", [])]
                    if lines and all(s == "registered" for s in lines):
                        break
                time.sleep(0.5)
            # The demo guest rings once a few seconds after start: decline it, then idle.
            ring_deadline = time.monotonic() + 10
            while time.monotonic() < ring_deadline:
                calls = json.loads(cli("status", "--json").stdout)["calls"]
                if calls:
                    cli("hangup")
                    break
                time.sleep(0.5)
            time.sleep(args.settle)
            status = json.loads(cli("status", "--json").stdout)
            engine = status["engine_pid"]
            others = [p for p in children(proc.pid) if p != engine]
            pids = {"app": proc.pid, "engine": engine}
            before = {k: cpu_s(p) for k, p in pids.items()}
            demo_before = {p: cpu_s(p) for p in others}
            woken_before = {k: wakeups(p) for k, p in pids.items()}
            t0 = time.monotonic()
            time.sleep(args.seconds)
            wall = time.monotonic() - t0
            woken = {}
            for k, p in pids.items():
                now = wakeups(p)
                per = {t: (n - woken_before[k].get(t, 0)) / wall for t, n in now.items()}
                busiest = max(per, key=lambda t: per[t]) if per else ""
                woken[k] = {
                    "per_s": round(sum(per.values()), 1),
                    "busiest_thread": busiest.split("/")[0],
                    "busiest_per_s": round(per.get(busiest, 0.0), 1),
                }
            cpu = {k: (cpu_s(p) - before[k]) / wall * 100 for k, p in pids.items()}
            rss = {k: rss_mb(p) for k, p in pids.items()}
            demo_rss = sum(rss_mb(p) for p in others)
            demo_cpu = sum(cpu_s(p) - demo_before[p] for p in others) / wall * 100
        finally:
            cli("quit")
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    total_rss = rss["app"] + rss["engine"]
    total_cpu = cpu["app"] + cpu["engine"]
    print(
        f"RSS: app {rss['app']:.1f} MB + engine {rss['engine']:.1f} MB = {total_rss:.1f} MB "
        f"(target 180 MB); demo guest engine {demo_rss:.1f} MB not counted"
    )
    print(
        f"idle CPU over {wall:.0f} s: app {cpu['app']:.2f} % + engine {cpu['engine']:.2f} % "
        f"= {total_cpu:.2f} % of a core (target < 0.5 %); demo guest {demo_cpu:.2f} %"
    )
    print(
        "wake-ups per second: "
        + ", ".join(
            f"{k} {w['per_s']} (busiest thread {w['busiest_thread']!r} {w['busiest_per_s']})"
            for k, w in woken.items()
        )
    )
    print(
        json.dumps(
            {
                "bench": "app_idle",
                "rss_mb": {
                    "app": round(rss["app"], 1),
                    "engine": round(rss["engine"], 1),
                    "total": round(total_rss, 1),
                    "demo_guest": round(demo_rss, 1),
                },
                "cpu_percent": {
                    "app": round(cpu["app"], 3),
                    "engine": round(cpu["engine"], 3),
                    "total": round(total_cpu, 3),
                    "demo_guest": round(demo_cpu, 3),
                },
                "wakeups_per_s": woken,
                "seconds": round(wall, 1),
                "targets": {"rss_mb": 180, "cpu_percent": 0.5},
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
