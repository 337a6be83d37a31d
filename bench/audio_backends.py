"""miniaudio vs sounddevice: device round trip and CPU through PulseAudio null sinks.

Each library opens, in one process, a playback stream into sink `loop` and a capture stream
on `loop.monitor` (16 kHz mono int16, 10 ms blocks, separate streams as the bridge uses
them). The playback callback starts a 1 kHz burst every 500 ms and stamps the moment it
handed the burst over; the capture callback stamps when the burst comes back. Round trip =
output buffering + PulseAudio + input buffering: the part of mouth-to-ear a library adds.
CPU is the process's CPU time while both streams run.

sounddevice is not a project dependency (it is what we measured against): install it for
this bench with `pip install sounddevice` (needs Debian `libportaudio2`) or point
SOUNDDEVICE_PATH at a folder that has it.

    .venv/bin/python bench/audio_backends.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if os.environ.get("SOUNDDEVICE_PATH"):
    sys.path.append(os.environ["SOUNDDEVICE_PATH"])

from tests.rig.pulse import PulseRig  # noqa: E402

RATE = 16_000
BLOCK = 160
BURST = (0.5 * 32767 * np.sin(2 * np.pi * 1000 * np.arange(1600) / RATE)).astype(np.int16)
EVERY = RATE // 2


class Probe:
    """Shared by both libraries: what to play next, and onset stamps each way."""

    def __init__(self) -> None:
        self.pos = 0
        self.sent: list[float] = []
        self.heard: list[float] = []
        self._last_loud = -1e9

    def fill(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        now = time.monotonic()
        for i in range(n):
            phase = (self.pos + i) % EVERY
            if phase == 0:
                self.sent.append(now + i / RATE)
            if phase < BURST.size:
                out[i] = BURST[phase]
        self.pos += n
        return out

    def take(self, data: np.ndarray) -> None:
        now = time.monotonic()
        loud = np.flatnonzero(np.abs(data.astype(np.int32)) > 3000)
        if loud.size:
            t = now - (data.size - loud[0]) / RATE
            if t - self._last_loud > 0.2:
                self.heard.append(t)
            self._last_loud = now - (data.size - loud[-1]) / RATE

    def round_trips_ms(self) -> list[float]:
        out = []
        for s in self.sent:
            later = [h - s for h in self.heard if 0 <= h - s < 0.4]
            if later:
                out.append(later[0] * 1000)
        return out[2:]  # the first bursts meet streams still settling


def run_miniaudio(probe: Probe) -> Callable[[], None]:
    from softphone.audio.backends.mini import MiniaudioBackend

    backend = MiniaudioBackend()
    backend.list_devices()
    cap = backend.open_capture("loop.monitor", probe.take)
    play = backend.open_playback("loop", probe.fill)

    def stop() -> None:
        cap.close()
        play.close()
        backend.close()

    return stop


def run_sounddevice(probe: Probe) -> Callable[[], None]:
    import sounddevice as sd

    def find(name: str, kind: str) -> int:
        for i, d in enumerate(sd.query_devices()):
            if d["name"] == name and d[f"max_{kind}_channels"] > 0:
                return i
        # Through ALSA's pulse plugin only "pulse"/"default" exist: route with PULSE_*.
        for i, d in enumerate(sd.query_devices()):
            if d["name"] in ("pulse", "default") and d[f"max_{kind}_channels"] > 0:
                return i
        raise LookupError(f"no {kind} device for {name}")

    def on_in(indata: Any, frames: int, t: Any, status: Any) -> None:
        probe.take(np.frombuffer(indata, dtype=np.int16))

    def on_out(outdata: Any, frames: int, t: Any, status: Any) -> None:
        outdata[:] = probe.fill(frames).tobytes()

    common: dict[str, Any] = {
        "samplerate": RATE,
        "channels": 1,
        "dtype": "int16",
        "blocksize": BLOCK,
        "latency": "low",
    }
    os.environ["PULSE_SOURCE"] = "loop.monitor"
    os.environ["PULSE_SINK"] = "loop"
    inp = sd.RawInputStream(device=find("loop.monitor", "input"), callback=on_in, **common)
    out = sd.RawOutputStream(device=find("loop", "output"), callback=on_out, **common)
    inp.start()
    out.start()

    def stop() -> None:
        inp.stop()
        out.stop()
        inp.close()
        out.close()

    return stop


def measure(
    name: str, start: Callable[[Probe], Callable[[], None]], seconds: float
) -> dict[str, Any]:
    probe = Probe()
    stop = start(probe)
    threading.Event().wait(1.0)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    threading.Event().wait(seconds)
    r1, elapsed = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    stop()
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / elapsed * 100
    trips = probe.round_trips_ms()
    return {
        "library": name,
        "round_trip_median_ms": round(statistics.median(trips), 1) if trips else None,
        "round_trip_max_ms": round(max(trips), 1) if trips else None,
        "bursts": len(trips),
        "cpu_percent": round(cpu, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    results = []
    rig = PulseRig(Path(tempfile.mkdtemp(prefix="audio-backends-")), sinks=("loop",))
    with rig, rig.activate():
        results.append(measure("miniaudio", run_miniaudio, args.seconds))
        try:
            results.append(measure("sounddevice", run_sounddevice, args.seconds))
        except (ImportError, OSError) as exc:
            results.append({"library": "sounddevice", "error": str(exc)})
    for r in results:
        if "error" in r:
            print(f"{r['library']:12s} not measured: {r['error']}")
        else:
            print(
                f"{r['library']:12s} round trip median {r['round_trip_median_ms']} ms "
                f"(max {r['round_trip_max_ms']}, {r['bursts']} bursts), CPU {r['cpu_percent']} %"
            )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
