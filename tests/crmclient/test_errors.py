"""The error tree is what the docstring draws, and errors survive pickling (crash reports)."""

from __future__ import annotations

import pickle

import pytest

from crmclient import errors
from crmclient.errors import (
    ApiError,
    AuthError,
    Conflict,
    CrmError,
    NotFound,
    NumberError,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    TransportError,
    ValidationError,
    api_error,
)


def test_all_names_exist_and_are_documented() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert hasattr(errors, name)
        if name[0].isupper():
            assert name in doc, f"{name} missing from the drawn tree"


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (TransportError, CrmError),
        (RequestTimeout, TransportError),
        (ProtocolError, CrmError),
        (ResponseTooLarge, ProtocolError),
        (ApiError, CrmError),
        (AuthError, ApiError),
        (PermissionDenied, ApiError),
        (NotFound, ApiError),
        (Conflict, ApiError),
        (ValidationError, ApiError),
        (RateLimited, ApiError),
        (ServerError, ApiError),
        (NumberError, CrmError),
    ],
)
def test_tree(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, AuthError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (422, ValidationError),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (418, ApiError),
    ],
)
def test_status_mapping(status: int, cls: type[ApiError]) -> None:
    error = api_error(status, "code", "message", retry_after=2.0)
    assert type(error) is cls
    assert (error.code, error.message, error.status) == ("code", "message", status)


def test_errors_pickle_round_trip() -> None:
    for error in (
        AuthError("token_expired", "expired"),
        RateLimited("rate_limited", "slow down", 429, retry_after=3.0),
        NumberError("12", "too short"),
        ResponseTooLarge(1024),
    ):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error)
        assert str(back) == str(error)
