"""AgentSession against real engines (agent and guest on loopback), the embedded CRM and
the outbox: what the agent sees and what the CRM gets."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.config import Settings
from app.session import mapping, outbound, phone
from app.session.agent import AgentSession
from app.session.model import (
    AudioDevicesListed,
    CallDirection,
    CallEnd,
    CallEnded,
    CallerMatched,
    CallView,
    DialRequest,
    DisabledReason,
    ErrorKind,
    IncomingCall,
    LineState,
    LineStatus,
    MissedCallsChanged,
    UserError,
)
from crmclient.models import (
    CallDirection as CrmDirection,
)
from crmclient.models import (
    CallerId,
    CallingAccount,
    CallStatus,
    CardKind,
    Channel,
    Chat,
    ChatStatus,
    Contact,
    Provisioning,
    Role,
    SipSettings,
    User,
    can_transition,
)
from crmclient.outbox import Outbox
from softphone import events as ev
from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import IncomingCallReceived
from softphone.types import EndReason
from tests.app.helpers import wait_until

GUEST = "+34911234567"
USER = User(id="u1", email="agent@example.com", name="Agent", role=Role.USER)


def _prov(port: int, caller_ids=None) -> Provisioning:
    ids = (
        caller_ids
        if caller_ids is not None
        else (
            CallerId(id="es", number="+34910000001", country="ES", is_default=True),
            CallerId(id="us", number="+12125550100", country="US"),
        )
    )
    account = CallingAccount(
        id="line",
        provider="test",
        label="Test line",
        sip=SipSettings(domain="127.0.0.1", username="agent", port=port, register=False),
        caller_ids=ids,
    )
    return Provisioning(user=USER, accounts=(account,), teammates=(), revision=1)


# ----------------------------------------------------------------------- pure rules
@pytest.mark.parametrize("answered", [False, True])
@pytest.mark.parametrize("direction", list(CallDirection))
@pytest.mark.parametrize("reason", [None, *EndReason])
def test_every_end_maps_to_a_status_the_crm_accepts(reason, direction, answered):
    end, status, _cause = mapping.end_of_call(reason, answered, direction)
    live = CallStatus.IN_PROGRESS if answered else CallStatus.RINGING
    assert can_transition(live, status), (reason, direction, answered, status)
    if reason is EndReason.ANSWERED_ELSEWHERE and not answered:
        assert end is CallEnd.ANSWERED_ELSEWHERE and status is not CallStatus.MISSED
    if reason is EndReason.MISSED:
        assert end is (CallEnd.COMPLETED if answered else CallEnd.MISSED) or answered


def test_outbound_options_disabled_reasons_and_caller_id_choice():
    phone.set_country_names({"US": "United States", "ES": "Spain"}.get)
    prov = _prov(5060)
    lines = {"line": LineState.REGISTERED}
    assert outbound.options("", None, {}, "US").disabled is DisabledReason.NOT_CONFIGURED
    assert outbound.options("", prov, lines, "US").disabled is DisabledReason.NO_NUMBER
    assert outbound.options("tel:abc", prov, lines, "US").disabled is DisabledReason.NO_NUMBER
    none = _prov(5060, caller_ids=())
    opts = outbound.options("+12125550199", none, lines, "US")
    assert opts.disabled is DisabledReason.NO_CALLER_ID
    assert opts.disabled.value == "No caller-ID numbers assigned"
    us = outbound.options("(212) 555-0199", prov, lines, "US")
    assert us.disabled is None and us.caller_id == "+12125550100"
    assert us.destination.e164 == "+12125550199" and us.destination.country == "United States"
    fr = outbound.options("+33 1 42 68 53 00", prov, lines, "US")
    assert fr.caller_id == "+34910000001"  # no French number: the default
    pinned = outbound.options("+12125550199", prov, lines, "US", caller_id="+34910000001")
    assert pinned.caller_id == "+34910000001"  # overridden in one click
    no_default = _prov(5060, caller_ids=(CallerId(id="us", number="+12125550100", country="US"),))
    jp = outbound.options("+81 3-1234-5678", no_default, lines, "US")
    assert jp.error is not None and jp.error.kind is ErrorKind.NO_CALLER_ID_FOR_COUNTRY
    assert jp.error.message == "No caller-ID available for this destination country"


def test_callee_local_time_follows_the_crm_number_rules():
    noon_utc = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert phone.local_time("+919876543210", noon_utc) == ("17:30", True)  # India, UTC+5:30
    assert phone.local_time("+12125550199", noon_utc) == ("07:00", False)  # New York, early
    assert phone.local_time("+18003569377", noon_utc) == ("", None)  # toll free: many zones
    dest = outbound.describe("+91 98765 43210", "US", now=noon_utc)
    assert (dest.e164, dest.local_time, dest.outside_hours) == ("+919876543210", "17:30", False)


# ----------------------------------------------------------------------- real flows
class Recorder:
    def __init__(self):
        self.events: list[object] = []
        self.times: list[tuple[float, object]] = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
            self.times.append((time.monotonic(), event))

    def of(self, cls):
        with self.lock:
            return [e for e in self.events if isinstance(e, cls)]


@pytest.fixture
def rig(runner, embedded, tmp_path):
    cfg = EngineConfig(rtp_bind_address="127.0.0.1", audio_backend="null", log_level=1)
    logs = [open(tmp_path / f"{n}.log", "wb") for n in ("guest", "agent")]  # noqa: SIM115
    guest = EngineClient(cfg, stderr=logs[0])
    agent = EngineClient(cfg, stderr=logs[1])
    guest.start()
    agent.start()
    added = guest.add_account(
        AccountConfig(
            account_id="g",
            username=GUEST.lstrip("+"),
            domain="127.0.0.1",
            display_name="Maria",
            bind_address="127.0.0.1",
            local_port=0,
            auto_answer=True,
        )
    )
    now = datetime.now(UTC)
    embedded.set_provisioning(_prov(added.local_port))
    embedded.add_contacts(
        [Contact(id="c-maria", name="Maria Lopez", phones=(GUEST,), created_at=now, updated_at=now)]
    )
    embedded.add_chats(
        [
            Chat(
                id="chat-maria",
                contact_id="c-maria",
                channel=Channel.EMAIL,
                subject="Booking",
                status=ChatStatus.OPEN,
                voice_capable=False,
                last_message_at=now - timedelta(minutes=1),
            )
        ]
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    delivery = runner.submit(outbox.run(outbox.sender(embedded)))
    session = AgentSession(agent, embedded, outbox, runner, lambda: Settings(default_region="US"))
    rec = Recorder()
    session.subscribe(rec)
    session.start(stream=False).result(20)
    wait_until(lambda: session.accounts_added.get("line") is not None, 10, "agent account")
    yield session, guest, rec, embedded, outbox
    session.close()
    delivery.cancel()
    agent.stop()
    guest.stop()
    outbox.close()
    for f in logs:
        f.close()


def _crm_calls(runner, crm):
    return runner.run(crm.list_calls()).items


def test_inbound_call_matched_fast_then_missed_is_logged(rig, runner):
    session, guest, rec, crm, outbox = rig
    port = session.accounts_added["line"].local_port
    t0 = time.monotonic()
    call_id = guest.make_call("g", f"sip:agent@127.0.0.1:{port}")
    wait_until(lambda: rec.of(CallerMatched), 10, "caller match")
    ring_at = next(t for t, e in rec.times if isinstance(e, IncomingCall))
    match_at = next(t for t, e in rec.times if isinstance(e, CallerMatched))
    incoming = rec.of(IncomingCall)[0]
    assert incoming.call.direction is CallDirection.INBOUND and incoming.call.number == GUEST
    matched = rec.of(CallerMatched)[0]
    assert matched.contact.name == "Maria Lopez" and matched.contact.chat_id == "chat-maria"
    assert match_at - ring_at < 0.15, "name must be ready for the popup within 150 ms"
    assert ring_at > t0
    guest.hangup(call_id)  # the guest gives up before anyone answers
    wait_until(lambda: rec.of(CallEnded), 10, "the call to end")
    assert rec.of(CallEnded)[0].call.end is CallEnd.MISSED
    # the badge count follows CallEnded on the engine's event thread: wait for it too
    wait_until(lambda: rec.of(MissedCallsChanged), 5, "the missed-calls badge")
    assert rec.of(MissedCallsChanged)[-1].count == 1
    session.flush_writes()
    wait_until(lambda: outbox.status().pending == 0, 10, "outbox delivery")
    (record,) = _crm_calls(runner, crm)
    assert record.direction is CrmDirection.INBOUND and record.status is CallStatus.MISSED
    assert record.contact_id == "c-maria" and record.chat_id == "chat-maria"
    cards = runner.run(crm.list_cards("chat-maria"))
    assert [c.kind for c in cards] == [CardKind.MISSED]


def test_outbound_call_is_logged_from_dial_to_hangup_one_at_a_time(rig, runner, monkeypatch):
    session, _guest, rec, crm, outbox = rig
    presented = []
    make_call = session.engine.make_call

    def spy(*args, **kwargs):
        presented.append(kwargs.get("caller_id"))
        return make_call(*args, **kwargs)

    monkeypatch.setattr(session.engine, "make_call", spy)
    at_guest: list[IncomingCallReceived] = []
    _guest.subscribe(lambda e: at_guest.append(e) if isinstance(e, IncomingCallReceived) else None)
    session.dial(DialRequest("tel:+34-911-234-567", chat_id="chat-maria", contact_id="c-maria"))
    wait_until(
        lambda: any(isinstance(v, CallView) and v.phase.value == "in_call" for v in rec.events),
        10,
        "the guest to answer",
    )
    wait_until(lambda: rec.of(CallerMatched), 5, "the callee's name")
    live = [v for v in rec.of(CallView) if v.phase.value == "in_call"][-1]
    assert live.caller_id == "+34910000001"
    # the number chosen for Spain is the one the engine presents on the INVITE
    # (tests/softphone/test_caller_id.py shows it on the wire)
    assert presented == ["+34910000001"]
    # this provider reads it from P-Preferred-Identity: the From user stays the account's
    # (test_session_crm.py has a provider that reads it from the From header)
    assert [e.remote_user for e in at_guest] == ["agent"]
    assert rec.of(CallerMatched)[0].contact.name == "Maria Lopez"
    session.dial(DialRequest("+12125550199"))  # a second outbound while one is active
    wait_until(lambda: rec.of(UserError), 5, "the busy error")
    assert rec.of(UserError)[0].kind is ErrorKind.BUSY_WITH_CALL
    session.flush_writes()
    wait_until(
        lambda: [r.status for r in _crm_calls(runner, crm)] == [CallStatus.IN_PROGRESS],
        10,
        "the live record",
    )
    session.hangup()
    wait_until(lambda: rec.of(CallEnded), 10, "the call to end")
    assert rec.of(CallEnded)[0].call.end is CallEnd.COMPLETED
    session.flush_writes()
    wait_until(lambda: outbox.status().pending == 0, 10, "outbox delivery")
    (record,) = _crm_calls(runner, crm)
    assert record.status is CallStatus.COMPLETED and record.remote_number == GUEST
    assert record.local_number == "+34910000001" and record.answered_at is not None
    kinds = [c.kind for c in runner.run(crm.list_cards("chat-maria"))]
    assert kinds == [CardKind.INITIATED, CardKind.COMPLETED]


def test_settings_get_the_device_list_at_start_not_only_after_a_hotplug(rig):
    session, _guest, rec, _crm, _outbox = rig
    # The engine announced its devices before the session listened; the session asked.
    wait_until(lambda: rec.of(AudioDevicesListed), 5, "the device list")
    assert session.audio_devices == rec.of(AudioDevicesListed)[-1]


def test_dial_refuses_with_the_products_errors(rig):
    session, _guest, rec, _crm, _outbox = rig
    session.dial(DialRequest("tel:1-800-FLOWERS"))
    wait_until(lambda: rec.of(UserError), 5, "an error")
    err = rec.of(UserError)[0]
    assert err.kind is ErrorKind.INVALID_NUMBER and "letters" in err.detail
    lines = rec.of(LineStatus)
    assert lines[-1].state is LineState.REGISTERED


def test_web_crm_call_button_reaches_the_dialer(rig, runner):
    session, _guest, rec, crm, _outbox = rig
    session._stream_task = runner.submit(session._follow_stream())

    def asked() -> bool:
        # The stream starts "from now on": press the web CRM's Call button until the
        # subscription is up and delivers it (the first delivery is what counts).
        if not any(isinstance(e, DialRequest) for e in rec.events):
            runner.run(crm.request_dial("chat-maria", number=GUEST))
            return False
        return True

    wait_until(asked, 10, "the dial request from the CRM", step=0.2)
    req = next(e for e in rec.events if isinstance(e, DialRequest))
    assert req.number == GUEST and req.chat_id == "chat-maria"
    assert req.source.value == "crm" and req.dial_now is False


def test_engine_warnings_reach_the_agent_in_plain_words(rig, runner):
    session, _guest, rec, _embedded, _outbox = rig
    # what the engine client's reader thread does with an engine_warned line
    session.engine._emit(
        ev.EngineWarned("2 inbound call(s) refused: 2 got 503", "inbound_calls_refused")
    )
    session.engine._emit(ev.EngineWarned("playback: cannot open output device", "no_audio"))
    session.engine._emit(ev.EngineWarned("srtp renegotiated", "some_future_code"))
    wait_until(lambda: len(rec.of(UserError)) >= 2, 5, "two errors for the agent")
    kinds = [e.kind for e in rec.of(UserError)]
    assert kinds == [ErrorKind.CALLS_REFUSED, ErrorKind.AUDIO_DEVICE]  # the unknown one: log
    refused = rec.of(UserError)[0]
    assert refused.message == "Some callers could not get through"
    assert "call back" in refused.what_to_do
    assert "503" in refused.detail
