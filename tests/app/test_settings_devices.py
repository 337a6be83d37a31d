"""Settings' audio card against real sound devices (PulseAudio null sinks) and a real engine.

- A Settings window opened after start lists the engine's devices, through the real
  session (AgentSession, QtSession), and follows a device plugged in and out.
- The ringer picked in that window is where an incoming call really rings: the choice goes
  to the engine (DeviceChoice, set_devices) and its ringtone comes out of that sink only.
- The test tone and the ringtone test come out of the chosen speaker/ringer only; the level
  meter follows what the chosen microphone hears, loud, quiet and silent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from app.config import ConfigStore, load_policy
from app.session.agent import AgentSession
from app.session.qt_session import QtSession
from app.settings.audiocheck import TONE_HZ
from app.settings.devices import DeviceChoice
from app.settings.window import SettingsWindow
from crmclient.outbox import Outbox
from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import IncomingCallReceived
from tests.app.helpers import wait_until
from tests.rig.pulse import PulseRig, Recording
from tests.rig.tones import sine

pytestmark = [pytest.mark.pulse, pytest.mark.slow]

RATE = 16_000
SINKS = ("mic", "spk", "ring")


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    rig = PulseRig(tmp_path_factory.mktemp("pulse-settings"), sinks=SINKS)
    with rig, rig.activate():  # this process's miniaudio (the Settings tests) uses it too
        yield rig


@pytest.fixture(scope="module")
def agent(pulse: PulseRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineClient]:
    log = open(tmp_path_factory.mktemp("agent") / "engine.log", "wb")  # noqa: SIM115
    config = EngineConfig(rtp_bind_address="127.0.0.1", log_level=1, audio_backend="miniaudio")
    client = EngineClient(config, env=pulse.env_for_clients(), stderr=log)
    client.start()
    wait_until(lambda: len(client.list_devices()) >= 5, 10, "the engine to list the rig")
    try:
        yield client
    finally:
        assert client.stop() == 0
        log.close()


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    return ConfigStore(tmp_path / "cfg", load_policy(tmp_path / "none.toml"))


def _recent(rec: Recording, seconds: float = 0.3) -> npt.NDArray[np.float64]:
    samples = rec.samples()
    return samples[-round(seconds * RATE) :]


def _rms(samples: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def _share_at(samples: npt.NDArray[np.float64], hz: float) -> float:
    """Share of the energy within 20 Hz of `hz`."""
    if len(samples) < RATE // 10:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1.0 / RATE)
    total = float(spectrum.sum()) or 1.0
    return float(spectrum[np.abs(freqs - hz) <= 20.0].sum()) / total


def _data(combo: Any) -> list[str]:
    return [combo.itemData(i) for i in range(combo.count())]


def test_settings_opened_late_lists_the_engines_devices_and_the_chosen_ringer_rings(  # noqa: PLR0917
    qtbot: Any, pulse: PulseRig, agent: EngineClient, runner: Any, embedded: Any, tmp_path: Path
) -> None:
    store = ConfigStore(tmp_path / "cfg", load_policy(tmp_path / "none.toml"))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    session = AgentSession(agent, embedded, outbox, runner, lambda: store.settings)
    qt = QtSession(session)
    choice = DeviceChoice(agent, store)
    guest_log = open(tmp_path / "guest.log", "wb")  # noqa: SIM115
    guest = EngineClient(
        EngineConfig(rtp_bind_address="127.0.0.1", log_level=1, audio_backend="null"),
        stderr=guest_log,
    )
    try:
        session.start(stream=False).result(20)
        qtbot.waitUntil(lambda: len(qt.last_devices.devices) >= 5, timeout=10_000)
        win = SettingsWindow(store, qt)  # opened after the list came
        qtbot.addWidget(win)
        assert {"mic.monitor", "spk.monitor"} <= set(_data(win.input))
        assert {"mic", "spk", "ring"} <= set(_data(win.output)) and "mic.monitor" not in _data(
            win.output
        )
        module = pulse.add_sink("usbheadset")  # plugged in while the window is open
        qtbot.waitUntil(lambda: "usbheadset" in _data(win.output), timeout=5000)
        assert "usbheadset.monitor" in _data(win.input)
        pulse.remove_module(module)
        qtbot.waitUntil(lambda: "usbheadset" not in _data(win.output), timeout=5000)
        win.output.setCurrentIndex(win.output.findData("spk"))
        win.ringer.setCurrentIndex(win.ringer.findData("ring"))
        assert (store.settings.audio_output, store.settings.audio_ringer) == ("spk", "ring")
        wait_until(lambda: choice.applied == ("", "spk", "ring"), 5, "the engine told")

        added = agent.add_account(
            AccountConfig("desk", "desk", "127.0.0.1", bind_address="127.0.0.1", local_port=0)
        )
        guest.start()
        guest.add_account(
            AccountConfig("g", "guest", "127.0.0.1", bind_address="127.0.0.1", local_port=0)
        )
        calls: list[IncomingCallReceived] = []
        unsubscribe = agent.subscribe(
            lambda e: calls.append(e) if isinstance(e, IncomingCallReceived) else None
        )
        ring, spk = pulse.record("ring.monitor"), pulse.record("spk.monitor")
        try:
            guest.make_call("g", f"sip:desk@127.0.0.1:{added.local_port}")
            wait_until(lambda: calls, 5, "the call to ring the agent")
            wait_until(lambda: _rms(_recent(ring)) > 0.05, 5, "the ringtone on the ringer sink")
            assert _rms(spk.samples()) < 0.002  # ...and not on the speaker
        finally:
            unsubscribe()
            ring.stop()
            spk.stop()
            if calls:
                agent.hangup(calls[0].call_id)
            agent.remove_account("desk")
    finally:
        guest.stop()
        guest_log.close()
        choice.close()
        qt.close()
        session.close()
        outbox.close()


def test_test_tones_play_on_the_chosen_device_only(
    qtbot: Any, pulse: PulseRig, agent: EngineClient, store: ConfigStore
) -> None:
    from app.session.model import AudioDeviceOption, AudioDevicesListed
    from softphone.audio.devices import DeviceKind

    listed = AudioDevicesListed(
        tuple(
            AudioDeviceOption(d.id, d.name, d.kind is DeviceKind.INPUT, d.kind is DeviceKind.OUTPUT)
            for d in agent.list_devices()
        )
    )
    win = SettingsWindow(store)  # the real DeviceAudioCheck
    qtbot.addWidget(win)
    win.set_devices(listed)
    win.output.setCurrentIndex(win.output.findData("spk"))
    win.ringer.setCurrentIndex(win.ringer.findData("ring"))
    spk, ring = pulse.record("spk.monitor"), pulse.record("ring.monitor")
    try:
        win.test_tone.click()
        assert "Playing a test tone on spk" in win.audio_note.text()
        wait_until(lambda: _share_at(_recent(spk, 0.25), TONE_HZ) > 0.8, 5, "the tone on spk")
        qtbot.waitUntil(lambda: win.test_tone.text() == "Test", timeout=5000)  # over, closed
        assert _rms(ring.samples()) < 0.002
        mark = len(spk.samples())
        win.ring_test.click()
        wait_until(lambda: _rms(_recent(ring)) > 0.05, 5, "the ringtone on ring")
        qtbot.waitUntil(lambda: win.ring_test.text() == "Test", timeout=5000)
        assert _rms(spk.samples()[mark:]) < 0.002
    finally:
        spk.stop()
        ring.stop()
        win.close()


def test_meter_follows_the_chosen_microphone(
    qtbot: Any, pulse: PulseRig, store: ConfigStore
) -> None:
    from app.session.model import AudioDeviceOption, AudioDevicesListed

    win = SettingsWindow(store)
    qtbot.addWidget(win)
    win.set_devices(
        AudioDevicesListed(
            (
                AudioDeviceOption("mic.monitor", "Headset mic", True, False),
                AudioDeviceOption("spk.monitor", "Other mic", True, False),
            )
        )
    )
    win.input.setCurrentIndex(win.input.findData("mic.monitor"))
    win.mic_test.click()
    try:
        assert win.mic_test.isChecked(), win.audio_note.text()
        pulse.play("spk", sine(1000.0, 8.0, RATE, 0.5))  # another device: not heard
        pulse.play("mic", sine(1000.0, 8.0, RATE, 0.03))  # -30 dBFS: a quiet voice
        qtbot.waitUntil(lambda: 0.4 < win.meter.value() < 0.6, timeout=5000)
        pulse.stop_playing()
        pulse.play("mic", sine(1000.0, 8.0, RATE, 0.5))  # -6 dBFS: loud
        qtbot.waitUntil(lambda: win.meter.value() > 0.85, timeout=5000)
        pulse.stop_playing()  # silence: the bar falls back to empty
        qtbot.waitUntil(lambda: win.meter.value() < 0.05, timeout=5000)
    finally:
        pulse.stop_playing()
        win.close()
    assert not win.mic_test.isChecked()


def test_the_real_app_rings_on_the_ringer_chosen_in_settings(
    pulse: PulseRig, tmp_path: Path
) -> None:
    """The app as a process, its saved choice applied to its engine at start: the demo
    guest's call (a few seconds after start) rings on "ring", not on the default device."""
    import subprocess
    import sys

    from tests.app.helpers import ROOT

    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"audio_output": "spk", "audio_ringer": "ring"}')
    env = pulse.env_for_clients()
    env.update(
        {
            "LODGEPHONE_RUNTIME_DIR": str(tmp_path / "run"),
            "LODGEPHONE_CONFIG_DIR": str(config),
            "LODGEPHONE_DATA_DIR": str(tmp_path / "data"),
            "LODGEPHONE_LOG_DIR": str(tmp_path / "log"),
            "LODGEPHONE_POLICY": str(tmp_path / "no-policy.toml"),
            "LODGEPHONE_AUDIO": "miniaudio",
            "QT_QPA_PLATFORM": "offscreen",
        }
    )
    ring, spk, default = (pulse.record(f"{s}.monitor") for s in ("ring", "spk", "mic"))
    log = open(tmp_path / "app.out", "wb")  # noqa: SIM115
    app = subprocess.Popen(
        [sys.executable, "-m", "app", "--minimized"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        wait_until(lambda: _rms(_recent(ring)) > 0.05, 25, "the demo call to ring on 'ring'")
        assert _rms(spk.samples()) < 0.002 and _rms(default.samples()) < 0.002
    finally:
        subprocess.run(
            [sys.executable, "-m", "app", "quit"], cwd=ROOT, env=env, timeout=30, check=False
        )
        try:
            app.wait(15)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
        log.close()
        for rec in (ring, spk, default):
            rec.stop()


def test_the_choice_is_applied_again_after_the_engine_crashed(
    pulse: PulseRig, store: ConfigStore, tmp_path: Path
) -> None:
    import os
    import signal

    from softphone.events import EngineRestarted

    store.update(audio_output="spk", audio_ringer="ring")
    log = open(tmp_path / "engine.log", "wb")  # noqa: SIM115
    config = EngineConfig(rtp_bind_address="127.0.0.1", log_level=1, audio_backend="miniaudio")
    engine = EngineClient(config, env=pulse.env_for_clients(), stderr=log)
    restarted: list[EngineRestarted] = []
    engine.subscribe(lambda e: restarted.append(e) if isinstance(e, EngineRestarted) else None)
    engine.start()
    choice = DeviceChoice(engine, store)
    try:
        wait_until(lambda: choice.applied == ("", "spk", "ring"), 10, "the choice applied")
        choice.applied_event.clear()
        pid = engine.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: restarted, 10, "the engine to restart")
        assert choice.applied_event.wait(10), "the choice was not applied to the new engine"
        assert choice.applied == ("", "spk", "ring") and engine.pid != pid
    finally:
        choice.close()
        engine.stop()
        log.close()


def test_an_unplugged_device_is_a_plain_message(qtbot: Any, store: ConfigStore) -> None:
    from app.session.model import AudioDeviceOption, AudioDevicesListed

    store.update(audio_output="usb-headset", audio_input="usb-headset-mic")
    win = SettingsWindow(store)  # the real DeviceAudioCheck, on the rig
    qtbot.addWidget(win)
    win.set_devices(AudioDevicesListed((AudioDeviceOption("spk", "spk", False, True),)))
    win.test_tone.click()
    assert win.audio_note.text() == ("Could not play on usb-headset: the device is not plugged in.")
    win.mic_test.click()
    assert not win.mic_test.isChecked()
    assert win.audio_note.text() == (
        "Could not listen to usb-headset-mic: the device is not plugged in."
    )
    win.close()
