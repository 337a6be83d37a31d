"""Settings: CRM, accounts (read-only from provisioning), audio, behaviour, appearance.

Every change is saved at once through ``ConfigStore`` (validated, atomic); a setting the
machine policy locks is shown disabled with a padlock and the reason.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.config import RINGTONES, ConfigStore, SettingInvalid, SettingLocked
from app.mainwindow import look
from app.mainwindow.look import follow, lock_pixmap
from app.session.model import AudioDevicesListed, LineStatus
from app.settings import desktop
from app.settings.audiocheck import AudioCheck
from app.widgets.combo import ElidingComboBox
from app.widgets.level import LevelMeter

LOCKED = "(set by your organisation)"
LOCKED_NOTE = "Locked: set by your organisation"
METER_MS = 50
NOT_CONNECTED = " (not connected)"
SAVED_MS = 2500


class SettingsWindow(QWidget):
    #: (email, password): the application signs in to the CRM and keeps the session in the
    #: keyring. The password never leaves this signal (the field is cleared at once).
    sign_in_requested = Signal(str, str)

    def __init__(
        self,
        config: ConfigStore,
        session: Any = None,
        parent: QWidget | None = None,
        audio_check: AudioCheck | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Lodgestory Phone: Settings")
        self.setObjectName("settingsWindow")
        self.resize(620, 760)
        self.config = config
        self._session = session
        self._lines: dict[str, LineStatus] = {}
        self._names: dict[str, str] = {}  # device id -> name, to name one unplugged later
        self._device_note = ""
        self._audio: AudioCheck | None = audio_check  # opened at the first test
        self._locks: list[QLabel] = []
        self._labels: list[QLabel] = []
        self._slots: list[QWidget] = []  # the right-hand button column of the audio card
        self._message_tone = ""
        self._fade = QTimer(self)
        self._fade.setSingleShot(True)
        self._fade.setInterval(SAVED_MS)
        self._fade.timeout.connect(self._fade_saved)
        theme.ensure()  # the product look before any child is built
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        header = QFrame()
        header.setObjectName("headerBar")
        hrow = QHBoxLayout(header)
        hrow.setContentsMargins(20, 12, 20, 12)
        title = QLabel("Settings")
        title.setObjectName("pageTitle")
        hrow.addWidget(title)
        hrow.addStretch(1)
        outer.addWidget(header)
        scroll = QScrollArea()
        scroll.setObjectName("settingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.body = QVBoxLayout(body)
        self.body.setContentsMargins(20, 4, 20, 16)
        self.body.setSpacing(0)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self.message = QLabel("")
        self.message.setObjectName("settingsMessage")
        self.message.setWordWrap(True)
        self.message.setContentsMargins(20, 6, 20, 10)
        self.message.hide()
        outer.addWidget(self.message)
        if config.policy.source:
            policy = QFrame()
            policy.setObjectName("banner")
            policy.setProperty("tone", "info")
            prow = QHBoxLayout(policy)
            prow.setContentsMargins(10, 8, 10, 8)
            prow.setSpacing(8)
            self._policy_lock = QLabel()
            self._policy_lock.setAlignment(Qt.AlignmentFlag.AlignTop)
            self._locks.append(self._policy_lock)
            prow.addWidget(self._policy_lock)
            self.policy_note = QLabel(
                "Settings with a padlock are managed by your organisation "
                f"(policy file {config.policy.source})."
            )
            self.policy_note.setWordWrap(True)
            prow.addWidget(self.policy_note, 1)
            self.body.addSpacing(14)
            self.body.addWidget(policy)
        s = config.settings

        # CRM.
        crm = self._group("CRM")
        self.crm_url = QLineEdit(s.crm_url)
        self.crm_url.setPlaceholderText("Empty: built-in CRM with the demo line")
        self.crm_url.editingFinished.connect(
            lambda: self._save("crm_url", self.crm_url.text().strip(), restart=True)
        )
        self._row(crm, "CRM address", self.crm_url, "crm_url")
        self.crm_user = QLineEdit(s.crm_user)
        self.crm_user.setPlaceholderText("you@company.com")
        self.crm_user.editingFinished.connect(
            lambda: self._save("crm_user", self.crm_user.text().strip())
        )
        self._row(crm, "Sign-in email", self.crm_user, "crm_user")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Stored in the system keyring, never in a file")
        self.password.returnPressed.connect(self._sign_in)
        self.sign_in = QPushButton("Sign in")
        self.sign_in.setObjectName("primaryButton")
        crm.addRow(self._label("Password"), _beside(self.password, self.sign_in))
        self.sign_in.clicked.connect(self._sign_in)

        # Accounts from provisioning.
        self.accounts_box = self._card("Calling accounts (from your CRM)")
        self.accounts = QVBoxLayout(self.accounts_box)
        self.accounts.setContentsMargins(14, 12, 14, 12)
        self.accounts.setSpacing(6)
        self.accounts_empty = QLabel("No calling account yet.")
        self.accounts_empty.setProperty("role", "muted")
        self.accounts.addWidget(self.accounts_empty)
        # What every account must use: IT sets it (policy), the agent can only see it.
        security = QWidget()
        column = QVBoxLayout(security)
        column.setContentsMargins(0, 4, 0, 0)
        column.setSpacing(3)
        self.security = QLabel(_security_text(s))
        self.security.setObjectName("securityLine")
        self.security.setProperty("role", "muted")
        self.security.setWordWrap(True)
        column.addWidget(self.security)
        if any(config.is_locked(k) for k in ("allowed_transports", "srtp", "recording_allowed")):
            column.addWidget(self._lock_note())
        self.accounts_footer = security
        self.accounts.addWidget(security)

        # Audio: one column of devices, one column of test buttons.
        audio = self._group("Audio")
        # Device names run long: cut with "…" in the box, never widening the window.
        self.input = ElidingComboBox()
        self.output = ElidingComboBox()
        self.ringer = ElidingComboBox()
        for combo, key in (
            (self.input, "audio_input"),
            (self.output, "audio_output"),
            (self.ringer, "audio_ringer"),
        ):
            combo.addItem("System default", "")
            combo.setCurrentIndex(max(0, combo.findData(getattr(s, key))))
            combo.currentIndexChanged.connect(
                lambda _i, c=combo, k=key: self._save(k, c.currentData() or "")
            )
        self.mic_test = self._test_button("Test", "Show how loud this microphone hears you")
        self.mic_test.setCheckable(True)
        self.mic_test.toggled.connect(self._toggle_meter)
        self.test_tone = self._test_button("Test", "Play a test tone on this speaker")
        self.test_tone.clicked.connect(lambda: self._play_tone(ring=False))
        self.ring_test = self._test_button("Test", "Play the ringtone on this device")
        self.ring_test.clicked.connect(lambda: self._play_tone(ring=True))
        self._row(audio, "Microphone", self._slot(self.input, None), "audio_input")
        self.meter = LevelMeter()
        self.meter.setObjectName("micMeter")
        self._meter_row = _centred(self.meter)
        # The Test button beside the bar it moves.
        audio.addRow(self._label("Input level"), self._slot(self._meter_row, self.mic_test))
        self._row(audio, "Speaker", self._slot(self.output, self.test_tone), "audio_output")
        self._row(audio, "Ringer", self._slot(self.ringer, self.ring_test), "audio_ringer")
        self.ringtone = QComboBox()
        for name in RINGTONES:
            self.ringtone.addItem(name.capitalize(), name)
        self.ringtone.setCurrentIndex(max(0, self.ringtone.findData(s.ringtone)))
        self.ringtone.currentIndexChanged.connect(
            lambda _i: self._save("ringtone", self.ringtone.currentData())
        )
        self._row(audio, "Ringtone", self._slot(self.ringtone, None), "ringtone")
        self.audio_note = QLabel("")
        self.audio_note.setObjectName("audioNote")
        self.audio_note.setProperty("role", "muted")
        self.audio_note.setWordWrap(True)
        self.audio_note.hide()
        audio.addRow(self.audio_note)

        # Behaviour.
        calls = self._group("Calls and start-up")
        self.auto_answer = self._check(calls, "Answer incoming calls automatically", "auto_answer")
        self.dial_links = self._check(
            calls,
            "Dial phone links at once (instead of filling the dialer)",
            "dial_links_immediately",
        )
        self.start_login = self._check(calls, "Start at login", "start_at_login")
        self.start_min = self._check(calls, "Start minimized (tray only)", "start_minimized")
        self.link_handler = QPushButton("Open tel:, sip: and callto: links with this app")
        self.link_handler.setObjectName("secondaryButton")
        self.link_handler.clicked.connect(self._register_links)
        calls.addRow(_left(self.link_handler))

        # Appearance.
        appearance = self._group("Appearance")
        self.theme = QComboBox()
        for label, value in (("Follow the system", "system"), ("Light", "light"), ("Dark", "dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(s.theme)))
        self.theme.currentIndexChanged.connect(
            lambda _i: self._save("theme", self.theme.currentData())
        )
        self._row(appearance, "Theme", self.theme, "theme")

        self.body.addStretch(1)
        follow(self, self._restyle)
        self._align_columns()
        # Never narrower than the cards' content (the scroll area only scrolls down).
        self.setMinimumWidth(
            body.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )
        if session is not None:
            session.registration_changed.connect(self.set_line)
            session.audio_devices_listed.connect(self.set_devices)
            # The session asked the engine at start: a window opened later lists them now.
            self.set_devices(session.last_devices)
            for line in session.lines():
                self.set_line(line)
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(METER_MS)
        self._meter_timer.timeout.connect(self._show_level)
        self._tone_timer = QTimer(self)
        self._tone_timer.setSingleShot(True)
        self._tone_timer.timeout.connect(self._tone_done)

    # ------------------------------------------------------------------ building
    def _card(self, title: str) -> QFrame:
        heading = QLabel(title)
        heading.setObjectName("cardTitle")
        self.body.addSpacing(18)
        self.body.addWidget(heading)
        self.body.addSpacing(8)
        card = QFrame()
        card.setObjectName("settingsCard")
        self.body.addWidget(card)
        return card

    def _group(self, title: str) -> QFormLayout:
        form = QFormLayout(self._card(title))
        form.setContentsMargins(14, 12, 14, 12)
        # Labels sit at the top of their row, as tall as one field: a field with a note
        # under it keeps its label on its first line.
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(10)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        return form

    def _label(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("formLabel")
        label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._labels.append(label)
        return label

    def _test_button(self, text: str, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName("secondaryButton")
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        return button

    def _slot(self, field: QWidget, button: QPushButton | None) -> QWidget:
        """`field` with a button (or the same room left empty) on its right, so every
        field of the card ends at the same place."""
        slot = button or QWidget()
        self._slots.append(slot)
        return _beside(field, slot)

    def _align_columns(self) -> None:
        """One label width across all cards, one width for the audio test buttons."""
        if self._labels:
            width = max(label.sizeHint().width() for label in self._labels)
            height = self.crm_url.sizeHint().height()
            for label in self._labels:
                label.setFixedWidth(width)
                label.setMinimumHeight(height)
            self._meter_row.setFixedHeight(height)
        buttons = [w for w in self._slots if isinstance(w, QPushButton)]
        if buttons:
            width = max(b.sizeHint().width() for b in buttons) + 12  # "Test" and "Stop"
            for slot in self._slots:
                slot.setFixedWidth(width)

    def _row(self, form: QFormLayout, label: str, widget: QWidget, key: str) -> None:
        caption = self._label(label)
        focus = widget.findChild(QComboBox) or widget.findChild(QLineEdit) or widget
        caption.setBuddy(focus)  # the label names its field for screen readers
        if not self.config.is_locked(key):
            form.addRow(caption, widget)
            return
        focus.setEnabled(False)  # the field only: a locked ringer can still be tested
        focus.setToolTip("Set by your organisation")
        caption.setToolTip(f"{label} {LOCKED}")
        field = QWidget()
        column = QVBoxLayout(field)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addWidget(widget)
        column.addWidget(self._lock_note())
        form.addRow(_on_top(caption), field)  # the label stays level with the field

    def _lock_note(self, indent: int = 0) -> QWidget:
        """A padlock and "Locked: set by your organisation", under a locked control."""
        holder = QWidget()
        holder.setObjectName("lockNote")
        reason = QHBoxLayout(holder)
        reason.setContentsMargins(indent, 0, 0, 0)
        reason.setSpacing(5)
        lock = QLabel()
        lock.setAccessibleName("Locked")
        self._locks.append(lock)
        reason.addWidget(lock)
        note = QLabel(LOCKED_NOTE)
        note.setObjectName("lockedNote")
        reason.addWidget(note, 1)
        return holder

    def _check(self, form: QFormLayout, text: str, key: str) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(bool(getattr(self.config.settings, key)))
        box.toggled.connect(lambda on, k=key: self._save(k, on))
        if not self.config.is_locked(key):
            form.addRow(box)
            return box
        box.setEnabled(False)
        box.setToolTip("Set by your organisation")
        box.setAccessibleDescription(LOCKED_NOTE)
        field = QWidget()
        column = QVBoxLayout(field)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(box)
        indicator = box.style().pixelMetric(box.style().PixelMetric.PM_IndicatorWidth, None, box)
        column.addWidget(self._lock_note(indent=indicator + 8))  # under the text, not the box
        form.addRow(field)
        return box

    def _restyle(self, p: theme.Palette) -> None:
        self.setStyleSheet(look.style_sheet(p) + _extra_style(p))
        for box in self.findChildren(QCheckBox):
            _outline_box(box, p)
        lock = lock_pixmap(14, p.text_muted)
        for label in self._locks:
            label.setPixmap(lock)
        self._show_message(self.message.property("plain") or "", self._message_tone)
        self.set_line_labels()
        if hasattr(self, "meter"):
            self.meter.update()

    def _show_message(self, text: str, tone: str = "") -> None:
        """The line under the cards; `tone` is a palette colour name ("danger", ...)."""
        self._message_tone = tone
        self.message.setProperty("plain", text)
        self.message.setVisible(bool(text))
        if tone and text:
            color = str(getattr(theme.current(), tone))
            self.message.setText(f"<span style='color:{color}'>{text}</span>")
        else:
            self.message.setText(text)

    def _fade_saved(self) -> None:
        if self.message.property("plain") == "Saved.":
            self._show_message("")

    def _note(self, text: str) -> None:
        """The muted line at the foot of the audio card: what a test is doing, else what is
        wrong with the devices (nothing plugged in, a chosen one missing)."""
        text = text or self._device_note
        self.audio_note.setText(text)
        self.audio_note.setVisible(bool(text))

    # ------------------------------------------------------------------ saving
    def _save(self, key: str, value: Any, restart: bool = False) -> None:
        if getattr(self.config.settings, key) == value:
            return
        try:
            self.config.update(**{key: value})
        except (SettingLocked, SettingInvalid) as exc:
            self._show_message(str(exc), "danger")
            return
        settings = self.config.settings
        if key == "start_at_login" or (key == "start_minimized" and settings.start_at_login):
            try:  # the login entry carries --minimized: rewrite it when that changes too
                desktop.set_start_at_login(settings.start_at_login, settings.start_minimized)
            except OSError as exc:
                self._show_message(f"Could not change start at login: {exc}", "danger")
                return
        self._show_message("Saved. Takes effect after a restart." if restart else "Saved.")
        if not restart:
            self._fade.start()  # a plain "Saved." goes after a moment; warnings stay

    def _sign_in(self) -> None:
        email, password = self.crm_user.text().strip(), self.password.text()
        self.password.clear()
        if not email or not password:
            self._show_message("Enter your email and password to sign in.", "warning")
            return
        self._show_message("Signing in…")
        self.sign_in_requested.emit(email, password)

    def signed_in(self, ok: bool, text: str) -> None:
        self._show_message(text, "success" if ok else "danger")

    def _register_links(self) -> None:
        ok, text = desktop.register_link_handler()
        self._show_message(text, "success" if ok else "danger")

    # ------------------------------------------------------------------ live data
    def set_line(self, line: LineStatus) -> None:
        if not line.account_id:
            return
        self._lines[line.account_id] = line
        self.set_line_labels()

    def set_line_labels(self) -> None:
        """One read-only line per account: name, coloured state, reason."""
        if not self._lines:
            return
        while self.accounts.count() > 1:  # the security footer stays
            item = self.accounts.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        p = theme.current()
        for status in self._lines.values():
            state = status.state.value.replace("_", " ")
            color = {"registered": p.success, "failed": p.danger}.get(status.state.value, p.warning)
            text = f"<b>{status.label}</b> &nbsp;<span style='color:{color}'>● {state}</span>"
            if status.reason:
                text += f" · {status.reason}"
            muted = f"<br><span style='color:{p.text_muted}'>Managed in the CRM, read-only here"
            label = QLabel(text + muted + "</span>")
            label.setObjectName("accountLine")
            label.setWordWrap(True)
            self.accounts.insertWidget(self.accounts.count() - 1, label)

    def set_devices(self, listed: AudioDevicesListed) -> None:
        """Fill the device lists; a chosen device that is not plugged in stays chosen and
        says so (the engine uses the system default until it is back)."""
        s = self.config.settings
        self._names.update({d.device_id: d.name for d in listed.devices})
        missing: list[str] = []
        for combo, want_input, current in (
            # The settings are the truth; a list made before the last change may lag behind.
            (self.input, True, s.audio_input or listed.input_id),
            (self.output, False, s.audio_output or listed.output_id),
            (self.ringer, False, s.audio_ringer or listed.ringer_id),
        ):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("System default", "")
            for d in listed.devices:
                if d.is_input if want_input else d.is_output:
                    combo.addItem(d.name, d.device_id)
            if current and combo.findData(current) < 0:
                name = self._names.get(current, current)
                combo.addItem(f"{name}{NOT_CONNECTED}", current)
                if name not in missing:
                    missing.append(name)
            combo.setCurrentIndex(max(0, combo.findData(current or "")))
            combo.blockSignals(False)
            combo.refresh_tip()
        if not listed.devices:
            self._device_note = "No audio devices found. Plug in a headset."
        elif missing:
            verb = "is" if len(missing) == 1 else "are"
            self._device_note = (
                f"{' and '.join(missing)} {verb} not connected: "
                "calls use the system default until it is back."
            )
        else:
            self._device_note = ""
        self._note(self._device_note)

    def _check_audio(self) -> AudioCheck:
        if self._audio is None:
            from app.settings.audiocheck import DeviceAudioCheck

            self._audio = DeviceAudioCheck()
        return self._audio

    def _play_tone(self, ring: bool) -> None:
        if self._tone_timer.isActive():  # the button reads "Stop" while its tone plays
            self._tone_timer.stop()
            self._tone_done()
            return
        combo = self.ringer if ring else self.output
        button = self.ring_test if ring else self.test_tone
        other = self.test_tone if ring else self.ring_test
        where = _device_name(combo)
        try:
            seconds = self._check_audio().play_tone(
                combo.currentData() or "",
                ring=ring,
                ringtone=str(self.ringtone.currentData() or "classic"),
            )
        except Exception as exc:  # no sound system, device gone: say so, keep the window
            self._note(f"Could not play on {where}: {exc}.")
            return
        other.setEnabled(False)  # one tone at a time
        button.setText("Stop")
        what = "the ringtone" if ring else "a test tone"
        self._note(f"Playing {what} on {where}.")
        self._tone_timer.start(round(seconds * 1000) + 150)  # + what the device still holds

    def _tone_done(self) -> None:
        if self._audio is not None:
            self._audio.stop_tone()
        for button in (self.test_tone, self.ring_test):
            button.setText("Test")
            button.setEnabled(True)
        self._note("")

    def _toggle_meter(self, on: bool) -> None:
        if not on:
            self._meter_timer.stop()
            if self._audio is not None:
                self._audio.stop_meter()
            self.meter.reset()
            self.mic_test.setText("Test")
            self._note("")
            return
        where = _device_name(self.input)
        try:
            self._check_audio().start_meter(self.input.currentData() or "")
        except Exception as exc:
            self.mic_test.setChecked(False)
            self._note(f"Could not listen to {where}: {exc}.")
            return
        self.mic_test.setText("Stop")
        self._meter_timer.start()
        self._note(f"Speak: the bar follows {where}.")

    def _show_level(self) -> None:
        if self._audio is not None:
            self.meter.show_level(self._audio.level())

    def stop_tests(self) -> None:
        """Close every test stream (window closed or hidden): no device stays open."""
        self.mic_test.setChecked(False)
        if self._tone_timer.isActive():
            self._tone_timer.stop()
            self._tone_done()

    def hideEvent(self, event: Any) -> None:
        self.stop_tests()
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:
        self.stop_tests()
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        super().closeEvent(event)


def _security_text(s: Any) -> str:
    """One line; if it must wrap, it wraps between its three parts, never inside one."""
    media = {"off": "not encrypted", "optional": "encrypted when possible"}.get(
        s.srtp, "always encrypted"
    )
    parts = (
        "SIP over " + ", ".join(t.upper() for t in s.allowed_transports),
        f"Audio {media}",
        "Recording allowed" if s.recording_allowed else "Recording off",
    )
    return " · ".join(part.replace(" ", "\u00a0") for part in parts)


def _device_name(combo: QComboBox) -> str:
    """The chosen device as a sentence names it ("the system default", "USB headset")."""
    if not combo.currentData():
        return "the system default"
    return combo.currentText().removesuffix(NOT_CONNECTED)


def _beside(field: QWidget, extra: QWidget) -> QWidget:
    """`field` taking the room, `extra` (a button) at its natural size on the right."""
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(8)
    row.addWidget(field, 1)
    row.addWidget(extra)
    return holder


def _on_top(label: QLabel) -> QWidget:
    """A form label kept at the top of a tall row (a field with a note under it)."""
    holder = QWidget()
    column = QVBoxLayout(holder)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(label)
    column.addStretch(1)
    return holder


def _centred(widget: QWidget) -> QWidget:
    """A thin widget centred in a row as tall as the form's fields."""
    holder = QWidget()
    column = QVBoxLayout(holder)
    column.setContentsMargins(0, 0, 0, 0)
    column.addStretch(1)
    column.addWidget(widget)
    column.addStretch(1)
    return holder


