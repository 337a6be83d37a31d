"""Hand-made session snapshots, as the session would send them."""

from __future__ import annotations

import time
from dataclasses import replace

from app.session.model import (
    CallDirection,
    CallerIdOption,
    CallPhase,
    CallView,
    ContactMatch,
    Destination,
    LineState,
    LineStatus,
    OutboundOptions,
    Presence,
    ProviderOption,
    Teammate,
)

LINE = LineStatus("acc1", "Lodgestory SIP · ext. 201", LineState.REGISTERED)
MARIA = ContactMatch("k1", "Maria Lopez", chat_id="chat1", chat_title="WhatsApp · Booking 4411")


def options(**changes: object) -> OutboundOptions:
    base = OutboundOptions(
        providers=(
            ProviderOption("acc1", "Lodgestory SIP", LineState.REGISTERED, True, True),
            ProviderOption("acc2", "Backup trunk", LineState.REGISTERED),
        ),
        caller_ids=(
            CallerIdOption("+15550100", "+1 555-0100 · New York", True, "US"),
            CallerIdOption("+442079460958", "+44 20 7946 0958 · London", False, "GB"),
        ),
        teammates=(
            Teammate("u2", "Ana Silva", "202"),
            Teammate("u3", "Tom Berg", "203", Presence.BUSY),
        ),
        account_id="acc1",
        caller_id="+15550100",
        destination=Destination(
            "+12125550199",
            "+1 212-555-0199",
            "United States",
            "US",
            "New York, NY",
            "23:40",
            True,
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def call(
    phase: CallPhase = CallPhase.IN_CALL,
    direction: CallDirection = CallDirection.OUTBOUND,
    call_id: str = "c1",
    **changes: object,
) -> CallView:
    now = time.time()
    base = CallView(
        call_id=call_id,
        direction=direction,
        phase=phase,
        number="+12125550199",
        display_number="+1 212-555-0199",
        account_id="acc1",
        line_label="Lodgestory SIP",
        contact=MARIA,
        location="New York, NY",
        started_at=now - 80,
        connected_at=now - 75 if phase in (CallPhase.IN_CALL, CallPhase.ON_HOLD) else None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]
