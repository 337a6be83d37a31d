"""No devices at all: calls still run (CI, servers, a machine with no sound card)."""

from __future__ import annotations

from softphone.audio.backends.base import CaptureSink, DeviceStream, PlaybackSource
from softphone.audio.devices import AudioDevice


class NullStream:
    live = False

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id

    def close(self) -> None:
        return None


class NullBackend:
    """Lists nothing; streams accept the bridge's callbacks and never call them."""

    name = "null"

    def list_devices(self) -> list[AudioDevice]:
        return []

    def open_capture(self, device_id: str | None, sink: CaptureSink) -> DeviceStream:
        return NullStream(device_id or "")

    def open_playback(self, device_id: str | None, source: PlaybackSource) -> DeviceStream:
        return NullStream(device_id or "")

    def close(self) -> None:
        return None
