"""EngineClient: runs `python -m softphone`, keeps it alive, and speaks its protocol.

Thread-based on purpose: no asyncio and no Qt, so the app, the CLI, tests and benchmarks all
use it the same way. Commands are written from any thread and return a
`concurrent.futures.Future` (`submit`) or block with a deadline (the typed methods).
Events are decoded into the frozen dataclasses of `softphone.events` and handed to the
subscribed callbacks on the client's single reader thread, in engine order; a callback
must be quick (the Qt app hops to its main thread and returns).

Supervision: when the engine dies without being asked to, the client emits EngineDied,
fails every active call with EndReason.ENGINE_DIED, starts a new engine, re-adds the
accounts that were added through it, and emits EngineRestarted once they are back.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import IO, Any

from softphone import codec, commands, protocol
from softphone.audio.devices import AudioDevice
from softphone.config import AccountConfig, EngineConfig
from softphone.errors import CommandRejected, CommandTimeout, EngineError, EngineUnavailable
from softphone.events import (
    AccountAdded,
    AccountRemoved,
    CallStateChanged,
    EngineDied,
    EngineRestarted,
    EngineStarted,
    EngineStopped,
    Event,
    IncomingCallReceived,
)
from softphone.types import CallState, DtmfMethod, EndReason, ErrorCode, RejectKind

log = logging.getLogger(__name__)

Callback = Callable[[Event], None]
Result = dict[str, Any]

DEFAULT_TIMEOUT_S = 5.0
_RESTART_WINDOW_S = 30.0  #: more than _MAX_RESTARTS deaths in this window: give up
_MAX_RESTARTS = 5


class EngineClient:
    """One engine process, supervised. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        restart: bool = True,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        stderr: IO[bytes] | int | None = None,
    ) -> None:
        """`argv` replaces `[sys.executable, "-m", "softphone"]` (benchmarks, packaging);
        `stderr` receives the engine's diagnostics (PJSIP log), default: inherited."""
        self.config = config or EngineConfig()
        self._restart = restart
        self._argv = list(argv) if argv else default_engine_argv()
        self._env = dict(env) if env is not None else None
        self._stderr = stderr
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[Result]] = {}
        self._subscribers: list[Callback] = []
        self._accounts: dict[str, AccountConfig] = {}
        self._calls: dict[str, CallStateChanged] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._hello: EngineStarted | None = None
        self._hello_ready = threading.Event()
        self._generation = 0
        self._stopping = False
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._deaths: list[float] = []
        self._exit_code: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> EngineStarted:
        """Spawn the engine and wait for its hello. Raises EngineUnavailable on failure."""
        with self._lock:
            if self._thread is not None:
                raise EngineError(ErrorCode.INVALID_STATE, "engine client already started")
            self._stopping = False
            self._stopped.clear()
            self._spawn()
            self._thread = threading.Thread(
                target=self._supervise, name="engine-client-reader", daemon=True
            )
            self._thread.start()
        if not self._hello_ready.wait(timeout):
            self._kill()
            raise EngineUnavailable(f"engine did not say hello within {timeout:.1f} s")
        with self._lock:
            hello = self._hello
        if hello is None:
            raise EngineUnavailable(f"engine exited during startup (code {self._exit_code})")
        return hello

    def stop(self, timeout: float = 5.0) -> int:
        """Shut the engine down cleanly (calls hung up, accounts unregistered).

        Returns the engine's exit code (0 on a clean shutdown); kills it after `timeout`.
        """
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is None:
            return self._exit_code if self._exit_code is not None else 0
        with contextlib.suppress(EngineError):
            self.submit(commands.Shutdown()).result(timeout)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("engine did not exit within %.1f s; killing it", timeout)
            proc.kill()
            code = proc.wait()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        _close_pipes(proc)
        with self._lock:
            self._thread = None
        self._stopped.set()
        return code

    def __enter__(self) -> EngineClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def hello(self) -> EngineStarted | None:
        return self._hello

    @property
    def accounts(self) -> dict[str, AccountConfig]:
        """Accounts added through this client (re-added after a restart)."""
        with self._lock:
            return dict(self._accounts)

    @property
    def active_calls(self) -> dict[str, CallStateChanged]:
        """Last state of every call that has not ended."""
        with self._lock:
            return dict(self._calls)

    # ------------------------------------------------------------------ events

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(event)` on the reader thread for every event. Returns unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ commands

    def submit(self, command: commands.Command) -> Future[Result]:
        """Send a command; the future resolves to its result dict or raises EngineError."""
        future: Future[Result] = Future()
        request_id = next(self._ids)
        line = protocol.command_line(request_id, command)
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or self._hello is None:
                future.set_exception(EngineUnavailable("engine is not running"))
                return future
            self._pending[request_id] = future
        try:
            with self._write_lock:
                proc.stdin.write(line)
                proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            with self._lock:
                self._pending.pop(request_id, None)
            if not future.done():
                future.set_exception(EngineUnavailable(f"engine pipe closed: {exc}"))
        return future

    def request(self, command: commands.Command, timeout: float = DEFAULT_TIMEOUT_S) -> Result:
        """Send a command and wait for its result (raises EngineError subclasses)."""
        future = self.submit(command)
        try:
            return future.result(timeout)
        except TimeoutError:
            raise CommandTimeout(f"no reply to {type(command).__name__} in {timeout} s") from None

    def ping(self, timeout: float = DEFAULT_TIMEOUT_S) -> float:
        """Round trip in seconds."""
        t0 = time.perf_counter()
        self.request(commands.Ping(), timeout)
        return time.perf_counter() - t0

    def add_account(
        self, account: AccountConfig, timeout: float = DEFAULT_TIMEOUT_S
    ) -> AccountAdded:
        """Add (and, with a registrar, register) an account; remembered for restarts."""
        result = self.request(commands.AddAccount(account), timeout)
        with self._lock:
            self._accounts[account.account_id] = account
        return codec.from_json(AccountAdded, result)

    def remove_account(self, account_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        with self._lock:
            self._accounts.pop(account_id, None)
        self.request(commands.RemoveAccount(account_id), timeout)

    def set_registration(
        self, account_id: str, registered: bool, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.request(commands.SetRegistration(account_id, registered), timeout)

    def handle_ip_change(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.request(commands.HandleIpChange(), timeout)

    def make_call(
        self,
        account_id: str,
        uri: str,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        caller_id: str | None = None,
    ) -> str:
        """Place a call; returns its call id. Progress arrives as CallStateChanged events.

        ``caller_id``: the E.164 number to present (see `commands.MakeCall`)."""
        result = self.request(commands.MakeCall(account_id, uri, caller_id), timeout)
        return str(result["call_id"])

    def answer(
        self, call_id: str, *, hold_others: bool = True, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.request(commands.Answer(call_id, hold_others), timeout)

    def reject(
        self, call_id: str, kind: RejectKind = RejectKind.BUSY, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.request(commands.Reject(call_id, kind), timeout)

    def hangup(self, call_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.request(commands.Hangup(call_id), timeout)

    def hold(self, call_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.request(commands.Hold(call_id), timeout)

    def resume(self, call_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.request(commands.Resume(call_id), timeout)

    def set_muted(self, call_id: str, muted: bool, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.request(commands.SetMuted(call_id, muted), timeout)

    def send_dtmf(
        self,
        call_id: str,
        digits: str,
        method: DtmfMethod = DtmfMethod.AUTO,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.request(commands.SendDtmf(call_id, digits, method), timeout)

    def transfer(self, call_id: str, target: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Blind transfer; TransferProgressed events report the outcome."""
        self.request(commands.Transfer(call_id, target), timeout)

    def attended_transfer(
        self, call_id: str, consult_call_id: str, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.request(commands.AttendedTransfer(call_id, consult_call_id), timeout)

    def start_recording(
        self, call_id: str, path: str = "", timeout: float = DEFAULT_TIMEOUT_S
    ) -> str:
        """Returns the absolute path of the WAV file being written."""
        return str(self.request(commands.StartRecording(call_id, path), timeout)["path"])

    def stop_recording(self, call_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        return str(self.request(commands.StopRecording(call_id), timeout)["path"])

    def play_file(
        self, call_id: str, path: str, *, loop: bool = False, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.request(commands.PlayFile(call_id, path, loop), timeout)

    def play_tone(
        self,
        call_id: str,
        frequency_hz: float = 1000.0,
        *,
        duration_s: float = 0.0,
        level: float = 0.5,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.request(commands.PlayTone(call_id, frequency_hz, duration_s, level), timeout)

    def stop_playback(self, call_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.request(commands.StopPlayback(call_id), timeout)

    def list_devices(self, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[AudioDevice, ...]:
        result = self.request(commands.ListDevices(), timeout)
        return tuple(AudioDevice.from_json(d) for d in result.get("devices", []))

    def set_devices(
        self,
        input_id: str = "",
        output_id: str = "",
        ringer_id: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.request(commands.SetDevices(input_id, output_id, ringer_id), timeout)

    def set_ringtone(self, name: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.request(commands.SetRingtone(name), timeout)

    def get_state(self, timeout: float = DEFAULT_TIMEOUT_S) -> Result:
        return self.request(commands.GetState(), timeout)

    # ------------------------------------------------------------------ internals

    def _spawn(self) -> None:
        """Start one engine process (caller holds the lock)."""
        self._generation += 1
        argv = [
            *self._argv,
            "--config",
            json.dumps(codec.to_json(self.config)),
            "--id-prefix",
            f"g{self._generation}-",
        ]
        env = dict(os.environ if self._env is None else self._env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._hello = None
        self._hello_ready.clear()
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
                bufsize=0,
            )
        except OSError as exc:
            self._proc = None
            raise EngineUnavailable(f"cannot start the engine: {exc}") from exc

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def _supervise(self) -> None:
        """Reader thread: read the engine's lines; on death, restart until asked to stop."""
        restarted_at: float | None = None
        while True:
            proc = self._proc
            assert proc is not None and proc.stdout is not None
            self._read_until_eof(proc, restarted_at)
            code = proc.wait()
            _close_pipes(proc)
            with self._lock:
                self._exit_code = code
                stopping = self._stopping
                pending = list(self._pending.values())
                self._pending.clear()
            for future in pending:
                if not future.done():
                    future.set_exception(EngineUnavailable(f"engine exited (code {code})"))
            if stopping:
                self._hello_ready.set()
                self._fail_calls(EndReason.SHUTDOWN, "engine stopped")
                return
            died_at = time.monotonic()
            will_restart = self._restart and self._may_restart(died_at)
            reason = f"engine exited with code {code}" if code >= 0 else f"killed by signal {-code}"
            log.error("%s; %s", reason, "restarting" if will_restart else "not restarting")
            self._emit(EngineDied(exit_code=code, reason=reason, will_restart=will_restart))
            self._fail_calls(EndReason.ENGINE_DIED, reason)
            if not will_restart:
                with self._lock:
                    self._proc = None
                self._hello_ready.set()
                return
            try:
                with self._lock:
                    self._spawn()
            except EngineUnavailable as exc:
                log.error("restart failed: %s", exc)
                self._emit(EngineDied(exit_code=None, reason=str(exc), will_restart=False))
                self._hello_ready.set()
                return
            restarted_at = died_at

    def _may_restart(self, now: float) -> bool:
        self._deaths = [t for t in self._deaths if now - t < _RESTART_WINDOW_S]
        self._deaths.append(now)
        return len(self._deaths) <= _MAX_RESTARTS

    def _read_until_eof(self, proc: subprocess.Popen[bytes], restarted_at: float | None) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("engine wrote a non-JSON line: %r", raw[:200])
                continue
            if not isinstance(message, dict):
                log.warning("engine wrote a non-object line: %r", raw[:200])
                continue
            if "event" in message:
                self._on_event_message(message, restarted_at)
            elif "id" in message:
                self._on_reply(message)

    def _on_reply(self, message: dict[str, Any]) -> None:
        with self._lock:
            future = (
                self._pending.pop(message["id"], None) if isinstance(message["id"], int) else None
            )
        if future is None:
            if message.get("ok") is False:
                log.warning("engine error without request: %s", message.get("error"))
            return
        if message.get("ok") is True:
            result = message.get("result")
            future.set_result(result if isinstance(result, dict) else {})
            return
        error = message.get("error") if isinstance(message.get("error"), dict) else {}
        assert isinstance(error, dict)
        try:
            code = ErrorCode(str(error.get("code")))
        except ValueError:
            code = ErrorCode.INTERNAL
        future.set_exception(CommandRejected(code, str(error.get("message", ""))))

    def _on_event_message(self, message: dict[str, Any], restarted_at: float | None) -> None:
        try:
            event = protocol.decode_event(str(message["event"]), message.get("data"))
        except codec.CodecError as exc:
            log.warning("undecodable engine event: %s", exc)
            return
        if isinstance(event, EngineStarted):
            self._on_hello(event, restarted_at)
            return
        self._track(event)
        self._emit(event)

    def _on_hello(self, hello: EngineStarted, restarted_at: float | None) -> None:
        if hello.protocol != protocol.PROTOCOL_VERSION:
            log.error(
                "engine speaks protocol %s, client %s", hello.protocol, protocol.PROTOCOL_VERSION
            )
            self._kill()
            return
        with self._lock:
            self._hello = hello
            accounts = list(self._accounts.values())
        self._hello_ready.set()
        self._emit(hello)
        if restarted_at is None:
            return
        # re-add accounts without blocking this (reader) thread: replies arrive here later
        futures = [self.submit(commands.AddAccount(acc)) for acc in accounts]
        remaining = [len(futures)]
        done_lock = threading.Lock()

        def one_done(_f: Future[Result]) -> None:
            with done_lock:
                remaining[0] -= 1
                if remaining[0]:
                    return
            for acc, f in zip(accounts, futures, strict=True):
                if f.exception() is not None:
                    log.error("re-adding account %s failed: %s", acc.account_id, f.exception())
            self._emit(
                EngineRestarted(
                    pid=hello.pid,
                    accounts=tuple(
                        a.account_id
                        for a, f in zip(accounts, futures, strict=True)
                        if f.exception() is None
                    ),
                    downtime_s=time.monotonic() - restarted_at,
                )
            )

        if not futures:
            self._emit(
                EngineRestarted(
                    pid=hello.pid, accounts=(), downtime_s=time.monotonic() - restarted_at
                )
            )
        for f in futures:
            f.add_done_callback(one_done)

    def _track(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, CallStateChanged):
                if event.state.is_final:
                    self._calls.pop(event.call_id, None)
                else:
                    self._calls[event.call_id] = event
            elif isinstance(event, IncomingCallReceived):
                pass  # its CallStateChanged(RINGING) follows
            elif isinstance(event, AccountRemoved):
                self._accounts.pop(event.account_id, None)
            elif isinstance(event, EngineStopped):
                self._stopping = True

    def _fail_calls(self, reason: EndReason, text: str) -> None:
        with self._lock:
            calls = list(self._calls.values())
            self._calls.clear()
        now = time.time()
        for call in calls:
            state = CallState.FAILED if reason is EndReason.ENGINE_DIED else CallState.ENDED
            self._emit(
                CallStateChanged(
                    call_id=call.call_id,
                    account_id=call.account_id,
                    direction=call.direction,
                    state=state,
                    remote_uri=call.remote_uri,
                    code=0,
                    reason=text,
                    end_reason=reason,
                    connected_at=call.connected_at,
                    at=now,
                )
            )

    def _emit(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("engine event subscriber %r failed on %r", callback, event)


def default_engine_argv() -> list[str]:
    """How to start the engine: from source `python -m softphone`; in a frozen bundle the
    one executable has an engine mode (`installers/entry.py`)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--engine"]
    return [sys.executable, "-m", "softphone"]


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                pipe.close()
