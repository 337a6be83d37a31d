"""Sign-in, refresh, sign-out, expiry, rate limiting; provisioning and the SIP secret."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crmclient.server import RunningServer, ServerConfig, start_server
from tests.crm_server.contract import check, check_error


def test_password_sign_in_gives_a_ten_day_session(anon: httpx.Client) -> None:
    body = check(
        anon.post("/v1/session", json={"email": "MAYA@lodgestory.test", "password": "demo-user"}),
        201,
    )
    assert body["user"]["role"] == "user"
    from crmclient.models import SessionToken

    session = SessionToken.from_json(body)
    lifetime = session.session_expires_at - session.expires_at
    assert 9.9 < lifetime.total_seconds() / 86400 + 1 / 24 < 10.1
    me = check(anon.get("/v1/me", headers={"Authorization": f"Bearer {session.token}"}), 200)
    assert me["email"] == "maya@lodgestory.test"


def test_api_token_sign_in(anon: httpx.Client) -> None:
    body = check(anon.post("/v1/session", json={"api_token": "lsk_demo_maya"}), 201)
    assert body["user"]["id"] == "u_maya"
    check_error(anon.post("/v1/session", json={"api_token": "nope"}), 401, "invalid_credentials")


def test_bad_sign_ins_are_refused_clearly(anon: httpx.Client) -> None:
    wrong = {"email": "sam@lodgestory.test", "password": "guess"}
    check_error(anon.post("/v1/session", json=wrong), 401, "invalid_credentials")
    check_error(anon.post("/v1/session", content=b"{nope"), 422, "invalid_json")
    check_error(anon.post("/v1/session", json={"email": 5}), 422, "validation_error")


def test_repeated_failures_are_rate_limited(anon: httpx.Client) -> None:
    attempt = {"email": "ghost@lodgestory.test", "password": "x"}
    for _ in range(10):
        check_error(anon.post("/v1/session", json=attempt), 401, "invalid_credentials")
    reply = anon.post("/v1/session", json=attempt)
    check_error(reply, 429, "rate_limited")
    assert int(reply.headers["Retry-After"]) > 0


def test_refresh_rotates_and_sign_out_revokes(anon: httpx.Client) -> None:
    first = check(
        anon.post("/v1/session", json={"email": "sam@lodgestory.test", "password": "demo-user"}),
        201,
    )
    second = check(
        anon.post("/v1/session/refresh", json={"refresh_token": first["refresh_token"]}), 200
    )
    assert second["token"] != first["token"]
    assert second["session_expires_at"] == first["session_expires_at"]
    old = anon.post("/v1/session/refresh", json={"refresh_token": first["refresh_token"]})
    check_error(old, 401, "unauthorized")
    auth = {"Authorization": f"Bearer {second['token']}"}
    check(anon.delete("/v1/session", headers=auth), 204)
    check_error(anon.get("/v1/me", headers=auth), 401, "unauthorized")
    again = anon.post("/v1/session/refresh", json={"refresh_token": second["refresh_token"]})
    check_error(again, 401, "unauthorized")
    check_error(anon.get("/v1/me"), 401, "unauthorized")


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("short") / "crm.db"
    config = ServerConfig(db_path=db, token_ttl_s=0.0, session_ttl_s=3600)
    with start_server(config) as running:
        yield running


def test_expired_token_says_so_and_refresh_renews(short_lived: RunningServer) -> None:
    with httpx.Client(base_url=short_lived.base_url) as anon:
        body = check(
            anon.post(
                "/v1/session", json={"email": "maya@lodgestory.test", "password": "demo-user"}
            ),
            201,
        )
        auth = {"Authorization": f"Bearer {body['token']}"}
        check_error(anon.get("/v1/me", headers=auth), 401, "token_expired")
        renewed = anon.post("/v1/session/refresh", json={"refresh_token": body["refresh_token"]})
        check(renewed, 200)


def test_provisioning_has_both_providers_and_caller_ids(clients: dict[str, httpx.Client]) -> None:
    body = check(clients["maya"].get("/v1/provisioning"), 200)
    accounts = {a["id"]: a for a in body["accounts"]}
    assert set(accounts) == {"acc_twilio", "acc_exotel"}
    assert accounts["acc_twilio"]["supports_phone_mode"] is True
    assert accounts["acc_twilio"]["agent_phone"] == "+14155550142"
    assert accounts["acc_exotel"]["extension"] == "102"
    # the US trunk reads the caller-ID from the From user; the India line from the PPI header
    assert accounts["acc_twilio"]["sip"]["caller_id_header"] == "from"
    assert accounts["acc_exotel"]["sip"]["caller_id_header"] == "p_preferred_identity"
    countries = {c["country"] for a in body["accounts"] for c in a["caller_ids"]}
    assert countries == {"US", "IN"}
    defaults = [c["id"] for a in body["accounts"] for c in a["caller_ids"] if c["is_default"]]
    assert defaults == ["cid_us_main"]
    assert "demo-maya-twilio-secret" not in str(body) and "password" not in str(body)
    teammates = {t["user_id"]: t["extension"] for t in body["teammates"]}
    assert teammates["u_sam"] == "103" and "u_maya" not in teammates


def test_sip_secret_only_for_own_accounts(clients: dict[str, httpx.Client]) -> None:
    reply = clients["maya"].get("/v1/provisioning/accounts/acc_twilio/secret")
    body = check(reply, 200)
    assert body["password"] and reply.headers["cache-control"] == "no-store"
    check_error(clients["maya"].get("/v1/provisioning/accounts/acc_x/secret"), 404, "not_found")


def test_default_caller_id_roles(clients: dict[str, httpx.Client]) -> None:
    path = "/v1/users/u_sam/default-caller-id"
    check_error(clients["maya"].put(path, json={"caller_id": "cid_in_main"}), 403, "forbidden")
    body = check(clients["arjun"].put(path, json={"caller_id": "cid_in_main"}), 200)
    defaults = [c["id"] for a in body["accounts"] for c in a["caller_ids"] if c["is_default"]]
    assert defaults == ["cid_in_main"]
    check_error(clients["sam"].put(path, json={"caller_id": "cid_nope"}), 422, "validation_error")
    mine = check(clients["sam"].get("/v1/provisioning"), 200)
    assert mine["revision"] == body["revision"] > 1


def test_presence(clients: dict[str, httpx.Client]) -> None:
    check(clients["priya"].put("/v1/presence", json={"status": "dnd"}), 200)
    assert check(clients["priya"].get("/v1/presence"), 200)["status"] == "dnd"
    check_error(
        clients["priya"].put("/v1/presence", json={"status": "away"}), 422, "validation_error"
    )
    teammates = check(clients["maya"].get("/v1/provisioning"), 200)["teammates"]
    assert {t["user_id"]: t["presence"] for t in teammates}["u_priya"] == "dnd"


def test_unknown_route_uses_the_error_shape(clients: dict[str, httpx.Client]) -> None:
    reply = clients["maya"].get("/v1/nothing-here")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"
