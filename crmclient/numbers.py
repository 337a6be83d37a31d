"""Phone numbers as agents type them, turned into what the CRM and the SIP provider expect.

Everything goes through phonenumbers (Google's libphonenumber metadata): hand-written
rules for "what is a number" break on the first guest from another country.

Choices worth knowing:

- A number is refused only when it cannot be dialled (no digits, unknown country code,
  wrong length). A number outside the ranges the metadata knows, like the fictional
  "(555) 123-4567", is still accepted and flagged ``known_range=False``: metadata ages, and
  refusing a real new range would stop an agent from calling a guest.
- "00" is the international prefix in most of the world; agents in a region whose prefix
  differs (011 in North America) still type it, so "00 91 ..." falls back to "+91 ...".
- Emergency numbers are never refused: ``dial_string`` returns them as dialled ("911",
  "112"), because an agent's phone must reach them directly (Kari's Law for business
  phone systems in the US). They have no E.164 form, so ``normalize`` refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers as pn

from crmclient.errors import NumberError
from crmclient.models import CallerId

__all__ = [
    "CalleeInfo",
    "DialNumber",
    "callee_info",
    "check_region",
    "choose_caller_id",
    "dial_string",
    "local_time",
    "normalize",
    "parse",
    "pick_caller_id",
    "possibility_reason",
    "retry_with_plus",
    "same_calling_code",
]

#: Business hours at the callee, as (start inclusive, end exclusive) local time.
BUSINESS_HOURS: tuple[time, time] = (time(9, 0), time(18, 0))

_URI_SCHEMES = ("tel:", "callto:")
_SIP_SCHEMES = ("sip:", "sips:")
_MAX_INPUT = 100  # longer than any real number with formatting and an extension


@dataclass(frozen=True)
class DialNumber:
    """A number that can be dialled, in E.164, with what the parse learnt about it."""

    e164: str
    #: ISO 3166 region ("US", "IN"), or None for non-geographic ranges (+800, +882...).
    region: str | None
    country_code: int
    #: Digits to send as DTMF after the call connects ("ext. 12"), if the input had them.
    extension: str | None
    #: False when the metadata does not know the range (new, fictional or retired).
    known_range: bool
    #: How a local would write it, for display ("098765 43210").
    national: str
    #: "+91 98765 43210", for display.
    international: str


@dataclass(frozen=True)
class CalleeInfo:
    """What the dialer shows about who is being called: where, and what time it is there."""

    number: DialNumber
    #: English country name ("India"), or "" when not geographic.
    country: str
    #: Most precise place the metadata knows ("New Jersey", "Mumbai"), or "".
    location: str
    #: IANA time zones the number may be in; several for mobile or toll-free ranges.
    time_zones: tuple[str, ...]
    #: Local time there, or None when the zones disagree (unknown which one applies).
    local_time: datetime | None
    #: True/False when every possible zone agrees; None when unknown or mixed.
    within_business_hours: bool | None


def _strip_uri(raw: str) -> str:
    text = raw.strip()
    lowered = text.lower()
    if lowered.startswith(_SIP_SCHEMES):
        raise NumberError(raw, "this is a SIP address, not a phone number")
    for scheme in _URI_SCHEMES:
        if lowered.startswith(scheme):
            text = text[len(scheme) :]
            if scheme == "tel:":
                # phonenumbers reads RFC 3966 itself (phone-context, ext, isub).
                return "tel:" + text.lstrip("/")
            return text.lstrip("/")
    return text


def _parse_reason(exc: pn.NumberParseException) -> str:
    reasons = {
        pn.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        pn.NumberParseException.NOT_A_NUMBER: "not a phone number",
        pn.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
        pn.NumberParseException.TOO_SHORT_NSN: "too short",
        pn.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(exc.error_type, "not a phone number")


def possibility_reason(number: pn.PhoneNumber) -> str | None:
    result = pn.is_possible_number_with_reason(number)
    if result in (pn.ValidationResult.IS_POSSIBLE, pn.ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        if result == pn.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
            return "a local number: add the area code"
        return None
    reasons = {
        pn.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
        pn.ValidationResult.TOO_SHORT: "too short",
        pn.ValidationResult.TOO_LONG: "too long",
        pn.ValidationResult.INVALID_LENGTH: "wrong number of digits",
    }
    return reasons.get(result, "not a possible phone number")


def check_region(default_region: str) -> str:
    region = default_region.upper()
    if region not in pn.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {default_region!r}")
    return region


def _to_dial_number(number: pn.PhoneNumber) -> DialNumber:
    # Numbers outside known ranges have no region of their own: use the country code's
    # main region ("+1 555..." is still a North American number, dialled as such).
    country_code = number.country_code or 0
    region = pn.region_code_for_number(number) or pn.region_code_for_country_code(country_code)
    geographic = region and region not in (pn.REGION_CODE_FOR_NON_GEO_ENTITY, pn.UNKNOWN_REGION)
    return DialNumber(
        e164=str(pn.format_number(number, pn.PhoneNumberFormat.E164)),
        region=str(region) if geographic else None,
        country_code=country_code,
        extension=str(number.extension) if number.extension else None,
        known_range=bool(pn.is_valid_number(number)),
        national=str(pn.format_number(number, pn.PhoneNumberFormat.NATIONAL)),
        international=str(pn.format_number(number, pn.PhoneNumberFormat.INTERNATIONAL)),
    )


def parse(raw: str, default_region: str) -> DialNumber:
    """Read what an agent typed or clicked; raise ``NumberError`` with a reason if undialable.

    ``default_region`` is the account's region ("US", "IN"): numbers without a country
    code are read as that country's national numbers.
    """
    region = check_region(default_region)
    if not raw or not raw.strip():
        raise NumberError(raw, "empty")
    if len(raw) > _MAX_INPUT:
        raise NumberError(raw[:_MAX_INPUT] + "...", "too long")
    text = _strip_uri(raw)
    if not re.search(r"\d", text):
        raise NumberError(raw, "no digits")
    if pn.is_emergency_number(text, region):
        raise NumberError(raw, "an emergency number: dial it as is, it has no E.164 form")
    number: pn.PhoneNumber | None
    try:
        number = pn.parse(text, region, keep_raw_input=False)
    except pn.NumberParseException as exc:
        number = retry_with_plus(text, region)
        if number is None:
            raise NumberError(raw, _parse_reason(exc)) from None
    reason = possibility_reason(number)
    if reason is not None:
        retried = retry_with_plus(text, region)
        if retried is None:
            raise NumberError(raw, reason)
        number = retried
    return _to_dial_number(number)


def retry_with_plus(text: str, region: str) -> pn.PhoneNumber | None:
    """Read a leading "00" as "+" where the region's own international prefix differs."""
    digits_start = re.sub(r"^[\s().\-/]+", "", text)
    if not digits_start.startswith("00"):
        return None
    try:
        number = pn.parse("+" + digits_start[2:], region)
    except pn.NumberParseException:
        return None
    return number if possibility_reason(number) is None else None


