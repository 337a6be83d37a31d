"""Waiting on conditions with a deadline: no sleeping for luck."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    delay = 0.005
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(delay)
        delay = min(delay * 2, 0.1)


async def async_wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """``wait_until`` for coroutines: yields to the loop between polls."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
