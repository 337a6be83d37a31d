"""Device backends: where the bridge's samples meet real (or no) hardware."""

from softphone.audio.backends.base import CaptureSink, DeviceBackend, DeviceStream, PlaybackSource

__all__ = ["CaptureSink", "DeviceBackend", "DeviceStream", "PlaybackSource", "create_backend"]


def create_backend(name: str) -> DeviceBackend:
    """`null`, `miniaudio`, or `auto` (miniaudio if it finds a real backend, else null)."""
    from softphone.audio.backends.null import NullBackend

    if name == "null":
        return NullBackend()
    if name not in ("auto", "miniaudio"):
        raise ValueError(f"unknown audio backend {name!r} (null, miniaudio, auto)")
    try:
        from softphone.audio.backends.mini import MiniaudioBackend

        return MiniaudioBackend()
    except Exception:
        if name == "miniaudio":
            raise
        return NullBackend()
