"""Settings: CRM, accounts (read-only from provisioning), audio, behaviour, appearance.

Every change is saved at once through ``ConfigStore`` (validated, atomic); a setting the
machine policy locks is shown disabled with a padlock and the reason.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.config import ConfigStore, SettingInvalid, SettingLocked
from app.mainwindow.look import follow, lock_pixmap
from app.session.model import AudioDevicesListed, LineStatus
from app.settings import desktop

LOCKED = "(set by your organisation)"
RINGTONES = ("classic", "soft", "digital")


class SettingsWindow(QWidget):
    #: (email, password): the application signs in to the CRM and keeps the session in the
    #: keyring. The password never leaves this signal (the field is cleared at once).
    sign_in_requested = Signal(str, str)

    def __init__(self, config: ConfigStore, session: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Lodgestory Phone: Settings")
        self.setObjectName("settingsWindow")
        self.resize(620, 760)
        self.config = config
        self._session = session
        self._lines: dict[str, LineStatus] = {}
        self._meter_device: Any = None
        self._locks: list[QLabel] = []
        self._lock_boxes: list[QCheckBox] = []
        self._message_tone = ""
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
        body = QWidget()
        self.body = QVBoxLayout(body)
        self.body.setContentsMargins(20, 4, 20, 16)
        self.body.setSpacing(2)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self.message = QLabel("")
        self.message.setObjectName("settingsMessage")
        self.message.setWordWrap(True)
        self.message.setContentsMargins(20, 6, 20, 10)
        outer.addWidget(self.message)
        if config.policy.source:
            policy = QFrame()
            policy.setObjectName("banner")
            policy.setProperty("tone", "info")
            prow = QHBoxLayout(policy)
            prow.setContentsMargins(10, 8, 10, 8)
            self._policy_lock = QLabel()
            self._locks.append(self._policy_lock)
            prow.addWidget(self._policy_lock)
            note = QLabel(f"Settings marked {LOCKED} are managed by IT ({config.policy.source}).")
            note.setWordWrap(True)
            prow.addWidget(note, 1)
            self.body.addSpacing(12)
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
        self.sign_in = QPushButton("Sign in")
        self.sign_in.setObjectName("primaryButton")
        pw_row = QWidget()
        pw = QHBoxLayout(pw_row)
        pw.setContentsMargins(0, 0, 0, 0)
        pw.addWidget(self.password, 1)
        pw.addWidget(self.sign_in)
        crm.addRow("Password", pw_row)
        self.sign_in.clicked.connect(self._sign_in)

        # Accounts from provisioning.
        self.accounts_box = self._card("Calling accounts (from your CRM)")
        self.accounts = QVBoxLayout(self.accounts_box)
        self.accounts.setContentsMargins(12, 12, 12, 12)
        self.accounts.setSpacing(6)
        self.accounts_empty = QLabel("No calling account yet.")
        self.accounts_empty.setProperty("role", "muted")
        self.accounts.addWidget(self.accounts_empty)

        # Audio.
        audio = self._group("Audio")
        self.input = QComboBox()
        self.output = QComboBox()
        self.ringer = QComboBox()
        for combo, key in (
            (self.input, "audio_input"),
            (self.output, "audio_output"),
            (self.ringer, "audio_ringer"),
        ):
            combo.addItem("System default", "")
            combo.currentIndexChanged.connect(
                lambda _i, c=combo, k=key: self._save(k, c.currentData() or "")
            )
        self._row(audio, "Microphone", self.input, "audio_input")
        self._row(audio, "Speaker", self.output, "audio_output")
        self._row(audio, "Ringer", self.ringer, "audio_ringer")
        self.meter = QProgressBar()
        self.meter.setObjectName("micMeter")
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(10)
        self.mic_test = QPushButton("Test microphone")
        self.mic_test.setObjectName("secondaryButton")
        self.mic_test.setCheckable(True)
        self.mic_test.toggled.connect(self._toggle_meter)
        meter_row = QWidget()
        mr = QHBoxLayout(meter_row)
        mr.setContentsMargins(0, 0, 0, 0)
        mr.addWidget(self.meter, 1)
        mr.addWidget(self.mic_test)
        audio.addRow("Mic level", meter_row)
        self.test_tone = QPushButton("Play test tone")
        self.test_tone.setObjectName("secondaryButton")
        self.test_tone.clicked.connect(self._play_tone)
        audio.addRow("", _left(self.test_tone))
        self.ringtone = QComboBox()
        for name in RINGTONES:
            self.ringtone.addItem(name.capitalize(), name)
        self.ringtone.setCurrentIndex(max(0, self.ringtone.findData(s.ringtone)))
        self.ringtone.currentIndexChanged.connect(
            lambda _i: self._save("ringtone", self.ringtone.currentData())
        )
        self._row(audio, "Ringtone", self.ringtone, "ringtone")
        self.audio_note = QLabel("")
        self.audio_note.setProperty("role", "muted")
        self.audio_note.setWordWrap(True)
        audio.addRow("", self.audio_note)

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
        calls.addRow("", _left(self.link_handler))

        # Appearance.
        look = self._group("Appearance")
        self.theme = QComboBox()
        for label, value in (("Follow the system", "system"), ("Light", "light"), ("Dark", "dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(s.theme)))
        self.theme.currentIndexChanged.connect(
            lambda _i: self._save("theme", self.theme.currentData())
        )
        self._row(look, "Theme", self.theme, "theme")

        self.body.addStretch(1)
        follow(self, self._restyle)
        if session is not None:
            session.registration_changed.connect(self.set_line)
            session.audio_devices_listed.connect(self.set_devices)
            for line in session.lines():
                self.set_line(line)
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(50)
        self._meter_level = 0.0
        self._meter_timer.timeout.connect(lambda: self.meter.setValue(int(self._meter_level)))

    # ------------------------------------------------------------------ building
    def _card(self, title: str) -> QFrame:
        heading = QLabel(title)
        heading.setObjectName("cardTitle")
        self.body.addSpacing(14)
        self.body.addWidget(heading)
        self.body.addSpacing(6)
        card = QFrame()
        card.setObjectName("settingsCard")
        self.body.addWidget(card)
        return card

    def _group(self, title: str) -> QFormLayout:
        form = QFormLayout(self._card(title))
        form.setContentsMargins(14, 12, 14, 12)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(10)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return form

    def _row(self, form: QFormLayout, label: str, widget: QWidget, key: str) -> None:
        if not self.config.is_locked(key):
            form.addRow(label, widget)
            return
        widget.setEnabled(False)
        widget.setToolTip("Set by your organisation")
        field = QWidget()
        column = QVBoxLayout(field)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(3)
        column.addWidget(widget)
        reason = QHBoxLayout()
        reason.setSpacing(5)
        lock = QLabel()
        lock.setAccessibleName("Locked")
        self._locks.append(lock)
        reason.addWidget(lock)
        note = QLabel(f"Locked: {LOCKED[1:-1]}")
        note.setObjectName("lockedNote")
        reason.addWidget(note, 1)
        column.addLayout(reason)
        form.addRow(f"{label} {LOCKED}", field)
        caption = form.labelForField(field)
        if isinstance(caption, QLabel):
            caption.setText(label)
            caption.setToolTip(f"{label} {LOCKED}")

    def _check(self, form: QFormLayout, text: str, key: str) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(bool(getattr(self.config.settings, key)))
        if self.config.is_locked(key):
            box.setEnabled(False)
            box.setText(f"{text} {LOCKED}")
            box.setToolTip("Set by your organisation")
            self._lock_boxes.append(box)
        box.toggled.connect(lambda on, k=key: self._save(k, on))
        form.addRow("", box)
        return box

    def _restyle(self, p: theme.Palette) -> None:
        lock = lock_pixmap(14, p.text_muted)
        for label in self._locks:
            label.setPixmap(lock)
        for box in self._lock_boxes:
            box.setIcon(QIcon(lock))
        self._show_message(self.message.property("plain") or "", self._message_tone)
        self.set_line_labels()

    def _show_message(self, text: str, tone: str = "") -> None:
        """The line under the cards; `tone` is a palette colour name ("danger", ...)."""
        self._message_tone = tone
        self.message.setProperty("plain", text)
        if tone and text:
            color = str(getattr(theme.current(), tone))
            self.message.setText(f"<span style='color:{color}'>{text}</span>")
        else:
            self.message.setText(text)

    # ------------------------------------------------------------------ saving
    def _save(self, key: str, value: Any, restart: bool = False) -> None:
        if getattr(self.config.settings, key) == value:
            return
        try:
            self.config.update(**{key: value})
        except (SettingLocked, SettingInvalid) as exc:
            self._show_message(str(exc), "danger")
            return
        if key == "start_at_login":
            try:
                desktop.set_start_at_login(bool(value), self.config.settings.start_minimized)
            except OSError as exc:
                self._show_message(f"Could not change start at login: {exc}", "danger")
                return
        self._show_message("Saved. Takes effect after a restart." if restart else "Saved.")

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
        while self.accounts.count():
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
            self.accounts.addWidget(label)

    def set_devices(self, listed: AudioDevicesListed) -> None:
        for combo, want_input, current in (
            (self.input, True, listed.input_id),
            (self.output, False, listed.output_id),
            (self.ringer, False, listed.ringer_id),
        ):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("System default", "")
            for d in listed.devices:
                if d.is_input if want_input else d.is_output:
                    combo.addItem(d.name, d.device_id)
            combo.setCurrentIndex(max(0, combo.findData(current or "")))
            combo.blockSignals(False)
        if not listed.devices:
            self.audio_note.setText("No audio devices found. Plug in a headset.")

    def _play_tone(self) -> None:
        try:
            import math

            import miniaudio

            def tone() -> Any:
                rate, n = 16000, 0
                frames = yield b""
                while n < rate:
                    chunk = bytearray()
                    for i in range(frames):
                        v = int(8000 * math.sin(2 * math.pi * 440 * (n + i) / rate))
                        chunk += v.to_bytes(2, "little", signed=True)
                    n += frames
                    frames = yield bytes(chunk)

            device = miniaudio.PlaybackDevice(
                output_format=miniaudio.SampleFormat.SIGNED16,
                nchannels=1,
                sample_rate=16000,
                device_id=None,
            )
            gen = tone()
            next(gen)
            device.start(gen)
            self._tone_device = device
            self.audio_note.setText("Playing a 1 s test tone on the speaker.")
        except Exception as exc:
            self.audio_note.setText(f"No sound device to play on: {exc}")

    def _toggle_meter(self, on: bool) -> None:
        if not on:
            self._meter_timer.stop()
            if self._meter_device is not None:
                self._meter_device.close()
                self._meter_device = None
            self.meter.setValue(0)
            return
        try:
            import array

            import miniaudio

            def sink() -> Any:
                while True:
                    data = yield
                    samples = array.array("h", data)
                    peak = max((abs(x) for x in samples), default=0)
                    self._meter_level = min(100.0, 100.0 * peak / 16000)

            device = miniaudio.CaptureDevice(
                input_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=16000
            )
            gen = sink()
            next(gen)
            device.start(gen)
            self._meter_device = device
            self._meter_timer.start()
            self.audio_note.setText("Speak: the bar follows your voice.")
        except Exception as exc:
            self.mic_test.setChecked(False)
            self.audio_note.setText(f"No microphone to test: {exc}")

    def closeEvent(self, event: Any) -> None:
        self.mic_test.setChecked(False)
        super().closeEvent(event)


def _left(button: QWidget) -> QWidget:
    """A button at its natural width, not stretched across the form."""
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(button)
    row.addStretch(1)
    return holder
