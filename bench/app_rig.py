"""The running app inside a benchmark's own process, with stopwatches on the wire and on screen.

The popup and dial benches need both ends of a user-visible moment: a SIP packet on the
loopback wire and a frame of a real app window (or a real click on one). So the benchmark
process builds the same ``Application`` that ``python -m app`` builds (real engine process,
embedded CRM, demo line as the far end, offscreen or Xvfb Qt) and runs its Qt loop on the
main thread, while the scenario runs on a driver thread that only touches widgets through
``RunningApp.on_main``.

Clocks: the wire times come from ``app_sniff.py`` (kernel packet timestamps, wall clock);
frames and clicks are stamped with ``time.time_ns()`` on the Qt thread. Same clock, so the
difference is the latency a user would feel. Needs root (or CAP_NET_RAW) for the sniffer:
run it the way the other SIP benches run, inside ``unshare -n`` as root.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

T = TypeVar("T")


#: Pause before each call: the engine keeps a call's RTP sockets for ~0.5 s after it ends
#: and answers 503 to INVITEs beyond its media budget (flood guard); agents are never rung
#: or dial that fast, so the benches wait instead of measuring the guard.
PACE_S = 1.0


def add_pace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pace",
        type=float,
        default=PACE_S,
        help="seconds between calls (the engine counts a call's media for 0.5 s after it "
        "ends and refuses INVITEs in a burst with 503)",
    )


def app_environment(prefix: str) -> Path:
    """Point the app at fresh folders (no real config, CRM or policy) before it is imported.

    Returns the folder; ``run_bench`` removes it after a good run and keeps it (the app's
    and engine's logs are in ``log/``) after a failed one."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    _folders.append(tmp)
    os.environ.update(
        {
            "LODGEPHONE_RUNTIME_DIR": str(tmp / "run"),
            "LODGEPHONE_CONFIG_DIR": str(tmp / "config"),
            "LODGEPHONE_DATA_DIR": str(tmp / "data"),
            "LODGEPHONE_LOG_DIR": str(tmp / "log"),
            "LODGEPHONE_POLICY": str(tmp / "none.toml"),
            "LODGEPHONE_AUDIO": "null",
        }
    )
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return tmp


def summary(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(p90, 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
    }


class Sniffer:
    """``app_sniff.py`` as a child process; its packets arrive on a queue."""

    def __init__(self, methods: Iterable[str] = ("INVITE",)) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "app_sniff.py"), "--methods", ",".join(methods)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first.strip():
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise SystemExit(
                "the packet sniffer did not start (it needs root or CAP_NET_RAW; run as "
                "`unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/...'`):\n"
                + err[-2000:]
            )
        self.packets: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, name="sniffer", daemon=True).start()
        _children.append(self)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.packets.put(json.loads(line))

    def next(
        self, *, method: str = "INVITE", dport: int | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The next packet of ``method`` (to ``dport``); older unmatched packets are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} to port {dport} seen on the wire")
            try:
                packet = self.packets.get(timeout=left)
            except queue.Empty:
                continue
            if packet["method"] == method and (dport is None or packet["dport"] == dport):
                return packet

    def drain(self) -> None:
        while True:
            try:
                self.packets.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_children: list[Sniffer] = []
_folders: list[Path] = []


def take(q: queue.Queue[T], what: str, timeout: float = 10.0) -> T:
    """The next item of ``q``, or a TimeoutError that says what did not happen."""
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"{what} did not happen within {timeout:.0f} s") from None


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``cond`` (between measurements only) until true or fail with ``what``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.02)


class RunningApp:
    """``app.application.Application`` run on this process's main thread.

    The demo guest is kept from ringing by itself: the benches ring with it when they want.
    """

    def __init__(self, *, minimized: bool = False) -> None:
        from app import crash, ipc
        from app.application import Application
        from app.cli import parse_args
        from app.demo import line
        from app.logs import log_dir, setup_logging

        def no_ring(self: Any, agent_uri: str, delay_s: float = 0.0) -> None:
            return None

        line.DemoLine.ring_agent_later = no_ring  # type: ignore[method-assign]
        # As app.application.run() does: the log file (and crash reports) in the log folder.
        setup_logging(log_dir(), console=False)
        crash.install(log_dir())
        self.lock = ipc.InstanceLock()
        if not self.lock.acquire():
            raise SystemExit("another app instance holds the lock in this runtime folder")
        argv = ["--minimized"] if minimized else []
        self.app = Application(parse_args(argv), self.lock, "lodgephone")

    def on_main(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the Qt thread and return its result (from the driver thread)."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self.app.main.call(work)
        return done.result(timeout)

    def run(self, scenario: Callable[[RunningApp], T]) -> T:
        """Start the app, run ``scenario(self)`` on a driver thread, quit, return its result."""
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

        def drive() -> None:
            try:
                outcome.set_result(scenario(self))
            except BaseException as exc:
                outcome.set_exception(exc)
            finally:
                self.app.main.call(self.app.quit)

        self.app.start()
        threading.Thread(target=drive, name="bench-driver", daemon=True).start()
        self.app.qapp.exec()
        self.app.shutdown()
        return outcome.result(0)

    def wait_ready(self, timeout: float = 60.0) -> int:
        """Until the demo line is up and the agent's line registered; the agent's SIP port."""
        from app.session.model import LineState

        app = self.app

        def ready() -> bool:
            def check() -> bool:
                s = app.session
                if s is None or app.demo_line is None or not s.accounts_added:
                    return False
                lines = app.qt_session.lines()
                return bool(lines) and all(x.state is LineState.REGISTERED for x in lines)

            return self.on_main(check)

        wait_until(ready, timeout, "the app's line to be registered")
        added = next(iter(app.session.accounts_added.values()))
        return int(added.local_port)


def run_bench(main: Callable[[], None]) -> None:
    """Run a bench's ``main`` and leave without interpreter teardown, also on failure."""
    import shutil
    import traceback

    try:
        main()
    except BaseException as exc:
        if not isinstance(exc, SystemExit):
            traceback.print_exc()
        code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
        if isinstance(exc, SystemExit) and isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        for folder in _folders:
            print(f"the app's and engine's logs are kept in {folder}/log", file=sys.stderr)
        exit_now(code)
    for child in _children:  # before the folders go: nothing may still write there
        if child.proc.poll() is None:
            child.close()
    for folder in _folders:
        shutil.rmtree(folder, ignore_errors=True)
    exit_now(0)


def exit_now(code: int = 0) -> None:
    """Leave like the app does: no interpreter teardown of Qt objects (it has crashed)."""
    for child in _children:
        if child.proc.poll() is None:
            child.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
