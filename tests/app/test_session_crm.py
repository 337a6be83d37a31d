"""AgentSession against the reference CRM server (real HTTP and websocket on loopback) and
real engines: what the CRM provisions reaches the wire, and a call the CRM created itself
(it routed the call and announced it with ``call.ringing``) is logged once, on its record."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.session import ringing
from app.session.agent import AgentSession
from app.session.model import (
    CallEnd,
    CallEnded,
    CallerMatched,
    CallPhase,
    CallView,
    DialRequest,
    IncomingCall,
    MissedCallsChanged,
)
from crmclient.http import HttpCrm
from crmclient.models import (
    CallDirection,
    CallFilter,
    CallMode,
    CallRecord,
    CallRinging,
    CallStatus,
    PasswordCredentials,
)
from crmclient.outbox import Outbox
from crmclient.server import ServerConfig, start_server
from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import Event, IncomingCallReceived
from tests.app.helpers import wait_until

GUEST = "+12125550199"  # Lee Chen in the reference server's seed data
CALLER_ID = "+14155550199"  # the number the loopback trunk presents for Maya
MAYA = ("u_maya", "maya@lodgestory.test", "demo-user")
SAM = ("u_sam", "sam@lodgestory.test", "demo-user")


def _provision_loopback_trunk(db: Path, guest_port: int) -> None:
    """Maya's only account: a trunk on loopback that reads the caller-ID from the From user
    (instead of the seeded providers, whose hosts do not exist here)."""
    sip = {
        "domain": "127.0.0.1",
        "port": guest_port,
        "transport": "udp",
        "register": False,
        "caller_id_header": "from",
    }
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM account_agents WHERE user_id = 'u_maya'")
        conn.execute(
            "INSERT INTO accounts VALUES ('acc_loop', 'Loop', 'Loop trunk', ?, 1, 0)",
            (json.dumps(sip),),
        )
        conn.execute(
            "INSERT INTO account_agents VALUES ('acc_loop', 'u_maya', 'agent', 'x', '102', NULL)"
        )
        conn.execute(
            "INSERT INTO caller_ids VALUES ('cid_loop', 'acc_loop', ?, 'US', 'Loop desk')",
            (CALLER_ID,),
        )
        conn.execute("INSERT INTO user_caller_ids VALUES ('u_maya', 'cid_loop')")
        conn.execute("UPDATE users SET default_caller_id = 'cid_loop' WHERE id = 'u_maya'")


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []
        self.lock = threading.Lock()

    def __call__(self, event: object) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, cls: type) -> list:
        with self.lock:
            return [e for e in self.events if isinstance(e, cls)]


@dataclass
class Rig:
    server: Any
    session: AgentSession
    guest: EngineClient
    rec: Recorder
    guest_seen: list[IncomingCallReceived]
    backend: HttpCrm
    outbox: Outbox
    runner: Any
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def agent_uri(self) -> str:
        return f"sip:agent@127.0.0.1:{self.session.accounts_added['acc_loop'].local_port}"

    def ring_from_crm(self, *agents: tuple[str, str, str]) -> CallRecord:
        """The provider's webhook reached the CRM: it creates the ringing record."""
        reply = httpx.post(
            self.server.base_url + "/v1/sim/incoming-calls",
            json={"from_number": GUEST, "agent_ids": [a[0] for a in agents]},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        return CallRecord.from_json(reply.json())

    def inbound_records(self) -> list[CallRecord]:
        page = self.runner.run(
            self.backend.list_calls(CallFilter(direction=CallDirection.INBOUND, since=self.since))
        )
        return list(page.items)

    def delivered(self) -> None:
        self.session.flush_writes()
        wait_until(lambda: self.outbox.status().pending == 0, 10, "outbox delivery")
        assert self.outbox.status().last_error is None

    def views(self, call_id: str) -> list[CallView]:
        return [v for v in self.rec.of(CallView) if v.call_id == call_id]


@pytest.fixture
def rig(runner, tmp_path):
    db = tmp_path / "crm.db"
    server = start_server(ServerConfig(db_path=db, simulate=True))
    cfg = EngineConfig(rtp_bind_address="127.0.0.1", audio_backend="null", log_level=1)
    logs = [open(tmp_path / f"{n}.log", "wb") for n in ("guest", "agent")]  # noqa: SIM115
    guest = EngineClient(cfg, stderr=logs[0])
    agent = EngineClient(cfg, stderr=logs[1])
    guest.start()
    agent.start()
    guest_seen: list[IncomingCallReceived] = []

    def on_guest(event: Event) -> None:
        if isinstance(event, IncomingCallReceived):
            guest_seen.append(event)

    guest.subscribe(on_guest)
    added = guest.add_account(
        AccountConfig(
            account_id="g",
            username=GUEST.lstrip("+"),
            domain="127.0.0.1",
            bind_address="127.0.0.1",
            local_port=0,
            auto_answer=True,
        )
    )
    _provision_loopback_trunk(db, added.local_port)

    async def signed_in() -> HttpCrm:
        crm = HttpCrm(server.base_url)
        await crm.sign_in(PasswordCredentials(email=MAYA[1], password=MAYA[2]))
        return crm

    backend = runner.run(signed_in())
    outbox = Outbox(tmp_path / "outbox.sqlite")
    delivery = runner.submit(outbox.run(outbox.sender(backend)))
    session = AgentSession(
        agent,
        backend,
        outbox,
        runner,
        lambda: Settings(default_region="US"),
        crm_label=server.base_url,
    )
    rec = Recorder()
    session.subscribe(rec)
    session.start().result(20)
    wait_until(lambda: session.accounts_added.get("acc_loop") is not None, 10, "agent account")
    wait_until(lambda: session.crm_stream_connected, 10, "the CRM's event stream")
    yield Rig(
        server=server,
        session=session,
        guest=guest,
        rec=rec,
        guest_seen=guest_seen,
        backend=backend,
        outbox=outbox,
        runner=runner,
    )
    session.close()
    delivery.cancel()
    agent.stop()
    guest.stop()
    outbox.close()
    runner.run(backend.aclose())
    server.stop()
    for f in logs:
        f.close()


def test_provisioned_caller_id_in_from_is_the_number_the_callee_sees(rig: Rig) -> None:
    rig.session.dial(DialRequest(GUEST))
    wait_until(lambda: rig.guest_seen, 10, "the INVITE at the guest")
    # The trunk reads the calling number from the From user: the guest's phone shows it.
    assert rig.guest_seen[0].remote_user == CALLER_ID
    wait_until(
        lambda: any(v.phase is CallPhase.IN_CALL for v in rig.rec.of(CallView)),
        10,
        "the guest to answer",
    )
    rig.session.hangup()
    wait_until(lambda: rig.rec.of(CallEnded), 10, "the call to end")
    rig.delivered()
    page = rig.runner.run(
        rig.backend.list_calls(CallFilter(direction=CallDirection.OUTBOUND, since=rig.since))
    )
    (record,) = page.items
    assert record.local_number == CALLER_ID and record.status is CallStatus.COMPLETED


def test_crm_announced_call_rings_with_its_record_and_is_logged_once(rig: Rig) -> None:
    record = rig.ring_from_crm(MAYA)
    wait_until(lambda: record.id in rig.session._announced._waiting, 10, "the CRM's call.ringing")
    rig.guest.make_call("g", rig.agent_uri)
    wait_until(lambda: rig.rec.of(IncomingCall), 10, "the call to ring")
    ringing = rig.rec.of(IncomingCall)[0].call
    assert ringing.crm_call_id == record.id  # the CRM's record, not a new one
    # the CRM's match comes with its announcement: the name is there at the first ring,
    # without a lookup of its own
    assert ringing.title == "Lee Chen" and ringing.contact.chat_id == "chat_lee_web"
    assert not rig.rec.of(CallerMatched)
    rig.session.answer(ringing.call_id)
    wait_until(
        lambda: any(v.phase is CallPhase.IN_CALL for v in rig.views(ringing.call_id)),
        10,
        "the answered call",
    )
    rig.session.hangup(ringing.call_id)
    wait_until(lambda: rig.rec.of(CallEnded), 10, "the call to end")
    assert rig.rec.of(CallEnded)[0].call.end is CallEnd.COMPLETED
    rig.delivered()
    (logged,) = rig.inbound_records()
    assert logged.id == record.id and logged.status is CallStatus.COMPLETED
    assert logged.answered_by == MAYA[0] and logged.contact_id == "ct_lee"
    assert logged.duration_s is not None and logged.ended_at is not None


def test_invite_before_the_crms_announcement_still_ends_on_the_crms_record(rig: Rig) -> None:
    call_id = rig.guest.make_call("g", rig.agent_uri)
    wait_until(lambda: rig.rec.of(IncomingCall), 10, "the call to ring")
    ringing = rig.rec.of(IncomingCall)[0].call
    record = rig.ring_from_crm(MAYA)  # the websocket lost the race against the INVITE
    wait_until(
        lambda: any(v.crm_call_id == record.id for v in rig.views(ringing.call_id)),
        10,
        "the call to take the CRM's record",
    )
    rig.guest.hangup(call_id)  # the guest gives up: missed
    wait_until(lambda: rig.rec.of(CallEnded), 10, "the call to end")
    assert rig.rec.of(CallEnded)[0].call.end is CallEnd.MISSED
    rig.delivered()
    (logged,) = rig.inbound_records()
    assert logged.id == record.id and logged.status is CallStatus.MISSED


def test_call_the_crm_never_announced_gets_its_own_record_after_the_grace(rig: Rig) -> None:
    call_id = rig.guest.make_call("g", rig.agent_uri)
    wait_until(lambda: rig.rec.of(IncomingCall), 10, "the call to ring")
    rig.guest.hangup(call_id)
    wait_until(lambda: rig.rec.of(CallEnded), 10, "the call to end")
    wait_until(lambda: len(rig.inbound_records()) == 1, 10, "the record the session created")
    rig.delivered()
    (logged,) = rig.inbound_records()
    assert logged.id == rig.rec.of(IncomingCall)[0].call.crm_call_id
    assert logged.status is CallStatus.MISSED and logged.contact_id == "ct_lee"


def test_answered_by_a_teammate_is_not_missed_and_leaves_the_record_to_them(rig: Rig) -> None:
    record = rig.ring_from_crm(MAYA, SAM)
    wait_until(lambda: record.id in rig.session._announced._waiting, 10, "the CRM's call.ringing")
    rig.guest.make_call("g", rig.agent_uri)
    wait_until(lambda: rig.rec.of(IncomingCall), 10, "the call to ring")
    assert rig.rec.of(IncomingCall)[0].call.crm_call_id == record.id
    with httpx.Client(base_url=rig.server.base_url, timeout=10) as sam:
        token = sam.post("/v1/session", json={"email": SAM[1], "password": SAM[2]})
        sam.headers["Authorization"] = "Bearer " + token.json()["token"]
        answered = sam.patch(f"/v1/calls/{record.id}", json={"status": "in_progress"})
        assert answered.status_code == 200, answered.text
    wait_until(lambda: rig.rec.of(CallEnded), 10, "the ringing to stop here")
    assert rig.rec.of(CallEnded)[0].call.end is CallEnd.ANSWERED_ELSEWHERE
    assert not [e for e in rig.rec.of(MissedCallsChanged) if e.count]
    rig.delivered()  # nothing refused: Maya's app did not fight over Sam's call
    (logged,) = rig.inbound_records()
    assert logged.status is CallStatus.IN_PROGRESS and logged.agent_id == SAM[0]


def _ringing(external_id: str | None = None, number: str = GUEST) -> CallRinging:
    at = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    return CallRinging(
        CallRecord(
            id=f"r-{external_id}-{number}",
            direction=CallDirection.INBOUND,
            status=CallStatus.RINGING,
            mode=CallMode.SOFTPHONE,
            agent_id="u",
            remote_number=number,
            created_at=at,
            started_at=at,
            updated_at=at,
            external_id=external_id,
        )
    )


def test_announced_calls_pair_by_sip_call_id_first_then_by_number_oldest_first() -> None:
    calls = ringing.AnnouncedCalls(window_s=60)
    first, second = _ringing(), _ringing(number="+14155550111")
    tagged = _ringing(external_id="abc@10.0.0.1")
    for n, announced in enumerate((first, second, tagged)):
        calls.add(announced, now=100 + n)
    assert calls.claim("+33100000000", now=110) is None  # nobody announced that number
    # a known Call-ID pairs with its own record even when an older one has the same number
    assert calls.claim(GUEST, now=110, sip_call_id="abc@10.0.0.1") is tagged
    assert calls.claim(GUEST, now=110, sip_call_id="other@10.0.0.1") is first  # by number
    assert calls.claim(GUEST, now=110) is None  # each record pairs once
    assert calls.claim("+14155550111", now=200) is None  # announced too long ago
