"""Shared helpers for app tests: waiting on conditions, seeding calls, screenshots."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crmclient.models import (
    CallDirection,
    CallMode,
    CallRecord,
    CallStatus,
    HangupCause,
)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"


def wait_until(
    cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition", step: float = 0.01
) -> None:
    """Poll ``cond`` until true; fail with ``what`` after ``timeout`` seconds."""
    import threading

    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        event.wait(step)


def seed_calls(
    n: int, agents: tuple[str, ...] = ("local",), now: datetime | None = None
) -> list[CallRecord]:
    """``n`` varied, realistic calls over the last days, newest first."""
    now = now or datetime.now(UTC)
    statuses = [
        CallStatus.COMPLETED,
        CallStatus.COMPLETED,
        CallStatus.MISSED,
        CallStatus.COMPLETED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.FAILED,
    ]
    names = ["Ana Souza", "Liam O'Brien", None, "Priya Natarajan", "Jonas Weber", None, "Mei Lin"]
    out = []
    for i in range(n):
        started = now - timedelta(minutes=17 * i + 3)
        status = statuses[i % len(statuses)]
        answered = status is CallStatus.COMPLETED
        duration = (37 * i) % 900 + 20 if answered else 0
        direction = CallDirection.INBOUND if i % 3 else CallDirection.OUTBOUND
        out.append(
            CallRecord(
                id=f"seed-{i:06d}",
                direction=direction,
                status=status,
                mode=CallMode.SOFTPHONE,
                agent_id=agents[i % len(agents)],
                remote_number=f"+1555{2000000 + i:07d}",
                created_at=started,
                started_at=started,
                updated_at=started + timedelta(seconds=duration + 5),
                guest_name=names[i % len(names)],
                answered_at=started + timedelta(seconds=4) if answered else None,
                ended_at=started + timedelta(seconds=duration + 4),
                duration_s=duration,
                hangup_cause=HangupCause.REMOTE_HANGUP if answered else HangupCause.NO_ANSWER,
                has_recording=answered and i % 2 == 0,
                outcome="connected" if answered else None,
            )
        )
    return out


def save_shot(widget, name: str) -> Path:
    """Grab ``widget`` to artifacts/screenshots/NAME.png; assert it is not blank."""
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # children added to a shown window appear on the next turn
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pixmap = widget.grab()
    assert pixmap.save(str(path)), f"could not save {path}"
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB32)
    colors = set()
    for y in range(0, image.height(), max(1, image.height() // 40)):
        for x in range(0, image.width(), max(1, image.width() // 40)):
            colors.add(image.pixel(x, y))
    assert len(colors) > 8, f"{name} looks blank ({len(colors)} colours)"
    return path


@contextmanager
def dark_look() -> Iterator[None]:
    """The dark look for a screenshot, then back to whatever was in force."""
    from PySide6.QtWidgets import QApplication

    from app import theme

    installed = theme.ensure()
    assert installed is not None
    before = installed.mode
    installed.set_mode(theme.Mode.DARK)
    QApplication.processEvents()
    try:
        yield
    finally:
        installed.set_mode(before)
        QApplication.processEvents()
