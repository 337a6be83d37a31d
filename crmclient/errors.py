"""Every way talking to the CRM can fail, as one tree the app can catch by meaning.

The app decides what to show; the client only says what went wrong. Catch ``CrmError`` to
handle everything, or a branch to react differently (retry later on ``TransportError``,
sign in again on ``AuthError``, report a bug on ``ProtocolError``)::

    CrmError
    ├── TransportError            network down, refused, TLS failure, connection dropped
    │   └── RequestTimeout        no (complete) answer in time
    ├── ProtocolError             the reply is not what the contract says (bad JSON,
    │   │                         wrong types, missing fields, unexpected status)
    │   └── ResponseTooLarge      the body went past the client's size limit
    ├── ApiError                  the CRM answered with its JSON error shape
    │   ├── AuthError             401: no, expired or revoked session
    │   ├── PermissionDenied      403: signed in, but the role does not allow it
    │   ├── NotFound              404
    │   ├── Conflict              409: e.g. an invalid call status transition
    │   ├── ValidationError       400 / 422: the request was refused as malformed
    │   ├── RateLimited           429: try again after ``retry_after`` seconds
    │   └── ServerError           5xx
    ├── NumberError               the input is not a dialable phone number (``reason``)
    ├── InsecureUrlError          a CRM URL that would send secrets in the clear
    └── SecretStoreError          no usable OS keyring, or the keyring refused

Messages never contain secrets: they are shown to users and written to logs.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ApiError",
    "AuthError",
    "Conflict",
    "CrmError",
    "InsecureUrlError",
    "NotFound",
    "NumberError",
    "PermissionDenied",
    "ProtocolError",
    "RateLimited",
    "RequestTimeout",
    "ResponseTooLarge",
    "SecretStoreError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "api_error",
]


class CrmError(Exception):
    """Root of everything the CRM client raises on purpose."""


class TransportError(CrmError):
    """The request may not have reached the CRM, or its answer never came back."""


class RequestTimeout(TransportError):
    """Connecting, sending or reading took longer than the configured timeout."""


class ProtocolError(CrmError):
    """The CRM (or something pretending to be it) answered outside the contract."""


class ResponseTooLarge(ProtocolError):
    """A body larger than the client accepts; read no further than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response body larger than {limit} bytes")
        self.limit = limit

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.limit,))


class ApiError(CrmError):
    """The CRM refused the request with its documented error shape.

    ``code`` is the machine-readable code from the body (stable; switch on it), ``message``
    the human text from the server, ``status`` the HTTP status.
    """

    default_status: int = 0

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status = self.default_status if status is None else status
        super().__init__(f"{message} ({code}, HTTP {self.status})")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message, self.status))


class AuthError(ApiError):
    """Not signed in, wrong credentials, or the session expired and could not be renewed."""

    default_status = 401


class PermissionDenied(ApiError):
    """The role of the signed-in user does not allow this (e.g. another agent's calls)."""

    default_status = 403


class NotFound(ApiError):
    """The resource does not exist, or is not visible to this user."""

    default_status = 404


class Conflict(ApiError):
    """The request contradicts the current state (e.g. ended -> ringing)."""

    default_status = 409


class ValidationError(ApiError):
    """The CRM refused the request body or parameters."""

    default_status = 422


class RateLimited(ApiError):
    """Too many requests; ``retry_after`` is the server's hint in seconds, if it gave one."""

    default_status = 429

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, status)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message, self.status, self.retry_after))


class ServerError(ApiError):
    """The CRM failed on its side (5xx); the same request may succeed later."""

    default_status = 500


class NumberError(CrmError):
    """Input that cannot be dialled; ``reason`` says why in words an agent understands."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"cannot dial {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.raw, self.reason))


class InsecureUrlError(CrmError):
    """A CRM base URL that is not https (plain http is only allowed to loopback)."""


class SecretStoreError(CrmError):
    """The OS keyring is missing, locked, or refused to store or read a secret."""


_BY_STATUS: Final[dict[int, type[ApiError]]] = {
    400: ValidationError,
    401: AuthError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
}


def api_error(status: int, code: str, message: str, retry_after: float | None = None) -> ApiError:
    """The typed error for an HTTP error status, so callers never compare numbers."""
    if status == 429:
        return RateLimited(code, message, status, retry_after)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ApiError
    return cls(code, message, status)
