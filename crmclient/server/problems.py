"""The one error shape, and reading request bodies into contract models.

Handlers raise ``Problem``; the app turns it (and Starlette's own 404/405, and any crash)
into ``{"error": {"code", "message", "status", "details", "request_id"}}``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crmclient.errors import ProtocolError
from crmclient.models import ErrorBody

_M = TypeVar("_M")


class Problem(Exception):
    """An error answer: HTTP ``status`` with a stable ``code``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def not_found(what: str) -> Problem:
    return Problem(404, "not_found", f"{what} not found")


def invalid(message: str, **details: Any) -> Problem:
    return Problem(422, "validation_error", message, details or None)


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(code, message, status, details, uuid.uuid4().hex[:16])
    return JSONResponse(body.envelope(), status_code=status, headers=headers)


async def on_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def on_crash(_request: Request, _exc: Exception) -> Response:
    return error_response(500, "server_error", "the server failed; try again later")


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, refusing oversize bodies and malformed JSON with the error shape."""
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "payload_too_large", f"body larger than {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "invalid_json", "the body is not valid JSON") from None


def parse_model(cls: Any, data: Any) -> Any:
    """``cls.from_json(data)`` with a contract violation answered as 422."""
    try:
        return cls.from_json(data)
    except ProtocolError as exc:
        raise Problem(422, "validation_error", str(exc)) from None
    except ValueError as exc:
        raise Problem(422, "validation_error", str(exc)) from None
