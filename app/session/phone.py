"""Phone-number handling for the app, on libphonenumber's core only.

The parsing rules (region check, refusal reasons, "00" read as "+") come from
``crmclient.numbers`` so the CRM and the app agree; this module adds the app's view of a
number (``Parsed``), country names from Qt's locale, and local time from the core
timezone tables, never loading the 135 MB place-name tables (``callee_info`` does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers as pn
from phonenumbers import timezone as pn_timezone

from crmclient.errors import NumberError
from crmclient.models import CallerId
from crmclient.numbers import check_region, possibility_reason, retry_with_plus

BUSINESS_HOURS = (time(9, 0), time(18, 0))

#: region code -> country name; the Qt app passes QLocale's names, tests a dict.
CountryNames = Callable[[str], str]


@dataclass(frozen=True)
class Parsed:
    e164: str
    region: str | None
    country_code: int
    extension: str | None
    known_range: bool
    international: str


def parse(raw: str, default_region: str) -> Parsed:
    region = check_region(default_region)
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = "tel:" + text[4:].lstrip("/")
    if not text or not re.search(r"\d", text):
        raise NumberError(raw, "no digits")
    if len(text) > 100:
        raise NumberError(raw[:100] + "...", "too long")
    if pn.is_emergency_number(text, region):
        raise NumberError(raw, "an emergency number: dial it as is, it has no E.164 form")
    try:
        number = pn.parse(text, region)
    except pn.NumberParseException:
        retried = retry_with_plus(text, region)
        if retried is None:
            raise NumberError(raw, "not a phone number") from None
        number = retried
    reason = possibility_reason(number)
    if reason is not None:
        retried = retry_with_plus(text, region)
        if retried is None:
            raise NumberError(raw, reason)
        number = retried
    code = number.country_code or 0
    own = pn.region_code_for_number(number) or pn.region_code_for_country_code(code)
    geographic = own and own not in (pn.REGION_CODE_FOR_NON_GEO_ENTITY, pn.UNKNOWN_REGION)
    return Parsed(
        e164=str(pn.format_number(number, pn.PhoneNumberFormat.E164)),
        region=str(own) if geographic else None,
        country_code=code,
        extension=str(number.extension) if number.extension else None,
        known_range=bool(pn.is_valid_number(number)),
        international=str(pn.format_number(number, pn.PhoneNumberFormat.INTERNATIONAL)),
    )


def normalize(raw: str, default_region: str) -> str:
    return parse(raw, default_region).e164


def dial_string(raw: str, default_region: str) -> str:
    region = check_region(default_region)
    if raw and pn.is_emergency_number(raw.strip(), region):
        return re.sub(r"\D", "", raw)
    return normalize(raw, region)


def pick_caller_id(destination: str, caller_ids: Sequence[CallerId]) -> CallerId | None:
    """Same rule as ``crmclient.numbers.pick_caller_id``: the callee's country, then the
    same calling code, then the default, then the first."""
    if not caller_ids:
        return None
    try:
        parsed: pn.PhoneNumber | None = pn.parse(destination, None)
    except pn.NumberParseException:
        parsed = None
    if parsed is not None:
        code = parsed.country_code or 0
        region = pn.region_code_for_number(parsed) or pn.region_code_for_country_code(code)
        for caller_id in caller_ids:
            if caller_id.country == region:
                return caller_id
        same = [c for c in caller_ids if pn.country_code_for_region(c.country) == code]
        if same:
            return next((c for c in same if c.is_default), same[0])
    return next((c for c in caller_ids if c.is_default), caller_ids[0])


def same_calling_code(region: str, country_code: int) -> bool:
    return bool(pn.country_code_for_region(region) == country_code)


def local_time(e164: str, now: datetime | None = None) -> tuple[str, bool | None]:
    """("14:05", within business hours?) at the callee; ("", None) when the zones differ."""
    moment = datetime.now().astimezone() if now is None else now
    try:
        number = pn.parse(e164, None)
    except pn.NumberParseException:
        return "", None
    times = []
    for name in pn_timezone.time_zones_for_number(number):
        if name == "Etc/Unknown":
            continue
        try:
            times.append(moment.astimezone(ZoneInfo(name)))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    if not times or len({t.utcoffset() for t in times}) != 1:
        return "", None
    verdicts = {BUSINESS_HOURS[0] <= t.time() < BUSINESS_HOURS[1] for t in times}
    return times[0].strftime("%H:%M"), verdicts.pop() if len(verdicts) == 1 else None


_NAMES: dict[str, str] = {}


def country_name(region: str) -> str:
    """The country's name through the installed namer (default: the region code)."""
    return _NAMES.get(region, region)


def set_country_names(names: CountryNames) -> None:
    """Install a namer (the app uses QLocale's country names); cached per region."""
    _NAMES.clear()
    for region in pn.SUPPORTED_REGIONS:
        try:
            _NAMES[region] = names(region) or region
        except Exception:
            _NAMES[region] = region
