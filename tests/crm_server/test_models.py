"""The shared models: lossless round trips, typed refusal of bad data, secrets kept out of
repr, forward-compatible events, the status transition table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crmclient.errors import ProtocolError
from crmclient.models import (
    CallerIdHeader,
    CallRecord,
    CallStatus,
    CallUpdate,
    ContactLookup,
    Heartbeat,
    SessionToken,
    SipSecret,
    SipSettings,
    StreamEvent,
    UnknownEvent,
    User,
    can_transition,
    parse_frame,
)

NOW = datetime(2026, 11, 21, 9, 30, 0, 123456, tzinfo=UTC)
CALL: dict[str, Any] = {
    "id": "c1",
    "direction": "inbound",
    "status": "ringing",
    "mode": "softphone",
    "agent_id": "u1",
    "remote_number": "+14155550111",
    "created_at": "2026-11-21T09:30:00.123456Z",
    "started_at": "2026-11-21T09:30:00+05:30",
    "updated_at": "2026-11-21T09:30:00Z",
}


def test_round_trip_is_lossless() -> None:
    call = CallRecord.from_json(CALL)
    assert call.started_at == datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    assert CallRecord.from_json(call.to_json()) == call
    assert call.to_json()["started_at"] == "2026-11-21T04:00:00Z"


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"id": 5}, "CallRecord.id: expected a string"),
        ({"status": "done"}, "CallRecord.status"),
        ({"duration_s": 1.5}, "CallRecord.duration_s: expected an integer"),
        ({"duration_s": True}, "CallRecord.duration_s: expected an integer"),
        ({"has_recording": "yes"}, "CallRecord.has_recording: expected a boolean"),
        ({"created_at": "2026-11-21T09:30:00"}, "without a UTC offset"),
        ({"created_at": "soon"}, "not an ISO 8601 timestamp"),
        ({"remote_number": "555-0111"}, "E.164"),
        ({"direction": None}, "CallRecord.direction: must not be null"),
    ],
)
def test_bad_data_is_a_protocol_error_naming_the_field(patch: dict[str, Any], where: str) -> None:
    with pytest.raises(ProtocolError, match=where):
        CallRecord.from_json({**CALL, **patch})


@pytest.mark.parametrize("data", [None, [], "x", 3])
def test_not_an_object(data: object) -> None:
    with pytest.raises(ProtocolError, match="expected an object"):
        CallRecord.from_json(data)


def test_missing_field() -> None:
    partial = dict(CALL)
    del partial["agent_id"]
    with pytest.raises(ProtocolError, match=r"CallRecord\.agent_id: missing"):
        CallRecord.from_json(partial)


def test_unknown_fields_are_ignored() -> None:
    assert CallRecord.from_json({**CALL, "new_field": 1}) == CallRecord.from_json(CALL)


def test_caller_id_header_defaults_to_ppi_for_crms_that_do_not_send_it() -> None:
    older = SipSettings.from_json({"domain": "pbx.test", "username": "102"})
    assert older.caller_id_header is CallerIdHeader.P_PREFERRED_IDENTITY
    trunk = SipSettings(domain="trunk.test", username="x", caller_id_header=CallerIdHeader.FROM)
    assert trunk.to_json()["caller_id_header"] == "from"
    assert SipSettings.from_json(trunk.to_json()) == trunk
    with pytest.raises(ProtocolError, match="caller_id_header"):
        SipSettings.from_json({"domain": "d", "username": "u", "caller_id_header": "diversion"})


def test_secrets_stay_out_of_repr() -> None:
    user = User("u1", "a@b.test", "Ann", "user")  # type: ignore[arg-type]
    token = SessionToken("tok-SECRET", "ref-SECRET", NOW, NOW, user)
    secret = SipSecret("acc", "sip-SECRET")
    assert "SECRET" not in repr(token) + repr(secret)
    assert token.to_json()["token"] == "tok-SECRET"


def test_call_update_absent_vs_null() -> None:
    update = CallUpdate(status=CallStatus.COMPLETED, clear=("notes",))
    assert update.to_json() == {"status": "completed", "notes": None}
    assert CallUpdate.from_json({"status": "completed", "notes": None}) == update
    with pytest.raises(ProtocolError, match="cannot be null"):
        CallUpdate.from_json({"status": None})
    with pytest.raises(ValueError, match="both set and cleared"):
        CallUpdate(notes="x", clear=("notes",))


def test_lookup_keeps_kinds_apart() -> None:
    contact = {
        "id": "ct",
        "name": "N",
        "phones": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    maybe = {"contact": contact, "kind": "maybe", "source": "message", "number": "+15005550000"}
    with pytest.raises(ProtocolError, match="maybe match among the confirmed"):
        ContactLookup.from_json({"number": "+15005550000", "confirmed": [maybe]})


def test_unknown_event_types_are_kept_not_refused() -> None:
    frame = {"id": 9, "type": "call.transferred", "at": "2026-11-21T09:30:00Z", "data": {"x": 1}}
    event = parse_frame(frame)
    assert isinstance(event, StreamEvent) and isinstance(event.payload, UnknownEvent)
    assert event.type == "call.transferred" and event.to_json() == frame
    beat = parse_frame(
        {"type": "heartbeat", "at": "2026-11-21T09:30:00Z", "last_id": 9, "interval_s": 15}
    )
    assert isinstance(beat, Heartbeat) and beat.last_id == 9
    with pytest.raises(ProtocolError):
        parse_frame({"id": 0, "type": "call.updated", "at": "2026-11-21T09:30:00Z", "data": {}})


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        ("dialing", "ringing", True),
        ("ringing", "dialing", False),
        ("ringing", "in_progress", True),
        ("in_progress", "on_hold", True),
        ("on_hold", "in_progress", True),
        ("in_progress", "missed", False),
        ("ringing", "missed", True),
        ("on_hold", "completed", True),
        ("dialing", "failed", True),
        ("completed", "completed", True),
        ("completed", "failed", False),
        ("missed", "in_progress", False),
    ],
)
def test_transitions(old: str, new: str, allowed: bool) -> None:
    assert can_transition(CallStatus(old), CallStatus(new)) is allowed
