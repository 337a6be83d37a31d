"""Mouth-to-ear latency, user agent to user agent, through PulseAudio null sinks.

A private PulseAudio server gets four null sinks: a_mic, a_spk, b_mic, b_spk. Caller A
captures a_mic.monitor and plays into a_spk; callee B captures b_mic.monitor and plays into
b_spk. The probe (this process, miniaudio) plays 1 kHz bursts into a_mic and records both
a_mic.monitor (what A's microphone hears) and b_spk.monitor (what B's speaker plays).
Mouth-to-ear = onset on B's speaker minus onset on A's microphone, both stamped on the same
monotonic clock from the capture callbacks (so the probe's own playback delay cancels).

Runs ours (bench/audio_peer.py: pjsua2 + AudioBridge, G.722) and baresip with stock
settings (pulse module, G.722) on the same rig, one after the other.

    .venv/bin/python bench/audio_latency.py [--bursts 20] [--which ours,baresip]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import miniaudio
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.rig.baresip import Baresip  # noqa: E402
from tests.rig.ports import free_port  # noqa: E402
from tests.rig.pulse import PulseRig  # noqa: E402
from tests.rig.waiting import wait_until  # noqa: E402

RATE = 16_000
BURST_S = 0.15
PERIOD_S = 0.6
PERIOD_MS = 0
THRESHOLD = 0.08  # of full scale; bursts are played at 0.5


class StampedCapture:
    """Capture a source; remember each callback's monotonic time to date every sample."""

    def __init__(self, source: str, dev_ids: dict[str, Any]) -> None:
        self.chunks: list[tuple[float, np.ndarray]] = []
        outer = self

        class _Dev(miniaudio.CaptureDevice):  # type: ignore[misc]
            def _data_callback(self, device: Any, output: Any, inp: Any, n: int) -> None:
                now = time.monotonic()
                data = np.frombuffer(miniaudio.ffi.buffer(inp, n * 2), dtype=np.int16).copy()
                outer.chunks.append((now, data))

        self.dev = _Dev(
            input_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=1,
            sample_rate=RATE,
            buffersize_msec=5,
            device_id=dev_ids[source],
            backends=[miniaudio.Backend.PULSEAUDIO],
        )
        self.dev.start(True)

    def onsets(self) -> list[float]:
        """Monotonic times where a burst starts (first loud sample after >= 250 ms quiet)."""
        out: list[float] = []
        last_loud = -1e9
        for stamp, data in list(self.chunks):
            loud = np.flatnonzero(np.abs(data.astype(np.int32)) > THRESHOLD * 32768)
            if loud.size == 0:
                continue
            base = stamp - data.size / RATE
            first_t = base + loud[0] / RATE
            if first_t - last_loud > 0.25:
                out.append(first_t)
            last_loud = base + loud[-1] / RATE
        return out

    def close(self) -> None:
        self.dev.close()


def capture_ids() -> dict[str, Any]:
    devs = miniaudio.Devices([miniaudio.Backend.PULSEAUDIO])
    ids: dict[str, Any] = {}
    for d in devs.get_captures() + devs.get_playbacks():
        ids[bytes(miniaudio.ffi.buffer(d["id"])).rstrip(b"\0").decode()] = d["id"]
    return ids


def probe(rig: PulseRig, bursts: int) -> dict[str, Any]:
    ids = capture_ids()
    mic = StampedCapture("a_mic.monitor", ids)
    ear = StampedCapture("b_spk.monitor", ids)
    t = np.arange(int(BURST_S * RATE)) / RATE
    burst = 0.5 * np.sin(2 * np.pi * 1000 * t)
    burst[:16] *= np.linspace(0, 1, 16)
    signal = np.zeros(int(PERIOD_S * RATE * bursts))
    for i in range(bursts):
        start = int(i * PERIOD_S * RATE)
        signal[start : start + burst.size] = burst
    play = rig.play("a_mic", signal)
    wait_until(play.done, PERIOD_S * bursts + 10, "probe playback")
    with contextlib.suppress(AssertionError):  # a lost burst shows in the counts below
        wait_until(lambda: len(ear.onsets()) >= bursts, 2.0, "the last burst at the ear")
    mic.close()
    ear.close()
    sent, heard = mic.onsets(), ear.onsets()
    delays = []
    for s in sent:
        later = [h - s for h in heard if 0 <= h - s < 0.5]
        if later:
            delays.append(later[0] * 1000)
    # The first bursts hit streams still settling (null sinks start at 2 s latency).
    settled = delays[2:] if len(delays) > 4 else delays
    return {
        "bursts_sent": len(sent),
        "bursts_heard": len(delays),
        "median_ms": round(statistics.median(settled), 1) if settled else None,
        "min_ms": round(min(settled), 1) if settled else None,
        "max_ms": round(max(settled), 1) if settled else None,
        "all_ms": [round(d, 1) for d in delays],
    }


def read_until(proc: subprocess.Popen[str], word: str) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        if line.startswith(word):
            return line
        seen.append(line)
    raise RuntimeError(f"peer exited before {word}: {''.join(seen[-10:])}")


