"""Calls: idempotent create, transitions, roles, pagination and filters, CSV, recordings,
transcripts, phone mode."""

from __future__ import annotations

import csv
import io
import uuid
import wave
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.crm_server.contract import check, check_error


def new_call(**extra: object) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "direction": "outbound",
        "remote_number": "+14155550111",
        "started_at": datetime.now(UTC).isoformat(),
        **extra,
    }


def test_create_twice_gives_one_record(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    call = new_call()
    first = check(maya.post("/v1/calls", json=call), 201)
    assert first["contact_id"] == "ct_ana" and first["guest_name"] == "Ana Souza"
    assert first["agent_id"] == "u_maya" and first["status"] == "dialing"
    again = check(maya.post("/v1/calls", json=call), 200)
    assert again == first
    found = check(maya.get("/v1/calls", params={"q": "Ana Souza"}), 200)
    assert [c["id"] for c in found["items"]].count(call["id"]) == 1
    clash = {**call, "remote_number": "+14155550177"}
    check_error(maya.post("/v1/calls", json=clash), 409, "id_conflict")
    check_error(clients["sam"].post("/v1/calls", json=call), 409, "id_conflict")


def test_create_validation(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    check_error(maya.post("/v1/calls", json=new_call(remote_number="abc")), 422, "validation_error")
    check_error(maya.post("/v1/calls", json={"id": "x"}), 422, "validation_error")
    naive = new_call(started_at="2026-11-20T10:00:00")
    check_error(maya.post("/v1/calls", json=naive), 422, "validation_error")
    for_sam = new_call(agent_id="u_sam")
    check_error(maya.post("/v1/calls", json=for_sam), 403, "forbidden")
    assert check(clients["olivia"].post("/v1/calls", json=for_sam), 201)["agent_id"] == "u_sam"
    check_error(maya.post("/v1/calls", json=new_call(chat_id="nope")), 422, "validation_error")


def test_status_transitions_and_server_filled_fields(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    call = check(maya.post("/v1/calls", json=new_call()), 201)
    path = f"/v1/calls/{call['id']}"
    ringing = check(maya.patch(path, json={"status": "ringing"}), 200)
    assert ringing["status"] == "ringing"
    check(maya.patch(path, json={"status": "ringing"}), 200)  # replay is harmless
    check_error(maya.patch(path, json={"status": "dialing"}), 409, "invalid_transition")
    talking = check(maya.patch(path, json={"status": "in_progress"}), 200)
    assert talking["answered_at"] and talking["answered_by"] == "u_maya"
    check_error(maya.patch(path, json={"status": "missed"}), 409, "invalid_transition")
    done = check(
        maya.patch(
            path,
            json={
                "status": "completed",
                "hangup_cause": "remote_hangup",
                "sip_code": 200,
                "outcome": "resolved",
                "notes": "Confirmed late check-in",
                "chat_id": "chat_ana_wa",
            },
        ),
        200,
    )
    assert done["ended_at"] and done["duration_s"] is not None and done["chat_id"] == "chat_ana_wa"
    check_error(maya.patch(path, json={"status": "failed"}), 409, "invalid_transition")
    cleared = check(maya.patch(path, json={"notes": None, "chat_id": None}), 200)
    assert cleared["notes"] is None and cleared["chat_id"] is None
    check_error(maya.patch(path, json={"status": None}), 422, "validation_error")
    check_error(maya.patch(path, json={"duration_s": "long"}), 422, "validation_error")
    check_error(maya.patch("/v1/calls/none", json={"notes": "x"}), 404, "not_found")


def test_idempotency_key_on_update(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    call = check(maya.post("/v1/calls", json=new_call()), 201)
    path = f"/v1/calls/{call['id']}"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = check(maya.patch(path, json={"status": "in_progress"}, headers=key), 200)
    check(maya.patch(path, json={"status": "completed"}), 200)
    replay = check(maya.patch(path, json={"status": "in_progress"}, headers=key), 200)
    assert replay == first  # the first answer, not a refused backwards transition
    other = maya.patch(path, json={"notes": "different"}, headers=key)
    check_error(other, 422, "idempotency_mismatch")


def test_users_cannot_read_other_agents_calls(clients: dict[str, httpx.Client]) -> None:
    maya, sam, arjun, olivia = (clients[w] for w in ("maya", "sam", "arjun", "olivia"))
    sams = check(sam.post("/v1/calls", json=new_call(remote_number="+919812345678")), 201)
    check_error(maya.get(f"/v1/calls/{sams['id']}"), 404, "not_found")
    check_error(maya.patch(f"/v1/calls/{sams['id']}", json={"notes": "x"}), 404, "not_found")
    check_error(maya.get(f"/v1/calls/{sams['id']}/recording"), 404, "not_found")
    check_error(maya.get("/v1/calls", params={"agent_id": "u_sam"}), 403, "forbidden")
    check_error(maya.get("/v1/calls/export.csv", params={"agent_id": "u_sam"}), 403, "forbidden")
    mine = check(maya.get("/v1/calls"), 200)["items"]
    assert mine and {c["agent_id"] for c in mine} == {"u_maya"}
    exported = maya.get("/v1/calls/export.csv").text
    assert sams["id"] not in exported
    for staff in (arjun, olivia):
        assert check(staff.get(f"/v1/calls/{sams['id']}"), 200)["agent_id"] == "u_sam"
        listed = check(staff.get("/v1/calls", params={"agent_id": "u_sam"}), 200)["items"]
        assert sams["id"] in {c["id"] for c in listed}
        everyone = check(staff.get("/v1/calls"), 200)["items"]
        assert {"u_maya", "u_sam"} <= {c["agent_id"] for c in everyone}


@pytest.fixture(scope="module")
def priya_calls(clients: dict[str, httpx.Client]) -> list[dict[str, object]]:
    """230 calls for Priya over 230 minutes, every 3rd inbound and missed."""
    priya = clients["priya"]
    base = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    made = []
    for i in range(230):
        inbound = i % 3 == 0
        call = new_call(
            id=f"priya-{i:03d}",
            direction="inbound" if inbound else "outbound",
            remote_number=f"+1650555{i:04d}",
            started_at=(base + timedelta(minutes=i)).isoformat(),
            status="missed" if inbound else "dialing",
            guest_name=f"Guest {i:03d}",
        )
        made.append(check(priya.post("/v1/calls", json=call), 201))
    return made


def test_pagination_100_per_page_without_gaps(
    clients: dict[str, httpx.Client], priya_calls: list[dict[str, object]]
) -> None:
    priya = clients["priya"]
    since = {"since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z"}
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        params = {**since, **({"cursor": cursor} if cursor else {})}
        page = check(priya.get("/v1/calls", params=params), 200)
        assert page["total"] == 230
        sizes.append(len(page["items"]))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [100, 100, 30]
    assert seen == [f"priya-{i:03d}" for i in reversed(range(230))]
    small = check(priya.get("/v1/calls", params={**since, "limit": 7}), 200)
    assert len(small["items"]) == 7
    check_error(priya.get("/v1/calls", params={"limit": 101}), 422, "validation_error")
    check_error(priya.get("/v1/calls", params={"cursor": "garbage!"}), 422, "invalid_cursor")


def test_filters(clients: dict[str, httpx.Client], priya_calls: list[dict[str, object]]) -> None:
    priya = clients["priya"]
    day = {"since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z"}

    def total(**params: str) -> int:
        return int(check(priya.get("/v1/calls", params={**day, **params}), 200)["total"])

    def ids(**params: str) -> set[str]:
        page = check(priya.get("/v1/calls", params={**day, **params}), 200)
        return {str(c["id"]) for c in page["items"]}

    assert total(direction="inbound", status="missed") == 77
    assert total(direction="outbound") == total(live="true") == 153
    assert total(live="false") == total(status="missed,completed") == 77
    assert ids(q="Guest 007") == {"priya-007"}
    assert ids(q="guest 00") == {f"priya-00{i}" for i in range(10)}
    assert ids(q="(650) 555-0042") == {"priya-042"}
    window = {"since": "2026-06-01T12:10:00Z", "until": "2026-06-01T12:13:00Z"}
    page = check(priya.get("/v1/calls", params=window), 200)
    assert [c["id"] for c in page["items"]] == ["priya-012", "priya-011", "priya-010"]
    check_error(priya.get("/v1/calls", params={"direction": "sideways"}), 422, "validation_error")
    check_error(priya.get("/v1/calls", params={"since": "yesterday"}), 422, "validation_error")
    check_error(priya.get("/v1/calls", params={"status": "done"}), 422, "validation_error")


def test_csv_export(clients: dict[str, httpx.Client], priya_calls: list[dict[str, object]]) -> None:
    priya = clients["priya"]
    check(priya.patch("/v1/calls/priya-001", json={"notes": '=HYPERLINK("x")'}), 200)
    reply = priya.get(
        "/v1/calls/export.csv",
        params={"since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z"},
    )
    check(reply, 200)
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(rows) == 230
    by_id = {r["id"]: r for r in rows}
    first = by_id["priya-000"]
    assert first["direction"] == "inbound" and first["status"] == "missed"
    assert first["remote_number"] == "+16505550000" and first["guest_name"] == "Guest 000"
    assert first["agent_name"] == "Priya Nair" and first["has_recording"] == "false"
    assert by_id["priya-001"]["notes"].startswith("'=")  # no formula injection
    only_missed = priya.get("/v1/calls/export.csv", params={"status": "missed"}).text
    assert all(r["status"] == "missed" for r in csv.DictReader(io.StringIO(only_missed)))


def make_wav(seconds: float = 0.5, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x01\x00" * int(seconds * rate))
    return buffer.getvalue()


def test_recording_upload_and_download(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    call = check(maya.post("/v1/calls", json=new_call()), 201)
    path = f"/v1/calls/{call['id']}/recording"
    check_error(maya.get(path), 404, "no_recording")
    audio = make_wav()
    info = check(maya.put(path, content=audio, headers={"Content-Type": "audio/wav"}), 200)
    assert info["size_bytes"] == len(audio) and info["duration_s"] == 0.5
    download = maya.get(path)
    check(download, 200)
    assert download.content == audio
    assert check(maya.get(path + "/info"), 200)["size_bytes"] == len(audio)
    assert check(maya.get(f"/v1/calls/{call['id']}"), 200)["has_recording"] is True
    junk = maya.put(path, content=b"not a wav at all", headers={"Content-Type": "audio/wav"})
    check_error(junk, 422, "invalid_wav")
    assert maya.get(path).content == audio  # a refused upload keeps the earlier one
    check_error(clients["sam"].put(path, content=audio), 404, "not_found")
    assert check(clients["arjun"].get(path + "/info"), 200)["call_id"] == call["id"]


def test_transcripts(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    seeded = check(maya.get("/v1/calls/seed-call-1/transcript"), 200)
    assert seeded["segments"][0]["speaker"] == "agent"
    call = check(maya.post("/v1/calls", json=new_call()), 201)
    path = f"/v1/calls/{call['id']}/transcript"
    check_error(maya.get(path), 404, "no_transcript")
    segments = [{"start_s": 0, "end_s": 1.5, "speaker": "guest", "text": "Hello?"}]
    check(maya.put(path, json={"language": "en", "segments": segments}), 200)
    assert check(maya.get(path), 200)["segments"][0]["text"] == "Hello?"
    bad = maya.put(path, json={"language": "en", "segments": [{"start_s": "0"}]})
    check_error(bad, 422, "validation_error")


def test_phone_mode(clients: dict[str, httpx.Client]) -> None:
    request = {
        "call_id": str(uuid.uuid4()),
        "account_id": "acc_twilio",
        "to_number": "+12125550199",
        "caller_id": "+12125550123",
    }
    made = check(clients["maya"].post("/v1/phone-calls", json=request), 201)
    assert made["mode"] == "phone" and made["direction"] == "outbound"
    assert made["local_number"] == "+12125550123" and made["guest_name"] == "Lee Chen"
    check(clients["maya"].post("/v1/phone-calls", json=request), 200)
    sam = clients["sam"].post("/v1/phone-calls", json={**request, "call_id": "p2"})
    check_error(sam, 422, "phone_mode_unsupported")
    exotel = {**request, "call_id": "p3", "account_id": "acc_exotel", "caller_id": None}
    check_error(clients["maya"].post("/v1/phone-calls", json=exotel), 422, "phone_mode_unsupported")
    wrong_cid = {**request, "call_id": "p4", "caller_id": "+918045550100"}
    check_error(clients["maya"].post("/v1/phone-calls", json=wrong_cid), 422, "validation_error")


def test_injected_faults_use_the_error_shape(clients: dict[str, httpx.Client]) -> None:
    maya = clients["maya"]
    fault = {"path": "/v1/me", "mode": "status", "status": 503, "count": 1}
    assert maya.post("/v1/test/faults", json=fault).status_code == 201
    failed = maya.get("/v1/me")
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "injected"
    check(maya.get("/v1/me"), 200)  # used up after one request
