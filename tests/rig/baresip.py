"""A headless baresip user agent driven over its ctrl_tcp socket.

Each instance gets its own config folder, an `aufile` audio source (a WAV it sends into
every call), `aubridge,nil` as player (no sound card), and the `sndfile` filter, which dumps
what it sends and receives per call as WAV files in `dump_dir` (`*-dec.wav` is what it
heard). Commands and events are baresip's netstring-framed JSON over TCP.

baresip 1.0 (Debian bookworm) acts on its *current* call for accept/hangup/hold/resume/
transfer/sndcode, so tests keep one call per instance at a time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.rig.ports import HOST, free_port
from tests.rig.process import PeerProcess
from tests.rig.tones import analyse_wav, write_sine_wav
from tests.rig.waiting import EventLog, WaitTimeout, wait_until

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULE_PATH = "/usr/lib/baresip/modules"


@dataclass(frozen=True)
class BaresipEvent:
    """One ctrl_tcp event, e.g. type CALL_ESTABLISHED, class call, peeruri, param."""

    type: str
    klass: str
    peeruri: str
    param: str
    raw: dict[str, Any] = field(compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.type} peer={self.peeruri} param={self.param!r}"


class BaresipError(RuntimeError):
    """A ctrl_tcp command was refused or never answered."""


def _netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class CtrlClient:
    """Netstring JSON client for baresip's ctrl_tcp: replies by token, events to a log."""

    def __init__(self, port: int, events: EventLog[BaresipEvent]) -> None:
        self._sock = socket.create_connection((HOST, port), timeout=5)
        self._sock.settimeout(None)
        self._events = events
        self._tokens = itertools.count(1)
        self._replies: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="baresip-ctrl", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    colon = buf.find(b":")
                    if colon < 0 or not buf[:colon].isdigit():
                        break
                    size = int(buf[:colon])
                    end = colon + 1 + size
                    if len(buf) < end + 1:
                        break
                    self._dispatch(buf[colon + 1 : end])
                    buf = buf[end + 1 :]
        except OSError:
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _dispatch(self, payload: bytes) -> None:
        msg = json.loads(payload)
        if msg.get("event"):
            self._events.push(
                BaresipEvent(
                    type=str(msg.get("type", "")),
                    klass=str(msg.get("class", "")),
                    peeruri=str(msg.get("peeruri", "")),
                    param=str(msg.get("param", "")),
                    raw=msg,
                )
            )
        elif msg.get("response"):
            with self._cond:
                self._replies[str(msg.get("token", ""))] = msg
                self._cond.notify_all()

    def send(self, command: str, params: str = "") -> str:
        """Send without waiting for the reply; returns the token."""
        token = str(next(self._tokens))
        body = {"command": command, "params": params, "token": token}
        with self._send_lock:
            self._sock.sendall(_netstring(json.dumps(body).encode()))
        return token

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> str:
        """Run a command and return its reply text; BaresipError if it failed."""
        token = self.send(command, params)
        with self._cond:
            ok = self._cond.wait_for(lambda: token in self._replies or self._closed, timeout)
            reply = self._replies.pop(token, None)
        if not ok or reply is None:
            raise BaresipError(f"baresip gave no reply to {command} {params!r}")
        data = str(reply.get("data", ""))
        if not reply.get("ok", False):
            raise BaresipError(f"baresip refused {command} {params!r}: {data}")
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._reader.join(2)


