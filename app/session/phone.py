"""What the app adds to phone numbers: country names in the agent's language, and the
callee's local time as the dialer shows it.

Every rule about what a number is (parsing, refusal reasons, "00" read as "+", emergency
numbers, the caller-ID for a destination) lives in ``crmclient.numbers``, so the CRM and the
app can never disagree; the session and the dialer call it directly. This module stays light
for start-up: country names come from Qt's locale (installed by the app), the local time from
libphonenumber's time-zone table, never the 100 MB place-name tables that
``crmclient.numbers.callee_info`` loads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import phonenumbers as pn

from crmclient import numbers

#: region code -> country name; the Qt app passes QLocale's names, tests a dict.
CountryNames = Callable[[str], str]


def local_time(e164: str, now: datetime | None = None) -> tuple[str, bool | None]:
    """("14:05", within business hours?) at the callee; ("", None) when the zones differ."""
    if now is not None and now.tzinfo is None:
        now = now.astimezone()  # a naive time is the machine's local time
    there, within = numbers.local_time(e164, now)
    if there is None:
        return "", None
    return there.strftime("%H:%M"), within


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
