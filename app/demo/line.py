"""The demo guest: a second engine process on loopback, playing a hotel guest.

It answers every call the agent makes with a short spoken announcement, beeps back the
keys the agent presses (so the keypad visibly works), and rings the agent a few seconds
after start as Maria Lopez, who then explains why she is calling. It uses the same
`EngineClient` as the app, so what the newcomer sees is the real product path.

Engine callbacks arrive on the client's reader thread: from there we only `submit()`
(never block on a reply, which that same thread would have to read).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.demo.seed import GUEST_NAME, GUEST_NUMBER
from app.widgets.resources import sound_path
from softphone import commands
from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import CallStateChanged, DtmfReceived, IncomingCallReceived
from softphone.types import CallDirection, CallState

log = logging.getLogger(__name__)

GUEST_ACCOUNT = "guest"
#: The guest rings the agent this long after the line is up.
RING_AFTER_S = 4.0
#: The guest hangs up on their own after this long, in case the agent walks away.
MAX_CALL_S = 120.0


@dataclass(frozen=True)
class DemoLineInfo:
    port: int  #: where the guest listens (the demo "provider")
    uri: str  #: the guest's own SIP URI


class DemoLine:
    def __init__(
        self,
        *,
        announcement: Path | None = None,
        guest_greeting: Path | None = None,
        engine_config: EngineConfig | None = None,
        client: EngineClient | None = None,
        stderr: IO[bytes] | int | None = subprocess.DEVNULL,
    ) -> None:
        """`stderr` takes the guest engine's PJSIP log (default: dropped; it is a demo)."""
        self._announcement = announcement or sound_path("demo-announcement.wav")
        self._greeting = guest_greeting or sound_path("demo-guest-calling.wav")
        config = engine_config or EngineConfig(
            rtp_bind_address="127.0.0.1", audio_backend="null", log_level=1
        )
        self.client = client or EngineClient(config, restart=True, stderr=stderr)
        self._info: DemoLineInfo | None = None
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._playing: set[str] = set()
        self._unsubscribe = self.client.subscribe(self._on_event)

    @property
    def info(self) -> DemoLineInfo | None:
        return self._info

    def start(self, timeout: float = 10.0) -> DemoLineInfo:
        """Start the guest engine and its account; returns where it listens."""
        self.client.start(timeout)
        added = self.client.add_account(
            AccountConfig(
                account_id=GUEST_ACCOUNT,
                username=GUEST_NUMBER,
                domain="127.0.0.1",
                display_name=GUEST_NAME,
                bind_address="127.0.0.1",
                local_port=0,
                auto_answer=True,
            ),
            timeout,
        )
        self._info = DemoLineInfo(
            port=added.local_port, uri=f"sip:{GUEST_NUMBER}@127.0.0.1:{added.local_port}"
        )
        log.info("demo line listening on 127.0.0.1:%d", added.local_port)
        return self._info

    def ring_agent_later(self, agent_uri: str, delay_s: float = RING_AFTER_S) -> None:
        """Ring `agent_uri` (the agent's demo account) once, `delay_s` from now."""
        timer = threading.Timer(delay_s, self.ring_agent, args=(agent_uri,))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def ring_agent(self, agent_uri: str) -> None:
        try:
            self.client.make_call(GUEST_ACCOUNT, agent_uri)
        except Exception:
            log.exception("the demo guest could not ring %s", agent_uri)

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        self._unsubscribe()
        self.client.stop()

    # ------------------------------------------------------------------- events
    def _on_event(self, event: object) -> None:
        if isinstance(event, IncomingCallReceived):
            log.info("demo guest answering %s", event.remote_uri)
            if not event.auto_answer:
                # The engine auto-answers only a line with no other call (an agent's
                # auto-answer must not take a second call). The guest answers every call,
                # even while it is still ringing the agent itself.
                self.client.submit(commands.Answer(event.call_id, hold_others=False))
        elif isinstance(event, CallStateChanged):
            self._on_call(event)
        elif isinstance(event, DtmfReceived):
            self.client.submit(commands.PlayTone(event.call_id, 880.0, 0.12, 0.3))

    def _on_call(self, event: CallStateChanged) -> None:
        if event.state is CallState.IN_CALL:
            with self._lock:
                if event.call_id in self._playing:
                    return
                self._playing.add(event.call_id)
            # Outbound from the guest = Maria calling the agent; inbound = the agent dialled.
            wav = (
                self._greeting
                if event.direction is CallDirection.OUTBOUND
                else (self._announcement)
            )
            self.client.submit(commands.PlayFile(event.call_id, str(wav), False))
            timer = threading.Timer(MAX_CALL_S, self._hang_up, args=(event.call_id,))
            timer.daemon = True
            with self._lock:
                self._timers.append(timer)
            timer.start()
        elif event.state.is_final:
            with self._lock:
                self._playing.discard(event.call_id)

    def _hang_up(self, call_id: str) -> None:
        if call_id in self.client.active_calls:
            self.client.submit(commands.Hangup(call_id))