def normalize(raw: str, default_region: str) -> str:
    """E.164 ("+919876543210") for lookups and the CRM; ``NumberError`` if undialable."""
    return parse(raw, default_region).e164


def dial_string(raw: str, default_region: str) -> str:
    """What to put in the SIP request URI: E.164, or an emergency number as dialled."""
    region = check_region(default_region)
    text = _strip_uri(raw) if raw else raw
    if text and pn.is_emergency_number(text, region):
        return re.sub(r"\D", "", text)
    return normalize(raw, region)


def choose_caller_id(destination: str, caller_ids: Sequence[str], default: str) -> str:
    """The caller-ID to present: one from the callee's country if assigned, else ``default``.

    A guest in India sees an Indian number (cheaper to call back, more likely answered).
    Within a shared country code (+1: US, Canada...), a number from the same region wins
    over one from another region of that code. ``destination`` and ``caller_ids`` are E.164.
    """
    try:
        dest = pn.parse(destination, None)
    except pn.NumberParseException:
        return default
    dest_region = pn.region_code_for_number(dest)
    same_code: list[str] = []
    for candidate in _parsed(caller_ids):
        number, text = candidate
        if number.country_code != dest.country_code:
            continue
        if pn.region_code_for_number(number) == dest_region:
            return text
        same_code.append(text)
    if default in same_code or not same_code:
        return default
    return same_code[0]


