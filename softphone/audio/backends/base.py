"""The small contract every device backend fulfils.

Streams run callbacks on the backend's own audio thread at the device's clock; the bridge
only ever hands them a FIFO write (capture) or a FIFO read (playback), never a lock held
across PJSIP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from softphone.audio.devices import AudioDevice
from softphone.audio.fifo import Samples

CaptureSink = Callable[[Samples], None]
"""Receives captured mono 16 kHz samples (a view valid only during the call)."""

PlaybackSource = Callable[[int], Samples]
"""Returns exactly n mono 16 kHz samples to play."""


class DeviceStream(Protocol):
    device_id: str
    live: bool  # False: the stream never calls back (null backend), buffer nothing for it

    def close(self) -> None: ...


class DeviceBackend(Protocol):
    name: str

    def list_devices(self) -> list[AudioDevice]: ...

    def open_capture(self, device_id: str | None, sink: CaptureSink) -> DeviceStream:
        """Open and start capturing; `None` means the system default. Raises on failure."""
        ...

    def open_playback(self, device_id: str | None, source: PlaybackSource) -> DeviceStream:
        """Open and start playing; `None` means the system default. Raises on failure."""
        ...

    def close(self) -> None: ...
