"""sipp runs against a SIP target: built-in uac/uas scenarios and our own XML scenarios.

A run reports sipp's exit code (0: every call passed) and its successful/failed call counts
from the statistics file, plus the message trace for a failure message that explains itself.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.rig.ports import HOST, free_port
from tests.rig.process import PeerProcess
from tests.rig.waiting import wait_until

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = Path(__file__).with_name("scenarios")


@dataclass(frozen=True)
class SippResult:
    returncode: int
    successful: int
    failed: int
    workdir: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful > 0

    def details(self) -> str:
        """sipp's screen, errors and message trace, for assertion messages."""
        parts = [f"sipp exit {self.returncode}, {self.successful} ok, {self.failed} failed"]
        for name in ("screen.log", "errors.log", "messages.log"):
            path = self.workdir / name
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"-- {name} --\n{text[-3000:]}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return f"sipp exit {self.returncode}: {self.successful} ok, {self.failed} failed"


def _counts(stat_file: Path) -> tuple[int, int]:
    """SuccessfulCall(C) and FailedCall(C) from the last row of sipp's -stf CSV."""
    try:
        rows = list(csv.reader(stat_file.read_text().splitlines(), delimiter=";"))
    except OSError:
        return 0, 0
    if len(rows) < 2:
        return 0, 0
    header, last = rows[0], rows[-1]

    def col(name: str) -> int:
        try:
            return int(last[header.index(name)])
        except (ValueError, IndexError):
            return 0

    return col("SuccessfulCall(C)"), col("FailedCall(C)")


class Sipp:
    """One sipp invocation; `run()` blocks, `start()` + `wait()` runs it in the background."""

    def __init__(
        self,
        *,
        scenario: str | Path,
        target: str | None = None,
        calls: int = 1,
        local_port: int | None = None,
        service: str = "service",
        transport: str = "u1",
        timeout: float = 30.0,
        extra: Sequence[str] = (),
        workdir: Path | None = None,
    ) -> None:
        self.local_port = local_port or free_port()
        self.target = target
        self.timeout = timeout
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sipp-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(scenario, Path) or str(scenario).endswith(".xml"):
            scen = ["-sf", str(scenario)]
        else:
            scen = ["-sn", str(scenario)]  # built-in: uac, uas, ...
        self.argv = [
            SIPP,
            *scen,
            "-i", HOST,
            "-p", str(self.local_port),
            "-t", transport,
            "-m", str(calls),
            "-l", str(max(1, calls)),
            "-s", service,
            "-nostdin",
            "-timeout", f"{int(timeout)}s",
            "-timeout_error",
            "-recv_timeout", "10000",
            "-trace_stat", "-stf", str(self.workdir / "stats.csv"), "-fd", "1",
            "-trace_err", "-error_file", str(self.workdir / "errors.log"),
            "-trace_msg", "-message_file", str(self.workdir / "messages.log"),
            "-trace_screen", "-screen_file", str(self.workdir / "screen.log"),
            "-mp", str(free_port()),
            *extra,
        ]  # fmt: skip
        if target is not None:
            self.argv.append(target)
        self._proc: PeerProcess | None = None

    @property
    def uri_host(self) -> str:
        """host:port where this sipp listens (call it there when it runs a uas)."""
        return f"{HOST}:{self.local_port}"

    def start(self) -> Sipp:
        self._proc = PeerProcess(self.argv, self.workdir / "sipp.log", cwd=self.workdir)
        return self

    def wait_listening(self, timeout: float = 5.0) -> None:
        """Until sipp has bound its UDP port (for uas runs that others will call)."""
        import socket

        def bound() -> bool:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind((HOST, self.local_port))
                except OSError:
                    return True
            return False

        wait_until(bound, timeout, f"sipp to listen on {self.uri_host}")

    def wait(self, timeout: float | None = None) -> SippResult:
        if self._proc is None:
            raise RuntimeError("sipp was not started")
        try:
            code = self._proc.proc.wait(timeout if timeout is not None else self.timeout + 10)
        except subprocess.TimeoutExpired:
            self._proc.stop()
            code = -1
        self._proc.stop()
        successful, failed = _counts(self.workdir / "stats.csv")
        return SippResult(code, successful, failed, self.workdir)

    def run(self) -> SippResult:
        return self.start().wait()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()


def scenario(name: str) -> Path:
    """Path of one of our XML scenarios in tests/rig/scenarios/ (templated ones expanded)."""
    path = SCENARIOS / name
    if not path.exists():
        raise FileNotFoundError(path)
    text = path.read_text(encoding="latin-1")
    if "@HUGE@" not in text:
        return path
    out = Path(tempfile.mkdtemp(prefix="sipp-scen-")) / name
    out.write_text(text.replace("@HUGE@", "A" * 20000), encoding="latin-1")
    return out
