"""Our engine as a test peer: an EngineClient with its events recorded for deadline waits.

The engine's stderr (PJSIP log) goes to a file in the peer's folder so a failing test can
show it; nothing here touches pjsua2 directly.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import (
    AccountAdded,
    CallStateChanged,
    DtmfReceived,
    IncomingCallReceived,
    RegistrationChanged,
)
from softphone.types import CallState, RegistrationState
from tests.rig.ports import HOST
from tests.rig.waiting import EventLog, WaitTimeout

E = TypeVar("E")

TERMINAL = (CallState.ENDED, CallState.FAILED)


class EnginePeer:
    """One engine process with one account, plus an EventLog of everything it emitted."""

    def __init__(self, name: str, *, workdir: Path | None = None, **engine_kw: Any) -> None:
        self.name = name
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"engine-{name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / "engine.log"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        engine_kw.setdefault("rtp_bind_address", HOST)
        engine_kw.setdefault("recordings_dir", str(self.workdir))
        engine_kw.setdefault("log_level", 4)
        self.config = EngineConfig(**engine_kw)
        self.client = EngineClient(self.config, stderr=self._stderr)
        self.events: EventLog[Any] = EventLog(repr)
        self.client.subscribe(self.events)
        self.account: AccountConfig | None = None
        self.added: AccountAdded | None = None

    def start(self) -> EnginePeer:
        self.client.start()
        return self

    def add_account(self, account: AccountConfig, timeout: float = 5.0) -> AccountAdded:
        self.account = account
        self.added = self.client.add_account(account, timeout)
        return self.added

    def add_direct_account(self, user: str, **kw: Any) -> AccountAdded:
        """An account without registrar, listening on an ephemeral port of 127.0.0.1."""
        kw.setdefault("auto_answer", False)
        account = AccountConfig(
            account_id=f"{self.name}-direct",
            username=user,
            domain=HOST,
            bind_address=HOST,
            local_port=0,
            **kw,
        )
        return self.add_account(account)

    @property
    def uri(self) -> str:
        """Where to call this engine's account directly."""
        assert self.added is not None and self.account is not None
        tp = "" if self.added.transport.value == "udp" else f";transport={self.added.transport}"
        return f"sip:{self.account.username}@{HOST}:{self.added.local_port}{tp}"

    @property
    def account_id(self) -> str:
        assert self.account is not None
        return self.account.account_id

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- waits ---------------------------------------------------------------------------

    def _wait(
        self, kind: type[E], pred: Callable[[E], bool], timeout: float, what: str, since: int
    ) -> E:
        try:
            found = self.events.wait_for(
                lambda e: isinstance(e, kind) and pred(e),
                timeout,
                f"{self.name}: {what}",
                since=since,
            )
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n-- engine log --\n{self.log_tail(30)}") from None
        assert isinstance(found, kind)
        return found

    def wait_registration(
        self, state: RegistrationState, timeout: float = 5.0, *, since: int = 0
    ) -> RegistrationChanged:
        return self._wait(
            RegistrationChanged,
            lambda e: e.account_id == self.account_id and e.state == state,
            timeout,
            f"registration {state}",
            since,
        )

    def wait_incoming(self, timeout: float = 5.0, *, since: int = 0) -> IncomingCallReceived:
        return self._wait(IncomingCallReceived, lambda e: True, timeout, "an incoming call", since)

    def wait_call(
        self,
        state: CallState | tuple[CallState, ...],
        timeout: float = 5.0,
        *,
        call_id: str | None = None,
        since: int = 0,
    ) -> CallStateChanged:
        states = state if isinstance(state, tuple) else (state,)
        return self._wait(
            CallStateChanged,
            lambda e: e.state in states and (call_id is None or e.call_id == call_id),
            timeout,
            f"call {call_id or '*'} in {'/'.join(states)}",
            since,
        )

    def wait_dtmf(self, timeout: float = 5.0, *, since: int = 0) -> DtmfReceived:
        return self._wait(DtmfReceived, lambda e: True, timeout, "a DTMF digit", since)

    def hangup_all(self, timeout: float = 5.0) -> None:
        """End every call still up and wait until the engine reports them ended."""
        for call_id in list(self.client.active_calls):
            mark = self.events.mark()
            with contextlib.suppress(Exception):
                self.client.hangup(call_id)
            with contextlib.suppress(WaitTimeout):
                self.wait_call(TERMINAL, timeout, call_id=call_id, since=mark)

    def close(self) -> int:
        code = self.client.stop()
        self._stderr.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return code

    def __enter__(self) -> EnginePeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
