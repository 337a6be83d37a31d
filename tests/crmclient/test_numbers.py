"""What agents type, paste and click becomes the right E.164 number, or a clear refusal."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from crmclient.errors import NumberError
from crmclient.models import CallerId
from crmclient.numbers import (
    callee_info,
    choose_caller_id,
    dial_string,
    normalize,
    parse,
    pick_caller_id,
)

DIALABLE = [
    # (input, account region, E.164)
    ("(555) 123-4567", "US", "+15551234567"),
    ("555.123.4567", "US", "+15551234567"),
    ("+1 555 123 4567", "IN", "+15551234567"),
    ("00 91 98765 43210", "IN", "+919876543210"),
    ("00 91 98765 43210", "GB", "+919876543210"),
    # North America dials out with 011, but agents type 00 anyway.
    ("00 91 98765 43210", "US", "+919876543210"),
    ("011 44 20 7946 0958", "US", "+442079460958"),
    ("098765 43210", "IN", "+919876543210"),
    ("9876543210", "IN", "+919876543210"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("tel:+1-201-555-0123", "US", "+12015550123"),
    ("tel:+91.98765.43210", "US", "+919876543210"),
    ("tel:555-0123;phone-context=+1-201", "US", "+12015550123"),
    ("callto:+442079460958", "US", "+442079460958"),
    ("  +1 (201) 555-0123  ", "US", "+12015550123"),
    (
        "\uff0b\uff11 \uff12\uff10\uff11 \uff15\uff15\uff15 \uff10\uff11\uff12\uff13",
        "US",
        "+12015550123",
    ),
    ("1-800-FLOWERS", "US", "+18003569377"),
    ("+91 98765 43210 ext. 12", "US", "+919876543210"),
]

REFUSED = [
    # (input, region, words the reason must contain)
    ("", "US", "empty"),
    ("   ", "US", "empty"),
    ("hello", "US", "no digits"),
    ("+999 123", "US", "unknown country code"),
    ("12", "US", "too short"),
    ("+1 201 555 0123 4567 89", "US", "too long"),
    ("555 0123", "US", "area code"),
    ("sip:+12015550123@pbx.example", "US", "SIP address"),
    ("911", "US", "emergency"),
    ("1" * 200, "US", "too long"),
]


@pytest.mark.parametrize(("raw", "region", "e164"), DIALABLE)
def test_dialable_input_becomes_e164(raw: str, region: str, e164: str) -> None:
    assert normalize(raw, region) == e164


@pytest.mark.parametrize(("raw", "region", "reason"), REFUSED)
def test_undialable_input_is_refused_with_a_reason(raw: str, region: str, reason: str) -> None:
    with pytest.raises(NumberError) as caught:
        normalize(raw, region)
    assert reason in caught.value.reason
    assert reason in str(caught.value)


def test_fictional_numbers_are_dialable_but_flagged() -> None:
    number = parse("(555) 123-4567", "US")
    assert number.known_range is False
    assert number.region == "US"
    real = parse("+1 201 555 0123", "US")
    assert real.known_range is True
    assert real.national == "(201) 555-0123"


def test_extension_is_kept_for_dtmf() -> None:
    number = parse("+91 98765 43210 ext. 12", "US")
    assert (number.e164, number.extension) == ("+919876543210", "12")


def test_emergency_numbers_are_dialled_as_is() -> None:
    assert dial_string("911", "US") == "911"
    assert dial_string("tel:911", "US") == "911"
    assert dial_string("112", "IN") == "112"
    assert dial_string("(201) 555-0123", "US") == "+12015550123"


def test_unknown_account_region_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="XX"):
        normalize("+12015550123", "XX")


def test_caller_id_follows_the_destination_country() -> None:
    us, india = "+12015550100", "+912212345678"
    assert choose_caller_id("+919876543210", [us, india], default=us) == india
    assert choose_caller_id("+442079460958", [us, india], default=us) == us
    # +1 Canada: a Canadian number if there is one, else another +1 number.
    ca = "+14165550100"
    assert choose_caller_id("+14165550123", [us, ca], default=us) == ca
    assert choose_caller_id("+14165550123", [india, us], default=india) == us


def _cid(cid: str, number: str, country: str, default: bool = False) -> CallerId:
    return CallerId(id=cid, number=number, country=country, is_default=default)


def test_provisioned_caller_id_follows_the_destination_country() -> None:
    us = _cid("us", "+12015550100", "US", default=True)
    india = _cid("in", "+912212345678", "IN")
    assert pick_caller_id("+919876543210", [us, india]) is india
    assert pick_caller_id("+442079460958", [india, us]) is us
    assert pick_caller_id("+14165550123", [india, us]) is us
    assert pick_caller_id("+919876543210", []) is None


NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def test_callee_local_time_and_business_hours() -> None:
    india = callee_info(parse("+91 98765 43210", "US"), now=NOW)
    assert india.country == "India"
    assert india.time_zones == ("Asia/Calcutta",)
    assert india.local_time is not None
    assert india.local_time.strftime("%H:%M") == "11:30"
    assert india.within_business_hours is True

    new_jersey = callee_info(parse("+1 201 555 0123", "US"), now=NOW)
    assert new_jersey.location == "New Jersey"
    assert new_jersey.local_time is not None
    assert new_jersey.local_time.strftime("%H:%M") == "01:00"
    assert new_jersey.within_business_hours is False

    # 18:00 is already after hours (end exclusive), 9:00 already within.
    six_pm_in_india = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    assert (
        callee_info(parse("+919876543210", "IN"), now=six_pm_in_india).within_business_hours
        is False
    )
    nine_am = callee_info(
        parse("+919876543210", "IN"), now=datetime(2026, 11, 21, 3, 30, tzinfo=UTC)
    )
    assert nine_am.within_business_hours is True


def test_ambiguous_time_zone_gives_no_local_time() -> None:
    toll_free = callee_info(parse("1-800-FLOWERS", "US"), now=NOW)
    assert len(toll_free.time_zones) > 1
    assert toll_free.local_time is None
    assert toll_free.within_business_hours is None


def test_custom_business_hours() -> None:
    info = callee_info(parse("+919876543210", "IN"), now=NOW, hours=(time(12), time(20)))
    assert info.within_business_hours is False


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        callee_info(parse("+919876543210", "IN"), now=datetime(2026, 1, 1))