def start_call_pair(
    peer: list[str], port: int, env: dict[str, str]
) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """Peer b listens on ``port`` (mic a_mic/b_mic monitors, speakers a_spk/b_spk); peer a
    calls it; returns (a, b) once the call is confirmed. Each gets `cpu_pid`: the process
    doing the audio work (the engine child for audio_engine_peer.py, else the peer)."""
    b = subprocess.Popen(
        [*peer, "--port", str(port), "--input", "b_mic.monitor", "--output", "b_spk"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    _note_cpu_pid(b, read_until(b, "READY"))
    a = subprocess.Popen(
        [
            *peer,
            "--input",
            "a_mic.monitor",
            "--output",
            "a_spk",
            "--call",
            f"sip:b@127.0.0.1:{port}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    _note_cpu_pid(a, read_until(a, "READY"))
    read_until(a, "CONFIRMED")
    return a, b


def _note_cpu_pid(proc: subprocess.Popen[str], ready: str) -> None:
    words = ready.split()
    proc.cpu_pid = int(words[2]) if len(words) > 2 else proc.pid  # type: ignore[attr-defined]


def peer_command(kind: str, jb_ms: int = 20, period_ms: int = 0) -> list[str]:
    """`engine`: the real engine process (what agents run); `bare`: pjsua2 + AudioBridge
    with the engine's media settings (jitter buffer and device period adjustable)."""
    if kind == "engine":
        return [sys.executable, str(ROOT / "bench" / "audio_engine_peer.py")]
    peer = [sys.executable, str(ROOT / "bench" / "audio_peer.py"), "--jb-ms", str(jb_ms)]
    return [*peer, "--period-ms", str(period_ms)]


def run_ours(rig: PulseRig, bursts: int, jb_ms: int, kind: str) -> dict[str, Any]:
    peer = peer_command(kind, jb_ms, PERIOD_MS)
    port = free_port()
    env = rig.env_for_clients()
    a, b = start_call_pair(peer, port, env)
    threading.Event().wait(3.0)  # let devices open and PulseAudio lower the sink latency
    result = probe(rig, bursts)
    stats = {}
    for name, proc in (("caller", a), ("callee", b)):
        out, _ = proc.communicate("", timeout=10)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        stats[name] = json.loads(lines[-1]) if lines else {}
    result["bridge_stats"] = stats
    return result


class PulseBaresip(Baresip):
    """baresip with stock audio buffering, its pulse module, G.722 preferred."""

    def __init__(self, user: str, source: str, sink: str, **kw: Any) -> None:
        self._src, self._sink = source, sink
        super().__init__(user, **kw)
        accounts = (self.workdir / "accounts").read_text()
        (self.workdir / "accounts").write_text(
            accounts.replace("audio_codecs=pcmu,pcma", "audio_codecs=g722,pcmu")
        )

    def _config(self) -> str:
        lines = []
        for original in super()._config().splitlines():
            key = original.split(" ", 1)[0]
            if key in ("audio_buffer", "jitter_buffer_delay"):
                continue  # stock settings
            if key == "audio_source":
                lines.append(f"audio_source pulse,{self._src}")
            elif key in ("audio_player", "audio_alert"):
                lines.append(f"{key} pulse,{self._sink}")
            else:
                lines.append(original)
        lines += ["module pulse.so", "module g722.so"]
        return "\n".join(lines) + "\n"


def run_baresip(rig: PulseRig, bursts: int, work: Path) -> dict[str, Any]:
    b = PulseBaresip("b", "b_mic.monitor", "b_spk", workdir=work / "bb")
    a = PulseBaresip("a", "a_mic.monitor", "a_spk", workdir=work / "ba")
    with b, a:
        a.dial(b.uri)
        a.wait_event("CALL_ESTABLISHED", 10, since=0)
        threading.Event().wait(1.0)
        return probe(rig, bursts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bursts", type=int, default=20)
    ap.add_argument("--which", default="ours,baresip")
    ap.add_argument("--jb-ms", type=int, default=20, help="our jitter buffer prefetch")
    ap.add_argument("--period-ms", type=int, default=0, help="our device period (0: default)")
    ap.add_argument("--peer", default="engine", choices=("engine", "bare"), help="our side")
    args = ap.parse_args()
    global PERIOD_MS
    PERIOD_MS = args.period_ms
    work = Path(tempfile.mkdtemp(prefix="audio-latency-"))
    results: dict[str, Any] = {"rig": "pulseaudio null sinks, 16 kHz mono"}
    with PulseRig(work, sinks=("a_mic", "a_spk", "b_mic", "b_spk")) as rig, rig.activate():
        for which in args.which.split(","):
            if which == "ours":
                results["ours"] = run_ours(rig, args.bursts, args.jb_ms, args.peer)
                results["ours"]["peer"] = args.peer
            elif which == "baresip":
                results["baresip"] = run_baresip(rig, args.bursts, work)
    for name in ("ours", "baresip"):
        if name in results:
            r = results[name]
            print(
                f"{name:8s} mouth-to-ear median {r['median_ms']} ms "
                f"(min {r['min_ms']}, max {r['max_ms']}; "
                f"{r['bursts_heard']}/{r['bursts_sent']} bursts)"
            )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
