"""Phone links (``tel:``, ``sip:``, ``sips:``, ``callto:``) turned into something to dial.

A link comes from a browser, a mail client or another app, so it is untrusted text: every
way it can be wrong ends in ``LinkError`` with a sentence the agent understands, and
nothing here ever guesses. Letters in a number, two plus signs, a stray ``%`` or a digit
count no phone number has are refused rather than "fixed" into somebody else's number.

Accepted shapes (scheme case-insensitive, ``//`` optional, percent-encoding decoded once)::

    tel:+1-555-123-4567        tel:+1 (555) 123.4567;ext=12     tel:555-0100;phone-context=+1
    sip:+15551234567@pbx.example.com;user=phone     sip:alice@example.com
    callto://+15551234567      callto:+1%20555%20123%204567     +1 555 123 4567

Numbers keep their own form here (``+`` and digits, or national digits); the session
normalises them to E.164 for the destination with ``crmclient.numbers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["SCHEMES", "LinkError", "LinkTarget", "looks_like_link", "parse_link"]

SCHEMES = ("tel", "sip", "sips", "callto")

# What people and web pages put between digits; never meaningful for the number itself.
_SEPARATORS = re.compile(r"[\s\-.()/\u00a0\u2010-\u2015\u2212\u200b\u2009\u202f]")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?P<rest>.*)$", re.DOTALL)
_SIP_USER = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+$")
_SIP_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(:\d{1,5})?$")
_DTMF = re.compile(r"^[0-9*#]+$")

MAX_DIGITS = 15  # E.164
MIN_DIGITS = 2  # short codes and extensions ("12") are real; one digit never is
MAX_LINK = 2048


class LinkError(ValueError):
    """The link is not something we can dial; ``str(error)`` is the message for the agent."""

    def __init__(self, message: str, link: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.link = link


@dataclass(frozen=True)
class LinkTarget:
    """What a link asks us to call.

    ``number`` is ``+`` and digits (international) or digits (national, short code,
    extension). ``sip_uri`` is set instead for SIP addresses with a name user part
    (``sip:alice@example.com``), which are dialled as they are.
    """

    number: str = ""
    sip_uri: str = ""
    extension: str = ""  # digits to send as DTMF once connected (";ext=" / ";postd=")
    phone_context: str = ""  # tel: local numbers: the "+CC" or domain they belong to
    scheme: str = ""

    @property
    def dial_string(self) -> str:
        return self.sip_uri or self.number


def looks_like_link(text: str) -> bool:
    """True for argv items the CLI should treat as a phone link rather than a command."""
    m = _SCHEME.match(text.strip())
    return bool(m and m.group("scheme").lower() in SCHEMES)


def parse_link(text: str) -> LinkTarget:
    """Parse a phone link or a bare number; raise ``LinkError`` with a clear message."""
    if not isinstance(text, str):
        raise LinkError("That link is not text.")
    raw = text.strip()
    if not raw:
        raise LinkError("The link is empty: there is no number to call.", text)
    if len(raw) > MAX_LINK:
        raise LinkError("That link is too long to be a phone number.", raw[:80])
    m = _SCHEME.match(raw)
    if m is None:
        return _parse_number(_decode(raw, raw), raw, scheme="")
    scheme = m.group("scheme").lower()
    if scheme not in SCHEMES:
        raise LinkError(f"“{scheme}:” links are not phone links. Use tel:, sip: or callto:.", raw)
    rest = m.group("rest")
    if rest.startswith("//"):
        rest = rest[2:]
    rest = rest.rstrip("/")
    if scheme == "tel":
        return _parse_tel(rest, raw)
    if scheme == "callto":
        return _parse_callto(rest, raw)
    return _parse_sip(rest, raw, scheme)


def _decode(part: str, raw: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", part):
        raise LinkError("The link has a broken %-escape, so the number cannot be read.", raw)
    try:
        decoded = unquote(part, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise LinkError("The link's %-escapes are not valid text.", raw) from exc
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in decoded):
        raise LinkError("The link contains control characters; it was not dialled.", raw)
    return decoded


def _split_params(text: str) -> tuple[str, dict[str, str]]:
    body, *params = text.split(";")
    found: dict[str, str] = {}
    for param in params:
        key, _, value = param.partition("=")
        if key.strip():
            found[key.strip().lower()] = value.strip()
    return body, found


def _parse_tel(rest: str, raw: str) -> LinkTarget:
    rest = rest.split("?", 1)[0]  # tel: has no headers; some pages append ?call etc.
    body, params = _split_params(_decode(rest, raw))
    target = _parse_number(body, raw, scheme="tel")
    extension = params.get("ext", "") or params.get("postd", "")
    extension = _SEPARATORS.sub("", extension)
    if extension and not _DTMF.match(extension):
        raise LinkError("The extension in the link has characters a keypad cannot send.", raw)
    context = params.get("phone-context", "")
    number = target.number
    if context and not number.startswith("+"):
        number = _globalise(number, _SEPARATORS.sub("", context), raw)
    return LinkTarget(number=number, extension=extension, phone_context=context, scheme="tel")


def _parse_callto(rest: str, raw: str) -> LinkTarget:
    body = _decode(rest.split("?", 1)[0], raw).split(";", 1)[0]
    if "@" in body:
        return _parse_sip(rest, raw, "callto")
    target = _parse_number(body, raw, scheme="callto")
    return LinkTarget(number=target.number, scheme="callto")


def _parse_sip(rest: str, raw: str, scheme: str) -> LinkTarget:
    rest = rest.split("?", 1)[0]  # SIP URI headers (?subject=...) are not ours to send
    if "@" not in rest:
        # "sip:+15551234567" without a host: a number for our own provider.
        body, _params = _split_params(_decode(rest, raw))
        target = _parse_number(body, raw, scheme=scheme)
        return LinkTarget(number=target.number, scheme=scheme)
    user_enc, _, hostpart = rest.rpartition("@")
    host, params = _split_params(_decode(hostpart, raw))
    user_raw = user_enc.split(":", 1)[0]  # drop a password, never keep it
    user = _decode(user_raw, raw)
    host = host.strip()
    if not _SIP_HOST.match(host):
        raise LinkError("The SIP address has no valid host after “@”.", raw)
    if not user:
        raise LinkError("The SIP address has no user or number before “@”.", raw)
    user_body, _uparams = _split_params(user)
    stripped = _SEPARATORS.sub("", user_body)
    is_phone = params.get("user") == "phone" or re.fullmatch(r"\+?\d+", stripped) is not None
    if is_phone:
        target = _parse_number(user_body, raw, scheme=scheme)
        return LinkTarget(number=target.number, scheme=scheme)
    if not _SIP_USER.match(user_body):
        raise LinkError("The SIP address has characters that are not allowed.", raw)
    sip_scheme = "sips" if scheme == "sips" else "sip"
    return LinkTarget(sip_uri=f"{sip_scheme}:{user_body}@{host}", scheme=scheme)


def _parse_number(text: str, raw: str, scheme: str) -> LinkTarget:
    stripped = _SEPARATORS.sub("", text)
    if not stripped:
        raise LinkError("The link has no number in it.", raw)
    if re.search(r"[A-Za-z]", stripped):
        raise LinkError(
            "The number contains letters. Type it with digits only; letters are never "
            "turned into digits, so no wrong number gets called.",
            raw,
        )
    if stripped.count("+") > 1 or ("+" in stripped and not stripped.startswith("+")):
        raise LinkError("The number has a “+” in the wrong place.", raw)
    if not re.fullmatch(r"\+?[0-9]+", stripped):
        bad = sorted({ch for ch in stripped if ch not in "+0123456789"})
        if all(ch.isdigit() for ch in bad):
            raise LinkError("The number uses digits from another script; type it with 0-9.", raw)
        shown = " ".join(bad[:5])
        raise LinkError(f"The number contains characters a phone cannot dial: {shown}", raw)
    _check_digits(stripped, raw)
    return LinkTarget(number=stripped, scheme=scheme)


def _globalise(national: str, context: str, raw: str) -> str:
    """A tel: local number with ``phone-context=+CC``: the international form, by the
    numbering plan of that country (so a trunk "0" is dropped only where the plan says)."""
    if not re.fullmatch(r"\+\d{1,3}", context):
        return national  # a domain context (a PBX extension): dial as it is
    import phonenumbers

    region = phonenumbers.region_code_for_country_code(int(context[1:]))
    if region in ("ZZ", "001"):
        raise LinkError(f"The link's country code {context} does not exist.", raw)
    try:
        parsed = phonenumbers.parse(national, region)
    except phonenumbers.NumberParseException as exc:
        raise LinkError("The number in the link cannot be read for its country.", raw) from exc
    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    _check_digits(number, raw)
    return str(number)


def _check_digits(number: str, raw: str) -> None:
    digits = len(number.lstrip("+"))
    if digits < MIN_DIGITS:
        raise LinkError("The number is too short to call.", raw)
    if digits > MAX_DIGITS:
        raise LinkError(
            f"The number has {digits} digits; phone numbers have at most {MAX_DIGITS}.", raw
        )
