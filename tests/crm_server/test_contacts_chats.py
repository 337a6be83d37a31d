"""Contacts (confirmed vs maybe), chats, cards, WhatsApp permission, dial requests."""

from __future__ import annotations

import uuid

import httpx

from tests.crm_server.contract import check, check_error


def test_lookup_keeps_confirmed_and_maybe_apart(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    known = check(maya.get("/v1/contacts/lookup", params={"number": "+14155550111"}), 200)
    assert [m["contact"]["name"] for m in known["confirmed"]] == ["Ana Souza"]
    assert known["maybe"] == []
    guess = check(maya.get("/v1/contacts/lookup", params={"number": "+14155550188"}), 200)
    assert guess["confirmed"] == []
    assert {(m["contact"]["id"], m["source"]) for m in guess["maybe"]} == {
        ("ct_nina", "signature"),
        ("ct_tom", "message"),
    }
    assert all(m["kind"] == "maybe" and m["excerpt"] for m in guess["maybe"])
    unknown = check(maya.get("/v1/contacts/lookup", params={"number": "+15005550000"}), 200)
    assert unknown["confirmed"] == unknown["maybe"] == []
    bad = maya.get("/v1/contacts/lookup", params={"number": "555-1234"})
    check_error(bad, 422, "validation_error")


def test_search_and_create_from_unknown_number(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    found = check(maya.get("/v1/contacts", params={"q": "souza"}), 200)["items"]
    assert [c["id"] for c in found] == ["ct_ana"]
    by_digits = check(maya.get("/v1/contacts", params={"q": "98123"}), 200)["items"]
    assert [c["id"] for c in by_digits] == ["ct_raj"]
    check_error(maya.get("/v1/contacts", params={"q": " "}), 422, "validation_error")
    made = check(maya.post("/v1/contacts", json={"phone": "+15005550006"}), 201)
    assert made["name"] == "+15005550006" and made["phones"] == ["+15005550006"]
    assert check(maya.get(f"/v1/contacts/{made['id']}"), 200) == made
    dupe = maya.post("/v1/contacts", json={"phone": "+15005550006", "name": "Again"})
    assert check_error(dupe, 409, "contact_exists")["details"] == {"contact_id": made["id"]}
    check_error(maya.post("/v1/contacts", json={"phone": "12"}), 422, "validation_error")
    check_error(maya.get("/v1/contacts/ct_nobody"), 404, "not_found")
    after = check(maya.get("/v1/contacts/lookup", params={"number": "+15005550006"}), 200)
    assert [m["contact"]["id"] for m in after["confirmed"]] == [made["id"]]


def test_active_chats_and_voice_capability(clients: dict[str, httpx.Client]) -> None:
    chats = check(clients["sam"].get("/v1/contacts/ct_ana/chats"), 200)["items"]
    assert {(c["channel"], c["voice_capable"]) for c in chats} == {
        ("whatsapp", True),
        ("email", False),
    }
    closed_only = check(clients["sam"].get("/v1/contacts/ct_tom/chats"), 200)["items"]
    assert closed_only == []
    web = check(clients["sam"].get("/v1/chats/chat_lee_web"), 200)
    assert web["channel"] == "webchat" and web["voice_capable"] is False
    check_error(clients["sam"].get("/v1/chats/nope"), 404, "not_found")


def test_cards_are_idempotent(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    card = {
        "id": str(uuid.uuid4()),
        "chat_id": "chat_ana_wa",
        "call_id": "seed-call-1",
        "kind": "completed",
        "direction": "inbound",
        "status": "completed",
        "duration_s": 184,
    }
    first = check(maya.post("/v1/cards", json=card), 201)
    again = check(maya.post("/v1/cards", json=card), 200)
    assert first == again and first["agent_id"] == "u_maya"
    listed = check(maya.get("/v1/chats/chat_ana_wa/cards"), 200)["items"]
    assert [c["id"] for c in listed].count(card["id"]) == 1
    other = {**card, "call_id": "seed-call-2"}
    check_error(maya.post("/v1/cards", json=other), 409, "id_conflict")
    missing_chat = {**card, "id": str(uuid.uuid4()), "chat_id": "nope"}
    check_error(maya.post("/v1/cards", json=missing_chat), 422, "validation_error")
    sams_call = {**card, "id": str(uuid.uuid4()), "call_id": "seed-call-4"}
    check_error(maya.post("/v1/cards", json=sams_call), 422, "validation_error")
    check_error(maya.post("/v1/cards", json={**card, "kind": "odd"}), 422, "validation_error")


def test_whatsapp_permission_flow(clients: dict[str, httpx.Client]) -> None:
    sam = clients["sam"]
    path = "/v1/chats/chat_raj_wa/call-permission"
    assert check(sam.get(path), 200)["state"] == "not_requested"
    assert check(sam.post(path + "/request"), 200)["state"] == "pending"
    answer = sam.post("/v1/sim/chats/chat_raj_wa/call-permission", json={"state": "allowed_once"})
    assert check(answer, 200)["state"] == "allowed_once"
    assert check(sam.get(path), 200)["state"] == "allowed_once"
    email = sam.get("/v1/chats/chat_ana_mail/call-permission")
    check_error(email, 422, "not_voice_capable")
    bad = sam.post("/v1/sim/chats/chat_raj_wa/call-permission", json={"state": "maybe"})
    check_error(bad, 422, "validation_error")


def test_allowed_once_is_used_up_by_an_outbound_call(clients: dict[str, httpx.Client]) -> None:
    sam = clients["sam"]
    path = "/v1/chats/chat_kavya_wa/call-permission"
    sam.post("/v1/sim/chats/chat_kavya_wa/call-permission", json={"state": "allowed_once"})
    call_id = str(uuid.uuid4())
    created = {
        "id": call_id,
        "direction": "outbound",
        "remote_number": "+919876543210",
        "started_at": "2026-11-20T10:00:00Z",
        "chat_id": "chat_kavya_wa",
    }
    check(sam.post("/v1/calls", json=created), 201)
    check(sam.patch(f"/v1/calls/{call_id}", json={"status": "completed"}), 200)
    assert check(sam.get(path), 200)["state"] == "not_requested"


def test_dial_request_roles(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    body = check(maya.post("/v1/dial-requests", json={"chat_id": "chat_ana_wa"}), 201)
    assert body["number"] == "+14155550111" and body["contact_id"] == "ct_ana"
    other = maya.post("/v1/dial-requests", json={"chat_id": "chat_ana_wa", "agent_id": "u_sam"})
    check_error(other, 403, "forbidden")
    by_admin = clients["arjun"].post(
        "/v1/dial-requests", json={"chat_id": "chat_ana_wa", "agent_id": "u_sam"}
    )
    check(by_admin, 201)
    check_error(maya.post("/v1/dial-requests", json={"chat_id": "x"}), 422, "validation_error")
