"""Settings' audio card as a widget: devices listed at once (also in a window opened late),
a chosen device that is unplugged kept and named, the test tone and the level meter driven
through their device seam, and the choice kept in line with the engine (``DeviceChoice``).

A fake ``AudioCheck`` and a fake engine stand in here; tests/app/test_settings_devices.py
runs the same paths against real sound devices and a real engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from app.config import ConfigStore, load_policy
from app.session.model import AudioDeviceOption, AudioDevicesListed
from app.session.qt_session import QtSession
from app.settings.audiocheck import level_of_peak, tone_samples
from app.settings.devices import DeviceChoice, usable
from app.settings.window import SettingsWindow
from softphone.audio.devices import AudioDevice, DeviceKind
from softphone.errors import EngineUnavailable
from softphone.events import AudioDevicesChanged, AudioStarted
from tests.app.fakes import RecordingSession
from tests.app.helpers import dark_look, save_shot, wait_until

HEADSET = AudioDevicesListed(
    (
        AudioDeviceOption("usb-mic", "USB headset microphone", True, False),
        AudioDeviceOption("int-mic", "Built-in microphone", True, False, is_default=True),
        AudioDeviceOption("usb-spk", "USB headset", False, True),
        AudioDeviceOption("int-spk", "Built-in speakers", False, True, is_default=True),
    ),
    input_id="usb-mic",
    output_id="usb-spk",
)


def _items(combo: Any) -> list[tuple[str, str]]:
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


@pytest.fixture
def store(tmp_path: Any) -> ConfigStore:
    return ConfigStore(tmp_path / "cfg", load_policy(tmp_path / "none.toml"))


class FakeAudioCheck:
    """Records what the window asks of the sound devices; `level` is what it "hears"."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, ...]] = []
        self.heard = 0.0
        self.fail = fail
        self.meter_open = False
        self.ringtones: list[str] = []

    def play_tone(self, output_id: str, ring: bool = False, ringtone: str = "classic") -> float:
        if self.fail:
            raise RuntimeError(self.fail)
        self.calls.append(("play_ring" if ring else "play_tone", output_id))
        self.ringtones.append(ringtone)
        return 0.2

    def stop_tone(self) -> None:
        self.calls.append(("stop_tone",))

    def start_meter(self, input_id: str) -> None:
        if self.fail:
            raise RuntimeError(self.fail)
        self.calls.append(("start_meter", input_id))
        self.meter_open = True

    def level(self) -> float:
        return self.heard

    def stop_meter(self) -> None:
        self.calls.append(("stop_meter",))
        self.meter_open = False

    def close(self) -> None:
        self.calls.append(("close",))


def test_settings_opened_after_the_devices_were_listed_shows_them(qtbot, store):
    session = RecordingSession()
    qt = QtSession(session)
    session.emit(HEADSET)  # the session listed the engine's devices at start
    qtbot.waitUntil(lambda: qt.last_devices == HEADSET, timeout=2000)
    win = SettingsWindow(store, qt, audio_check=FakeAudioCheck())
    qtbot.addWidget(win)
    assert _items(win.input) == [
        ("System default", ""),
        ("USB headset microphone", "usb-mic"),
        ("Built-in microphone", "int-mic"),
    ]
    assert _items(win.output)[1:] == [("USB headset", "usb-spk"), ("Built-in speakers", "int-spk")]
    assert _items(win.ringer) == _items(win.output)
    assert win.input.currentData() == "usb-mic" and win.output.currentData() == "usb-spk"
    assert win.ringer.currentData() == ""
    assert store.settings.audio_input == ""  # filling the lists saved nothing
    # A hotplug later still reaches the open window.
    unplugged = AudioDevicesListed(tuple(d for d in HEADSET.devices if "usb" not in d.device_id))
    session.emit(unplugged)
    qtbot.waitUntil(lambda: win.output.count() == 2, timeout=2000)
    qt.close()


