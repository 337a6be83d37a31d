"""Choosing how to place a call: provider, caller-ID, and whether Call is allowed at all.

Pure functions over the provisioning, so the dialer can ask on every keystroke and the
rules can be tested without an engine or a CRM.
"""

from __future__ import annotations

import locale
from datetime import datetime

from app.links import LinkError, LinkTarget, parse_link
from app.session import phone
from app.session.errors import user_error
from app.session.model import (
    CallerIdOption,
    Destination,
    DisabledReason,
    ErrorKind,
    LineState,
    OutboundOptions,
    Presence,
    ProviderOption,
    Teammate,
)
from crmclient import numbers
from crmclient.errors import NumberError
from crmclient.models import CallerId, CallingAccount, Provisioning

FALLBACK_REGION = "US"


def default_region(setting: str, provisioning: Provisioning | None) -> str:
    """The region numbers without a country code belong to: the setting, else the
    agent's default caller-ID's country, else the system locale, else US."""
    if setting:
        return setting
    if provisioning is not None:
        picked = provisioning.default_caller_id()
        if picked is not None:
            return picked[1].country
        for _account, caller_id in provisioning.caller_ids():
            return caller_id.country
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    if "_" in loc:
        region = loc.split("_", 1)[1][:2].upper()
        if len(region) == 2 and region.isalpha():
            return region
    return FALLBACK_REGION


def describe(text: str, region: str, now: datetime | None = None) -> Destination:
    """What the dialer shows under the number: where it rings and their local time."""
    text = text.strip()
    if not text:
        return Destination(e164=None, display="", error="")
    try:
        target = parse_link(text)
    except LinkError as exc:
        return Destination(e164=None, display=text, error=exc.message)
    if target.sip_uri:
        return Destination(e164=None, display=target.sip_uri)
    try:
        parsed = numbers.parse(target.number, region)
    except NumberError as exc:
        if target.number.isdigit() and len(target.number) <= 6:
            return Destination(e164=None, display=target.number)  # an extension
        return Destination(e164=None, display=text, error=f"Not a number we can call: {exc.reason}")
    local, within = phone.local_time(parsed.e164, now)
    return Destination(
        e164=parsed.e164,
        display=parsed.international,
        country=phone.country_name(parsed.region) if parsed.region else "",
        region_code=parsed.region or "",
        place="",  # libphonenumber's 100 MB place tables: crmclient.numbers.callee_info
        local_time=local,
        outside_hours=within is False,
    )


def dial_target(text: str, region: str) -> tuple[LinkTarget, str]:
    """(parsed link, what to put in the request URI). Raises LinkError / NumberError."""
    target = parse_link(text)
    if target.sip_uri:
        return target, target.sip_uri
    if target.number.isdigit() and len(target.number) <= 6:
        try:
            return target, numbers.dial_string(target.number, region)
        except NumberError:
            return target, target.number  # an extension or short code: as dialled
    return target, numbers.dial_string(target.number, region)


def _country_match(e164: str | None, caller_ids: tuple[CallerId, ...]) -> bool:
    if e164 is None or not caller_ids:
        return True
    picked = numbers.pick_caller_id(e164, caller_ids)
    if picked is None:
        return False
    try:
        dest = numbers.parse(e164, FALLBACK_REGION)
    except NumberError:
        return True
    if picked.country == dest.region:
        return True
    return numbers.same_calling_code(picked.country, dest.country_code)


def options(
    text: str,
    provisioning: Provisioning | None,
    lines: dict[str, LineState],
    region: str,
    *,
    account_id: str | None = None,
    caller_id: str | None = None,
    now: datetime | None = None,
) -> OutboundOptions:
    """Everything the dialer needs for ``text``: see ``OutboundOptions``."""
    accounts: tuple[CallingAccount, ...] = ()
    teammates: tuple[Teammate, ...] = ()
    if provisioning is not None:
        accounts = tuple(
            a for a in provisioning.accounts if a.supports_softphone or a.supports_phone_mode
        )
        teammates = tuple(
            Teammate(t.user_id, t.name, t.extension or "", _presence(t.presence.value))
            for t in provisioning.teammates
            if t.extension
        )
    providers = tuple(
        ProviderOption(
            a.id,
            a.label,
            lines.get(a.id, LineState.REGISTERING),
            softphone=a.supports_softphone,
            phone=a.supports_phone_mode,
        )
        for a in accounts
    )
    destination = describe(text, region, now)
    if not accounts:
        return OutboundOptions(
            providers,
            (),
            teammates,
            destination=destination,
            disabled=DisabledReason.NOT_CONFIGURED,
        )
    account = _pick_account(accounts, destination.e164, account_id)
    caller_options = tuple(
        CallerIdOption(c.number, c.label or c.number, c.is_default, c.country)
        for c in account.caller_ids
    )
    disabled: DisabledReason | None = None
    error = None
    internal = destination.e164 is None and destination.display.isdigit()
    if not text.strip() or (destination.e164 is None and destination.error):
        disabled = DisabledReason.NO_NUMBER
    elif not account.caller_ids and not internal and not destination.display.startswith("sip"):
        disabled = DisabledReason.NO_CALLER_ID
    chosen: str | None = None
    if account.caller_ids:
        numbers_ = {c.number for c in account.caller_ids}
        if caller_id and caller_id in numbers_:
            chosen = caller_id
        else:
            picked = (
                numbers.pick_caller_id(destination.e164, account.caller_ids)
                if destination.e164
                else next((c for c in account.caller_ids if c.is_default), account.caller_ids[0])
            )
            chosen = picked.number if picked is not None else None
            if (
                disabled is None
                and destination.e164 is not None
                and not any(c.is_default for c in account.caller_ids)
                and not _country_match(destination.e164, account.caller_ids)
            ):
                error = user_error(ErrorKind.NO_CALLER_ID_FOR_COUNTRY, destination.country)
    return OutboundOptions(
        providers=providers,
        caller_ids=caller_options,
        teammates=teammates,
        account_id=account.id,
        caller_id=chosen,
        destination=destination,
        disabled=disabled,
        error=error,
    )


def _pick_account(
    accounts: tuple[CallingAccount, ...], e164: str | None, override: str | None
) -> CallingAccount:
    if override:
        for a in accounts:
            if a.id == override:
                return a
    softphone = [a for a in accounts if a.supports_softphone] or list(accounts)
    if e164:
        try:
            region = numbers.parse(e164, FALLBACK_REGION).region
        except NumberError:
            region = None
        for a in softphone:
            if any(c.country == region for c in a.caller_ids):
                return a
    for a in softphone:
        if any(c.is_default for c in a.caller_ids):
            return a
    return softphone[0]


def _presence(value: str) -> Presence:
    try:
        return Presence(value)
    except ValueError:
        return Presence.BUSY  # offline teammates cannot take a call either
