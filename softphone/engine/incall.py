"""What happens inside an established call: audio wiring, DTMF, recording, playback,
statistics and transfers.

Audio wiring: a call's AudioMedia is connected to the AudioBridge (headset) when its media
is active, and to this call's recorder and playback ports when those are in use. A call
connected to nothing sends no RFC 2833 DTMF, so the bridge (or, without one, the null sound
device) is always connected. Mute is the level from the bridge into the call (0 = silence).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj

from softphone.engine import quality, states
from softphone.engine.base import CommandError
from softphone.engine.calls import CallOps, EngineCall
from softphone.engine.ports import load_wav, tone
from softphone.events import (
    CallReplaced,
    CallStatsReported,
    CallTransferredAway,
    DtmfReceived,
    PlaybackFinished,
    RecordingStarted,
    RecordingStopped,
    TransferProgressed,
)
from softphone.types import CallDirection, CallState, DtmfMethod, ErrorCode
from softphone.uri import InvalidUri, call_target, parse_remote

log = logging.getLogger(__name__)

_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,64}$")


def _disconnect(src: Any, dst: Any) -> None:
    try:
        src.stopTransmit(dst)
    except pj.Error:
        log.debug("stopTransmit on a gone port")


class InCallOps(CallOps):
    # ------------------------------------------------------------------ audio wiring
    def _local_source(self) -> Any:
        if self.bridge is not None:
            return self.bridge.port
        return self.ep.audDevManager().getCaptureDevMedia()

    def connect_media(self, call: EngineCall) -> None:
        for media in call.media:
            if self.bridge is not None:
                self.bridge.attach(media)
            else:
                dev = self.ep.audDevManager()
                media.startTransmit(dev.getPlaybackDevMedia())
                dev.getCaptureDevMedia().startTransmit(media)
            media.adjustRxLevel(0.0 if call.muted else 1.0)
            if call.source is not None:
                call.source.startTransmit(media)
            if call.recorder is not None:
                media.startTransmit(call.recorder)

    def release_media(self, call: EngineCall, final: bool = False) -> None:
        for media in call.media:
            if self.bridge is not None:
                self.bridge.detach(media)
            else:
                dev = self.ep.audDevManager()
                _disconnect(media, dev.getPlaybackDevMedia())
                _disconnect(dev.getCaptureDevMedia(), media)
            if call.source is not None:
                _disconnect(call.source, media)
            if call.recorder is not None:
                _disconnect(media, call.recorder)
        call.media = []
        if final:
            if call.recorder is not None:
                self._stop_recording(call)
            if call.source is not None:
                self._stop_playback(call)

    # ------------------------------------------------------------------ DTMF
    def send_dtmf(self, key: str, digits: str, method: DtmfMethod) -> dict[str, Any]:
        call = self.call(key)
        if not _DTMF.match(digits):
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "DTMF digits are 0-9 * # A-D")
        if call.state is not CallState.IN_CALL and not call.early_media:
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} has no active media")
        chosen = method
        if method is DtmfMethod.AUTO:
            chosen = DtmfMethod.SIP_INFO
            with contextlib.suppress(pj.Error, AttributeError):
                if int(call.getStreamInfo(0).audTxEventPt) > 0:
                    chosen = DtmfMethod.RFC2833
        prm = pj.CallSendDtmfParam()
        prm.method = states.DTMF_METHODS[chosen]
        prm.digits = digits.upper()
        try:
            call.sendDtmf(prm)
        except pj.Error as exc:
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None
        return {"method": chosen.value}

    def on_dtmf(self, call: EngineCall, digit: str, method: int) -> None:
        self.emit(
            DtmfReceived(
                call_id=call.key, digit=digit, method=states.dtmf_method_of(method), at=time.time()
            )
        )

    # ------------------------------------------------------------------ recording
    def start_recording(self, key: str, path: str) -> dict[str, Any]:
        call = self.call(key)
        if call.recorder is not None:
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} is already being recorded")
        if path:
            target = Path(path).expanduser().absolute()
        else:
            folder = Path(self.config.recordings_dir or tempfile.gettempdir())
            stamp = time.strftime("%Y%m%d-%H%M%S")
            target = (folder / f"call-{stamp}-{call.key}.wav").absolute()
        if target.suffix.lower() != ".wav":
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "recordings are WAV files (.wav)")
        if not target.parent.is_dir() or not os.access(target.parent, os.W_OK):
            raise CommandError(ErrorCode.MEDIA_ERROR, f"cannot write to {target.parent}")
        port = self.pool.recorder()
        try:
            port.start(target)
        except OSError as exc:
            self.pool.give_back(port)
            raise CommandError(ErrorCode.MEDIA_ERROR, f"cannot record: {exc}") from None
        call.recorder = port
        call.recording_path = str(target)
        for media in call.media:
            media.startTransmit(port)
        self._local_source().startTransmit(port)
        if call.source is not None:
            call.source.startTransmit(port)
        self.emit(RecordingStarted(call_id=call.key, path=str(target)))
        return {"path": str(target)}

    def stop_recording(self, key: str) -> dict[str, Any]:
        call = self.call(key)
        if call.recorder is None:
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} is not being recorded")
        path = call.recording_path
        duration = self._stop_recording(call)
        return {"path": path, "duration_s": duration}

    def _stop_recording(self, call: EngineCall) -> float:
        port = call.recorder
        assert port is not None
        for media in call.media:
            _disconnect(media, port)
        _disconnect(self._local_source(), port)
        if call.source is not None:
            _disconnect(call.source, port)
        duration = port.stop()
        self.pool.give_back(port)
        call.recorder = None
        self.emit(RecordingStopped(call_id=call.key, path=call.recording_path, duration_s=duration))
        return duration

    # ------------------------------------------------------------------ playback
    def play_file(self, key: str, path: str, loop: bool) -> dict[str, Any]:
        call = self.call(key)
        try:
            samples = load_wav(Path(path))
        except (OSError, ValueError, EOFError) as exc:
            raise CommandError(ErrorCode.MEDIA_ERROR, f"cannot play {path}: {exc}") from None
        self._play(call, samples, loop, None, path)
        return {}

    def play_tone(
        self, key: str, frequency_hz: float, duration_s: float, level: float
    ) -> dict[str, Any]:
        call = self.call(key)
        if not 20.0 <= frequency_hz <= 7900.0:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "frequency must be 20..7900 Hz")
        if duration_s < 0 or not 0.0 <= level <= 1.0:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "duration >= 0, level 0..1")
        limit = int(duration_s * 16_000) if duration_s > 0 else None
        self._play(call, tone(frequency_hz, level), True, limit, f"tone:{frequency_hz:g}Hz")
        return {}

    def _play(
        self, call: EngineCall, samples: Any, loop: bool, limit: int | None, name: str
    ) -> None:
        if call.source is not None:
            self._stop_playback(call)
        port = self.pool.source()
        call.source = port
        call.source_name = name

        def ended() -> None:  # media clock thread
            self.post(lambda: self._playback_ended(call, port))

        port.play(samples, loop=loop, limit_samples=limit, on_end=ended)
        for media in call.media:
            port.startTransmit(media)
        if call.recorder is not None:
            port.startTransmit(call.recorder)

    def _playback_ended(self, call: EngineCall, port: Any) -> None:
        if call.source is port:
            self._stop_playback(call)

    def stop_playback(self, key: str) -> dict[str, Any]:
        call = self.call(key)
        if call.source is not None:
            self._stop_playback(call)
        return {}

    def _stop_playback(self, call: EngineCall) -> None:
        port = call.source
        assert port is not None
        port.stop()
        for media in call.media:
            _disconnect(port, media)
        if call.recorder is not None:
            _disconnect(port, call.recorder)
        self.pool.give_back(port)
        call.source = None
        self.emit(PlaybackFinished(call_id=call.key, source=call.source_name))

    # ------------------------------------------------------------------ statistics
    def report_stats(self) -> None:
        """Timer: one CallStatsReported per call with active media, then re-arm."""
        self.later(self.config.stats_interval_s, self.report_stats)
        for call in self.live_calls():
            if not call.media or call.state is not CallState.IN_CALL:
                continue
            try:
                stat = call.getStreamStat(0)
                info = call.getStreamInfo(0)
            except pj.Error:
                continue
            rx = stat.rtcp.rxStat
            lost, received = int(rx.loss), int(rx.pkt)
            loss = 100.0 * lost / (lost + received) if lost + received else 0.0
            jitter_ms = int(rx.jitterUsec.last) / 1000.0
            rtt_ms = int(stat.rtcp.rttUsec.last) / 1000.0
            jb_ms = float(stat.jbuf.avgDelayMsec)
            codec = f"{info.codecName}/{info.codecClockRate}"
            self.emit(
                CallStatsReported(
                    call_id=call.key,
                    codec=codec,
                    jitter_ms=jitter_ms,
                    loss_percent=round(loss, 2),
                    rtt_ms=rtt_ms,
                    mos=quality.mos(codec, rtt_ms / 2 + jb_ms + 20.0, loss),
                    rx_packets=received,
                    tx_packets=int(stat.rtcp.txStat.pkt),
                    at=time.time(),
                )
            )

    # ------------------------------------------------------------------ transfers
    def transfer(self, key: str, target: str) -> dict[str, Any]:
        call = self.call(key)
        cfg = call.account.config
        try:
            uri = call_target(target, cfg.domain, cfg.transport)
        except InvalidUri as exc:
            raise CommandError(ErrorCode.INVALID_URI, str(exc)) from None
        if call.state not in (CallState.IN_CALL, CallState.ON_HOLD):
            raise CommandError(ErrorCode.INVALID_STATE, f"call {key} is not connected")
        try:
            call.xfer(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None
        return {"uri": uri}

    def attended_transfer(self, key: str, consult_key: str) -> dict[str, Any]:
        call, consult = self.call(key), self.call(consult_key)
        if call is consult:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "cannot transfer a call to itself")
        for c in (call, consult):
            if c.state not in (CallState.IN_CALL, CallState.ON_HOLD):
                raise CommandError(ErrorCode.INVALID_STATE, f"call {c.key} is not connected")
        try:
            call.xferReplaces(consult, pj.CallOpParam(True))
        except pj.Error as exc:
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None
        consult.transferred = True  # the far end's INVITE/Replaces will end it
        return {}

    def on_transfer_status(self, call: EngineCall, prm: Any) -> None:
        code, final = int(prm.statusCode), bool(prm.finalNotify)
        self.emit(
            TransferProgressed(call_id=call.key, code=code, reason=str(prm.reason), final=final)
        )
        if 200 <= code < 300:
            prm.cont = False
            call.transferred = True
            self.defer(lambda: self._hangup_quietly(call))

    def _hangup_quietly(self, call: EngineCall) -> None:
        if not call.ended:
            call.local_hangup = True
            with contextlib.suppress(pj.Error):
                call.hangup(pj.CallOpParam(True))

    def on_transfer_request(self, call: EngineCall, prm: Any) -> None:
        new = EngineCall(self, call.account, CallDirection.OUTBOUND, remote_uri=str(prm.dstUri))
        self.calls[new.key] = new
        prm.newCall = new
        call.transferred = True
        self.emit(
            CallTransferredAway(call_id=call.key, new_call_id=new.key, target_uri=new.remote.uri)
        )

    def on_call_replaced(self, call: EngineCall, prm: Any) -> None:
        new = EngineCall(self, call.account, call.direction, int(prm.newCallId))
        try:
            info = new.getInfo()
            new.remote = parse_remote(str(info.remoteUri))
        except pj.Error:
            pass
        self.calls[new.key] = new
        prm.newCall = new
        call.replaced = True
        self.emit(CallReplaced(old_call_id=call.key, new_call_id=new.key))
