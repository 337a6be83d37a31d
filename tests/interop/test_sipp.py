"""sipp against the engine: plain calls both ways, and garbage that must not bring it down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from softphone.events import EngineDied
from softphone.types import CallState, EndReason
from tests.rig.engine import TERMINAL, EnginePeer
from tests.rig.sipmsg import udp_options
from tests.rig.sipp import Sipp, scenario

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnginePeer]:
    with EnginePeer("agent", workdir=tmp_path_factory.mktemp("sipp-agent")) as peer:
        peer.add_direct_account("agent", auto_answer=True)
        yield peer
        peer.events.assert_none(lambda e: isinstance(e, EngineDied), message="engine died")


def _target(engine: EnginePeer) -> str:
    assert engine.added is not None
    return f"127.0.0.1:{engine.added.local_port}"


def test_sipp_uac_calls_the_engine(engine: EnginePeer) -> None:
    mark = engine.events.mark()
    result = Sipp(scenario="uac", target=_target(engine), service="agent").run()
    assert result.ok, result.details()
    incoming = engine.wait_incoming(5, since=mark)
    assert incoming.auto_answer
    engine.wait_call(CallState.IN_CALL, 5, call_id=incoming.call_id, since=mark)
    ended = engine.wait_call(TERMINAL, 5, call_id=incoming.call_id, since=mark)
    assert ended.end_reason == EndReason.REMOTE_HANGUP, ended


def test_engine_calls_sipp_uas(engine: EnginePeer) -> None:
    uas = Sipp(scenario="uas").start()
    try:
        uas.wait_listening()
        mark = engine.events.mark()
        call_id = engine.client.make_call(engine.account_id, f"sip:service@{uas.uri_host}")
        engine.wait_call(CallState.IN_CALL, 5, call_id=call_id, since=mark)
        engine.client.hangup(call_id)
        ended = engine.wait_call(TERMINAL, 5, call_id=call_id, since=mark)
        assert ended.end_reason == EndReason.LOCAL_HANGUP, ended
        result = uas.wait(10)
        assert result.ok, result.details()
    finally:
        uas.stop()


def test_malformed_messages_leave_the_engine_running_and_answering(engine: EnginePeer) -> None:
    pid = engine.client.pid
    mark = engine.events.mark()
    result = Sipp(scenario=scenario("malformed.xml"), target=_target(engine)).run()
    # Every OPTIONS probe between the malformed messages got its 200.
    assert result.ok, result.details()
    assert engine.client.pid == pid, "the engine process was replaced"
    host, port = _target(engine).split(":")
    assert udp_options(host, int(port)) == 200
    # None of the garbage turned into a call the agent would see.
    engine.events.assert_none(
        lambda e: getattr(e, "state", None) == CallState.IN_CALL, since=mark, message="call"
    )
    # A real call still works afterwards.
    follow_up = Sipp(scenario="uac", target=_target(engine), service="agent").run()
    assert follow_up.ok, follow_up.details()
    assert engine.client.ping() < 1.0
