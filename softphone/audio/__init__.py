"""Audio between PJSIP's conference bridge and the headset.

The pjsua2 wheel has no sound-device backend, so the engine bridges calls to the devices
itself: one long-lived `AudioMediaPort`, a FIFO each way across the two clocks, and a device
backend (miniaudio, or "null" when there are no devices at all).
"""

from softphone.audio.devices import AudioDevice, DeviceKind

__all__ = ["AudioDevice", "DeviceKind"]
