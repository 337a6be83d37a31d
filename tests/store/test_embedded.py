"""The embedded CRM keeps the contract the reference server keeps.

The call-log expectations run against both backends (the same test body, the real server
over HTTP and the embedded store), so the app cannot tell them apart. Contacts, maybe
matches, CSV, roles, events and restarts are checked on the embedded store with its own data.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmclient import errors
from crmclient.backend import CrmBackend
from crmclient.csvexport import CSV_COLUMNS as SERVER_CSV_COLUMNS
from crmclient.embedded import EmbeddedCrm
from crmclient.http import HttpCrm
from crmclient.models import (
    BatchOp,
    BatchWrite,
    CallCreate,
    CallDirection,
    CallerId,
    CallerIdHeader,
    CallFilter,
    CallingAccount,
    CallStatus,
    CallUpdate,
    CardCreate,
    CardKind,
    Channel,
    Chat,
    ChatStatus,
    Contact,
    ContactCreate,
    MatchSource,
    PasswordCredentials,
    PermissionState,
    PresenceStatus,
    Provisioning,
    Role,
    SipSettings,
    User,
)
from crmclient.server import ServerConfig, start_server
from tests.store.crm_proc import EMAIL, PASSWORD

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("server")
    running = start_server(ServerConfig(db_path=folder / "crm.db"))
    yield running.base_url
    running.stop()


@pytest.fixture(params=["embedded", "server"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, server: str
) -> AsyncIterator[CrmBackend]:
    crm: CrmBackend
    if request.param == "embedded":
        crm = EmbeddedCrm(tmp_path / "crm.db")
    else:
        crm = HttpCrm(server)
        await crm.sign_in(PasswordCredentials(EMAIL, PASSWORD))
    yield crm
    await crm.aclose()


async def log_calls(crm: CrmBackend, tag: str, count: int) -> list[str]:
    """``count`` calls a minute apart, newest last; every third missed and inbound."""
    ids = []
    for i in range(count):
        missed = i % 3 == 0
        call = CallCreate(
            id=str(uuid.uuid4()),
            direction=CallDirection.INBOUND if missed else CallDirection.OUTBOUND,
            remote_number=f"+1628555{i:04d}",
            started_at=T0 + timedelta(minutes=i),
            status=CallStatus.RINGING if missed else CallStatus.IN_PROGRESS,
            guest_name=f"{tag} Guest{i}",
        )
        await crm.create_call(call)
        final = CallStatus.MISSED if missed else CallStatus.COMPLETED
        await crm.update_call(call.id, CallUpdate(status=final))
        ids.append(call.id)
    return ids


async def test_call_log_pages_filters_and_counts_like_the_server(backend: CrmBackend) -> None:
    tag = "Zq" + uuid.uuid4().hex[:6]
    ids = await log_calls(backend, tag, 150)
    mine = CallFilter(text=tag)

    seen: list[str] = []
    cursor: str | None = None
    sizes = []
    while True:
        page = await backend.list_calls(mine, cursor=cursor)
        assert page.total == 150
        sizes.append(len(page.items))
        seen.extend(c.id for c in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sizes == [100, 50]
    assert seen == list(reversed(ids))  # newest first, each exactly once

    missed = await backend.list_calls(
        CallFilter(text=tag, statuses=(CallStatus.MISSED,), direction=CallDirection.INBOUND)
    )
    assert missed.total == 50
    assert {c.status for c in missed.items} == {CallStatus.MISSED}

    window = await backend.list_calls(
        CallFilter(text=tag, since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20))
    )
    assert [c.guest_name for c in window.items] == [f"{tag} Guest{i}" for i in range(19, 9, -1)]

    by_digits = await backend.list_calls(CallFilter(text="(628) 555-0042"))
    assert [c.remote_number for c in by_digits.items if c.id in ids] == ["+16285550042"]

    assert (await backend.list_calls(CallFilter(text=tag, live=True))).total == 0
    await backend.update_call(ids[-1], CallUpdate(notes="x"))  # still completed: not live

    with pytest.raises(errors.ValidationError):
        await backend.list_calls(mine, cursor="not-a-cursor")


async def test_calls_are_idempotent_and_transitions_checked(backend: CrmBackend) -> None:
    call = CallCreate(
        id=str(uuid.uuid4()),
        direction=CallDirection.OUTBOUND,
        remote_number="+16285559999",
        started_at=T0,
    )
    first = await backend.create_call(call)
    again = await backend.create_call(call)
    assert again.id == first.id
    key = uuid.uuid4().hex
    done = await backend.update_call(
        call.id, CallUpdate(status=CallStatus.COMPLETED, duration_s=42), idempotency_key=key
    )
    replay = await backend.update_call(
        call.id, CallUpdate(status=CallStatus.COMPLETED, duration_s=42), idempotency_key=key
    )
    assert (done.status, replay.status, replay.duration_s) == (
        CallStatus.COMPLETED,
        CallStatus.COMPLETED,
        42,
    )
    with pytest.raises(errors.Conflict):
        await backend.update_call(call.id, CallUpdate(status=CallStatus.RINGING))
    with pytest.raises(errors.NotFound):
        await backend.get_call(str(uuid.uuid4()))


def contact(cid: str, name: str, *phones: str) -> Contact:
    return Contact(id=cid, name=name, phones=phones, created_at=T0, updated_at=T0)


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[EmbeddedCrm]:
    store = EmbeddedCrm(tmp_path / "crm.db")
    store.add_contacts(
        [
            contact("ct-ana", "Ana Souza", "+14155550111"),
            contact("ct-raj", "Raj Mehta", "+919812345678", "+14155550122"),
        ]
    )
    store.add_maybe_number("+14155550199", "ct-ana", MatchSource.SIGNATURE, "cell +1 415...")
    store.add_maybe_number("+14155550122", "ct-ana", MatchSource.MESSAGE, "my cousin's phone")
    store.add_chats(
        [
            Chat("chat-wa", "ct-ana", Channel.WHATSAPP, "Late check-in", ChatStatus.OPEN, True, T0),
            Chat("chat-mail", "ct-ana", Channel.EMAIL, "Invoice", ChatStatus.PENDING, False, T0),
            Chat("chat-old", "ct-ana", Channel.WEBCHAT, "Old", ChatStatus.CLOSED, True, T0),
        ]
    )
    yield store
    await store.aclose()


async def test_lookup_keeps_maybe_matches_apart(crm: EmbeddedCrm) -> None:
    confirmed = await crm.lookup_number("+14155550111")
    assert confirmed.contact is not None
    assert confirmed.contact.name == "Ana Souza"
    assert confirmed.maybe == ()

    maybe = await crm.lookup_number("+14155550199")
    assert maybe.confirmed == ()
    assert maybe.contact is None
    assert [(m.contact.id, m.source, m.excerpt) for m in maybe.maybe] == [
        ("ct-ana", MatchSource.SIGNATURE, "cell +1 415...")
    ]

    both = await crm.lookup_number("+14155550122")  # Raj's number, seen in Ana's message
    assert [m.contact.id for m in both.confirmed] == ["ct-raj"]
    assert [m.contact.id for m in both.maybe] == ["ct-ana"]

    assert (await crm.lookup_number("+442079460000")).confirmed == ()
    with pytest.raises(errors.ValidationError, match=r"E\.164"):
        await crm.lookup_number("(415) 555-0111")


async def test_unknown_number_becomes_a_contact_and_search_finds_it(crm: EmbeddedCrm) -> None:
    created = await crm.create_contact(ContactCreate(phone="+12125550100"))
    assert created.name == "+12125550100"
    assert (await crm.lookup_number("+12125550100")).contact == created
    assert [c.id for c in await crm.search_contacts("mehta")] == ["ct-raj"]
    assert [c.id for c in await crm.search_contacts("9812345")] == ["ct-raj"]
    assert [c.id for c in await crm.search_contacts("ra")] == ["ct-raj"]  # short: scanned
    assert await crm.search_contacts("   ") == ()


async def test_active_chats_and_permission(crm: EmbeddedCrm) -> None:
    chats = await crm.list_contact_chats("ct-ana")
    assert {c.id for c in chats} == {"chat-wa", "chat-mail"}
    assert (await crm.get_call_permission("chat-wa")).state is PermissionState.NOT_REQUESTED
    asked = await crm.request_call_permission("chat-wa")
    assert asked.state is PermissionState.PENDING
    with pytest.raises(errors.ValidationError, match="cannot carry calls"):
        await crm.get_call_permission("chat-mail")


async def test_csv_export_matches_the_server_columns(crm: EmbeddedCrm, tmp_path: Path) -> None:
    tag = "Csv"
    await log_calls(crm, tag, 3)
    await crm.update_call(
        (await crm.list_calls()).items[0].id, CallUpdate(notes="=HYPERLINK(evil)")
    )
    dest = tmp_path / "calls.csv"
    assert await crm.export_calls_csv(CallFilter(statuses=(CallStatus.COMPLETED,)), dest) == 2
    with open(dest, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == SERVER_CSV_COLUMNS
    assert len(rows) == 3
    notes = [r[rows[0].index("notes")] for r in rows[1:]]
    assert "'=HYPERLINK(evil)" in notes  # a formula is neutralised for spreadsheets


async def test_a_user_sees_only_their_own_calls(tmp_path: Path) -> None:
    agent = User(id="u-sam", email="sam@x.test", name="Sam", role=Role.USER)
    store = EmbeddedCrm(tmp_path / "crm.db", user=agent)
    try:
        own = await log_calls(store, "Own", 2)
        admin = EmbeddedCrm(tmp_path / "crm.db")  # the owner, same file
        other = CallCreate(
            id=str(uuid.uuid4()),
            direction=CallDirection.INBOUND,
            remote_number="+16285551234",
            started_at=T0,
            agent_id="u-maya",
        )
        await admin.create_call(other)
        await admin.aclose()
        page = await store.list_calls()
        assert {c.id for c in page.items} == set(own)
        with pytest.raises(errors.PermissionDenied):
            await store.list_calls(CallFilter(agent_id="u-maya"))
        with pytest.raises(errors.NotFound):
            await store.get_call(other.id)
    finally:
        await store.aclose()


async def test_events_resume_after_a_restart_and_cards_are_idempotent(
    crm: EmbeddedCrm, tmp_path: Path
) -> None:
    subscription = crm.subscribe(after=0)
    (call_id,) = await log_calls(crm, "Ev", 1)
    card = CardCreate(
        id=str(uuid.uuid4()),
        chat_id="chat-wa",
        call_id=call_id,
        kind=CardKind.MISSED,
        direction=CallDirection.INBOUND,
        status=CallStatus.MISSED,
    )
    assert await crm.post_card(card) == await crm.post_card(card)
    assert len(await crm.list_cards("chat-wa")) == 1
    await crm.set_presence(PresenceStatus.DND)
    seen = []
    async for event in subscription:
        seen.append(event)
        if event.type == "presence.changed":
            break
    assert [e.type for e in seen] == [
        "call.updated",
        "call.updated",
        "card.posted",
        "presence.changed",
    ]
    assert [e.id for e in seen] == sorted({e.id for e in seen})
    await crm.aclose()

    reopened = EmbeddedCrm(tmp_path / "crm.db")
    try:
        replay = reopened.subscribe(after=seen[1].id)
        await reopened.set_presence(PresenceStatus.AVAILABLE)
        again = []
        async for event in replay:
            again.append(event.type)
            if len(again) == 3:
                break
        assert again == ["card.posted", "presence.changed", "presence.changed"]
        assert (await reopened.get_presence()).status is PresenceStatus.AVAILABLE
    finally:
        await reopened.aclose()


async def test_batched_writes_behave_alike_on_both_backends(backend: CrmBackend) -> None:
    ok, ended = (
        CallCreate(
            id=str(uuid.uuid4()),
            direction=CallDirection.OUTBOUND,
            remote_number="+16285558888",
            started_at=T0,
        )
        for _ in range(2)
    )
    await backend.create_call(ended)
    await backend.update_call(ended.id, CallUpdate(status=CallStatus.COMPLETED))
    key = uuid.uuid4().hex
    writes = [
        BatchWrite(BatchOp.CALL_CREATE, call=ok),
        BatchWrite(
            BatchOp.CALL_UPDATE, call_id=ok.id, update=CallUpdate(notes="n"), idempotency_key=key
        ),
        BatchWrite(
            BatchOp.CALL_UPDATE, call_id=ended.id, update=CallUpdate(status=CallStatus.RINGING)
        ),
        BatchWrite(BatchOp.CALL_UPDATE, call_id=ended.id, update=CallUpdate(notes="later")),
        BatchWrite(BatchOp.CALL_UPDATE, call_id=str(uuid.uuid4()), update=CallUpdate(notes="x")),
    ]
    results = await backend.write_batch(writes)
    assert [(r.status >= 300, r.error and r.error.code) for r in results] == [
        (False, None),
        (False, None),
        (True, "invalid_transition"),
        (True, "earlier_write_failed"),
        (True, "not_found"),
    ]
    assert results[1].call is not None and results[1].call.notes == "n"
    assert (await backend.get_call(ended.id)).notes is None
    replay = await backend.write_batch(writes[:2])
    assert [r.ok for r in replay] == [True, True]
    assert replay[1].call == results[1].call  # the key's first answer
    with pytest.raises(errors.ValidationError):
        await backend.write_batch([])


async def test_provisioning_keeps_where_each_provider_reads_the_caller_id(tmp_path: Path) -> None:
    """Two providers like the server's seed: the US trunk reads the caller-ID from the From
    user, the India line from P-Preferred-Identity; both survive a restart of the store."""
    user = User(id="local", email="agent@local", name="Agent", role=Role.USER)

    def account(acc_id: str, header: CallerIdHeader, number: str, country: str) -> CallingAccount:
        return CallingAccount(
            id=acc_id,
            provider=acc_id,
            label=acc_id,
            sip=SipSettings(domain=f"{acc_id}.test", username="agent", caller_id_header=header),
            caller_ids=(CallerId(id=f"cid-{acc_id}", number=number, country=country),),
        )

    prov = Provisioning(
        user=user,
        accounts=(
            account("trunk", CallerIdHeader.FROM, "+14155550100", "US"),
            account("pbx", CallerIdHeader.P_PREFERRED_IDENTITY, "+918045550100", "IN"),
        ),
        teammates=(),
        revision=1,
    )
    store = EmbeddedCrm(tmp_path / "crm.db", provisioning=prov)
    await store.aclose()
    reopened = EmbeddedCrm(tmp_path / "crm.db")
    try:
        got = await reopened.get_provisioning()
    finally:
        await reopened.aclose()
    headers = {a.id: a.sip.caller_id_header for a in got.accounts}
    assert headers == {"trunk": CallerIdHeader.FROM, "pbx": CallerIdHeader.P_PREFERRED_IDENTITY}
