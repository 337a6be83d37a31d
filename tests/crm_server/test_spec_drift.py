"""The published OpenAPI schemas and the shared models describe the same fields."""

from __future__ import annotations

import dataclasses

import pytest
from jsonschema import Draft202012Validator

from crmclient import models
from tests.crm_server.contract import spec

REQUESTS = {
    "PasswordCredentials",
    "ApiTokenCredentials",
    "ContactCreate",
    "CallCreate",
    "CallUpdate",
    "CardCreate",
    "PhoneCallRequest",
    "BatchWrite",
}
NOT_ON_WIRE = {"StreamEvent", "UnknownEvent", "StreamStatus", "CallFilter", "Heartbeat"}
MODELS = sorted(
    name
    for name in models.__all__
    if dataclasses.is_dataclass(getattr(models, name)) and name not in NOT_ON_WIRE
)


def test_spec_is_valid_openapi_schema_set() -> None:
    document = spec()
    assert document["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})


@pytest.mark.parametrize("name", MODELS)
def test_schema_matches_model(name: str) -> None:
    cls = getattr(models, name)
    schema = spec()["components"]["schemas"][name]
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "clear"}
    assert set(schema["properties"]) == set(fields)
    required = set(schema.get("required", []))
    if name in REQUESTS:
        optional = {
            n
            for n, f in fields.items()
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
        assert required == set(fields) - optional
    else:
        assert required == set(fields), "responses always carry every field"


@pytest.mark.parametrize(
    "enum_cls",
    [
        models.Role,
        models.CallStatus,
        models.CallDirection,
        models.PermissionState,
        models.PresenceStatus,
        models.HangupCause,
        models.CardKind,
        models.Channel,
        models.BatchOp,
        models.CallerIdHeader,
    ],
)
def test_enums_match(enum_cls: type) -> None:
    schema = spec()["components"]["schemas"][enum_cls.__name__]
    assert schema["enum"] == [m.value for m in enum_cls]  # type: ignore[attr-defined]


def test_every_event_type_has_a_payload_schema() -> None:
    payloads = spec()["components"]["schemas"]["EventPayloads"]["properties"]
    assert set(payloads) == {t.value for t in models.EventType}
