"""HttpCrm against the reference server over real HTTP: session, data, roles, failures."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmclient.errors import (
    AuthError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    ValidationError,
)
from crmclient.http import HttpCrm, RetryPolicy, Timeouts
from crmclient.models import (
    ApiTokenCredentials,
    CallCreate,
    CallDirection,
    CallFilter,
    CallStatus,
    CallUpdate,
    ContactCreate,
    MatchKind,
    PasswordCredentials,
    SessionToken,
)
from crmclient.server.runner import RunningServer
from tests.crmclient.conftest import MAYA, SAM, add_fault, clear_faults


@pytest.fixture(autouse=True)
def no_faults(server: RunningServer) -> Iterator[None]:
    yield
    clear_faults(server)


def _call(number: str = "+14155550111") -> CallCreate:
    return CallCreate(
        id=str(uuid.uuid4()),
        direction=CallDirection.OUTBOUND,
        remote_number=number,
        started_at=datetime.now(UTC),
    )


async def test_sign_in_with_password_and_api_token(crm: HttpCrm) -> None:
    seen: list[SessionToken | None] = []
    crm.add_session_listener(seen.append)
    session = await crm.sign_in(MAYA)
    assert session.user.email == "maya@lodgestory.test"
    assert (await crm.current_user()).id == session.user.id
    assert seen == [session]
    await crm.sign_out()
    assert seen[-1] is None
    with pytest.raises(AuthError):
        await crm.current_user()
    by_token = await crm.sign_in(ApiTokenCredentials("lsk_demo_maya"))
    assert by_token.user.id == session.user.id


async def test_wrong_password_is_an_auth_error(crm: HttpCrm) -> None:
    with pytest.raises(AuthError) as caught:
        await crm.sign_in(PasswordCredentials("maya@lodgestory.test", "Tr0ub4dor-guess"))
    assert caught.value.status == 401
    assert "Tr0ub4dor" not in str(caught.value)


async def test_refresh_on_401_replays_the_request(crm: HttpCrm) -> None:
    session = await crm.sign_in(MAYA)
    seen: list[SessionToken | None] = []
    crm.add_session_listener(seen.append)
    # The server no longer knows this token (as after a revocation or a clock jump).
    stale = dataclasses.replace(session, token="lst_revoked_token_value")
    await crm.restore_session(stale)
    assert crm.session is not None
    assert crm.session.token not in (stale.token, session.token)
    assert crm.session.refresh_token != session.refresh_token  # rotated
    assert seen[-1] is crm.session
    assert (await crm.get_provisioning()).user.id == session.user.id


async def test_expired_token_is_refreshed_before_sending(crm: HttpCrm) -> None:
    session = await crm.sign_in(MAYA)
    expired = dataclasses.replace(session, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    user = await crm.restore_session(expired)
    assert user.id == session.user.id
    assert crm.session is not None
    assert crm.session.token != session.token


async def test_refused_refresh_ends_the_session(crm: HttpCrm) -> None:
    session = await crm.sign_in(MAYA)
    seen: list[SessionToken | None] = []
    crm.add_session_listener(seen.append)
    dead = dataclasses.replace(session, token="lst_dead", refresh_token="lsr_dead")
    with pytest.raises(AuthError):
        await crm.restore_session(dead)
    assert crm.session is None
    assert seen[-1] is None


async def test_provisioning_and_sip_secret(crm: HttpCrm) -> None:
    await crm.sign_in(MAYA)
    provisioning = await crm.get_provisioning()
    countries = {c.country for _, c in provisioning.caller_ids()}
    assert {"US", "IN"} <= countries
    account = provisioning.accounts[0]
    secret = await crm.get_sip_secret(account.id)
    assert secret.account_id == account.id
    assert secret.password
    assert secret.password not in repr(secret)
    with pytest.raises(NotFound):
        await crm.get_sip_secret("acc_nope/../x")


async def test_contacts_round_trip(crm: HttpCrm) -> None:
    await crm.sign_in(MAYA)
    lookup = await crm.lookup_number("+14155550188")
    assert lookup.confirmed == ()
    assert {m.kind for m in lookup.maybe} == {MatchKind.MAYBE}
    known = await crm.lookup_number("+14155550111")
    assert [m.contact.name for m in known.confirmed] == ["Ana Souza"]
    chats = await crm.list_contact_chats(known.confirmed[0].contact.id)
    assert any(c.voice_capable for c in chats)
    found = await crm.search_contacts("Souza")
    assert [c.id for c in found] == [known.confirmed[0].contact.id]
    number = f"+1415555{uuid.uuid4().int % 10000:04d}"
    created = await crm.create_contact(ContactCreate(phone=number, name="New Guest"))
    assert (await crm.get_contact(created.id)).phones == (number,)
    with pytest.raises(ValidationError):
        await crm.lookup_number("not-a-number")


async def test_calls_round_trip_and_idempotent_create(crm: HttpCrm, tmp_path: Path) -> None:
    await crm.sign_in(MAYA)
    new = _call()
    first = await crm.create_call(new)
    again = await crm.create_call(new)
    assert first.id == again.id == new.id
    ringing = await crm.update_call(
        new.id, CallUpdate(status=CallStatus.RINGING), idempotency_key=f"{new.id}-1"
    )
    assert ringing.status is CallStatus.RINGING
    replay = await crm.update_call(
        new.id, CallUpdate(status=CallStatus.RINGING), idempotency_key=f"{new.id}-1"
    )
    assert replay.status is CallStatus.RINGING
    page = await crm.list_calls(CallFilter(live=True))
    assert new.id in [c.id for c in page.items]
    assert (await crm.get_call(new.id)).status is CallStatus.RINGING
    rows = await crm.export_calls_csv(CallFilter(), tmp_path / "calls.csv")
    assert rows >= 1
    assert new.id in (tmp_path / "calls.csv").read_text(encoding="utf-8")
    assert await crm.get_transcript(new.id) is None


async def test_a_user_cannot_read_another_agents_calls(crm: HttpCrm, server: RunningServer) -> None:
    await crm.sign_in(SAM)
    sams = await crm.create_call(_call())
    maya = HttpCrm(server.base_url)
    try:
        await maya.sign_in(MAYA)
        with pytest.raises(NotFound):
            await maya.get_call(sams.id)
        with pytest.raises(PermissionDenied):
            await maya.list_calls(CallFilter(agent_id=sams.agent_id))
    finally:
        await maya.aclose()


async def test_server_errors_are_retried_for_idempotent_requests(
    crm: HttpCrm, server: RunningServer
) -> None:
    await crm.sign_in(MAYA)
    add_fault(server, path="/v1/me", method="GET", mode="status", status=503, count=2)
    assert (await crm.current_user()).email == "maya@lodgestory.test"
    add_fault(server, path="/v1/me", method="GET", mode="status", status=503, count=5)
    with pytest.raises(ServerError) as caught:
        await crm.current_user()
    assert caught.value.status == 503


@pytest.mark.parametrize(
    ("mode", "error"),
    [("bad_json", ProtocolError), ("wrong_types", ProtocolError), ("huge", ResponseTooLarge)],
)
async def test_malformed_replies_are_typed_errors(
    crm: HttpCrm, server: RunningServer, mode: str, error: type[Exception]
) -> None:
    await crm.sign_in(MAYA)
    add_fault(server, path="/v1/calls", method="GET", mode=mode, size=20_000_000)
    with pytest.raises(error):
        await crm.list_calls()
    # The client is still usable afterwards.
    assert (await crm.current_user()).email == "maya@lodgestory.test"


async def test_slow_answer_times_out(crm: HttpCrm, server: RunningServer) -> None:
    session = await crm.sign_in(MAYA)  # generous timeouts: sign-in hashes a password
    impatient = HttpCrm(
        server.base_url, timeouts=Timeouts(read=1.0, total=2.0), retry=RetryPolicy(attempts=1)
    )
    try:
        await impatient.restore_session(session)
        add_fault(server, path="/v1/provisioning", method="GET", mode="slow", delay_s=6.0)
        with pytest.raises(RequestTimeout):
            await impatient.get_provisioning()
    finally:
        await impatient.aclose()
