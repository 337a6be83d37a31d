"""Turning whatever an agent pastes into something dialable, without guessing the country.

People paste numbers from e-mail signatures, booking sites and spreadsheets: with spaces,
dashes, dots, brackets, "(0)" trunk prefixes, tel: links, full-width or Arabic-Indic
digits and invisible direction marks. We keep the digits (and a leading +, * and #) and
leave country and formatting to the session, which knows the agent's region.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\ufeff"), None
)
_SCHEME = re.compile(r"^\s*(tel|callto|sip|sips)\s*:\s*(//)?", re.IGNORECASE)
_PHONEISH = re.compile(r"\+?[\d(][\d\s().\-/\u2010-\u2015\u00a0]{4,}\d")
_TRUNK_ZERO = re.compile(r"^(\+\d{1,3})\s*\(0\)")


def _ascii_digits(text: str) -> str:
    out = []
    for ch in text:
        if ch.isdigit() and not ch.isascii():
            out.append(str(unicodedata.digit(ch, 0)))
        elif ch == "\uff0b":  # full-width plus
            out.append("+")
        else:
            out.append(ch)
    return "".join(out)


def looks_like_name(text: str) -> bool:
    """Letters and no digits: the agent is searching contacts, not typing a number."""
    stripped = text.strip()
    return (
        bool(stripped)
        and not any(ch.isdigit() for ch in stripped)
        and any(ch.isalpha() for ch in stripped)
    )


def clean_number(text: str) -> str:
    """Dialable characters of pasted text; text that is not a number comes back unchanged.

    >>> clean_number("+1 (555) 123-4567")
    '+15551234567'
    >>> clean_number("tel:%2B44%20(0)20%207946%200958")
    '+442079460958'
    """
    raw = _ascii_digits(text.translate(_INVISIBLE))
    raw = unicodedata.normalize("NFKC", raw)
    scheme = _SCHEME.match(raw)
    if scheme:
        raw = unquote(raw[scheme.end() :])
        raw = raw.split(";", 1)[0].split("?", 1)[0]
        if "@" in raw:
            user = raw.split("@", 1)[0]
            if not re.fullmatch(r"[+\d\s().\-]+", user):
                return raw.strip()  # a SIP address with a name part: dial it as it is
            raw = user
    if looks_like_name(raw):
        return text.strip()
    match = _PHONEISH.search(raw)
    candidate = match.group(0) if match else raw
    candidate = _TRUNK_ZERO.sub(r"\1", candidate.strip())
    plus = candidate.lstrip().startswith("+")
    kept = "".join(ch for ch in candidate if ch.isdigit() or ch in "*#")
    if not kept:
        return text.strip()
    return ("+" if plus else "") + kept