def pick_caller_id(destination: str, caller_ids: Sequence[CallerId]) -> CallerId | None:
    """The provisioned caller-ID for a call to ``destination`` (E.164).

    The one whose declared country is the callee's (a +91 call gets the India number),
    then one sharing the calling code (+1), else the default, else the first; None when
    the account has none.
    """
    if not caller_ids:
        return None
    try:
        parsed = pn.parse(destination, None)
    except pn.NumberParseException:
        parsed = None
    if parsed is not None:
        code = parsed.country_code or 0
        region = pn.region_code_for_number(parsed) or pn.region_code_for_country_code(code)
        for caller_id in caller_ids:
            if caller_id.country == region:
                return caller_id
        # Same calling code, other region (+1 Canada from a US number): still a local call.
        same_code = [c for c in caller_ids if pn.country_code_for_region(c.country) == code]
        if same_code:
            return next((c for c in same_code if c.is_default), same_code[0])
    return next((c for c in caller_ids if c.is_default), caller_ids[0])


def same_calling_code(region: str, country_code: int) -> bool:
    """Whether ``region``'s numbers share ``country_code`` (+1 for both US and Canada)."""
    return bool(pn.country_code_for_region(region) == country_code)


def _parsed(numbers: Iterable[str]) -> Iterable[tuple[pn.PhoneNumber, str]]:
    for text in numbers:
        try:
            yield pn.parse(text, None), text
        except pn.NumberParseException:
            continue


def callee_info(
    number: DialNumber,
    now: datetime | None = None,
    hours: tuple[time, time] = BUSINESS_HOURS,
    language: str = "en",
) -> CalleeInfo:
    """Where the callee is and whether it is a decent hour to call them.

    ``now`` must be timezone-aware (tests pin it); default is the current time.
    """
    # Imported here, not at module load: the place tables cost about 100 MB and 0.6 s of
    # CPU, which every importer (the app's start-up) would otherwise pay.
    from phonenumbers import geocoder

    parsed = pn.parse(number.e164, None)
    country = ""
    if number.region is not None:
        country = str(geocoder.country_name_for_number(parsed, language))
    location = str(geocoder.description_for_number(parsed, language))
    zones = _zones(parsed)
    there, within = _time_there(zones, now, hours)
    return CalleeInfo(
        number=number,
        country=country,
        location=location,
        time_zones=zones,
        local_time=there,
        within_business_hours=within,
    )


def local_time(
    e164: str, now: datetime | None = None, hours: tuple[time, time] = BUSINESS_HOURS
) -> tuple[datetime | None, bool | None]:
    """(the time at the callee, within business hours?), as in ``callee_info`` but from
    the time-zone table alone (cheap: the dialer asks on every keystroke, at start-up
    too). (None, None) for a number that does not parse."""
    try:
        parsed = pn.parse(e164, None)
    except pn.NumberParseException:
        return None, None
    return _time_there(_zones(parsed), now, hours)


def _zones(parsed: pn.PhoneNumber) -> tuple[str, ...]:
    from phonenumbers import timezone as pn_timezone  # small; loaded on first use

    return tuple(
        str(z) for z in pn_timezone.time_zones_for_number(parsed) if str(z) != "Etc/Unknown"
    )


def _time_there(
    zones: Iterable[str], now: datetime | None, hours: tuple[time, time]
) -> tuple[datetime | None, bool | None]:
    """The local time when every zone agrees on it, and the business-hours verdict when
    every zone agrees on that (a number spanning zones may still be clearly in hours)."""
    moment = datetime.now().astimezone() if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_times = _local_times(zones, moment)
    there: datetime | None = None
    if local_times and len({t.utcoffset() for t in local_times}) == 1:
        there = local_times[0]
    verdicts = {hours[0] <= t.time() < hours[1] for t in local_times}
    within = verdicts.pop() if len(verdicts) == 1 else None
    return there, within


def _local_times(zones: Iterable[str], moment: datetime) -> list[datetime]:
    times: list[datetime] = []
    for name in zones:
        try:
            times.append(moment.astimezone(ZoneInfo(name)))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return times
