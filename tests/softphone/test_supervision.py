"""kill -9 of the engine during a call: reported, call failed with a reason, back in 2 s."""

from __future__ import annotations

import os
import signal
import time

from softphone.events import (
    AccountAdded,
    CallStateChanged,
    EngineDied,
    EngineRestarted,
    IncomingCallReceived,
    RegistrationChanged,
)
from softphone.types import CallState, EndReason, RegistrationState
from tests.softphone.conftest import Phone, start_phone


def test_engine_killed_during_a_call_comes_back_with_its_accounts(bob: Phone) -> None:
    dave = start_phone("dave")
    try:
        b0 = bob.events.mark()
        call_id = dave.client.make_call("dave", bob.uri)
        incoming = bob.events.wait_for(IncomingCallReceived, start=b0)
        bob.client.answer(incoming.call_id)
        dave.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state is CallState.IN_CALL
        )
        old_pid = dave.client.pid
        assert old_pid is not None
        d0 = dave.events.mark()
        killed_at = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)

        died = dave.events.wait_for(EngineDied, start=d0, timeout=2.0)
        assert died.exit_code == -signal.SIGKILL and died.will_restart
        failed = dave.events.wait_for(
            CallStateChanged, lambda e: e.call_id == call_id and e.state.is_final, start=d0
        )
        assert failed.state is CallState.FAILED
        assert failed.end_reason is EndReason.ENGINE_DIED
        assert "signal 9" in failed.reason
        restarted = dave.events.wait_for(EngineRestarted, start=d0, timeout=2.0)
        assert time.monotonic() - killed_at < 2.0
        assert restarted.accounts == ("dave",) and restarted.pid != old_pid
        assert dave.client.pid == restarted.pid
        dave.events.wait_for(AccountAdded, lambda e: e.account_id == "dave", start=d0)
        dave.events.wait_for(
            RegistrationChanged,
            lambda e: e.account_id == "dave" and e.state is RegistrationState.DIRECT,
            start=d0,
        )
        assert dave.client.active_calls == {}
        assert dave.client.ping() < 1.0
        # bob's side of the dead call is still up until bob notices; hang it up
        bob.client.hangup(incoming.call_id)
        bob.events.wait_for(
            CallStateChanged,
            lambda e: e.call_id == incoming.call_id and e.state.is_final,
            start=b0,
        )
    finally:
        assert dave.client.stop() == 0
