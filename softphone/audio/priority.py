"""Real-time scheduling for the threads that move samples, where the OS allows it.

A busy machine (a build, a browser, a video call in another app) starves normal threads for
tens of milliseconds, and every starved millisecond of a media or device thread is a gap in
the call. Each such thread promotes itself the first time it runs our code: PJSIP's media
clock thread and miniaudio's device threads are created by C libraries, so this is the only
place we meet them. Where real-time scheduling is not permitted (an unprivileged user
without an rtprio limit, or not Linux) nothing changes and nothing fails.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

RT_PRIORITY = 10  # above normal work; the kernel still throttles real-time hogs (95 %)
_local = threading.local()


def promote_current_thread() -> bool:
    """Ask for SCHED_RR for the calling thread, once per thread; True when granted."""
    done: bool | None = getattr(_local, "promoted", None)
    if done is not None:
        return done
    granted = False
    if os.environ.get("LODGEPHONE_AUDIO_RT", "1") == "0":  # opt out (diagnosis, A/B runs)
        _local.promoted = False
        return False
    setter = getattr(os, "sched_setscheduler", None)
    policy = getattr(os, "SCHED_RR", None)
    if setter is not None and policy is not None:
        try:
            setter(0, policy, os.sched_param(RT_PRIORITY))  # 0: the calling thread (Linux)
            granted = True
        except OSError as exc:
            log.debug(
                "audio: no real-time priority for %s: %s", threading.current_thread().name, exc
            )
    _local.promoted = granted
    return granted


def promote_threads_named(names: tuple[str, ...]) -> int:
    """Promote this process's threads whose kernel name is in `names` (threads a C library
    started and that never run Python, e.g. PJSIP's RTP worker "media"); Linux only.
    Returns how many were promoted."""
    if os.environ.get("LODGEPHONE_AUDIO_RT", "1") == "0":
        return 0
    setter = getattr(os, "sched_setscheduler", None)
    policy = getattr(os, "SCHED_RR", None)
    tasks = "/proc/self/task"
    if setter is None or policy is None or not os.path.isdir(tasks):
        return 0
    promoted = 0
    for tid in os.listdir(tasks):
        try:
            with open(f"{tasks}/{tid}/comm") as fh:
                if fh.read().strip() not in names:
                    continue
            setter(int(tid), policy, os.sched_param(RT_PRIORITY))
            promoted += 1
        except OSError as exc:
            log.debug("audio: no real-time priority for thread %s: %s", tid, exc)
    return promoted
