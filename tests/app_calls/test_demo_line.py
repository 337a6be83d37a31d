"""The demo line with real engines on loopback: the guest answers the agent with the
spoken announcement (audio really arrives), rings the agent as Maria Lopez, and the
embedded CRM knows her."""

from __future__ import annotations

import queue
import threading
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from app.demo import GUEST_NAME, GUEST_NUMBER, DemoLine, demo_provisioning, seed_embedded
from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import CallStateChanged, CallStatsReported, IncomingCallReceived
from softphone.types import CallState

pytestmark = pytest.mark.slow

ENGINE = EngineConfig(
    rtp_bind_address="127.0.0.1", audio_backend="null", log_level=1, stats_interval_s=0.5
)


class Events:
    """Collects one engine's events; `wait_for` blocks on a queue with a deadline."""

    def __init__(self, client: EngineClient) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        client.subscribe(self._queue.put)

    def wait_for(self, match: Callable[[object], bool], timeout: float = 10.0) -> object:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                try:
                    event = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if match(event):
                    return event
        finally:
            timer.cancel()
        raise AssertionError(f"no matching engine event within {timeout} s")


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoLine]:
    line = DemoLine(engine_config=ENGINE)
    line.start()
    yield line
    line.stop()


@pytest.fixture(scope="module")
def agent(demo: DemoLine) -> Iterator[tuple[EngineClient, Events, int]]:
    assert demo.info is not None
    client = EngineClient(ENGINE, restart=False)
    events = Events(client)
    client.start()
    added = client.add_account(
        AccountConfig(
            account_id="demo",
            username="agent",
            domain=f"127.0.0.1:{demo.info.port}",
            bind_address="127.0.0.1",
        )
    )
    yield client, events, added.local_port
    client.stop()


def test_guest_answers_with_the_announcement(agent, tmp_path: Path) -> None:
    client, events, _port = agent
    call_id = client.make_call("demo", "+12125550199")
    events.wait_for(
        lambda e: (
            isinstance(e, CallStateChanged)
            and e.call_id == call_id
            and e.state is CallState.IN_CALL
        )
    )
    wav = tmp_path / "heard.wav"
    client.start_recording(call_id, str(wav))
    # Two seconds of received media, counted by the engine's own statistics.
    events.wait_for(
        lambda e: isinstance(e, CallStatsReported) and e.call_id == call_id and e.rx_packets >= 120,
        timeout=15,
    )
    client.stop_recording(call_id)
    client.hangup(call_id)
    events.wait_for(
        lambda e: isinstance(e, CallStateChanged) and e.call_id == call_id and e.state.is_final
    )
    with wave.open(str(wav)) as f:
        samples = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
    assert samples.size > 8000
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert rms > 300, f"the announcement did not arrive (rms {rms:.0f})"


def test_guest_rings_the_agent_as_maria(demo: DemoLine, agent) -> None:
    client, events, port = agent
    demo.ring_agent_later(f"sip:agent@127.0.0.1:{port}", delay_s=0.2)
    ring = events.wait_for(lambda e: isinstance(e, IncomingCallReceived))
    assert isinstance(ring, IncomingCallReceived)
    assert ring.remote_user == GUEST_NUMBER
    assert ring.remote_display == GUEST_NAME
    client.answer(ring.call_id)
    events.wait_for(
        lambda e: (
            isinstance(e, CallStateChanged)
            and e.call_id == ring.call_id
            and e.state is CallState.IN_CALL
        )
    )
    client.hangup(ring.call_id)
    events.wait_for(
        lambda e: isinstance(e, CallStateChanged) and e.call_id == ring.call_id and e.state.is_final
    )


def test_guest_answers_the_agent_even_while_it_rings_the_agent(demo: DemoLine, agent) -> None:
    client, events, port = agent
    demo.ring_agent_later(f"sip:agent@127.0.0.1:{port}", delay_s=0.0)
    ring = events.wait_for(lambda e: isinstance(e, IncomingCallReceived))
    assert isinstance(ring, IncomingCallReceived)
    call_id = client.make_call("demo", "+12125550199")  # Maria still ringing here
    events.wait_for(
        lambda e: (
            isinstance(e, CallStateChanged)
            and e.call_id == call_id
            and e.state is CallState.IN_CALL
        )
    )
    client.hangup(call_id)
    client.reject(ring.call_id)
    ended: set[str] = set()

    def both_final(e: object) -> bool:
        if isinstance(e, CallStateChanged) and e.state.is_final:
            ended.add(e.call_id)
        return {call_id, ring.call_id} <= ended

    events.wait_for(both_final)


async def test_demo_contacts_in_the_embedded_crm(tmp_path: Path) -> None:
    from crmclient.embedded import EmbeddedCrm

    crm = EmbeddedCrm(tmp_path / "crm.sqlite")
    try:
        assert seed_embedded(crm, 5099) is True
        assert seed_embedded(crm, 5099) is False  # a second start does not duplicate
        found = await crm.lookup_number(GUEST_NUMBER)
        assert GUEST_NAME in repr(found)
        chats = await crm.list_contact_chats("demo-maria")
        assert chats and chats[0].voice_capable
        prov = await crm.get_provisioning()
        assert prov.accounts[0].sip.port == 5099 and not prov.accounts[0].sip.register
        assert prov.default_caller_id() is not None
        assert (await crm.get_sip_secret("demo")).account_id == "demo"
    finally:
        await crm.aclose()
    assert demo_provisioning(1).accounts[0].id == "demo"
