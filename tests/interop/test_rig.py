"""The rig proves itself without our engine: real peers call each other on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.rig import tones
from tests.rig.baresip import Baresip
from tests.rig.kamailio import Kamailio
from tests.rig.sipmsg import udp_options
from tests.rig.sipp import Sipp, scenario
from tests.rig.waiting import EventLog, WaitTimeout, wait_until

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def kamailio() -> Iterator[Kamailio]:
    with Kamailio({"alice": "alice-pw", "bob": "bob-pw"}) as k:
        yield k


def test_tone_detection_tells_tone_from_noise_and_other_tones(tmp_path: Path) -> None:
    wav = tones.write_sine_wav(tmp_path / "t.wav", 1000.0, 1.0, 8000, 0.5)
    report = tones.analyse_wav(wav, 1000.0)
    assert report.fraction > 0.95 and abs(report.level_dbfs + 9.0) < 0.5, report
    assert tones.analyse_wav(wav, 1300.0).tone_windows == 0
    rng = np.random.default_rng(7)
    assert tones.analyse(rng.normal(0.0, 0.3, 8000), 8000, 1000.0).tone_windows == 0
    late = np.concatenate([np.zeros(4000), tones.sine(1000.0, 0.5, 8000, 0.05)])
    found = tones.analyse(late, 8000, 1000.0)
    assert found.first_onset == pytest.approx(0.5, abs=0.021), found


def test_event_log_waits_consumes_and_reports_what_it_saw() -> None:
    log: EventLog[str] = EventLog()
    log("a")
    log("b")
    assert log.wait_for(lambda e: e == "b", 0.1) == "b"
    with pytest.raises(WaitTimeout, match="a"):
        log.wait_for(lambda e: e == "b", 0.05, "a second b")
    with pytest.raises(WaitTimeout, match="never"):
        wait_until(lambda: False, 0.02, "never")


def test_kamailio_registrar_stops_and_restarts_on_the_same_port(kamailio: Kamailio) -> None:
    assert udp_options(kamailio.host, kamailio.port) == 200
    kamailio.stop()
    assert udp_options(kamailio.host, kamailio.port, timeout=0.2) is None
    kamailio.start()
    assert udp_options(kamailio.host, kamailio.port) == 200


def test_baresip_calls_baresip_through_kamailio_with_tone_and_dtmf(
    kamailio: Kamailio, tmp_path: Path
) -> None:
    with (
        Baresip("alice", registrar=kamailio, password="alice-pw", workdir=tmp_path / "a") as a,
        Baresip("bob", registrar=kamailio, password="bob-pw", workdir=tmp_path / "b") as b,
    ):
        a.dial(kamailio.aor("bob"))
        b.wait_event("CALL_ESTABLISHED", 5, since=0)
        a.wait_event("CALL_ESTABLISHED", 5, since=0)
        a.send_dtmf("19#")
        digits = [b.wait_event("CALL_DTMF_START", 5, since=0).param for _ in range(3)]
        assert digits == ["1", "9", "#"]
        wait_until(b.heard_tone, 5, "bob to hear 0.5 s of alice's 1 kHz tone")
        a.hangup()
        b.wait_event("CALL_CLOSED", 5, since=0)
        report = tones.analyse_wav(b.received_wavs()[-1])
        assert report.level_dbfs > -15.0, report


def test_baresip_with_a_wrong_password_is_not_registered(
    kamailio: Kamailio, tmp_path: Path
) -> None:
    ua = Baresip("alice", registrar=kamailio, password="wrong", workdir=tmp_path / "y")
    try:
        ua.start(wait_registered=False)
        wait_until(lambda: " ERR " in ua.registration_info(), 5, "ERR in reginfo")
        wait_until(lambda: "401 Unauthorized" in ua.log_tail(), 5, "a 401 in the log")
        assert not ua.registered()
    finally:
        ua.close()


def test_sipp_uac_calls_sipp_uas() -> None:
    uas = Sipp(scenario="uas").start()
    uas.wait_listening()
    result = Sipp(scenario="uac", target=uas.uri_host).run()
    assert result.ok, result.details()
    assert uas.wait(10).ok


def test_malformed_scenario_runs_against_a_robust_peer(kamailio: Kamailio) -> None:
    result = Sipp(scenario=scenario("malformed.xml"), target=kamailio.domain).run()
    assert result.ok, result.details()
    assert udp_options(kamailio.host, kamailio.port) == 200
