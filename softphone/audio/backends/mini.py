"""miniaudio backend: PulseAudio/ALSA on Linux, WASAPI on Windows, Core Audio on macOS.

Chosen over sounddevice by measurement (docs/audio.md): lower mouth-to-ear latency through
PulseAudio, separate capture and playback streams that each keep their own clock, and no
system PortAudio to ship. Streams ask miniaudio for mono 16 kHz int16 so the bridge never
converts; miniaudio resamples to the device's native format in C.

Callbacks bypass miniaudio's generator protocol: the capture callback hands a numpy view of
miniaudio's buffer straight to the FIFO and playback copies the FIFO's block straight into
miniaudio's output buffer, with no bytes objects in between.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import miniaudio
import numpy as np
from miniaudio import ffi, lib

from softphone.audio.backends.base import CaptureSink, DeviceStream, PlaybackSource
from softphone.audio.devices import AudioDevice, DeviceKind

log = logging.getLogger(__name__)

RATE = 16_000
PERIOD_MS = 10
PERIODS = 2
# The native path (C callbacks, softphone/audio/native): the playback device runs the
# bridge, so its buffer is latency both ways of nothing else absorbing it. Measured on the
# PulseAudio rig (bench/audio_latency.py, bench/audio_cpu.py): capture 10 ms + playback 5 ms
# periods gave 61-74 ms mouth-to-ear at about 4 % of a core per call; 10 + 10 ms gave 98 ms
# at 3.4 %. LODGEPHONE_AUDIO_PERIODS="capture_ms,playback_ms,periods" overrides (A/B runs).
NATIVE_CAPTURE_PERIOD_MS = 10
NATIVE_PLAYBACK_PERIOD_MS = 5
NATIVE_PERIODS = 2


def native_periods() -> tuple[int, int, int]:
    """(capture period ms, playback period ms, periods) for the native path."""
    raw = os.environ.get("LODGEPHONE_AUDIO_PERIODS", "")
    try:
        capture, playback, periods = (int(v) for v in raw.split(","))
        if min(capture, playback, periods) > 0:
            return capture, playback, periods
    except ValueError:
        pass
    return NATIVE_CAPTURE_PERIOD_MS, NATIVE_PLAYBACK_PERIOD_MS, NATIVE_PERIODS


APP_NAME = "Lodgestory Phone"


def _platform_backends() -> list[Any]:
    if sys.platform.startswith("win"):
        return [miniaudio.Backend.WASAPI]
    if sys.platform == "darwin":
        return [miniaudio.Backend.COREAUDIO]
    return [miniaudio.Backend.PULSEAUDIO, miniaudio.Backend.ALSA]


def _id_text(raw: bytes) -> str:
    """A stable printable id from miniaudio's opaque device id (a name for Pulse/ALSA)."""
    body = raw.rstrip(b"\0")
    if b"\0" in body:  # WASAPI: a wide-char string
        try:
            return raw.decode("utf-16-le").split("\0", 1)[0]
        except UnicodeDecodeError:
            return body.hex()
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return body.hex()
    return text if text.isprintable() and text else body.hex()


