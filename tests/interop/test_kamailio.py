"""Kamailio with digest auth as the registrar: register, call through it, survive outages."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from softphone.config import AccountConfig
from softphone.events import EngineDied, EngineRestarted
from softphone.types import CallState, EndReason, RegistrationState, Transport
from tests.rig import tones
from tests.rig.engine import TERMINAL, EnginePeer
from tests.rig.kamailio import Kamailio
from tests.rig.waiting import wait_until

pytestmark = pytest.mark.peers

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    with Kamailio(USERS, workdir=tmp_path_factory.mktemp("kamailio")) as k:
        yield k


def _account(k: Kamailio, user: str, *, password: str | None = None, **kw: object) -> AccountConfig:
    transport = kw.pop("transport", Transport.UDP)
    suffix = "" if transport == Transport.UDP else f";transport={transport}"
    return AccountConfig(
        account_id=f"{user}-kam",
        username=user,
        domain=k.domain,
        password=USERS[user] if password is None else password,
        registrar=f"sip:{k.domain}{suffix}",
        transport=transport,  # type: ignore[arg-type]
        bind_address="127.0.0.1",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def alice(kamailio: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnginePeer]:
    with EnginePeer("alice", workdir=tmp_path_factory.mktemp("alice")) as peer:
        peer.add_account(_account(kamailio, "alice"))
        peer.wait_registration(RegistrationState.REGISTERED, 5)
        yield peer


@pytest.fixture(scope="module")
def bob(kamailio: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnginePeer]:
    with EnginePeer("bob", workdir=tmp_path_factory.mktemp("bob")) as peer:
        peer.add_account(_account(kamailio, "bob"))
        peer.wait_registration(RegistrationState.REGISTERED, 5)
        yield peer


def test_two_engines_register_and_call_each_other_through_kamailio(
    kamailio: Kamailio, alice: EnginePeer, bob: EnginePeer
) -> None:
    mark, bmark = alice.events.mark(), bob.events.mark()
    call_id = alice.client.make_call(alice.account_id, kamailio.aor("bob"))
    incoming = bob.wait_incoming(5, since=bmark)
    assert incoming.remote_user == "alice", incoming
    alice.wait_call(CallState.RINGING, 5, call_id=call_id, since=mark)
    bob.client.answer(incoming.call_id)
    alice.wait_call(CallState.IN_CALL, 5, call_id=call_id, since=mark)
    bob.wait_call(CallState.IN_CALL, 5, call_id=incoming.call_id, since=bmark)
    # Audio goes end to end (media is direct; signalling went through Kamailio).
    path = bob.client.start_recording(incoming.call_id)
    alice.client.play_tone(call_id, 1000.0)
    wait_until(lambda: tones.try_analyse_wav(path).tone_windows >= 25, 5, "alice's tone at bob")
    # bob hangs up: the BYE travels back through the proxy's record-route.
    bob.client.hangup(incoming.call_id)
    ended = alice.wait_call(TERMINAL, 5, call_id=call_id, since=mark)
    assert ended.state == CallState.ENDED and ended.end_reason == EndReason.REMOTE_HANGUP


def test_a_wrong_password_fails_with_the_sip_code(kamailio: Kamailio, tmp_path: Path) -> None:
    with EnginePeer("carol", workdir=tmp_path / "carol") as peer:
        peer.add_account(_account(kamailio, "carol", password="not-her-password"))
        failed = peer.wait_registration(RegistrationState.FAILED, 5)
        assert failed.code in (401, 403), failed
        peer.events.assert_none(
            lambda e: getattr(e, "state", None) == RegistrationState.REGISTERED,
            message="registered with a wrong password",
        )
        assert "not-her-password" not in peer.log_tail(10_000)


def _outage(kamailio: Kamailio, peer: EnginePeer, detect_within_s: float) -> float:
    """Stop Kamailio until the engine reports FAILED; restart it; seconds until REGISTERED."""
    peer.wait_registration(RegistrationState.REGISTERED, 5)
    mark = peer.events.mark()
    kamailio.stop()
    try:
        failed = peer.wait_registration(RegistrationState.FAILED, detect_within_s, since=mark)
        assert failed.code >= 400 and failed.retry_in_s is not None, failed
    finally:
        mark = peer.events.mark()
        kamailio.start()
    back_at = time.monotonic()
    peer.wait_registration(RegistrationState.REGISTERED, 5, since=mark)
    return time.monotonic() - back_at


@pytest.fixture
def own_kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    """A registrar of the test's own: outages must not wipe the shared one's bindings
    (a restarted Kamailio forgets every registration, as a rebooted registrar would)."""
    with Kamailio(USERS, workdir=tmp_path / "kamailio") as k:
        yield k


def test_registrar_outage_fails_at_once_then_recovers_within_5s(
    own_kamailio: Kamailio, tmp_path: Path
) -> None:
    """Over TCP the dropped connection shows the outage at once (the status dot turns
    red), and the engine's backoff brings the account back within 5 s of the restart.
    Default account settings: nothing tuned for the test."""
    with EnginePeer("carol", workdir=tmp_path / "carol") as peer:
        peer.add_account(_account(own_kamailio, "carol", transport=Transport.TCP))
        assert _outage(own_kamailio, peer, detect_within_s=5) <= 5.0


def test_engine_killed_during_a_call_fails_the_call_and_registers_again(
    kamailio: Kamailio, alice: EnginePeer, tmp_path: Path
) -> None:
    with EnginePeer("carol", workdir=tmp_path / "carol") as carol:
        carol.add_account(_account(kamailio, "carol"))
        carol.wait_registration(RegistrationState.REGISTERED, 5)
        mark, amark = carol.events.mark(), alice.events.mark()
        call_id = carol.client.make_call(carol.account_id, kamailio.aor("alice"))
        incoming = alice.wait_incoming(5, since=amark)
        alice.client.answer(incoming.call_id)
        carol.wait_call(CallState.IN_CALL, 5, call_id=call_id, since=mark)
        old_pid = carol.client.pid
        assert old_pid is not None
        mark = carol.events.mark()
        os.kill(old_pid, signal.SIGKILL)
        died = carol.events.wait_for(
            lambda e: isinstance(e, EngineDied), 5, "EngineDied", since=mark
        )
        assert died.exit_code == -signal.SIGKILL and died.will_restart, died
        failed = carol.wait_call(TERMINAL, 5, call_id=call_id, since=mark)
        assert failed.state == CallState.FAILED and failed.end_reason == EndReason.ENGINE_DIED
        restarted = carol.events.wait_for(
            lambda e: isinstance(e, EngineRestarted), 5, "EngineRestarted", since=mark
        )
        assert restarted.pid != old_pid and carol.account_id in restarted.accounts
        carol.wait_registration(RegistrationState.REGISTERED, 5, since=mark)
        # The restarted engine takes calls again.
        amark = alice.events.mark()
        again = carol.client.make_call(carol.account_id, kamailio.aor("alice"))
        alice.client.answer(alice.wait_incoming(5, since=amark).call_id)
        carol.wait_call(CallState.IN_CALL, 5, call_id=again, since=mark)
        carol.hangup_all()
    alice.hangup_all()