class Baresip:
    """One baresip UA on 127.0.0.1.

    `registrar`: a Kamailio (anything with `.domain`) to register with `user`/`password`;
    without it, the UA is reachable directly at `uri` and does not register.
    `source_wav`: what it sends into calls (default: a 1 kHz tone, 8 kHz mono, 120 s;
    baresip ends a call when its aufile source runs out).
    """

    def __init__(
        self,
        user: str = "baresip",
        *,
        registrar: Any | None = None,
        password: str = "",
        transport: str = "udp",
        auto_answer: bool = True,
        source_wav: Path | None = None,
        workdir: Path | None = None,
        extra_account_params: str = "",
    ) -> None:
        self.user = user
        self.registrar = registrar
        self.transport = transport
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"baresip-{user}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dump_dir = self.workdir / "dumps"
        self.dump_dir.mkdir(exist_ok=True)
        self.source_wav = source_wav or write_sine_wav(
            self.workdir / "tone-1k.wav", 1000.0, 120.0, 8000, 0.5
        )
        self.log_path = self.workdir / "baresip.log"
        self.events: EventLog[BaresipEvent] = EventLog(str)
        self._proc: PeerProcess | None = None
        self._ctrl: CtrlClient | None = None

        tp = "" if transport == "udp" else f";transport={transport}"
        params = [f"answermode={'auto' if auto_answer else 'manual'}", "audio_codecs=pcmu,pcma"]
        if registrar is not None:
            aor = f"<sip:{user}@{registrar.domain}{tp}>"
            params += [f"auth_pass={password}", "regint=600"]
        else:
            aor = f"<sip:{user}@{HOST}:{self.sip_port}{tp}>"
            params += ["regint=0"]
        if extra_account_params:
            params.append(extra_account_params)
        (self.workdir / "accounts").write_text(f"{aor};{';'.join(params)}\n")
        (self.workdir / "contacts").write_text("")
        (self.workdir / "config").write_text(self._config())

    @property
    def uri(self) -> str:
        """Where to call this UA directly (bypassing any registrar)."""
        tp = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{self.user}@{HOST}:{self.sip_port}{tp}"

    @property
    def aor(self) -> str:
        if self.registrar is None:
            return self.uri
        return f"sip:{self.user}@{self.registrar.domain}"

    def _config(self) -> str:
        modules = ["g711.so", "aufile.so", "aubridge.so", "sndfile.so"]
        apps = ["account.so", "menu.so", "ctrl_tcp.so"]
        lines = [
            "poll_method epoll",
            f"sip_listen {HOST}:{self.sip_port}",
            f"net_interface {HOST}",
            "call_local_timeout 120",
            "call_max_calls 4",
            f"audio_source aufile,{self.source_wav}",
            "audio_player aubridge,nil",
            "audio_alert aubridge,nil",
            "audio_buffer 20-160",
            "rtp_ports 30000-39999",
            "rtcp_mux no",
            "jitter_buffer_delay 1-10",
            f"module_path {MODULE_PATH}",
            *(f"module {m}" for m in modules),
            *(f"module_app {m}" for m in apps),
            f"ctrl_tcp_listen {HOST}:{self.ctrl_port}",
            f"snd_path {self.dump_dir}",
        ]
        return "\n".join(lines) + "\n"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0, *, wait_registered: bool = True) -> None:
        self._proc = PeerProcess(
            [BARESIP, "-f", str(self.workdir)], self.log_path, cwd=self.workdir
        )

        def connected() -> CtrlClient | None:
            if self._proc is not None and not self._proc.alive():
                raise RuntimeError(f"baresip exited at start:\n{self._proc.log_tail()}")
            try:
                return CtrlClient(self.ctrl_port, self.events)
            except OSError:
                return None

        self._ctrl = wait_until(connected, timeout, f"baresip ctrl_tcp on {self.ctrl_port}")
        if self.registrar is not None and wait_registered:
            # REGISTER_OK may fire before the control socket connects: ask instead.
            wait_until(self.registered, timeout, f"baresip {self.user} to register")

    def registered(self) -> bool:
        """Whether `reginfo` shows the account registered (a green OK in baresip 1.0)."""
        info = re.sub(r"\x1b\[[0-9;]*m", "", self.command("reginfo"))
        return re.search(r"\bOK\b", info) is not None

    def registration_info(self) -> str:
        """baresip's `reginfo` text without colour codes (shows e.g. 401 on failure)."""
        return re.sub(r"\x1b\[[0-9;]*m", "", self.command("reginfo"))

    def stop(self) -> None:
        if self._ctrl is not None:
            with contextlib.suppress(OSError, BaresipError):
                self._ctrl.send("quit")
            self._ctrl.close()
            self._ctrl = None
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Baresip:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- commands ------------------------------------------------------------------------

    @property
    def ctrl(self) -> CtrlClient:
        if self._ctrl is None:
            raise BaresipError("baresip is not running")
        return self._ctrl

    def command(self, name: str, params: str = "", timeout: float = 5.0) -> str:
        return self.ctrl.command(name, params, timeout)

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def accept(self) -> None:
        self.command("accept")

    def hangup(self) -> None:
        self.command("hangup")

    def hold(self) -> None:
        self.command("hold")

    def resume(self) -> None:
        self.command("resume")

    def transfer(self, uri: str) -> None:
        """Blind transfer of the current call (REFER)."""
        self.command("transfer", uri)

    def call_count(self) -> int:
        """Number of calls baresip has now (from `listcalls`)."""
        found = re.search(r"Active calls \((\d+)\)", self.command("listcalls"))
        return int(found.group(1)) if found else 0

    def end_all_calls(self, timeout: float = 5.0) -> None:
        """Hang up until no call is left (the far end may be hanging up at the same time)."""

        def idle() -> bool:
            if self.call_count() == 0:
                return True
            with contextlib.suppress(BaresipError):
                self.hangup()
            return False

        wait_until(idle, timeout, f"baresip {self.user} to have no calls", interval=0.1)

    def send_dtmf(self, digits: str) -> None:
        """RFC 2833 telephone-events, one digit after another."""
        self.command("sndcode", digits)

    # -- events --------------------------------------------------------------------------

    def wait_event(
        self, type_: str, timeout: float = 10.0, *, since: int | None = None, peer: str = ""
    ) -> BaresipEvent:
        start = self.events.mark() if since is None else since
        try:
            return self.events.wait_for(
                lambda e: e.type == type_ and peer in e.peeruri,
                timeout,
                f"baresip {self.user} event {type_}",
                since=start,
            )
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n-- baresip log --\n{self.log_tail(25)}") from None

    def received_wavs(self) -> list[Path]:
        """WAV dumps of decoded (received) audio, oldest first."""
        return sorted(self.dump_dir.glob("*-dec.wav"), key=lambda p: p.stat().st_mtime)

    def heard_tone(self, freq: float = 1000.0, seconds: float = 0.5) -> bool:
        """Whether the latest received-audio dump carries `seconds` of the tone so far."""
        wavs = self.received_wavs()
        if not wavs:
            return False
        try:
            report = analyse_wav(wavs[-1], freq)
        except ValueError:
            return False
        return report.tone_windows * 0.02 >= seconds

    def sent_wavs(self) -> list[Path]:
        return sorted(self.dump_dir.glob("*-enc.wav"), key=lambda p: p.stat().st_mtime)
