"""Turning what an agent typed or clicked into a SIP URI, or refusing it with a reason.

Everything that becomes a Request-URI passes through `call_target` before PJSIP sees it: a
malformed URI reaching pjsua2 can trip an assertion and abort the engine, and a CR/LF in a
URI would let a CRM field inject SIP headers. Accepted forms:

- `sip:` / `sips:` URIs (`sip:alice@example.com:5070;transport=tcp`)
- `tel:+4930123` and dialable numbers (`+49 30 123-45`, `(030) 123`, `*21#`): digits,
  `+`, `*`, `#` and visual separators, placed at the account's domain
- `user@host[:port]` without scheme

Display-name forms (`"Alice" <sip:alice@example.com>`) are accepted too and reduced to
the URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from softphone.types import Transport

MAX_URI_LENGTH = 512

_USER_CHARS = r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]"
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?)"
_PARAMS = r"(?:;[A-Za-z0-9\-_.!~*'()%]+(?:=[A-Za-z0-9\-_.!~*'()%\[\]:/&+$]*)?)*"
_SIP_URI = re.compile(
    rf"^(?P<scheme>sips?):(?:(?P<user>{_USER_CHARS}+)(?::[^@\s]*)?@)?"
    rf"(?P<host>{_HOST})(?::(?P<port>\d{{1,5}}))?(?P<params>{_PARAMS})"
    r"(?:\?[A-Za-z0-9\-_.!~*'()%=&+$]*)?$"
)
_NUMBER_CHARS = re.compile(r"^[+]?[0-9*#][0-9*#\s\-.()/]*$")
_VISUAL_SEPARATORS = re.compile(r"[\s\-.()/]")
_NAME_ADDR = re.compile(
    r'^\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^<"]*?))\s*<(?P<uri>[^>]*)>'
)


class InvalidUri(ValueError):
    """The input cannot be dialled; the message says why, in words for the agent."""


@dataclass(frozen=True, slots=True)
class RemoteParty:
    uri: str
    display: str
    user: str


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidUri("the address must be text")
    text = text.strip()
    if not text:
        raise InvalidUri("the address is empty")
    if len(text) > MAX_URI_LENGTH:
        raise InvalidUri(f"the address is longer than {MAX_URI_LENGTH} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise InvalidUri("the address contains control characters")
    return text


def validate_sip_uri(uri: str) -> str:
    """Return `uri` if it is a well-formed sip:/sips: URI, else raise InvalidUri."""
    uri = _check_text(uri)
    match = _SIP_URI.match(uri)
    if match is None:
        raise InvalidUri(f"not a valid SIP address: {uri!r}")
    port = match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise InvalidUri(f"port out of range in {uri!r}")
    return uri


def call_target(text: str, domain: str, transport: Transport = Transport.UDP) -> str:
    """What to put in the INVITE's Request-URI for `text` dialled from an account.

    `domain` is where bare numbers and users go (the account's domain, or host:port of a
    direct peer). For TCP/TLS accounts a `;transport=` parameter is added when missing so
    PJSIP uses the account's transport.
    """
    text = _check_text(text)
    name_addr = _NAME_ADDR.match(text)
    if name_addr is not None:
        text = _check_text(name_addr.group("uri"))
    lowered = text.lower()
    if lowered.startswith(("sip:", "sips:")):
        uri = text
    elif lowered.startswith("tel:"):
        uri = f"sip:{_number(text[4:])}@{_domain(domain)};user=phone"
    elif "@" in text:
        uri = f"sip:{text}"
    elif _NUMBER_CHARS.match(text):
        uri = f"sip:{_number(text)}@{_domain(domain)}"
    elif re.fullmatch(_USER_CHARS + "+", text):
        uri = f"sip:{text}@{_domain(domain)}"
    else:
        raise InvalidUri(f"not a phone number or SIP address: {text!r}")
    return with_transport(validate_sip_uri(uri), transport)


def with_transport(uri: str, transport: Transport) -> str:
    """Add `;transport=tcp|tls` to a sip: URI that does not say which transport to use."""
    if transport is Transport.UDP or ";transport=" in uri.lower():
        return uri
    if uri.lower().startswith("sips:"):
        return uri
    head, sep, headers = uri.partition("?")
    return f"{head};transport={transport.value}{sep}{headers}"


def _number(text: str) -> str:
    digits = _VISUAL_SEPARATORS.sub("", text.strip())
    if not re.fullmatch(r"\+?[0-9*#]{1,32}", digits):
        raise InvalidUri(f"not a dialable number: {text!r}")
    return digits.replace("#", "%23")


def _domain(domain: str) -> str:
    domain = domain.strip()
    if not domain or not re.fullmatch(rf"{_HOST}(?::\d{{1,5}})?", domain):
        raise InvalidUri(f"the account has no usable domain to dial a number at: {domain!r}")
    return domain


def parse_remote(text: str) -> RemoteParty:
    """Split a From/To value ('"Alice" <sip:+4930@pbx>;tag=x') into URI, name and user."""
    display = ""
    uri = text.strip()
    name_addr = _NAME_ADDR.match(uri)
    if name_addr is not None:
        display = (name_addr.group("quoted") or name_addr.group("token") or "").strip()
        display = display.replace('\\"', '"')
        uri = name_addr.group("uri").strip()
    user = ""
    match = re.match(r"^(?:sips?|tel):(?:([^@;?]*)@)?([^;?]*)", uri, re.IGNORECASE)
    if match is not None:
        user = match.group(1) if match.group(1) is not None else ""
        if uri.lower().startswith("tel:"):
            user = match.group(2)
    return RemoteParty(uri=uri, display=display, user=user.replace("%23", "#"))
