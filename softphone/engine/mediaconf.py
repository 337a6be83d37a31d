"""The engine's media settings, shared with the latency benchmark's peer so the figure in
docs/audio.md describes what agents run.

PJSIP's default jitter buffer grew to 60-80 ms on loopback and LAN calls; a 20 ms prefetch
(adapting up to 40 ms, hard cap 500 ms) keeps mouth-to-ear near 80 ms without underruns.
"""

from __future__ import annotations

from typing import Any

FRAME_MS = 20
JB_PREFETCH_MS = 20


def apply(med: Any, jb_ms: int = JB_PREFETCH_MS) -> None:
    """Set low-latency media options on a `pj.MediaConfig` (before libInit)."""
    med.clockRate = 16000
    med.sndClockRate = 16000
    med.audioFramePtime = FRAME_MS
    med.ptime = FRAME_MS
    med.noVad = True
    med.ecTailLen = 0  # the wheel has no echo canceller to drive
    med.jbInit = jb_ms
    med.jbMinPre = jb_ms
    med.jbMaxPre = jb_ms * 2
    med.jbMax = 500
