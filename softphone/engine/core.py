"""The Engine: owns pjsua2 on one thread from libCreate to libDestroy.

`run()` is that thread's whole life: start PJSIP (threadCnt=0, mainThreadOnly), say hello,
loop `libHandleEvents` (sleeping until a socket, a timer or a queued command needs it, see
waker.py) + queued commands + timers, then shut down in the order
that never aborted here: hang up and pump until every call is DISCONNECTED, stop the audio
clock, drop calls and ports, collect, shut accounts down, libDestroy.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from softphone import commands as c
from softphone import protocol
from softphone.audio.priority import promote_threads_named
from softphone.config import EngineConfig
from softphone.engine import mediaconf, states
from softphone.engine.base import CommandError
from softphone.engine.calls import CALL_SLOTS
from softphone.engine.incall import InCallOps
from softphone.engine.waker import Waker
from softphone.engine.wire import Request, Wire
from softphone.events import (
    AudioDevicesChanged,
    AudioStarted,
    EngineStarted,
    EngineStopped,
    EngineWarned,
)
from softphone.types import ErrorCode

log = logging.getLogger(__name__)

ENGINE_VERSION = "0.1.0"


class _Endpoint(pj.Endpoint):  # type: ignore[misc]
    """Reports transport state to the engine: a dropped TCP/TLS connection to the registrar
    must re-register at once, not at the next refresh (PJSIP's own reaction is disabled
    with retryIntervalSec=0)."""

    def __init__(self, on_transport_lost: Callable[[], None]) -> None:
        super().__init__()
        self._on_transport_lost = on_transport_lost
        self.select_account: Callable[[Any], None] | None = None
        self.rejected_incoming: Callable[[Any], None] | None = None

    def onTransportState(self, prm: Any) -> None:
        if states.transport_lost(int(prm.state)):
            self._on_transport_lost()

    def onSelectAccount(self, prm: Any) -> None:
        """Before PJSIP opens any media for an INVITE: the admission gate (calls.py)."""
        if self.select_account is not None:
            self.select_account(prm)

    def onRejectedIncomingCall(self, prm: Any) -> None:
        if self.rejected_incoming is not None:
            self.rejected_incoming(prm)


class Engine(InCallOps):
    def __init__(self, config: EngineConfig, wire: Wire, id_prefix: str, t0: float) -> None:
        super().__init__(config, wire, id_prefix)
        self._t0 = t0
        self._handlers: dict[type, Callable[[Any], dict[str, Any]]] = {
            c.Ping: lambda _: {"pong": True, "time": time.time()},
            c.AddAccount: lambda cmd: self.add_account(cmd.account),
            c.RemoveAccount: lambda cmd: self.remove_account(cmd.account_id),
            c.SetRegistration: lambda cmd: self.set_registration(cmd.account_id, cmd.registered),
            c.HandleIpChange: lambda _: self.handle_ip_change(),
            c.MakeCall: lambda cmd: self.make_call(cmd.account_id, cmd.uri, cmd.caller_id),
            c.Answer: lambda cmd: self.answer(cmd.call_id, cmd.hold_others),
            c.Reject: lambda cmd: self.reject(cmd.call_id, cmd.kind),
            c.Hangup: lambda cmd: self.hangup(cmd.call_id),
            c.Hold: lambda cmd: self.hold(cmd.call_id),
            c.Resume: lambda cmd: self.resume(cmd.call_id),
            c.SetMuted: lambda cmd: self.set_muted(cmd.call_id, cmd.muted),
            c.SendDtmf: lambda cmd: self.send_dtmf(cmd.call_id, cmd.digits, cmd.method),
            c.Transfer: lambda cmd: self.transfer(cmd.call_id, cmd.target),
            c.AttendedTransfer: lambda cmd: self.attended_transfer(
                cmd.call_id, cmd.consult_call_id
            ),
            c.StartRecording: lambda cmd: self.start_recording(cmd.call_id, cmd.path),
            c.StopRecording: lambda cmd: self.stop_recording(cmd.call_id),
            c.PlayFile: lambda cmd: self.play_file(cmd.call_id, cmd.path, cmd.loop),
            c.PlayTone: lambda cmd: self.play_tone(
                cmd.call_id, cmd.frequency_hz, cmd.duration_s, cmd.level
            ),
            c.StopPlayback: lambda cmd: self.stop_playback(cmd.call_id),
            c.ListDevices: lambda _: self.list_devices(),
            c.SetDevices: lambda cmd: self.set_devices(cmd.input_id, cmd.output_id, cmd.ringer_id),
            c.SetRingtone: lambda cmd: self.set_ringtone(cmd.name),
            c.GetState: lambda _: {
                "accounts": self.account_snapshot(),
                "calls": self.call_snapshot(),
            },
        }
        self._unregister_on_exit = True
        self._waker: Waker | None = None

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> int:
        self.start()
        try:
            while not self.quit:
                self.ep.libHandleEvents(self.wait_ms(self.config.poll_ms))
                if self._waker is not None:
                    self._waker.rearm()
                self.run_pending()
        finally:
            self.stop()
        return 0

    def start(self) -> None:
        self.ep = _Endpoint(lambda: self.defer(self.on_transport_lost))
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = self.config.user_agent
        cfg.uaConfig.maxCalls = CALL_SLOTS  # what the wheel allows (see calls.py)
        cfg.logConfig.level = self.config.log_level
        cfg.logConfig.consoleLevel = self.config.log_level
        if self.config.log_file:
            cfg.logConfig.filename = self.config.log_file
            cfg.logConfig.consoleLevel = 0
        mediaconf.apply(cfg.medConfig)
        self.ep.libInit(cfg)
        self._set_codecs()
        self.ep.libStart()
        # No sound device until the bridge says how audio runs: a call placed in the very
        # first loop pass must not make pjsua look for a default device (the wheel has none).
        self.ep.audDevManager().setNoDev()
        self._waker = Waker(self.ep)
        self.wake = self._waker.wake
        self._promote_rtp_worker(attempts=20)
        # SIP is ready now; the audio bridge (numpy, device backend) comes up in the first
        # loop pass, right after the commands already queued (a restart's re-added accounts),
        # so neither the hello nor re-registration waits for audio imports.
        self.later(0.0, self._start_audio)
        self.later(self.config.stats_interval_s, self.report_stats)
        codecs = tuple(
            str(ci.codecId).rsplit("/", 1)[0]
            for ci in sorted(self.ep.codecEnum2(), key=lambda ci: -int(ci.priority))
            if int(ci.priority) > 0
        )
        self.emit(
            EngineStarted(
                protocol=protocol.PROTOCOL_VERSION,
                engine_version=ENGINE_VERSION,
                pjsip_version=str(self.ep.libVersion().full),
                pid=os.getpid(),
                codecs=codecs,
                audio_backend=self.config.audio_backend,
                startup_ms=round((time.monotonic() - self._t0) * 1000.0, 1),
            )
        )

    def _set_codecs(self) -> None:
        wanted = [w.lower() for w in self.config.codecs]
        for ci in self.ep.codecEnum2():
            codec_id = str(ci.codecId)
            prio = 0
            for rank, name in enumerate(wanted):
                if codec_id.lower().startswith(name):
                    prio = 255 - rank
                    break
            self.ep.codecSetPriority(codec_id, prio)

    def _start_audio(self) -> None:
        try:
            from softphone.audio.bridge import AudioBridge

            self.bridge = AudioBridge(
                self.config.audio_backend,
                on_devices_changed=lambda devices: self.post(
                    lambda: self.emit(AudioDevicesChanged(tuple(devices)))
                ),
                on_stream_failed=lambda role, message: self.post(
                    lambda: self.emit(EngineWarned(f"{role}: {message}", "audio_device_failed"))
                ),
            )
        except Exception as exc:
            log.exception("audio bridge unavailable; calls run without devices")
            self.bridge = None
            self.ep.audDevManager().setNullDev()
            warning = EngineWarned(f"no audio bridge: {exc}", "no_audio")
            self.defer(lambda: self.emit(warning))
            return
        started = AudioStarted(self.bridge.backend_name, tuple(self.bridge.list_devices()))
        self.defer(lambda: self.emit(started))
        self.later(1.0, self._audio_housekeeping)

    def _promote_rtp_worker(self, attempts: int) -> None:
        """PJSIP's RTP worker thread ("media") gets real-time priority: starved by a busy
        machine, it delivers packets late and the jitter buffer plays gaps. The thread
        names itself only once it runs, so look again a little later if it is not there."""
        if promote_threads_named(("media",)) == 0 and attempts > 1:
            self.later(0.05, lambda: self._promote_rtp_worker(attempts - 1))

    def _audio_housekeeping(self) -> None:
        if self.bridge is not None:
            self.bridge.housekeep()
            self.later(1.0, self._audio_housekeeping)

    def stop(self) -> None:
        """Shutdown order that did not abort (STACK.md)."""
        ep = self.ep
        if ep is None:
            return
        try:
            ep.hangupAllCalls()
        except pj.Error:
            log.debug("hangupAllCalls failed")
        deadline = time.monotonic() + 3.0
        while self.live_calls() and time.monotonic() < deadline:
            ep.libHandleEvents(10)
            self.run_pending()
        ep.libHandleEvents(10)
        self.run_pending()
        self._release_everything()
        registering = self._unregister_on_exit and any(
            a.config.registers and a.want_registered for a in self.accounts.values()
        )
        self._shutdown_accounts()
        gc.collect()
        _keep_until_exit()
        ep.libDestroy(0 if registering else pj.PJSUA_DESTROY_NO_NETWORK)
        self.ep = None
        self.wake = lambda: None
        if self._waker is not None:
            self._waker.close()
            self._waker = None
        self.emit(EngineStopped(exit_code=0))

    def _release_everything(self) -> None:
        # a helper so no loop variable keeps a Call alive in stop()'s frame past libDestroy
        for call in list(self.calls.values()):
            self.release_media(call, final=True)
        if self.bridge is not None:
            try:
                self.bridge.close()
            except Exception:
                log.exception("audio bridge close failed")
        self.ep.audDevManager().setNoDev()
        self.calls.clear()
        self.graveyard.clear()
        self._timers.clear()
        self._deferred.clear()
        self.drain_inbox()
        self.pool.clear()
        self.bridge = None
        gc.collect()

    def _shutdown_accounts(self) -> None:
        for account in self.accounts.values():
            try:
                account.shutdown()
            except pj.Error:
                log.debug("account shutdown failed")
        self.accounts.clear()
        self.removed_accounts.clear()

    # ------------------------------------------------------------------ commands
    def submit(self, request: Request | None) -> None:
        """Any thread: queue a command for the owner thread (None = the client is gone)."""
        if request is None:
            self.post(self._client_gone)
        else:
            self.post(lambda: self.execute(request))

    def _client_gone(self) -> None:
        log.info("command stream closed; shutting down")
        self.quit = True

    def execute(self, request: Request) -> None:
        command = request.command
        if isinstance(command, c.Shutdown):
            self._unregister_on_exit = command.unregister
            self.wire.reply(request.request_id, {})
            self.quit = True
            return
        handler = self._handlers.get(type(command))
        if handler is None:
            self.wire.error(request.request_id, ErrorCode.UNKNOWN_COMMAND, type(command).__name__)
            return
        try:
            result = handler(command)
        except CommandError as exc:
            self.wire.error(request.request_id, exc.code, exc.message)
        except pj.Error as exc:
            self.wire.error(request.request_id, ErrorCode.SIP_ERROR, str(exc.info()))
        except Exception as exc:
            log.exception("command %s failed", type(command).__name__)
            self.wire.error(request.request_id, ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        else:
            self.wire.reply(request.request_id, result)

    # ------------------------------------------------------------------ devices
    def list_devices(self) -> dict[str, Any]:
        if self.bridge is None:
            return {"devices": []}
        return {"devices": [d.to_json() for d in self.bridge.list_devices()]}

    def set_devices(self, input_id: str, output_id: str, ringer_id: str) -> dict[str, Any]:
        if self.bridge is None:
            raise CommandError(ErrorCode.MEDIA_ERROR, "no audio bridge in this engine")
        known = {d.id for d in self.bridge.list_devices()}
        for dev_id in (input_id, output_id, ringer_id):
            if dev_id and dev_id not in known:
                raise CommandError(ErrorCode.INVALID_ARGUMENT, f"no audio device {dev_id!r}")
        self.bridge.set_devices(input_id, output_id, ringer_id)
        return {}

    def set_ringtone(self, name: str) -> dict[str, Any]:
        from softphone.audio.tones import RINGTONES

        if name not in RINGTONES:
            known = ", ".join(RINGTONES)
            raise CommandError(ErrorCode.INVALID_ARGUMENT, f"no ringtone {name!r} ({known})")
        if self.bridge is None:
            raise CommandError(ErrorCode.MEDIA_ERROR, "no audio bridge in this engine")
        self.bridge.set_ringtone(name)
        return {}


_SURVIVORS: list[object] = []


def _keep_until_exit() -> None:
    """Calls/accounts still referenced somewhere must never be destroyed after libDestroy
    (their C++ destructors assert and abort). Pin them; the process ends with os._exit."""
    from softphone.engine.accounts import EngineAccount
    from softphone.engine.calls import EngineCall

    _SURVIVORS.extend(o for o in gc.get_objects() if isinstance(o, EngineCall | EngineAccount))