def _left(button: QWidget) -> QWidget:
    """A button at its natural width, not stretched across the form."""
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(button)
    row.addStretch(1)
    return holder


def _outline_box(box: QCheckBox, p: theme.Palette) -> None:
    """Fusion draws a check box's frame a shade darker than the window colour: on the dark
    window that is black on near-black. Give it a window colour whose shade reads."""
    palette = box.palette()
    window = QColor(p.text_muted if p.dark else p.window)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        palette.setColor(group, QPalette.ColorRole.Window, window)
    palette.setColor(
        QPalette.ColorGroup.Disabled,
        QPalette.ColorRole.Window,
        QColor(p.border if p.dark else p.window),
    )
    box.setPalette(palette)


def _extra_style(p: theme.Palette) -> str:
    """Settings' own rules on top of the shared look: a locked field must look locked, and
    the scroll bar (which the shared look's transparent scroll-area rule also reaches) is
    drawn whole: a slim rounded handle, no arrow buttons."""
    return f"""
QWidget#settingsWindow QLineEdit:disabled, QWidget#settingsWindow QComboBox:disabled {{
    background: {p.surface_alt}; color: {p.text_muted}; }}
QLabel#formLabel {{ color: {p.text}; }}
QScrollArea#settingsScroll QScrollBar:vertical {{ background: transparent; border: none;
    width: 12px; margin: 2px 2px 2px 0; }}
QScrollArea#settingsScroll QScrollBar::handle:vertical {{ background: {p.border};
    border-radius: 4px; min-height: 40px; margin: 0 2px; }}
QScrollArea#settingsScroll QScrollBar::handle:vertical:hover {{ background: {p.text_muted}; }}
QScrollArea#settingsScroll QScrollBar::add-line:vertical,
QScrollArea#settingsScroll QScrollBar::sub-line:vertical {{ height: 0; border: none; }}
QScrollArea#settingsScroll QScrollBar::add-page:vertical,
QScrollArea#settingsScroll QScrollBar::sub-page:vertical {{ background: transparent; }}
"""