def test_a_chosen_device_that_is_unplugged_stays_chosen_and_says_so(qtbot, store):
    store.update(audio_output="usb-spk")
    win = SettingsWindow(store, audio_check=FakeAudioCheck())
    qtbot.addWidget(win)
    win.set_devices(AudioDevicesListed(HEADSET.devices[1:2] + HEADSET.devices[3:]))
    assert win.output.currentText() == "usb-spk (not connected)"  # never seen: its id
    assert win.output.currentData() == "usb-spk" and store.settings.audio_output == "usb-spk"
    assert win.audio_note.text() == (
        "usb-spk is not connected: calls use the system default until it is back."
    )
    win.set_devices(HEADSET)  # plugged in: its name is known from now on
    assert win.output.currentText() == "USB headset" and not win.audio_note.isVisibleTo(win)
    store.update(audio_ringer="usb-spk")
    win.set_devices(AudioDevicesListed(HEADSET.devices[1:2] + HEADSET.devices[3:]))
    assert win.output.currentText() == "USB headset (not connected)"
    assert win.ringer.currentText() == "USB headset (not connected)"
    assert win.audio_note.text().startswith("USB headset is not connected")
    win.test_tone.click()  # a test's own line for a moment...
    assert win.audio_note.text().startswith("Playing a test tone")
    qtbot.waitUntil(lambda: win.test_tone.text() == "Test", timeout=2000)
    assert win.audio_note.text().startswith("USB headset is not connected")  # ...then back
    win.set_devices(AudioDevicesListed())
    assert win.audio_note.text() == "No audio devices found. Plug in a headset."
    assert win.audio_note.isVisibleTo(win)
    win.set_devices(HEADSET)
    assert not win.audio_note.isVisibleTo(win)  # the warning goes once devices are back


def test_picking_a_device_saves_it(qtbot, store):
    win = SettingsWindow(store, audio_check=FakeAudioCheck())
    qtbot.addWidget(win)
    win.set_devices(HEADSET)
    win.ringer.setCurrentIndex(win.ringer.findData("int-spk"))
    assert store.settings.audio_ringer == "int-spk"
    assert ConfigStore(store.folder, store.policy).settings.audio_ringer == "int-spk"


def test_test_tone_plays_on_the_chosen_speaker_then_frees_it(qtbot, store):
    check = FakeAudioCheck()
    win = SettingsWindow(store, audio_check=check)
    qtbot.addWidget(win)
    win.set_devices(HEADSET)
    win.test_tone.click()
    assert check.calls == [("play_tone", "usb-spk")]
    assert win.test_tone.text() == "Stop" and not win.ring_test.isEnabled()
    assert win.audio_note.text() == "Playing a test tone on USB headset."
    qtbot.waitUntil(lambda: win.test_tone.text() == "Test", timeout=2000)  # over by itself
    assert check.calls[-1] == ("stop_tone",) and win.ring_test.isEnabled()
    win.test_tone.click()
    win.test_tone.click()  # "Stop" before the end
    assert check.calls[-2:] == [("play_tone", "usb-spk"), ("stop_tone",)]
    assert win.test_tone.text() == "Test" and win.audio_note.text() == ""
    win.ringer.setCurrentIndex(win.ringer.findData("int-spk"))
    win.ringtone.setCurrentIndex(win.ringtone.findData("digital"))
    win.ring_test.click()
    assert check.calls[-1] == ("play_ring", "int-spk")
    assert check.ringtones[-1] == "digital"  # the ringtone picked, not always the first
    assert win.audio_note.text() == "Playing the ringtone on Built-in speakers."


def test_no_sound_device_is_a_clear_message_not_a_crash(qtbot, store):
    win = SettingsWindow(store, audio_check=FakeAudioCheck(fail="no audio system available"))
    qtbot.addWidget(win)
    win.test_tone.click()
    assert win.audio_note.text() == (
        "Could not play on the system default: no audio system available."
    )
    assert win.test_tone.isEnabled()
    win.mic_test.click()
    assert not win.mic_test.isChecked()
    assert win.audio_note.text().startswith("Could not listen to the system default")


def test_meter_follows_the_microphone_and_closes_it_when_the_window_goes(qtbot, store):
    check = FakeAudioCheck()
    win = SettingsWindow(store, audio_check=check)
    qtbot.addWidget(win)
    win.set_devices(HEADSET)
    win.mic_test.click()
    assert check.calls == [("start_meter", "usb-mic")] and win.mic_test.text() == "Stop"
    check.heard = 0.8
    qtbot.waitUntil(lambda: win.meter.value() >= 0.8, timeout=2000)
    check.heard = 0.0
    qtbot.waitUntil(lambda: win.meter.value() < 0.3, timeout=3000)  # falls back, slowly
    check.heard = 0.95
    qtbot.waitUntil(lambda: win.meter.lit_segments() >= 22, timeout=2000)
    win.close()
    assert not check.meter_open and ("close",) in check.calls
    assert not win.mic_test.isChecked() and win.meter.value() == 0.0


def test_level_scale_and_tones():
    assert level_of_peak(0) == 0.0 and level_of_peak(32767) == 1.0
    assert level_of_peak(32) == 0.0  # -60 dBFS and below: the empty end
    assert 0.49 < level_of_peak(1036) < 0.51  # -30 dBFS: half way, as loudness is heard
    tone, ring = tone_samples(), tone_samples(ring=True)
    assert abs(int(tone[0])) < 200 and abs(int(tone[-1])) < 200  # faded: no click
    assert 9000 < int(abs(tone).max()) < 10500
    assert 1.5 < len(ring) / 16000 < 2.5 and int(abs(ring).max()) > 8000


