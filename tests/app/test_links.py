"""Phone links: every accepted shape gives the right number; every bad one a clear refusal."""

from __future__ import annotations

import pytest

from app.cli import CommandKind, UsageError, parse_args
from app.links import LinkError, parse_link


@pytest.mark.parametrize(
    ("link", "number", "extension"),
    [
        ("tel:+15551234567", "+15551234567", ""),
        ("tel://+15551234567", "+15551234567", ""),
        ("TEL:+1-555-123-4567", "+15551234567", ""),
        ("tel:+1 (555) 123.4567", "+15551234567", ""),
        ("tel:+1%20555%20123%204567", "+15551234567", ""),
        ("tel:%2B15551234567", "+15551234567", ""),
        ("tel:+1-555-123-4567;ext=89", "+15551234567", "89"),
        ("tel:+1-555-123-4567;postd=1#", "+15551234567", "1#"),
        ("tel:020 7946 0958;phone-context=+44", "+442079460958", ""),
        ("tel:06 1234 5678;phone-context=+39", "+390612345678", ""),
        ("tel:7042;phone-context=example.com", "7042", ""),
        ("callto:+15551234567", "+15551234567", ""),
        ("callto://+15551234567", "+15551234567", ""),
        ("sip:+15551234567@pbx.example.com;user=phone", "+15551234567", ""),
        ("sip:+15551234567@pbx.example.com", "+15551234567", ""),
        ("sips:4930123456@pbx.example.com:5061", "4930123456", ""),
        ("sip:+15551234567", "+15551234567", ""),
        ("+1 555 123 4567", "+15551234567", ""),
        ("  tel:+15551234567\n", "+15551234567", ""),
        ("tel:+1\u2011555\u2013123\u00a04567", "+15551234567", ""),  # typographic dashes
    ],
)
def test_accepted_links_give_the_number(link, number, extension):
    target = parse_link(link)
    assert target.number == number
    assert target.extension == extension
    assert target.sip_uri == ""


def test_sip_address_with_a_name_is_dialled_as_is_without_password():
    target = parse_link("sip:alice:secret@example.com;transport=tcp?subject=hi")
    assert target.sip_uri == "sip:alice@example.com"
    assert "secret" not in repr(target)


@pytest.mark.parametrize(
    ("link", "words"),
    [
        ("", "empty"),
        ("tel:", "no number"),
        ("tel:1-800-FLOWERS", "letters"),
        ("tel:+1+5551234567", "wrong place"),
        ("tel:555+1234", "wrong place"),
        ("tel:%zz15551234567", "%-escape"),
        ("tel:%FF%FE", "not valid text"),
        ("tel:+1555%0A1234", "control characters"),
        ("tel:5", "too short"),
        ("tel:+1234567890123456", "at most 15"),
        ("mailto:someone@example.com", "not phone links"),
        ("javascript:alert(1)", "not phone links"),
        ("tel:+1555;ext=12a", "keypad"),
        ("tel:\u0661\u0662\u0663\u0664", "another script"),
        ("sip:@example.com", "no user"),
        ("sip:alice@exa mple.com", "no valid host"),
        ("tel:020 7946;phone-context=+999", "does not exist"),
        ("tel:" + "1" * 3000, "too long"),
    ],
)
def test_malformed_links_are_refused_with_a_reason(link, words):
    with pytest.raises(LinkError) as info:
        parse_link(link)
    assert words in info.value.message


def test_cli_parses_commands_and_links():
    assert parse_args([]).kind is CommandKind.OPEN
    assert parse_args(["--minimized"]).minimized
    cmd = parse_args(["tel:+15551234567"])
    assert cmd.kind is CommandKind.LINK and cmd.target.number == "+15551234567"
    cmd = parse_args(["dial", "+44 20 7946 0958", "--now"])
    assert cmd.kind is CommandKind.DIAL and cmd.dial_now and cmd.target.number == "+442079460958"
    assert parse_args(["status", "--json"]).as_json
    assert parse_args(["answer"]).kind is CommandKind.ANSWER
    assert parse_args(["hangup"]).kind is CommandKind.HANGUP
    bad = parse_args(["tel:abc"])
    assert bad.target is None and "letters" in bad.link_error
    with pytest.raises(UsageError, match="invalid choice"):
        parse_args(["frobnicate"])
    with pytest.raises(UsageError, match="number"):
        parse_args(["dial"])
