"""Keep secrets out of logs, whatever code logged them and however it formatted them.

A log line can carry a secret in its format string, in its arguments (a dict of headers, a
request body, an exception), or in a traceback. The filter formats the record itself,
masks the result, and replaces message and arguments with the masked text, so no handler
downstream (file, console, crash report) ever sees the original.

Two complementary nets:

- Patterns: values next to names that mean "secret" (``password=``, ``"token": ...``,
  ``Authorization: Bearer ...``, a digest ``response="..."``, ``sip:user:pass@``,
  ``https://user:pass@``, JWT-shaped strings). This catches secrets nobody registered.
- Known values: ``Redactor.add_secret(value)`` masks that exact string wherever it turns up
  (the current CRM token, a SIP password), even in an odd format no pattern foresaw.

Install it on handlers, not loggers: a logger's filters do not see records that propagate
up from child loggers, a handler's do.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Final

__all__ = ["MASK", "RedactingFilter", "Redactor", "install", "redact"]

MASK: Final = "***"

# Names whose value is a secret. Matched case-insensitively as whole words, with _ or -
# between parts ("sip_secret", "refresh-token", "X-Api-Key").
_SECRET_NAMES: Final = (
    r"(?:[a-z0-9]+[_-])*"
    r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|"
    r"authorization|auth[_-]?token|cookie|set[_-]cookie|session[_-]?id|private[_-]?key|"
    r"credentials?|ha1)"
)

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # HTTP header lines: "Authorization: Bearer abc". The scheme stays readable, the rest
    # goes. Digest (SIP) keeps its parameters: only the response (below) proves anything,
    # and username/realm/nonce are what one debugs a failed registration with.
    (
        re.compile(
            r"(?im)^(\s*(?:proxy-)?authorization\s*:(?![ \t]*digest\b)[ \t]*)"
            r"(?:(bearer|basic|token)[ \t]+)?[^\r\n]*"
        ),
        r"\1\2 " + MASK,
    ),
    # A scheme and its credentials anywhere: "Bearer abc", "Basic dXNl...".
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK),
    # Digest parameters that prove the password: response="...", also unquoted.
    (re.compile(r'(?i)\b((?:response|cnonce)\s*=\s*)"[^"]*"'), r'\1"' + MASK + '"'),
    (re.compile(r"(?i)\b((?:response|cnonce)\s*=\s*)[0-9a-f]{8,}"), r"\1" + MASK),
    # Quoted name/value pairs (JSON, Python reprs of dicts, header tuples):
    # "password": "x"  'token': 'x'  ('authorization', 'Bearer x')  b'cookie': b'x'
    (
        re.compile(
            r"""(?i)(b?(["'])""" + _SECRET_NAMES + r"""\2\s*[:,]\s*b?)(["'])(?:\\.|(?!\3).)*\3"""
        ),
        r"\1\3" + MASK + r"\3",
    ),
    # Unquoted JSON-ish values after a quoted name: "token": 12345abc
    (
        re.compile(r"""(?i)((["'])""" + _SECRET_NAMES + r"""\2\s*:\s*)([^\s,}\]"'][^\s,}\]]*)"""),
        r"\1" + MASK,
    ),
    # Quoted values after a bare name: password='x' (kwargs, reprs), token: "x".
    (
        re.compile(r"""(?i)\b(""" + _SECRET_NAMES + r"""\s*[=:]\s*)(["'])(?:\\.|(?!\2).)*\2"""),
        r"\1\2" + MASK + r"\2",
    ),
    # name=value (query strings, forms, config dumps) and name: value in prose.
    (
        re.compile(
            r"""(?i)\b(""" + _SECRET_NAMES + r""")(\s*[=:]\s*)"""
            r"""(?!\*\*\*|(?:bearer|basic|digest)\b)([^\s&,;"'<>)\]}]+)"""
        ),
        r"\1\2" + MASK,
    ),
    # Userinfo passwords in URIs: sip:alice:pw@host, https://u:pw@host.
    (
        re.compile(r"(?i)\b((?:sips?|https?|wss?):(?://)?[^\s:@/]+:)[^\s@/]+@"),
        r"\1" + MASK + "@",
    ),
    # JWT-shaped tokens wherever they appear.
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
        MASK,
    ),
)

_MIN_KNOWN_SECRET = 4  # shorter values would mask ordinary words and digits


class Redactor:
    """Masks secrets in text: by pattern, and every registered secret value verbatim."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._known: frozenset[str] = frozenset()
        self._known_re: re.Pattern[str] | None = None
        for value in secrets:
            self.add_secret(value)

    def add_secret(self, value: str) -> None:
        """Mask this exact value from now on (a token just received, a SIP password)."""
        if len(value) < _MIN_KNOWN_SECRET:
            return
        with self._lock:
            self._known = self._known | {value}
            self._compile()

    def discard_secret(self, value: str) -> None:
        with self._lock:
            self._known = self._known - {value}
            self._compile()

    def _compile(self) -> None:
        if not self._known:
            self._known_re = None
            return
        # Longest first so a secret containing another is masked whole.
        alternatives = sorted(self._known, key=len, reverse=True)
        self._known_re = re.compile("|".join(re.escape(v) for v in alternatives))

    def __call__(self, text: str) -> str:
        known = self._known_re
        if known is not None:
            text = known.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


_DEFAULT = Redactor()


def redact(text: str) -> str:
    """Mask secrets in ``text`` with the process-wide redactor."""
    return _DEFAULT(text)


def add_secret(value: str) -> None:
    """Register a secret value with the process-wide redactor."""
    _DEFAULT.add_secret(value)


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message, its arguments and tracebacks.

    The record is formatted here and its ``args`` dropped: arguments are where secrets hide
    (a headers dict, a request object), and formatting later would undo the masking.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or _DEFAULT

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record (or leak args)
            message = f"{record.msg!s} (unformattable log arguments dropped)"
        record.msg = self.redactor(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True


def install(
    handlers: Iterable[logging.Handler] | None = None, redactor: Redactor | None = None
) -> RedactingFilter:
    """Add one redacting filter to ``handlers`` (default: the root logger's handlers)."""
    flt = RedactingFilter(redactor)
    targets = list(logging.getLogger().handlers if handlers is None else handlers)
    for handler in targets:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
