"""Secrets never reach log output: checked on what real handlers actually write."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from crmclient.redact import MASK, RedactingFilter, Redactor, install, redact
from crmclient.secrets import Secret

TOKEN = "tok_9f8e7d6c5b4a3921"
PASSWORD = "Hunter2-correct-horse"
SIP_SECRET = "s1p-s3cr3t-value"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0"
DIGEST_RESPONSE = "6629fae49393a05397450978507c4ef1"

SIP_REGISTER = (
    "REGISTER sip:pbx.example SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK776\r\n"
    'Authorization: Digest username="alice", realm="pbx.example", nonce="dcd98b71", '
    f'uri="sip:pbx.example", response="{DIGEST_RESPONSE}", algorithm=MD5\r\n'
    "Content-Length: 0\r\n\r\n"
)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through a real formatter to a buffer, redaction installed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    install([handler], Redactor([SIP_SECRET]))
    # A child logger: its records reach the handler by propagation, past logger filters.
    parent = logging.getLogger("lodgephone-test")
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    try:
        yield logging.getLogger("lodgephone-test.crm.http"), stream
    finally:
        parent.removeHandler(handler)


def test_secrets_in_messages_and_args_are_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    log.info("request headers %s", {"Authorization": f"Bearer {TOKEN}", "Accept": "json"})
    log.info("sign in body %r", {"email": "a@example.com", "password": PASSWORD})
    log.debug("POST /v1/session?api_token=%s&x=1", TOKEN)
    log.info("raw header tuples %s", [(b"authorization", f"Bearer {TOKEN}".encode())])
    log.info("sent:\n%s", SIP_REGISTER)
    log.warning("registering with sip:alice:%s@pbx.example", SIP_SECRET)
    log.info("account %(id)s secret %(secret)s", {"id": "acc1", "secret": SIP_SECRET})
    log.info("jwt %s", JWT)
    log.info("kwargs %s", f"connect(user='alice', password='{PASSWORD}')")
    log.info("configured %s", Secret(TOKEN))
    log.info("Authorization: Bearer " + TOKEN)
    out = stream.getvalue()
    for secret in (TOKEN, PASSWORD, SIP_SECRET, JWT, DIGEST_RESPONSE):
        assert secret not in out
    # What is not secret stays readable for whoever debugs from the log.
    assert "a@example.com" in out
    assert 'username="alice"' in out
    assert "Authorization: Bearer " + MASK in out
    assert "Via: SIP/2.0/UDP 127.0.0.1:5060" in out
    assert "account acc1 secret" in out
    assert out.count("\n") >= 11


def test_tracebacks_are_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = captured
    try:
        raise RuntimeError(f"login failed for password={PASSWORD} token: {TOKEN}")
    except RuntimeError:
        log.exception("sign-in crashed")
    out = stream.getvalue()
    assert "RuntimeError: login failed for password=" + MASK in out
    assert "Traceback (most recent call last)" in out
    assert PASSWORD not in out
    assert TOKEN not in out


def test_broken_format_string_still_logs_without_args(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    log.info("token %s %s", TOKEN)  # noqa: PLE1206 (one argument short on purpose)
    out = stream.getvalue()
    assert "unformattable" in out
    assert TOKEN not in out


def test_registered_secret_is_masked_in_any_format() -> None:
    redactor = Redactor()
    redactor.add_secret("opaque-value-42")
    assert redactor("weird <<opaque-value-42>>") == f"weird <<{MASK}>>"
    redactor.discard_secret("opaque-value-42")
    assert "opaque-value-42" in redactor("weird <<opaque-value-42>>")


def test_ordinary_words_survive() -> None:
    text = "The token expired, sign in again. Password for alice is wrong."
    assert redact(text) == text


def test_install_on_root_handlers_is_idempotent() -> None:
    handler = logging.StreamHandler(io.StringIO())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install()
        install()
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        root.removeHandler(handler)
