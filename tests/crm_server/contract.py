"""Check real responses against crmclient/openapi.yaml.

Schemas are made strict for the check (no properties beyond the documented ones), so the
server cannot drift from the published contract in either direction.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).resolve().parents[2] / "crmclient" / "openapi.yaml"


@cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def _components() -> dict[str, Any]:
    return _strict(copy.deepcopy(spec()["components"]))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({"components": _components(), **_strict(schema)})


def schema_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def validate_instance(instance: Any, name: str) -> None:
    validator(schema_ref(name)).validate(instance)


@cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for template in spec()["paths"]:
        escaped = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", escaped)
        routes.append((re.compile(f"^{pattern}$"), template))
    # Literal segments win over parameters (/v1/calls/export.csv before /v1/calls/{id}).
    routes.sort(key=lambda r: r[1].count("{"))
    return routes


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    for pattern, template in _routes():
        if pattern.match(path):
            op = spec()["paths"][template].get(method.lower())
            if op is not None:
                return template, op
    raise AssertionError(f"{method} {path} is not in openapi.yaml")


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    parts = ref.removeprefix("#/").split("/")
    out: Any = spec()
    for part in parts:
        out = out[part]
    return out


EXERCISED: set[tuple[str, str, int]] = set()


def check(response: httpx.Response, status: int) -> Any:
    """Assert the status, validate the body against the documented response, return JSON."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    request = response.request
    template, op = operation(request.method, request.url.path)
    documented = op["responses"].get(str(status))
    assert documented is not None, f"{request.method} {template} does not document {status}"
    EXERCISED.add((request.method, template, status))
    documented = _resolve(documented)
    content = documented.get("content")
    if not content:
        assert response.content == b""
        return None
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{media} not documented for {template} {status}"
    if media != "application/json":
        return response.content
    body = response.json()
    validator(content[media]["schema"]).validate(body)
    return body


def check_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body = check(response, status)
    assert body["error"]["code"] == code, body
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    return body["error"]
