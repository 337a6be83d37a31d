"""Settings and the machine policy: saved at once, secrets refused, locked keys locked."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QLabel

from app.config import ConfigStore, SettingInvalid, SettingLocked, load_policy
from app.session.model import AudioDeviceOption, AudioDevicesListed, LineState, LineStatus
from app.settings import desktop
from app.settings.window import SettingsWindow
from tests.app.helpers import dark_look, save_shot

POLICY = """
[crm]
url = "https://crm.example.com"

[locked]
auto_answer = false
recording_allowed = false
allowed_transports = ["tls"]
srtp = "mandatory"

[defaults]
start_at_login = true
theme = "plaid"
"""


def test_policy_presets_and_locks(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    policy = load_policy(path)
    store = ConfigStore(tmp_path / "cfg", policy)
    s = store.settings
    assert s.crm_url == "https://crm.example.com"
    assert s.recording_allowed is False and s.allowed_transports == ("tls",)
    assert s.start_at_login is True  # a default the agent may change
    assert any("theme" in p for p in store.problems)  # IT's typo is reported, not applied
    with pytest.raises(SettingLocked):
        store.update(auto_answer=True)
    store.update(start_at_login=False)
    assert ConfigStore(tmp_path / "cfg", policy).settings.start_at_login is False


def test_settings_validate_and_never_hold_secrets(tmp_path):
    store = ConfigStore(tmp_path, load_policy(tmp_path / "none.toml"))
    assert store.settings.auto_answer is False  # off by default
    with pytest.raises(SettingInvalid):
        store.update(sip_password="hunter2")
    with pytest.raises(SettingInvalid):
        store.update(crm_url="http://crm.example.com")  # secrets over plain http: no
    with pytest.raises(SettingInvalid):
        store.update(auto_answer="yes")
    store.update(crm_url="http://localhost:8080", dial_links_immediately=True)
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved == {"crm_url": "http://localhost:8080", "dial_links_immediately": True}


def test_unreadable_settings_file_is_kept_aside_not_lost(tmp_path):
    (tmp_path / "settings.json").write_text("{ this is not json")
    store = ConfigStore(tmp_path, load_policy(tmp_path / "none.toml"))
    assert store.settings.crm_url == ""
    kept = list(tmp_path.glob("settings.json.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{ this is not json"
    assert str(kept[0]) in store.problems[0]


def test_broken_policy_locks_nothing_and_says_why(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[locked\nauto_answer = ")
    policy = load_policy(path)
    assert not policy.locked and "not valid TOML" in policy.problems[0]


def test_start_at_login_writes_and_removes_the_autostart_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = desktop.set_start_at_login(True, minimized=True)
    assert "--minimized" in path.read_text() and "Exec=" in path.read_text()
    desktop.set_start_at_login(False)
    assert not path.exists()


def test_settings_window_saves_and_shows_locks(qtbot, tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    store = ConfigStore(tmp_path / "cfg", load_policy(path))
    win = SettingsWindow(store)
    qtbot.addWidget(win)
    assert not win.crm_url.isEnabled()  # locked by policy
    assert not win.auto_answer.isEnabled()
    assert win.auto_answer.toolTip() == "Set by your organisation"
    win.dial_links.setChecked(True)
    assert store.settings.dial_links_immediately is True
    assert win.message.text() == "Saved."
    win.set_line(LineStatus("acme", "Acme SIP (ext. 201)", LineState.REGISTERED))
    win.set_devices(
        AudioDevicesListed(
            (
                AudioDeviceOption("mic1", "USB headset mic", True, False),
                AudioDeviceOption("spk1", "USB headset", False, True),
            ),
            input_id="mic1",
        )
    )
    assert win.input.currentText() == "USB headset mic"
    with qtbot.waitSignal(win.sign_in_requested, timeout=1000) as blocker:
        win.crm_user.setText("agent@example.com")
        win.password.setText("s3cret-pass")
        win.sign_in.click()
    assert blocker.args == ["agent@example.com", "s3cret-pass"]
    assert win.password.text() == ""  # not kept on screen
    assert win.crm_url.toolTip() == "Set by your organisation"
    notes = [n.text() for n in win.findChildren(QLabel, "lockedNote")]
    assert notes == ["Locked: set by your organisation"] * 3  # CRM, call security, auto-answer
    assert win.security.text().replace("\u00a0", " ") == (
        "SIP over TLS · Audio always encrypted · Recording off"
    )
    assert win.accounts.indexOf(win.accounts_footer) == win.accounts.count() - 1
    assert all(not lock.pixmap().isNull() for lock in win._locks)  # padlocks drawn
    win.resize(620, 1080)  # tall enough that every card is in the picture
    save_shot(win, "settings")
    with dark_look():
        save_shot(win, "settings-dark")


def test_crash_report_and_log_never_hold_secrets(tmp_path):
    import logging

    from app import crash
    from app.logs import setup_logging

    log_file = setup_logging(tmp_path, console=False)
    crash.install(tmp_path)
    try:
        try:
            raise RuntimeError(
                "REGISTER failed for sip:alice:hunter2@pbx.example.com token=abc123xyz"
            )
        except RuntimeError as exc:
            path = crash.write_report(type(exc), exc, exc.__traceback__)
        logging.getLogger("test").warning(
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abcdefgh.ijklmnop"
        )
    finally:
        crash.uninstall()
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_lodgephone", False):
                logging.getLogger().removeHandler(handler)
                handler.close()
    report = path.read_text()
    assert "RuntimeError" in report and "hunter2" not in report and "abc123xyz" not in report
    text = log_file.read_text()
    assert "hunter2" not in text and "eyJhbGci" not in text and "Bearer ***" in text