def test_audio_card_screenshots(qtbot, store):
    """The audio card mid-test: a device list, an unplugged choice, the meter lit."""
    store.update(audio_ringer="usb-ringer")
    check = FakeAudioCheck()
    win = SettingsWindow(store, audio_check=check)
    qtbot.addWidget(win)
    win.resize(620, 900)
    win.set_devices(HEADSET)
    win.mic_test.click()
    check.heard = 0.82
    qtbot.waitUntil(lambda: win.meter.lit_segments() >= 19, timeout=2000)
    save_shot(win, "settings-audio")
    with dark_look():
        save_shot(win, "settings-audio-dark")
    win.close()


# ----------------------------------------------------------------------- DeviceChoice
def _dev(dev_id: str, kind: DeviceKind) -> AudioDevice:
    return AudioDevice(dev_id, dev_id, kind, False)


DEVICES = (
    _dev("usb-mic", DeviceKind.INPUT),
    _dev("usb-spk", DeviceKind.OUTPUT),
    _dev("int-spk", DeviceKind.OUTPUT),
)


class FakeEngine:
    """Only for DeviceChoice's own logic; tests/app/test_settings_devices.py uses a real one."""

    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.devices: tuple[AudioDevice, ...] = DEVICES
        self.set_calls: list[tuple[str, str, str]] = []
        self.ringtones: list[str] = []
        self.listeners: list[Callable[[Any], None]] = []
        self.changed = threading.Event()

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self.listeners.append(callback)
        return lambda: self.listeners.remove(callback)

    def emit(self, event: object) -> None:
        for listener in list(self.listeners):
            listener(event)

    def list_devices(self) -> tuple[AudioDevice, ...]:
        if not self.up:
            raise EngineUnavailable("engine not running")
        return self.devices

    def set_devices(self, input_id: str = "", output_id: str = "", ringer_id: str = "") -> None:
        self.set_calls.append((input_id, output_id, ringer_id))
        self.changed.set()

    def set_ringtone(self, name: str) -> None:
        self.ringtones.append(name)


def test_device_choice_reaches_the_engine_at_start_on_change_and_on_restart(store):
    store.update(audio_input="usb-mic", audio_output="usb-spk")
    engine = FakeEngine()
    choice = DeviceChoice(engine, store)
    try:
        assert choice.apply().result(5) == ("usb-mic", "usb-spk", "")
        assert engine.set_calls[-1] == ("usb-mic", "usb-spk", "")
        store.update(audio_ringer="int-spk")  # picked in Settings
        wait_until(lambda: engine.set_calls[-1] == ("usb-mic", "usb-spk", "int-spk"), 5, "ringer")
        count = len(engine.set_calls)
        store.update(theme="dark")  # not an audio setting: the engine is left alone
        choice.apply().result(5)
        assert len(engine.set_calls) == count + 1  # only the explicit apply
        engine.set_calls.clear()
        engine.emit(AudioStarted("miniaudio-pulseaudio", DEVICES))  # engine restarted
        wait_until(lambda: engine.set_calls == [("usb-mic", "usb-spk", "int-spk")], 5, "restart")
    finally:
        choice.close()
    engine.emit(AudioStarted("null", ()))  # after close: nothing, no error
    assert not engine.listeners


def test_an_unplugged_choice_plays_on_the_default_until_it_is_back(store):
    store.update(audio_output="usb-spk", audio_ringer="usb-spk")
    engine = FakeEngine()
    engine.devices = DEVICES[:1] + DEVICES[2:]  # the headset's speaker is unplugged
    choice = DeviceChoice(engine, store)
    try:
        assert choice.apply().result(5) == ("", "", "")
        assert store.settings.audio_output == "usb-spk"  # the choice itself is kept
        engine.devices = DEVICES
        engine.emit(AudioDevicesChanged(DEVICES))  # plugged back in
        wait_until(lambda: engine.set_calls[-1] == ("", "usb-spk", "usb-spk"), 5, "replug")
    finally:
        choice.close()


def test_an_engine_not_up_yet_gets_the_choice_when_its_audio_starts(store):
    store.update(audio_input="usb-mic")
    engine = FakeEngine(up=False)
    choice = DeviceChoice(engine, store)
    try:
        assert choice.apply().result(5) is None and choice.applied is None
        engine.up = True
        engine.emit(AudioStarted("miniaudio-pulseaudio", DEVICES))
        assert engine.changed.wait(5)
        assert engine.set_calls == [("usb-mic", "", "")] and choice.applied == ("usb-mic", "", "")
    finally:
        choice.close()


