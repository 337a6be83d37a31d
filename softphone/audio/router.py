"""Which device streams are open, on which devices: one worker thread decides.

Opening a device can take tens of milliseconds and may fail, so none of it runs on the
pjsua2 owner thread. The owner thread only states what it wants (`want(...)`); the worker
reconciles that with the open streams, and every second re-enumerates devices to notice
plug and unplug. A chosen device that disappears falls back to the system default and comes
back by itself when it is plugged in again (the preference is kept, not forgotten).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from softphone.audio.backends.base import DeviceBackend, DeviceStream
from softphone.audio.devices import AudioDevice, DeviceKind
from softphone.audio.fifo import Samples
from softphone.audio.media import MediaCore
from softphone.audio.native import NativeAudio
from softphone.audio.tones import RINGTONE, Pattern, ToneSource

log = logging.getLogger(__name__)

DevicesChanged = Callable[[list[AudioDevice]], None]
StreamFailed = Callable[[str, str], None]  # (role, message)

FADE_CLOSE_S = 0.06  # let a fading tone reach zero before its stream closes


@dataclass(frozen=True, slots=True)
class Wanted:
    input_id: str | None = None  # None: system default
    output_id: str | None = None
    ringer_id: str | None = None
    capture: bool = False
    playback: bool = False
    ringer: bool = False


class DeviceRouter:
    def __init__(
        self,
        backend: DeviceBackend,
        core: MediaCore,
        *,
        on_devices_changed: DevicesChanged | None = None,
        on_stream_failed: StreamFailed | None = None,
        poll_interval: float = 1.0,
        native: NativeAudio | None = None,
    ) -> None:
        """`native`: capture and playback run the C callbacks that drive the conference;
        the backend must then offer `open_native` (the ringer stays in Python)."""
        self._backend = backend
        self._native = native
        self._core = core
        self._on_devices_changed = on_devices_changed
        self._on_stream_failed = on_stream_failed
        self._poll = poll_interval
        self._lock = threading.Lock()
        self._wanted = Wanted()
        self._devices: list[AudioDevice] = []
        self._capture: DeviceStream | None = None
        self._playback: DeviceStream | None = None
        self._ringer: DeviceStream | None = None
        self._ringtone: ToneSource | None = None
        self.ringtone_pattern: Pattern = RINGTONE  # set from the owner thread, read here
        self._ringer_close_at = 0.0
        self._failures: dict[str, str] = {}
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._stopping = False
        self._idle = threading.Event()
        self._devices = self._enumerate()
        self._thread = threading.Thread(target=self._run, name="audio-devices", daemon=True)
        self._thread.start()

    # -- any thread --------------------------------------------------------------------
    @property
    def wanted(self) -> Wanted:
        return self._wanted

    def want(self, **changes: object) -> None:
        with self._lock:
            self._wanted = replace(self._wanted, **changes)  # type: ignore[arg-type]
            self._idle.clear()
        self._wake.put(True)

    def devices(self) -> list[AudioDevice]:
        with self._lock:
            return list(self._devices)

    def open_devices(self) -> dict[str, str | None]:
        """Device ids of the open streams ("" = system default; None = closed)."""
        return {
            "input": self._capture.device_id if self._capture else None,
            "output": self._playback.device_id if self._playback else None,
            "ringer": self._ringer.device_id if self._ringer else None,
        }

    def settle(self, timeout: float = 2.0) -> bool:
        """Wait until the worker has acted on every `want` so far (tests, benchmarks)."""
        self._wake.put(True)
        return self._idle.wait(timeout)

    def close(self) -> None:
        self._stopping = True
        self._wake.put(True)
        self._thread.join(timeout=5)
        for role in ("capture", "playback", "ringer"):
            self._close(role)

    # -- worker thread -----------------------------------------------------------------
    def _run(self) -> None:
        next_poll = time.monotonic() + self._poll
        while not self._stopping:
            timeout = max(0.0, next_poll - time.monotonic())
            if self._transitional():
                timeout = min(timeout, 0.02)
            with contextlib.suppress(queue.Empty):
                self._wake.get(timeout=timeout)
            if self._stopping:
                return
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self._poll
                self._refresh_devices()
            try:
                self._reconcile()
            except Exception:
                log.exception("audio: reconciling device streams failed")
            if not self._transitional():
                self._idle.set()

    def _transitional(self) -> bool:
        beep, ringback = self._core.beep, self._core.ringback
        return (
            bool(self._ringer_close_at)
            or (beep is not None and not beep.finished)
            or (ringback is not None and ringback.stopping)
        )

    def _enumerate(self) -> list[AudioDevice]:
        try:
            return self._backend.list_devices()
        except Exception as exc:
            log.warning("audio: listing devices failed: %s", exc)
            return list(self._devices)

    def _refresh_devices(self) -> None:
        fresh = self._enumerate()
        with self._lock:
            changed = fresh != self._devices
            self._devices = fresh
        if changed and self._on_devices_changed is not None:
            try:
                self._on_devices_changed(list(fresh))
            except Exception:
                log.exception("audio: devices-changed callback failed")

    def _resolve(self, pref: str | None, kind: DeviceKind) -> str:
        if pref and any(d.id == pref and d.kind is kind for d in self._devices):
            return pref
        return ""

    def _reconcile(self) -> None:
        w = self._wanted
        core = self._core
        if core.beep is not None and core.beep.finished:
            core.beep = None
        if core.ringback is not None and core.ringback.finished:
            core.ringback = None
        want_playback = w.playback or core.ringback is not None or core.beep is not None
        self._ensure("capture", w.capture, self._resolve(w.input_id, DeviceKind.INPUT))
        self._ensure("playback", want_playback, self._resolve(w.output_id, DeviceKind.OUTPUT))
        ringer_dev = self._resolve(w.ringer_id, DeviceKind.OUTPUT)
        if w.ringer:
            self._ringer_close_at = 0.0
            tone = self._ringtone
            if tone is None or tone.stopping:
                # a new ring right after the last one faded out (or never rang): fresh tone,
                # in the ringtone chosen now; the open stream reads whichever is current
                self._ringtone = ToneSource(self.ringtone_pattern)
            self._ensure("ringer", True, ringer_dev)
        elif self._ringer is not None:
            if not self._ringer_close_at and self._ringtone is not None:
                self._ringtone.stop()
                self._ringer_close_at = time.monotonic() + FADE_CLOSE_S
            elif time.monotonic() >= self._ringer_close_at:
                self._ringer_close_at = 0.0
                self._close("ringer")
        else:
            self._ringer_close_at = 0.0

    def _ensure(self, role: str, wanted: bool, device_id: str) -> None:
        stream: DeviceStream | None = getattr(self, "_" + role)
        if stream is not None and (not wanted or stream.device_id != device_id):
            self._close(role)
            stream = None
        if not wanted or stream is not None:
            return
        try:
            stream = self._open(role, device_id or None)
        except Exception as exc:
            self._close(role)
            message = f"cannot open {role} device {device_id or '(default)'}: {exc}"
            if self._failures.get(role) != message:  # report once, retry quietly
                self._failures[role] = message
                log.warning("audio: %s", message)
                if self._on_stream_failed is not None:
                    self._on_stream_failed(role, message)
            return
        self._failures.pop(role, None)
        setattr(self, "_" + role, stream)

    def _open(self, role: str, device_id: str | None) -> DeviceStream:
        core = self._core
        native = self._native
        if native is not None and role in ("capture", "playback"):
            capture = role == "capture"
            (native.set_capture if capture else native.set_playback)(True)
            callback = native.capture_callback if capture else native.playback_callback
            open_native = self._backend.open_native  # type: ignore[attr-defined]
            stream: DeviceStream = open_native(role, device_id, callback)
            return stream
        if role == "capture":
            core.set_capture_open(True)
            stream = self._backend.open_capture(device_id, core.capture)
            core.set_capture_open(stream.live)
            return stream
        if role == "playback":
            core.set_playback_open(True)
            stream = self._backend.open_playback(device_id, core.playback)
            core.set_playback_open(stream.live)
            return stream
        if self._ringtone is None:
            self._ringtone = ToneSource(self.ringtone_pattern)
        return self._backend.open_playback(device_id, self._ring_samples)

    def _ring_samples(self, n: int) -> Samples:
        """The ringer stream's source (device thread): the current ring, or silence."""
        tone = self._ringtone
        return tone.read(n) if tone is not None else np.zeros(n, dtype=np.int16)

    def _close(self, role: str) -> None:
        stream: DeviceStream | None = getattr(self, "_" + role)
        setattr(self, "_" + role, None)
        if stream is not None:
            try:
                stream.close()
            except Exception as exc:
                log.warning("audio: closing %s stream failed: %s", role, exc)
        native = self._native
        if role == "capture":
            self._core.set_capture_open(False)
            if native is not None:
                native.set_capture(False)
        elif role == "playback":
            self._core.set_playback_open(False)
            if native is not None:
                native.set_playback(False)
        else:
            self._ringtone = None
