"""The real app as a process: CLI commands and tel: links from second processes, and the
demo line's calls ending up as CRM records (real engines, embedded CRM, outbox)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crmclient.embedded import EmbeddedCrm
from crmclient.models import CallDirection, CallStatus
from tests.app.helpers import ROOT, wait_until
from tests.rig.appenv import app_cli, private_app_env

pytestmark = pytest.mark.slow


def _env(tmp: Path) -> dict[str, str]:
    return private_app_env(tmp, QT_QPA_PLATFORM="offscreen")


def _cli(env, *args, check=True):
    proc = app_cli(env, *args)
    if check and proc.returncode != 0:
        raise AssertionError(f"lodgephone {' '.join(args)}: {proc.returncode} {proc.stderr}")
    return proc


def _status(env) -> dict:
    return json.loads(_cli(env, "status", "--json").stdout)


@pytest.fixture
def running_app(tmp_path):
    env = _env(tmp_path)
    log = open(tmp_path / "app.out", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--minimized"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        wait_until(
            lambda: (
                _cli(env, "status", "--json", check=False).returncode == 0
                and _status(env)["running"]
            ),
            timeout=20,
            what="the app to answer status",
        )
        yield env, proc, tmp_path
    finally:
        if proc.poll() is None:
            _cli(env, "quit", check=False)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_cli_and_links_reach_the_running_app_and_calls_reach_the_crm(running_app):
    env, proc, tmp = running_app
    # The demo guest rings a few seconds after start: answer it from the command line.
    wait_until(
        lambda: any(c["phase"] == "ringing" for c in _status(env)["calls"]),
        timeout=25,
        what="the demo guest's call to ring",
    )
    ringing = _status(env)["calls"][0]
    assert ringing["direction"] == "inbound"
    assert ringing["name"] == "Maria Lopez"  # matched in the CRM before the agent answers
    assert "Answering Maria Lopez" in _cli(env, "answer").stdout
    wait_until(
        lambda: [c["phase"] for c in _status(env)["calls"]] == ["in_call"],
        timeout=10,
        what="the answered call",
    )
    _cli(env, "hangup")
    wait_until(lambda: _status(env)["calls"] == [], timeout=10, what="the call to end")

    # A tel: link from a second process fills the running app's dialer.
    out = _cli(env, "tel:+1 (212) 555-0199").stdout
    assert "+12125550199" in out
    assert _status(env)["last_dial_request"] == "+12125550199"
    # A malformed link is refused with the reason, and nothing is dialled.
    bad = _cli(env, "tel:1-800-FLOWERS", check=False)
    assert bad.returncode == 1 and "letters" in bad.stderr
    assert _status(env)["calls"] == []

    # dial --now places a real call to the demo line, which answers.
    _cli(env, "dial", "--now", "+1 212 555 0199")
    seen: list[dict] = []

    def connected() -> bool:
        seen.append(_status(env))
        return [c["phase"] for c in seen[-1]["calls"]] == ["in_call"]

    try:
        wait_until(connected, timeout=25, what="the outbound call to connect")
    except AssertionError:
        print(seen[-1], (tmp / "log" / "lodgephone.log").read_text()[-3000:])
        raise
    _cli(env, "hangup")
    wait_until(lambda: _status(env)["calls"] == [], timeout=10, what="the outbound call to end")
    wait_until(lambda: _status(env)["outbox_pending"] == 0, timeout=10, what="the outbox")
    assert _cli(env, "answer", check=False).returncode == 1  # nothing rings now

    _cli(env, "quit")
    assert proc.wait(15) == 0

    async def calls():
        crm = EmbeddedCrm(tmp / "data" / "crm.sqlite")
        try:
            page = await crm.list_calls()
            cards = []
            for r in page.items:
                if r.chat_id:
                    cards.extend(await crm.list_cards(r.chat_id))
            return page.items, cards
        finally:
            await crm.aclose()

    records, cards = asyncio.run(calls())
    by_direction = {r.direction: r for r in records}
    assert set(by_direction) == {CallDirection.INBOUND, CallDirection.OUTBOUND}
    inbound = by_direction[CallDirection.INBOUND]
    assert inbound.status is CallStatus.COMPLETED
    assert inbound.answered_at is not None and inbound.ended_at is not None
    assert inbound.contact_id is not None and inbound.chat_id is not None
    outbound = by_direction[CallDirection.OUTBOUND]
    assert outbound.remote_number == "+12125550199"
    assert outbound.status is CallStatus.COMPLETED
    assert outbound.local_number == "+12125550100"  # the US caller-ID for a US number
    assert any(c.call_id == inbound.id for c in cards)  # the call card is in the chat


def test_commands_without_a_running_app_say_so(tmp_path):
    env = _env(tmp_path)
    proc = _cli(env, "status", "--json", check=False)
    assert proc.returncode == 3 and json.loads(proc.stdout) == {"running": False}
    proc = _cli(env, "hangup", check=False)
    assert proc.returncode == 3 and "not running" in proc.stderr
