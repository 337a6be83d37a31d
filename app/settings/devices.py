"""Keeps the engine on the audio devices the agent chose in Settings.

The choice lives in the settings file; the engine process knows nothing of it. So the
choice is applied whenever it could have been lost or become possible again: when the
engine's audio comes up (first start and every restart after a crash), when a device is
plugged in or out (a headset that comes back is used again), and when the agent picks
another device. A chosen device that is not plugged in is replaced by the system default
for now, never dropped from the settings.

Engine commands block, and engine events arrive on the engine client's reader thread
(which must never wait for a reply), so the work runs on one thread of its own.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from app.config import RINGTONES, ConfigStore, Settings
from softphone.audio.devices import AudioDevice, DeviceKind
from softphone.errors import EngineError
from softphone.events import AudioDevicesChanged, AudioStarted

log = logging.getLogger(__name__)

Chosen = tuple[str, str, str]  #: (input, output, ringer) device ids; "" = system default


class DeviceEngine(Protocol):
    """The part of ``softphone.client.EngineClient`` this needs."""

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...
    def list_devices(self) -> tuple[AudioDevice, ...]: ...
    def set_devices(self, input_id: str = "", output_id: str = "", ringer_id: str = "") -> None: ...
    def set_ringtone(self, name: str) -> None: ...


def usable(chosen: Chosen, devices: tuple[AudioDevice, ...] | list[AudioDevice]) -> Chosen:
    """The chosen ids, with any device that is not plugged in now read as the default."""
    inputs = {d.id for d in devices if d.kind is DeviceKind.INPUT}
    outputs = {d.id for d in devices if d.kind is DeviceKind.OUTPUT}
    in_id, out_id, ring_id = chosen
    return (
        in_id if in_id in inputs else "",
        out_id if out_id in outputs else "",
        ring_id if ring_id in outputs else "",
    )


class DeviceChoice:
    """Applies ``audio_input``/``audio_output``/``audio_ringer`` to the engine."""

    def __init__(self, engine: DeviceEngine, config: ConfigStore) -> None:
        self._engine = engine
        self._config = config
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="devices")
        self._lock = threading.Lock()
        self._closed = False
        self._last_wanted: Chosen = ("", "", "")
        self._last_ringtone = ""
        #: What the engine was last told (None: nothing yet); for diagnostics and tests.
        self.applied: Chosen | None = None
        self.applied_event = threading.Event()  # set after each successful apply
        self._unsubscribe = [
            engine.subscribe(self._on_engine_event),
            config.subscribe(self._on_settings),
        ]
        self.apply()  # the engine may be up already (it boots while the window paints)

    @staticmethod
    def chosen(settings: Settings) -> Chosen:
        return (settings.audio_input, settings.audio_output, settings.audio_ringer)

    @staticmethod
    def ringtone(settings: Settings) -> str:
        return settings.ringtone if settings.ringtone in RINGTONES else RINGTONES[0]

    def apply(self) -> concurrent.futures.Future[Chosen | None]:
        """Tell the engine the current choice (on the worker thread)."""
        with self._lock:
            if self._closed:
                done: concurrent.futures.Future[Chosen | None] = concurrent.futures.Future()
                done.set_result(None)
                return done
            return self._pool.submit(self._apply_now)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ internals
    def _on_engine_event(self, event: object) -> None:
        if isinstance(event, AudioStarted | AudioDevicesChanged):
            self.apply()

    def _on_settings(self, settings: Settings) -> None:
        if (
            self.chosen(settings) != self._last_wanted
            or self.ringtone(settings) != self._last_ringtone
        ):
            self.apply()

    def _apply_now(self) -> Chosen | None:
        wanted = self.chosen(self._config.settings)
        tone = self.ringtone(self._config.settings)
        self._last_wanted = wanted
        self._last_ringtone = tone
        try:
            ids = usable(wanted, self._engine.list_devices())
            self._engine.set_devices(*ids)
            self._engine.set_ringtone(tone)
        except EngineError as exc:  # not up yet, or no audio bridge: AudioStarted retries
            log.info("audio devices not applied yet: %s", exc)
            return None
        if ids != wanted:
            log.info("a chosen audio device is not plugged in; the system default plays")
        self.applied = ids
        self.applied_event.set()
        return ids