class _Capture(miniaudio.CaptureDevice):  # type: ignore[misc]
    def __init__(self, sink: CaptureSink, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sink = sink
        self.failures = 0

    def _data_callback(self, device: Any, output: Any, input: Any, framecount: int) -> None:
        try:
            view = np.frombuffer(ffi.buffer(input, framecount * 2), dtype=np.int16)
            self._sink(view)
        except Exception:
            self.failures += 1
            if self.failures <= 3:
                log.exception("audio: capture callback failed")


class _Playback(miniaudio.PlaybackDevice):  # type: ignore[misc]
    def __init__(self, source: PlaybackSource, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source = source
        self.failures = 0

    def _data_callback(self, device: Any, output: Any, input: Any, framecount: int) -> None:
        try:
            block = np.ascontiguousarray(self._source(framecount), dtype=np.int16)
            ffi.memmove(output, block, min(block.nbytes, framecount * 2))
        except Exception:
            self.failures += 1
            if self.failures <= 3:
                log.exception("audio: playback callback failed")


class MiniStream:
    live = True

    def __init__(self, device_id: str, device: Any) -> None:
        self.device_id = device_id
        self._device = device

    def close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        context = device._context
        device.close()
        # miniaudio's Python wrapper never releases a device's context (a server
        # connection and a thread under PulseAudio); switching devices must not leak them.
        lib.ma_context_uninit(context)


class _NativeDevice:
    """A miniaudio device whose data callback is a C function (softphone/audio/native):
    its thread never takes the GIL. Own context per device, like miniaudio's Python
    wrapper, so closing one never disturbs another."""

    def __init__(
        self,
        backends: list[Any],
        *,
        capture: bool,
        device_id: Any,
        callback: int,
        period_ms: int,
        periods: int,
    ) -> None:
        ctx_config = lib.ma_context_config_init()
        ctx_config.threadPriority = miniaudio.ThreadPriority.REALTIME.value
        self._app_name = APP_NAME.encode()
        ctx_config.pulse.pApplicationName = ffi.from_buffer(self._app_name)
        self._context = ffi.new("ma_context*")
        mem = ffi.new("ma_backend[]", len(backends))
        for i, b in enumerate(backends):
            mem[i] = b.value
        if lib.ma_context_init(mem, len(backends), ffi.addressof(ctx_config), self._context):
            raise RuntimeError("miniaudio: cannot open the audio system")
        kind = lib.ma_device_type_capture if capture else lib.ma_device_type_playback
        self._config = lib.ma_device_config_init(kind)
        side = self._config.capture if capture else self._config.playback
        side.format = lib.ma_format_s16
        side.channels = 1
        side.pDeviceID = device_id if device_id is not None else ffi.NULL
        self._config.sampleRate = RATE
        self._config.periodSizeInMilliseconds = period_ms
        self._config.periods = periods
        self._config.dataCallback = ffi.cast("ma_device_data_proc", callback)
        self._device = ffi.new("ma_device*")
        result = lib.ma_device_init(self._context, ffi.addressof(self._config), self._device)
        if result != lib.MA_SUCCESS:
            lib.ma_context_uninit(self._context)
            raise RuntimeError(f"miniaudio: cannot open the device ({result})")
        result = lib.ma_device_start(self._device)
        if result != lib.MA_SUCCESS:
            self.close()
            raise RuntimeError(f"miniaudio: cannot start the device ({result})")

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            lib.ma_device_uninit(device)  # joins the device thread: no callback after this
            lib.ma_context_uninit(self._context)


class NativeStream:
    live = True

    def __init__(self, device_id: str, device: _NativeDevice) -> None:
        self.device_id = device_id
        self._device: _NativeDevice | None = device

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.close()


class MiniaudioBackend:
    def __init__(
        self,
        backends: list[Any] | None = None,
        *,
        period_ms: int = PERIOD_MS,
        periods: int = PERIODS,
    ) -> None:
        self._backends = backends or _platform_backends()
        self._period_ms = period_ms
        self._periods = periods
        self._context = ffi.new("ma_context*")
        mem = ffi.new("ma_backend[]", len(self._backends))
        for i, b in enumerate(self._backends):
            mem[i] = b.value
        if lib.ma_context_init(mem, len(self._backends), ffi.NULL, self._context) != lib.MA_SUCCESS:
            raise RuntimeError("miniaudio: no audio system available")
        if self._context[0].backend == lib.ma_backend_null:
            lib.ma_context_uninit(self._context)
            raise RuntimeError("miniaudio: only the null backend is available")
        backend_name = ffi.string(lib.ma_get_backend_name(self._context[0].backend)).decode()
        self.name = f"miniaudio-{backend_name.lower()}"
        self._ids: dict[tuple[DeviceKind, str], Any] = {}
        self._closed = False

    def list_devices(self) -> list[AudioDevice]:
        pb_infos = ffi.new("ma_device_info**")
        pb_count = ffi.new("ma_uint32*")
        cap_infos = ffi.new("ma_device_info**")
        cap_count = ffi.new("ma_uint32*")
        result = lib.ma_context_get_devices(self._context, pb_infos, pb_count, cap_infos, cap_count)
        if result != lib.MA_SUCCESS:
            raise RuntimeError(f"miniaudio: listing devices failed ({result})")
        out: list[AudioDevice] = []
        ids: dict[tuple[DeviceKind, str], Any] = {}
        for kind, infos, count in (
            (DeviceKind.INPUT, cap_infos, cap_count),
            (DeviceKind.OUTPUT, pb_infos, pb_count),
        ):
            for i in range(count[0]):
                info = infos[0][i]
                dev_id = ffi.new("ma_device_id*", info.id)
                text = _id_text(bytes(ffi.buffer(dev_id)))
                ids[(kind, text)] = dev_id
                name = ffi.string(info.name).decode(errors="replace")
                out.append(AudioDevice(text, name, kind, bool(info.isDefault)))
        self._ids = ids
        return out

    def _device_id(self, kind: DeviceKind, device_id: str | None) -> Any:
        if not device_id:
            return None
        found = self._ids.get((kind, device_id))
        if found is None:
            self.list_devices()
            found = self._ids.get((kind, device_id))
        if found is None:
            raise LookupError(f"no {kind.value} device {device_id!r}")
        return found

    def _common(self) -> dict[str, Any]:
        return {
            "nchannels": 1,
            "sample_rate": RATE,
            "buffersize_msec": self._period_ms,
            "callback_periods": self._periods,
            "backends": self._backends,
            "thread_prio": miniaudio.ThreadPriority.REALTIME,
            "app_name": APP_NAME,
        }

    def open_capture(self, device_id: str | None, sink: CaptureSink) -> DeviceStream:
        dev = _Capture(
            sink,
            input_format=miniaudio.SampleFormat.SIGNED16,
            device_id=self._device_id(DeviceKind.INPUT, device_id),
            **self._common(),
        )
        dev.start(True)
        return MiniStream(device_id or "", dev)

    def open_playback(self, device_id: str | None, source: PlaybackSource) -> DeviceStream:
        dev = _Playback(
            source,
            output_format=miniaudio.SampleFormat.SIGNED16,
            device_id=self._device_id(DeviceKind.OUTPUT, device_id),
            **self._common(),
        )
        dev.start(True)
        return MiniStream(device_id or "", dev)

    def open_native(self, role: str, device_id: str | None, callback: int) -> DeviceStream:
        """A stream whose callback is the C function at address `callback` (role "capture"
        or "playback"); see softphone/audio/native."""
        capture = role == "capture"
        kind = DeviceKind.INPUT if capture else DeviceKind.OUTPUT
        capture_ms, playback_ms, periods = native_periods()
        dev = _NativeDevice(
            self._backends,
            capture=capture,
            device_id=self._device_id(kind, device_id),
            callback=callback,
            period_ms=capture_ms if capture else playback_ms,
            periods=periods,
        )
        return NativeStream(device_id or "", dev)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            lib.ma_context_uninit(self._context)
