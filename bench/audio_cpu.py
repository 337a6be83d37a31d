"""CPU per active call, and audio gaps during a long call on a machine kept busy.

Two peers (bench/audio_peer.py: pjsua2 + AudioBridge + miniaudio, G.722) call each other
through the PulseAudio rig. A continuous 1 kHz tone goes into the caller's microphone for
the whole call; the callee's speaker is recorded. Meanwhile one busy-loop process per core
runs at normal priority. Reports each peer's CPU (% of one core, from /proc) and every gap
over 40 ms in the tone heard at the far end.

    .venv/bin/python bench/audio_cpu.py                # the real figure: 5 minutes
    .venv/bin/python bench/audio_cpu.py --seconds 20   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_latency import peer_command, start_call_pair  # noqa: E402  (bench/ is sys.path[0])

from tests.rig.ports import free_port  # noqa: E402
from tests.rig.pulse import PulseRig  # noqa: E402

RATE = 16_000
WINDOW = 80  # 5 ms
GAP_MS = 40


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gaps(samples: np.ndarray) -> list[float]:
    """Runs of >= GAP_MS where the tone's level drops under a tenth of its median."""
    n = samples.size // WINDOW
    rms = np.sqrt(np.mean(samples[: n * WINDOW].reshape(n, WINDOW) ** 2, axis=1))
    loud = rms > 0.1 * np.median(rms)
    idx = np.flatnonzero(loud)
    if idx.size == 0:
        return [samples.size / RATE * 1000]
    out, run = [], 0
    for ok in loud[idx[0] : idx[-1] + 1]:  # from first to last sound: ignore call edges
        if ok:
            if run * 5 >= GAP_MS:
                out.append(run * 5.0)
            run = 0
        else:
            run += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--period-ms", type=int, default=0, help="device period (0: default)")
    ap.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy-loop processes")
    ap.add_argument("--peer", default="engine", choices=("engine", "bare"), help="our side")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="audio-cpu-"))
    peer = peer_command(args.peer, period_ms=args.period_ms)
    with PulseRig(work, sinks=("a_mic", "a_spk", "b_mic", "b_spk")) as rig:
        env = rig.env_for_clients()
        port = free_port()
        a, b = start_call_pair(peer, port, env)
        total = args.seconds + 6
        t = np.arange(int(total * RATE)) / RATE
        # The probe is apparatus, not the system under test: give it slack (200 ms buffers)
        # and real-time priority so a starved probe never shows up as a gap in the call.
        mouth = rig.play("a_mic", 0.5 * np.sin(2 * np.pi * 1000 * t), latency_msec=200)
        ear = rig.record("b_spk.monitor", latency_msec=200)
        for pid in (mouth.pid, ear.pid):
            subprocess.run(["chrt", "-r", "-p", "3", str(pid)], check=False)
        threading.Event().wait(3.0)  # settle (null sinks start at 2 s latency)
        busy = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
        ]
        # the engine process for the engine peer (its EngineClient wrapper is not counted)
        pids = {p.pid: getattr(p, "cpu_pid", p.pid) for p in (a, b)}
        cpu0 = {p.pid: cpu_seconds(pids[p.pid]) for p in (a, b)}
        mark = ear.seconds
        t0 = time.monotonic()
        threading.Event().wait(args.seconds)
        elapsed = time.monotonic() - t0
        cpu = {p.pid: (cpu_seconds(pids[p.pid]) - cpu0[p.pid]) / elapsed * 100 for p in (a, b)}
        heard = ear.samples()[int(mark * RATE) :]
        for p in busy:
            p.kill()
            p.wait()
        stats = {}
        for name, proc in (("caller", a), ("callee", b)):
            out, _ = proc.communicate("", timeout=15)
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            stats[name] = json.loads(lines[-1]) if lines else {}
    found = gaps(heard)
    result = {
        "peer": args.peer,
        "seconds": round(elapsed, 1),
        "busy_processes": args.busy,
        "cpu_percent_caller": round(cpu[a.pid], 2),
        "cpu_percent_callee": round(cpu[b.pid], 2),
        "audio_seconds_checked": round(heard.size / RATE, 1),
        "gaps_over_40ms": len(found),
        "longest_gap_ms": max(found, default=0.0),
        "bridge_stats": stats,
    }
    print(
        f"CPU per call side: caller {result['cpu_percent_caller']} %, "
        f"callee {result['cpu_percent_callee']} % of one core over {result['seconds']} s "
        f"with {args.busy} busy processes; gaps > {GAP_MS} ms: {len(found)} "
        f"(longest {result['longest_gap_ms']} ms)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
