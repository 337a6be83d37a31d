"""`AudioBridge`: the engine's one doorway between PJSIP calls and the sound devices.

Created on the pjsua2 owner thread after `libStart`. It owns ONE long-lived
`AudioMediaPort` (L16, 16 kHz, mono, 20 ms): deleting a port while the conference clock
runs crashed under load, so calls are connected to and disconnected from this port instead.
All methods run on the owner thread and return at once; device work happens on the
router's worker thread, samples cross clocks in `MediaCore`.

Lifetime: `close()` stops the devices and disconnects; drop the bridge (and so the port)
only after the conference clock is stopped (`setNoDev()`), before `libDestroy()`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import pjsua2 as pj

from softphone.audio import native
from softphone.audio.backends import DeviceBackend, create_backend
from softphone.audio.devices import AudioDevice
from softphone.audio.media import DEFAULT_BUFFERING, FRAME_SAMPLES, RATE, Buffering, MediaCore
from softphone.audio.native import NativeAudio
from softphone.audio.router import DeviceRouter, DevicesChanged, StreamFailed
from softphone.audio.tones import RINGBACK_ITU, WAITING_BEEP, Pattern, ToneSource, ringtone

log = logging.getLogger(__name__)

CLOCK_LINGER_S = 0.5  # keep the bridge's clock ticking this long after the last call


class _BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
    """PJSIP calls these on its media clock thread; they only touch `MediaCore`."""

    def __init__(self, core: MediaCore) -> None:
        super().__init__()
        self._core = core

    def onFrameRequested(self, frame: Any) -> None:
        self._core.frame_requested(frame)

    def onFrameReceived(self, frame: Any) -> None:
        self._core.frame_received(frame)


def _port_format() -> Any:
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = RATE
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = FRAME_SAMPLES * 1_000_000 // RATE
    fmt.avgBps = RATE * 16
    fmt.maxBps = RATE * 16
    return fmt


class AudioBridge:
    def __init__(
        self,
        backend: str | DeviceBackend = "auto",
        *,
        on_devices_changed: DevicesChanged | None = None,
        on_stream_failed: StreamFailed | None = None,
        ringback: Pattern = RINGBACK_ITU,
        buffering: Buffering = DEFAULT_BUFFERING,
        poll_interval: float = 1.0,
        own_clock: bool = True,
    ) -> None:
        """`on_devices_changed(devices)` and `on_stream_failed(role, message)` run on the
        audio worker thread; the engine turns them into events.

        `own_clock`: drive the conference bridge from pjsua's null sound device (the wheel
        has no real one) while a call is attached; without a clock the port would never be
        asked for frames. Between calls the clock is stopped: its thread ticking every 20 ms
        was most of an idle engine's CPU (1 % of a core).
        """
        self._own_clock = own_clock
        self._clock_running = False
        if own_clock:
            pj.Endpoint.instance().audDevManager().setNoDev()
        self._backend: DeviceBackend = (
            create_backend(backend) if isinstance(backend, str) else backend
        )
        self._ringback_pattern = ringback
        self._core = MediaCore(buffering)
        self._port = _BridgePort(self._core)
        self._port.createPort("lodgephone-bridge", _port_format())
        self._attached: dict[int, Any] = {}
        self._closed = False
        # Real devices and a PJSIP that exports its C API: the headset is wired to the
        # conference in C (softphone/audio/native); this port then only plays tones.
        self._native: NativeAudio | None = None
        if own_clock and hasattr(self._backend, "open_native"):
            self._native = native.load(FRAME_SAMPLES)
            if self._native is not None:
                self._native.take_bridge()
                self._core.tones_only = True
        self._tones_connected = False
        self._idle_since: float | None = None
        self._router = DeviceRouter(
            self._backend,
            self._core,
            on_devices_changed=on_devices_changed,
            on_stream_failed=on_stream_failed,
            poll_interval=poll_interval,
            native=self._native,
        )

    @property
    def backend_name(self) -> str:
        return self._backend.name + ("-native" if self._native is not None else "")

    @property
    def port(self) -> Any:
        """The bridge's `pj.AudioMediaPort` (e.g. to record what the agent says)."""
        return self._port

    # -- calls -------------------------------------------------------------------------
    def attach(self, call_media: Any) -> None:
        """Connect a call's audio both ways to the headset (media became ACTIVE)."""
        port_id = int(call_media.getPortId())
        if port_id in self._attached:
            return
        if self._native is not None:
            self._native.connect(port_id)
        else:
            self._run_clock(True)
            call_media.startTransmit(self._port)
            self._port.startTransmit(call_media)
        self._attached[port_id] = call_media
        self._router.want(capture=True, playback=True)

    def detach(self, call_media: Any) -> None:
        """Disconnect a call (hold, hang-up). Safe if the call's media is already gone."""
        port_id = int(call_media.getPortId())
        media = self._attached.pop(port_id, call_media)
        if self._native is not None:
            self._native.disconnect(port_id)
        else:
            for src, dst in ((media, self._port), (self._port, media)):
                try:
                    src.stopTransmit(dst)
                except pj.Error as exc:
                    log.debug("audio: stopTransmit on a gone port: %s", exc.info())
        if not self._attached:
            if self._native is not None:
                # the speaker's stream is the bridge's clock: it runs on a little (housekeep)
                self._router.want(capture=False)
            else:
                self._router.want(capture=False, playback=False)
            self._idle_since = time.monotonic()
            self.housekeep()

    def housekeep(self) -> None:
        """Owner thread, now and then: unwire the tone port once no tone plays, so the
        device thread stops calling into Python during the rest of a call."""
        core = self._core
        idle = (core.ringback is None or core.ringback.finished) and (
            core.beep is None or core.beep.finished
        )
        if self._attached:
            self._idle_since = None
        elif self._idle_since is not None and time.monotonic() - self._idle_since >= CLOCK_LINGER_S:
            # The bridge's clock stops a little after the last call, not at once: PJSIP 2.15
            # queues port removals and disconnections until the next bridge tick, and a
            # call's sockets are released only then.
            self._idle_since = None
            if self._native is not None:
                self._router.want(playback=False)
            else:
                self._run_clock(False)
        if self._native is not None and self._tones_connected and idle:
            self._native.disconnect(int(self._port.getPortId()), both=False)
            self._tones_connected = False

    def _wire_tones(self) -> None:
        if self._native is not None and not self._tones_connected:
            self._native.connect_one_way(int(self._port.getPortId()))
            self._tones_connected = True

    def _run_clock(self, on: bool) -> None:
        if not self._own_clock or on == self._clock_running:
            return
        manager = pj.Endpoint.instance().audDevManager()
        if on:
            manager.setNullDev()
        else:
            manager.setNoDev()
        self._clock_running = on

    @property
    def attached_count(self) -> int:
        return len(self._attached)

    # -- devices -----------------------------------------------------------------------
    def list_devices(self) -> list[AudioDevice]:
        return self._router.devices()

    def set_devices(
        self, input_id: str | None, output_id: str | None, ringer_id: str | None
    ) -> None:
        """Pick devices (None or "" = system default). Takes effect during a call too."""
        self._router.want(
            input_id=input_id or None, output_id=output_id or None, ringer_id=ringer_id or None
        )

    def set_mic_muted(self, muted: bool) -> None:
        self._core.muted = muted
        if self._native is not None:
            self._native.set_muted(muted)

    @property
    def mic_muted(self) -> bool:
        return self._core.muted

    # -- tones -------------------------------------------------------------------------
    def set_ringtone(self, name: str) -> None:
        """The ringtone for the next ring (tones.RINGTONES); a ring already sounding keeps
        its tone."""
        self._router.ringtone_pattern = ringtone(name)

    def start_ringtone(self) -> None:
        self._router.want(ringer=True)

    def stop_ringtone(self) -> None:
        self._router.want(ringer=False)

    def play_waiting_beep(self) -> None:
        self._core.beep = ToneSource(WAITING_BEEP)
        self._wire_tones()
        self._router.want()

    def start_ringback(self) -> None:
        """Local ringback while the far end rings without sending early media."""
        tone = self._core.ringback
        if tone is None or tone.stopping:
            self._core.ringback = ToneSource(self._ringback_pattern)
            self._wire_tones()
            self._router.want()

    def stop_ringback(self) -> None:
        tone = self._core.ringback
        if tone is not None:
            tone.stop()  # fades out; the router drops it once silent
            self._router.want()

    # -- diagnostics and shutdown ------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self._core.stats())
        out["backend"] = self.backend_name
        if self._native is not None:
            out.update(dataclasses.asdict(self._native.stats()))
        out["open_devices"] = self._router.open_devices()
        return out

    def settle(self, timeout: float = 2.0) -> bool:
        """Block until device streams match the latest request (tests and benchmarks)."""
        return self._router.settle(timeout)

    def close(self) -> None:
        """Stop devices and disconnect every call; the port lives on until the bridge is
        dropped (after `setNoDev()`)."""
        if self._closed:
            return
        self._closed = True
        for media in list(self._attached.values()):
            self.detach(media)
        self._core.ringback = None
        self._core.beep = None
        self._router.close()
        self._backend.close()
