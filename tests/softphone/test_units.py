"""Pure pieces: dialling input to URIs, the E-model MOS, the event/config codec."""

from __future__ import annotations

import pytest

from softphone import codec
from softphone.config import AccountConfig, EngineConfig
from softphone.engine.quality import mos
from softphone.events import EVENT_TYPES, CallStateChanged
from softphone.types import CallDirection, CallState, EndReason, Transport
from softphone.uri import InvalidUri, call_target, parse_remote


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("+49 (30) 123-45", "sip:+493012345@pbx.example.com"),
        ("tel:+4930123", "sip:+4930123@pbx.example.com;user=phone"),
        ("sip:alice@example.org:5070", "sip:alice@example.org:5070"),
        ("bob@10.0.0.2", "sip:bob@10.0.0.2"),
        ('"Alice" <sip:alice@example.org>', "sip:alice@example.org"),
        ("*21#", "sip:*21%23@pbx.example.com"),
        ("1001", "sip:1001@pbx.example.com"),
    ],
)
def test_dialled_input_becomes_a_sip_uri(typed: str, expected: str) -> None:
    assert call_target(typed, "pbx.example.com") == expected


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "sip:a@b\r\nVia: x", "sip:@", "call me", "sip:a@b:99999", "x" * 600, "<sip:>"],
)
def test_bad_input_is_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(InvalidUri) as refused:
        call_target(typed, "pbx.example.com")
    assert str(refused.value)


def test_tcp_accounts_name_their_transport() -> None:
    assert call_target("1001", "pbx", Transport.TCP) == "sip:1001@pbx;transport=tcp"
    assert call_target("sip:a@b;transport=udp", "pbx", Transport.TLS) == "sip:a@b;transport=udp"


def test_remote_party_is_split_for_crm_matching() -> None:
    party = parse_remote('"Doe, Jane" <sip:+4930123@pbx.example.com>;tag=1')
    assert (party.display, party.user, party.uri) == (
        "Doe, Jane",
        "+4930123",
        "sip:+4930123@pbx.example.com",
    )


def test_mos_falls_with_loss_and_delay() -> None:
    clean = mos("PCMU/8000", 20, 0)
    assert 4.3 <= clean <= 4.5
    assert mos("PCMU/8000", 20, 5) < clean
    assert mos("PCMU/8000", 400, 0) < mos("PCMU/8000", 100, 0)
    assert mos("GSM/8000", 20, 0) < clean
    assert mos("PCMU/8000", 2000, 50) == 1.0


def test_events_and_configs_survive_the_wire() -> None:
    event = CallStateChanged(
        call_id="c1",
        account_id="a",
        direction=CallDirection.INBOUND,
        state=CallState.ENDED,
        remote_uri="sip:x@y",
        end_reason=EndReason.ANSWERED_ELSEWHERE,
    )
    assert codec.from_json(CallStateChanged, codec.to_json(event)) == event
    assert EVENT_TYPES["call_state_changed"] is CallStateChanged
    acc = AccountConfig("a", "u", "d", password="pw", transport=Transport.TLS)
    assert codec.from_json(AccountConfig, codec.to_json(acc)) == acc
    assert "pw" not in repr(acc) and acc.redacted().password == "***"
    assert codec.from_json(EngineConfig, {}) == EngineConfig()
    with pytest.raises(codec.CodecError, match="transport"):
        codec.from_json(
            AccountConfig,
            {"account_id": "a", "username": "u", "domain": "d", "transport": "carrier-pigeon"},
        )
    with pytest.raises(codec.CodecError, match="missing field"):
        codec.from_json(CallStateChanged, {"call_id": "c1"})