def test_usable_ids_respect_the_kind():
    assert usable(("usb-spk", "usb-mic", "usb-mic"), DEVICES) == ("", "", "")
    assert usable(("usb-mic", "int-spk", "usb-spk"), list(DEVICES)) == DEVICES_IDS


DEVICES_IDS = ("usb-mic", "int-spk", "usb-spk")


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform's, on show()
def test_long_device_names_are_cut_with_an_ellipsis_not_widening_the_window(qtbot, store):
    from PySide6.QtWidgets import QScrollArea

    long_mic = "Jabra Evolve2 65 Mono Analog Stereo Headset Microphone (USB)"
    win = SettingsWindow(store, audio_check=FakeAudioCheck())
    qtbot.addWidget(win)
    win.set_devices(
        AudioDevicesListed((AudioDeviceOption("j", long_mic, True, False),), input_id="j")
    )
    win.resize(480, 900)
    win.show()  # a combo sizes itself to its entries at first show
    qtbot.waitExposed(win)
    save_shot(win, "settings-narrow")
    assert win.minimumWidth() <= 480 and win.width() == 480
    scroll = win.findChild(QScrollArea, "settingsScroll")
    assert scroll.widget().width() <= scroll.viewport().width()  # nothing hidden sideways
    assert win.input.currentText() == long_mic and win.input.toolTip() == long_mic
    assert win.input.width() < win.input.fontMetrics().horizontalAdvance(long_mic)


def test_saved_goes_after_a_moment_but_errors_stay(qtbot, store, monkeypatch):
    from app.settings import window as window_module

    monkeypatch.setattr(window_module, "SAVED_MS", 50)
    win = SettingsWindow(store, audio_check=FakeAudioCheck())
    qtbot.addWidget(win)
    win.start_min.setChecked(True)
    assert win.message.text() == "Saved." and win.message.isVisibleTo(win)
    qtbot.waitUntil(lambda: not win.message.isVisibleTo(win), timeout=2000)
    win.dial_links.setChecked(True)  # "Saved." again, and its timer runs...
    win.password.setText("x")
    win.sign_in.click()  # ...but a warning comes first: no email
    assert "Enter your email" in win.message.text()
    qtbot.waitUntil(lambda: not win._fade.isActive(), timeout=2000)
    assert "Enter your email" in win.message.text()  # the warning stays


def test_window_at_its_default_size_scrolls_with_a_styled_bar(qtbot, store):
    win = SettingsWindow(store, audio_check=FakeAudioCheck())
    qtbot.addWidget(win)
    win.resize(620, 640)  # shorter than the cards: the scroll bar shows
    save_shot(win, "settings-scrolled")
    with dark_look():
        save_shot(win, "settings-scrolled-dark")


def test_start_minimized_reaches_the_login_entry_too(qtbot, store, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    from app.settings import desktop

    win = SettingsWindow(store, audio_check=FakeAudioCheck())
    qtbot.addWidget(win)
    win.start_login.setChecked(True)
    entry = desktop.autostart_path()
    assert "--minimized" not in entry.read_text()
    win.start_min.setChecked(True)  # changed after start at login was turned on
    assert "--minimized" in entry.read_text()
    win.start_login.setChecked(False)
    assert not entry.exists()
    win.start_min.setChecked(False)  # no login entry: nothing written
    assert not entry.exists()


def test_a_locked_device_can_still_be_tested(qtbot, tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[locked]\naudio_ringer = "int-spk"\n')
    store = ConfigStore(tmp_path / "cfg", load_policy(path))
    check = FakeAudioCheck()
    win = SettingsWindow(store, audio_check=check)
    qtbot.addWidget(win)
    win.set_devices(HEADSET)
    assert not win.ringer.isEnabled() and win.ringer.currentText() == "Built-in speakers"
    assert win.ringer.toolTip() == "Set by your organisation"
    assert win.ring_test.isEnabled()
    win.ring_test.click()
    assert check.calls == [("play_ring", "int-spk")]
    save_shot(win, "settings-locked-ringer")


def test_the_chosen_ringtone_reaches_the_engine_and_the_ringer_test(store):
    engine = FakeEngine()
    choice = DeviceChoice(engine, store)
    try:
        choice.apply().result(5)
        assert engine.ringtones[-1] == "classic"
        store.update(ringtone="soft")
        wait_until(lambda: engine.ringtones[-1:] == ["soft"], 5, "the soft ringtone applied")
        store.update(ringtone="no-such-tone")  # a hand-edited file rings classic
        wait_until(lambda: engine.ringtones[-1:] == ["classic"], 5, "classic again")
    finally:
        choice.close()


def test_settings_offers_exactly_the_engines_ringtones():
    from app.config import RINGTONES
    from softphone.audio import tones

    assert tuple(tones.RINGTONES) == RINGTONES
