"""The native headset path: device callbacks in C that drive PJSIP's conference directly.

See lpaudio.c for why. This module finds the compiled helper and the PJSIP functions it
needs inside the loaded pjsua2 module (the wheel exports them on Linux; where it does not,
e.g. a Windows .pyd, `load()` returns None and the bridge keeps its Python path).

Threads: `take_bridge`, `connect` and `disconnect` run on the pjsua2 owner thread; the
callbacks run on miniaudio's device threads and never enter Python.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

MASTER_SLOT = 0  # the conference's sound-device port


@dataclass(frozen=True, slots=True)
class NativeStats:
    frames_to_bridge: int  # 20 ms microphone frames handed to the conference
    frames_from_bridge: int  # conference ticks run by the playback device
    silent_frames: int  # ticks with nothing to play (no call audio yet, hold)
    errors: int
    dropped_frames: int  # microphone frames dropped while no device ran the bridge


class NativeAudio:
    """The C helper bound to this process's PJSIP."""

    def __init__(self, helper: ctypes.CDLL, pjsua: ctypes.CDLL, frame_samples: int) -> None:
        self._lib = helper
        self._pj = pjsua
        helper.lp_init.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_uint]
        helper.lp_init.restype = ctypes.c_int
        helper.lp_set_master.argtypes = [ctypes.c_void_p]
        helper.lp_set_master.restype = None
        for name in ("lp_set_capture", "lp_set_playback", "lp_set_muted"):
            fn = getattr(helper, name)
            fn.argtypes = [ctypes.c_int]
            fn.restype = None
        helper.lp_stats.argtypes = [ctypes.POINTER(ctypes.c_uint64)]
        helper.lp_stats.restype = None
        pjsua.pjsua_set_no_snd_dev.argtypes = []
        pjsua.pjsua_set_no_snd_dev.restype = ctypes.c_void_p
        for name in ("pjsua_conf_connect", "pjsua_conf_disconnect"):
            fn = getattr(pjsua, name)
            fn.argtypes = [ctypes.c_int, ctypes.c_int]
            fn.restype = ctypes.c_int

        def addr(lib: ctypes.CDLL, name: str) -> int:
            value = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
            if not value:
                raise OSError(f"no symbol {name}")
            return value

        status = helper.lp_init(
            addr(pjsua, "pjmedia_port_get_frame"),
            addr(pjsua, "pjmedia_port_put_frame"),
            addr(pjsua, "pj_thread_is_registered"),
            addr(pjsua, "pj_thread_register"),
            frame_samples,
        )
        if status != 0:
            raise OSError(f"lp_init failed ({status})")
        self.capture_callback = addr(helper, "lp_capture_cb")
        self.playback_callback = addr(helper, "lp_playback_cb")

    # -- owner thread ------------------------------------------------------------------
    def take_bridge(self) -> None:
        """Detach PJSIP's own sound device and let our playback device be the clock."""
        master = self._pj.pjsua_set_no_snd_dev()
        if not master:
            raise OSError("pjsua_set_no_snd_dev returned no master port")
        self._lib.lp_set_master(master)

    def connect(self, slot: int) -> None:
        """A call's audio both ways between `slot` and the headset."""
        for src, dst in ((slot, MASTER_SLOT), (MASTER_SLOT, slot)):
            status = self._pj.pjsua_conf_connect(src, dst)
            if status != 0:
                raise OSError(f"pjsua_conf_connect({src}, {dst}) failed ({status})")

    def connect_one_way(self, slot: int) -> None:
        """`slot` is only heard (tones)."""
        status = self._pj.pjsua_conf_connect(slot, MASTER_SLOT)
        if status != 0:
            raise OSError(f"pjsua_conf_connect({slot}, 0) failed ({status})")

    def disconnect(self, slot: int, *, both: bool = True) -> None:
        pairs = ((slot, MASTER_SLOT), (MASTER_SLOT, slot)) if both else ((slot, MASTER_SLOT),)
        for src, dst in pairs:
            self._pj.pjsua_conf_disconnect(src, dst)  # fails harmlessly if already gone

    # -- any thread --------------------------------------------------------------------
    def set_capture(self, on: bool) -> None:
        self._lib.lp_set_capture(int(on))

    def set_playback(self, on: bool) -> None:
        self._lib.lp_set_playback(int(on))

    def set_muted(self, muted: bool) -> None:
        self._lib.lp_set_muted(int(muted))

    def stats(self) -> NativeStats:
        out = (ctypes.c_uint64 * 5)()
        self._lib.lp_stats(out)
        return NativeStats(*(int(v) for v in out))


def load(frame_samples: int) -> NativeAudio | None:
    """The native path, or None (and why, in the log) where it cannot run.

    `LODGEPHONE_AUDIO_NATIVE=0` forces the Python path (A/B measurements, a fallback)."""
    if os.environ.get("LODGEPHONE_AUDIO_NATIVE", "1") == "0":
        return None
    try:
        import pjsua2._pjsua2 as pjsua_module

        from softphone.audio.native import _lpaudio  # type: ignore[attr-defined]

        helper = ctypes.CDLL(_lpaudio.__file__)
        pjsua = ctypes.CDLL(pjsua_module.__file__)
        return NativeAudio(helper, pjsua, frame_samples)
    except (ImportError, OSError, AttributeError) as exc:
        log.info("audio: native path unavailable (%s); using the Python bridge", exc)
        return None
