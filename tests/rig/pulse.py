"""A private PulseAudio server with null sinks: sound devices for machines that have none.

Each null sink is a playback device whose `.monitor` is a capture device carrying exactly
what was played into it. So "speak into an engine's microphone" is: the engine captures
`mic.monitor` and the test plays into sink `mic`; "hear its speaker" is: the engine plays
into sink `spk` and the test records `spk.monitor`.

The server runs in the foreground as our child, with its own runtime directory and socket,
so it never touches a desktop session's sound and always goes away with the test run.
Clients find it through `env` (subprocesses) or `activate()` (this process).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.rig.process import PeerProcess
from tests.rig.waiting import wait_until

PULSEAUDIO = shutil.which("pulseaudio") or "/usr/bin/pulseaudio"
RATE = 16_000
RIG_LATENCY_MSEC = 5  # what pacat/parec ask for; the rig adds about this much


class PulseError(RuntimeError):
    """The rig's server or one of its clients failed (message carries the server log)."""


class Recording:
    """`parec` of one source into a raw file; readable while it runs."""

    def __init__(
        self, rig: PulseRig, source: str, path: Path, latency_msec: int = RIG_LATENCY_MSEC
    ) -> None:
        self.source = source
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [
                "parec",
                f"--device={source}",
                "--raw",
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=1",
                f"--latency-msec={latency_msec}",
            ],
            stdout=self._file,
            stderr=subprocess.PIPE,
            env=rig.env_for_clients(),
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def samples(self) -> npt.NDArray[np.float64]:
        """Everything recorded so far, floats in [-1, 1] at 16 kHz."""
        raw = self.path.read_bytes()
        raw = raw[: len(raw) // 2 * 2]
        return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0

    @property
    def seconds(self) -> float:
        return self.path.stat().st_size / 2 / RATE

    def stop(self) -> npt.NDArray[np.float64]:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(3)
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        self._file.close()
        return self.samples()


class Playback:
    """`pacat` into one sink, fed from a thread so the caller never blocks on the pipe."""

    def __init__(
        self, rig: PulseRig, sink: str, pcm: bytes, latency_msec: int = RIG_LATENCY_MSEC
    ) -> None:
        self.sink = sink
        self._proc = subprocess.Popen(
            [
                "pacat",
                "--playback",
                f"--device={sink}",
                "--raw",
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=1",
                f"--latency-msec={latency_msec}",
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=rig.env_for_clients(),
        )
        self._feeder = threading.Thread(target=self._feed, args=(pcm,), daemon=True)
        self._feeder.start()

    def _feed(self, pcm: bytes) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ValueError):
            self._proc.stdin.write(pcm)
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self._proc.stdin.close()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def done(self) -> bool:
        return self._proc.poll() is not None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(3)
        self._feeder.join(3)
        if self._proc.stderr is not None:
            self._proc.stderr.close()


def to_pcm(samples: npt.ArrayLike) -> bytes:
    """Floats in [-1, 1] (or int16) as s16le bytes."""
    data = np.asarray(samples)
    if data.dtype != np.int16:
        data = (np.clip(data.astype(np.float64), -1.0, 1.0) * 32767.0).round().astype("<i2")
    return data.astype("<i2").tobytes()


class PulseRig:
    """One private PulseAudio server; `sinks` are created at start (mono, 16 kHz)."""

    def __init__(self, root: Path, sinks: Sequence[str] = ("mic", "spk")) -> None:
        self.root = root
        self.runtime = root / "run"
        self.socket = self.runtime / "native"
        self.sinks = list(sinks)
        self._proc: PeerProcess | None = None
        self._recordings: list[Recording] = []
        self._playbacks: list[Playback] = []

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> PulseRig:
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        lines = [f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}"]
        lines += [self._sink_line(name) for name in self.sinks]
        conf = self.root / "rig.pa"
        conf.write_text("\n".join(lines) + "\n")
        self._proc = PeerProcess(
            [
                PULSEAUDIO,
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                # As a desktop's sound server runs (rtkit gives it real-time threads).
                "--high-priority=yes",
                "--realtime=yes",
                "-n",
                "-F",
                str(conf),
                "--log-target=stderr",
            ],
            self.root / "pulseaudio.log",
            env=self.env_for_clients(),
        )
        try:
            wait_until(self._answers, timeout, "PulseAudio to answer on its socket")
        except AssertionError as exc:
            log = self._proc.log_tail()
            self.stop()
            raise PulseError(f"{exc}\n{log}") from None
        return self

    def stop(self) -> None:
        for rec in self._recordings:
            rec.stop()
        for play in self._playbacks:
            play.stop()
        self._recordings.clear()
        self._playbacks.clear()
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def __enter__(self) -> PulseRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answers(self) -> bool:
        if self._proc is None or not self._proc.alive():
            raise PulseError(f"pulseaudio exited:\n{self._proc.log_tail() if self._proc else ''}")
        result = subprocess.run(
            ["pactl", "info"], env=self.env_for_clients(), capture_output=True, check=False
        )
        return result.returncode == 0

    @staticmethod
    def _sink_line(name: str) -> str:
        return (
            f"load-module module-null-sink sink_name={name} rate={RATE} channels=1 "
            f"sink_properties=device.description={name}"
        )

    # -- clients -----------------------------------------------------------------------
    def env_for_clients(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose PulseAudio clients (engines, pacat, miniaudio) use this rig."""
        env = dict(os.environ if base is None else base)
        env["XDG_RUNTIME_DIR"] = str(self.runtime)
        env["PULSE_RUNTIME_PATH"] = str(self.runtime)
        env["PULSE_SERVER"] = f"unix:{self.socket}"
        env["PULSE_COOKIE"] = str(self.root / "cookie")  # anonymous auth; keeps HOME clean
        return env

    @contextlib.contextmanager
    def activate(self) -> Iterator[PulseRig]:
        """Point this process's PulseAudio clients (e.g. miniaudio) at the rig."""
        keys = ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SERVER", "PULSE_COOKIE")
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update({k: self.env_for_clients()[k] for k in keys})
        try:
            yield self
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def pactl(self, *args: str) -> str:
        result = subprocess.run(
            ["pactl", *args],
            env=self.env_for_clients(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PulseError(f"pactl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def add_sink(self, name: str) -> int:
        """Plug in a device (a null sink and its monitor); returns the module to unplug."""
        args = self._sink_line(name).split()[1:]
        return int(self.pactl("load-module", *args).strip())

    def remove_module(self, index: int) -> None:
        """Unplug a device added with `add_sink`."""
        self.pactl("unload-module", str(index))

    def sink_names(self) -> list[str]:
        return [line.split("\t")[1] for line in self.pactl("list", "short", "sinks").splitlines()]

    def play(
        self, sink: str, samples: npt.ArrayLike, latency_msec: int = RIG_LATENCY_MSEC
    ) -> Playback:
        """Play 16 kHz mono samples into `sink` (returns at once)."""
        play = Playback(self, sink, to_pcm(samples), latency_msec)
        self._playbacks.append(play)
        return play

    def stop_playing(self) -> None:
        """Silence every sink this rig is playing into (a test that needs quiet)."""
        for play in self._playbacks:
            play.stop()
        self._playbacks.clear()

    def record(
        self, source: str, path: Path | None = None, latency_msec: int = RIG_LATENCY_MSEC
    ) -> Recording:
        """Record `source` (e.g. "spk.monitor") at 16 kHz mono until stopped. A larger
        `latency_msec` lets the recorder survive a busy machine without losing audio."""
        path = path or self.root / f"rec-{source}-{len(self._recordings)}.raw"
        rec = Recording(self, source, path, latency_msec)
        self._recordings.append(rec)
        return rec
