"""``POST /v1/batch``: many writes in one request, each exactly as its single request."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

import httpx

from crmclient.server import RunningServer
from tests.crm_server.conftest import db_path
from tests.crm_server.contract import check, check_error, validate_instance
from tests.crm_server.test_calls import new_call


def card(call_id: str, **extra: object) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "chat_id": "chat_ana_wa",
        "call_id": call_id,
        "kind": "completed",
        "direction": "outbound",
        "status": "completed",
        "duration_s": 42,
        **extra,
    }


def batch(
    client: httpx.Client, writes: list[Any], *, valid: bool = True, **headers: str
) -> list[dict[str, Any]]:
    if valid:  # what we send is what the contract documents (bad writes on purpose aside)
        validate_instance({"writes": writes}, "BatchRequest")
    body = check(client.post("/v1/batch", json={"writes": writes}, headers=headers), 200)
    results: list[dict[str, Any]] = body["results"]
    assert len(results) == len(writes)
    return results


def events_for(server: RunningServer, call_id: str) -> list[str]:
    with sqlite3.connect(db_path(server)) as db:
        rows = db.execute("SELECT type, data FROM events ORDER BY id").fetchall()
    found = []
    for type_, data in rows:
        payload = json.loads(data)
        inner = payload.get("call") or payload.get("card") or {}
        if call_id in (inner.get("id"), inner.get("call_id")):
            found.append(type_)
    return found


def test_a_batch_applies_creates_updates_and_cards_in_order(
    clients: dict[str, httpx.Client], server: RunningServer
) -> None:
    maya = clients["maya"]
    call = new_call()
    key = str(uuid.uuid4())
    posted = card(call["id"])
    results = batch(
        maya,
        [
            {"op": "call.create", "call": call},
            {
                "op": "call.update",
                "call_id": call["id"],
                "idempotency_key": key,
                "update": {"status": "ringing", "notes": "VIP"},
            },
            {"op": "card.post", "card": posted},
        ],
    )
    assert [r["status"] for r in results] == [201, 200, 201]
    assert all(r["error"] is None for r in results)
    assert results[0]["call"]["status"] == "dialing"
    assert results[1]["call"]["status"] == "ringing" and results[1]["call"]["notes"] == "VIP"
    assert results[2]["card"]["id"] == posted["id"]
    stored = check(maya.get(f"/v1/calls/{call['id']}"), 200)
    assert (stored["status"], stored["notes"]) == ("ringing", "VIP")
    cards = check(maya.get("/v1/chats/chat_ana_wa/cards"), 200)["items"]
    assert [c["id"] for c in cards].count(posted["id"]) == 1
    # Events as for single writes: created, updated, card posted.
    assert events_for(server, call["id"]) == ["call.updated", "call.updated", "card.posted"]


def test_a_replayed_batch_changes_nothing_and_keys_match_single_requests(
    clients: dict[str, httpx.Client], server: RunningServer
) -> None:
    maya = clients["maya"]
    call = new_call()
    key = str(uuid.uuid4())
    writes = [
        {"op": "call.create", "call": call},
        {
            "op": "call.update",
            "call_id": call["id"],
            "idempotency_key": key,
            "update": {"status": "ringing"},
        },
        {"op": "card.post", "card": card(call["id"])},
    ]
    first = batch(maya, writes)
    check(maya.patch(f"/v1/calls/{call['id']}", json={"status": "in_progress"}), 200)
    again = batch(maya, writes)
    assert [r["status"] for r in again] == [200, 200, 200]
    # The replayed update answers as the first time, though the call has moved on.
    assert again[1]["call"] == first[1]["call"]
    assert again[2]["card"] == first[2]["card"]
    assert check(maya.get(f"/v1/calls/{call['id']}"), 200)["status"] == "in_progress"
    # The same key sent alone is the same write, answered from the store.
    single = maya.patch(
        f"/v1/calls/{call['id']}", json={"status": "ringing"}, headers={"Idempotency-Key": key}
    )
    assert check(single, 200) == first[1]["call"]
    other = maya.patch(
        f"/v1/calls/{call['id']}", json={"notes": "x"}, headers={"Idempotency-Key": key}
    )
    check_error(other, 422, "idempotency_mismatch")
    assert events_for(server, call["id"]).count("card.posted") == 1
    assert events_for(server, call["id"]).count("call.updated") == 3


def test_a_bad_write_fails_alone_and_holds_only_its_call(
    clients: dict[str, httpx.Client],
) -> None:
    maya = clients["maya"]
    good, bad, other = new_call(), new_call(), new_call()
    check(maya.post("/v1/calls", json=bad), 201)
    check(maya.post("/v1/calls", json=other), 201)
    check(maya.patch(f"/v1/calls/{bad['id']}", json={"status": "completed"}), 200)
    results = batch(
        maya,
        [
            {"op": "call.update", "call_id": bad["id"], "update": {"status": "ringing"}},
            {"op": "call.create", "call": good},
            {"op": "call.update", "call_id": bad["id"], "update": {"notes": "after"}},
            {"op": "call.create", "call": new_call(remote_number="abc")},
            {"op": "card.post", "card": card(other["id"], chat_id="no-such-chat")},
            {"op": "call.update", "call_id": "no-such-call", "update": {"notes": "x"}},
            {"op": "call.update", "call_id": good["id"], "update": {"status": "ringing"}},
            {"op": "mystery"},
        ],
        valid=False,
    )
    statuses = [(r["status"], r["error"]["code"] if r["error"] else None) for r in results]
    assert statuses == [
        (409, "invalid_transition"),  # an ended call cannot ring again
        (201, None),
        (424, "earlier_write_failed"),  # the same call's later write waits its turn
        (422, "validation_error"),
        (422, "validation_error"),
        (404, "not_found"),
        (200, None),
        (422, "validation_error"),
    ]
    for result in results:
        if result["error"] is not None:
            assert result["error"]["message"] and result["error"]["request_id"]
    assert check(maya.get(f"/v1/calls/{bad['id']}"), 200)["notes"] is None
    assert check(maya.get(f"/v1/calls/{good['id']}"), 200)["status"] == "ringing"


def test_roles_are_enforced_per_write(clients: dict[str, httpx.Client]) -> None:
    maya, sam, olivia = clients["maya"], clients["sam"], clients["olivia"]
    mine = check(maya.post("/v1/calls", json=new_call()), 201)
    also_mine = check(maya.post("/v1/calls", json=new_call()), 201)
    results = batch(
        sam,
        [
            {"op": "call.update", "call_id": mine["id"], "update": {"notes": "sam was here"}},
            {"op": "card.post", "card": card(also_mine["id"])},
            {"op": "call.create", "call": new_call(agent_id="u_maya")},
            {"op": "call.create", "call": new_call()},
        ],
    )
    assert [(r["status"], r["error"] and r["error"]["code"]) for r in results] == [
        (404, "not_found"),  # sam cannot see maya's call
        (422, "validation_error"),
        (403, "forbidden"),  # users log calls only for themselves
        (201, None),
    ]
    assert results[3]["call"]["agent_id"] == "u_sam"
    assert check(maya.get(f"/v1/calls/{mine['id']}"), 200)["notes"] is None
    ok = batch(
        olivia,
        [{"op": "call.update", "call_id": mine["id"], "update": {"notes": "owner note"}}],
    )
    assert ok[0]["status"] == 200 and ok[0]["call"]["notes"] == "owner note"


def test_minimal_results_and_whole_batch_refusals(
    clients: dict[str, httpx.Client], anon: httpx.Client
) -> None:
    maya = clients["maya"]
    results = batch(maya, [{"op": "call.create", "call": new_call()}], Prefer="return=minimal")
    assert results == [{"status": 201, "call": None, "card": None, "error": None}]
    check_error(maya.post("/v1/batch", json={"writes": []}), 422, "validation_error")
    too_many = [{"op": "call.create", "call": new_call()} for _ in range(101)]
    check_error(maya.post("/v1/batch", json={"writes": too_many}), 422, "validation_error")
    check_error(maya.post("/v1/batch", json=[1, 2]), 422, "validation_error")
    check_error(maya.post("/v1/batch", content=b"{nope"), 422, "invalid_json")
    writes = [{"op": "call.create", "call": new_call()}]
    check_error(anon.post("/v1/batch", json={"writes": writes}), 401, "unauthorized")
