"""The detail sheet of one call: every field, recording, contact, chat, timeline, transcript."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
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
from app.mainwindow.look import Pill, status_tone
from app.mainwindow.model import STATUS_TEXT, direction_icon, fmt_duration, fmt_time
from app.mainwindow.source import CallLogSource
from app.session.errors import user_error
from app.session.model import ErrorKind
from app.widgets.avatar import Avatar
from app.widgets.icons import icon
from crmclient.errors import NotFound
from crmclient.models import CallRecord, Contact, ContactLookup, RecordingInfo, Transcript


class DetailSheet(QFrame):
    """Shows one ``CallRecord``; asks the source for contact, recording and transcript."""

    #: The agent pressed Call back: the number to dial and the call's chat, if any.
    call_back_requested = Signal(str, str)
    #: A contact was created from this call's number (the log refreshes the row).
    contact_created = Signal(str)

    def __init__(
        self,
        source: CallLogSource,
        agent_name: Callable[[str], str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("detailSheet")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumWidth(320)
        self._source = source
        self._agent_name = agent_name or (lambda a: a)
        self._record: CallRecord | None = None
        self.maybe_name = ""
        self._player: object | None = None
        self.recording_path: Path | None = None
        self._headings: list[tuple[QLabel, QFormLayout]] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 14, 14, 14)
        outer.setSpacing(10)
        # Header card: who, which number, which way, how it went.
        card = QFrame()
        card.setObjectName("detailHeader")
        head = QHBoxLayout(card)
        head.setContentsMargins(12, 12, 12, 12)
        head.setSpacing(12)
        self.avatar = Avatar(diameter=52)
        head.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignTop)
        who = QVBoxLayout()
        who.setSpacing(3)
        self.title = QLabel("Select a call")
        self.title.setObjectName("detailTitle")
        self.title.setWordWrap(True)
        who.addWidget(self.title)
        self.number = QLabel("")
        self.number.setObjectName("detailNumber")
        self.number.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        who.addWidget(self.number)
        chips = QHBoxLayout()
        chips.setSpacing(6)
        self.direction_icon = QLabel()
        chips.addWidget(self.direction_icon)
        self.subtitle = QLabel("")
        self.subtitle.setObjectName("detailNumber")
        self.subtitle.setWordWrap(True)
        chips.addWidget(self.subtitle, 1)
        who.addLayout(chips)
        self.status_pill = Pill()
        pill_row = QHBoxLayout()
        pill_row.addWidget(self.status_pill)
        pill_row.addStretch(1)
        who.addLayout(pill_row)
        head.addLayout(who, 1)
        outer.addWidget(card)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.call_back = QPushButton("Call back")
        self.call_back.setObjectName("primaryButton")
        self.call_back.clicked.connect(self._call_back)
        self.load_recording = QPushButton("Load Recording")
        self.load_recording.setObjectName("secondaryButton")
        self.load_recording.clicked.connect(self._load_recording)
        self.play = QPushButton("Play")
        self.play.setObjectName("secondaryButton")
        self.play.clicked.connect(self._play)
        self.play.setEnabled(False)
        for b in (self.call_back, self.load_recording, self.play):
            buttons.addWidget(b)
        buttons.addStretch(1)
        outer.addLayout(buttons)
        self.recording_state = QLabel("")
        self.recording_state.setObjectName("fieldLabel")
        self.recording_state.setWordWrap(True)
        outer.addWidget(self.recording_state)
        # "Create contact" for unknown numbers, "maybe: NAME" until confirmed.
        self.contact_row = QWidget()
        crow = QHBoxLayout(self.contact_row)
        crow.setContentsMargins(0, 0, 0, 0)
        self.contact_name = QLineEdit()
        self.contact_name.setPlaceholderText("Guest name")
        self.create_contact = QPushButton("Create contact")
        self.create_contact.setObjectName("secondaryButton")
        self.create_contact.clicked.connect(self._create_contact)
        crow.addWidget(self.contact_name, 1)
        crow.addWidget(self.create_contact)
        outer.addWidget(self.contact_row)
        # Grouped fields, the timeline and the transcript, scrolling together.
        holder = QWidget()
        sections = QVBoxLayout(holder)
        sections.setContentsMargins(0, 0, 4, 0)
        sections.setSpacing(4)
        self.fields = self._section(sections, "PEOPLE")
        self.call_fields = self._section(sections, "CALL")
        self.timeline = self._section(sections, "TIMELINE")
        self.transcript_title = QLabel("TRANSCRIPT")
        self.transcript_title.setObjectName("sectionTitle")
        sections.addWidget(self.transcript_title)
        self.transcript = QLabel("")
        self.transcript.setObjectName("transcriptText")
        self.transcript.setWordWrap(True)
        self.transcript.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sections.addWidget(self.transcript)
        sections.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("detailScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(holder)
        outer.addWidget(scroll, 1)
        self.show_record(None)

    def show_record(self, record: CallRecord | None) -> None:
        self._record = record
        self.recording_path = None
        self.play.setEnabled(False)
        self.recording_state.setText("")
        self.transcript.setText("")
        self.transcript.setVisible(False)
        self.transcript_title.setVisible(False)
        for form in (self.fields, self.call_fields, self.timeline):
            while form.rowCount():
                form.removeRow(0)
        enabled = record is not None
        self.contact_name.clear()
        self.maybe_name = ""
        self.create_contact.setText("Create contact")
        for w in (self.call_back, self.load_recording):
            w.setEnabled(enabled)
        self.contact_row.setVisible(
            record is not None and not record.contact_id and not record.guest_name
        )
        if record is None:
            self.restyle(theme.current())
            self.title.setText("Select a call")
            self.avatar.set_name("")
            self.number.setText("")
            self.subtitle.setText("Details, recording and transcript show here.")
            return
        self.title.setText(record.guest_name or record.remote_number)
        self.avatar.set_name(record.guest_name or "")
        self.number.setText(record.remote_number if record.guest_name else "")
        self.number.setVisible(bool(record.guest_name))
        self.subtitle.setText(
            f"{record.direction.value.capitalize()} · {fmt_time(record.started_at)}"
        )
        self.load_recording.setEnabled(record.has_recording)
        if not record.has_recording:
            self.recording_state.setText("No recording for this call.")
        self._add("Guest", record.guest_name or "")
        self._add("Contact", record.contact_id or "not linked")
        self._add("Chat", record.chat_id or "not linked")
        self._add("Agent", self._agent_name(record.agent_id))
        self._add("Answered by", record.answered_by or "")
        call = self.call_fields
        self._add("Number", record.remote_number, call)
        self._add("Our number", record.local_number or "", call)
        self._add("Mode", record.mode.value, call)
        self._add("Account", record.account_id or "", call)
        self._add("Duration", fmt_duration(record.duration_s), call)
        cause = record.hangup_cause.value.replace("_", " ") if record.hangup_cause else ""
        self._add("Hang-up cause", cause, call)
        self._add("SIP code", str(record.sip_code) if record.sip_code else "", call)
        self._add("Outcome", record.outcome or "", call)
        self._add("Notes", record.notes or "", call)
        self._add("Call id", record.id, call)
        # Timeline: what happened when.
        self._add("Started", fmt_time(record.started_at), self.timeline)
        if record.answered_at:
            self._add("Answered", fmt_time(record.answered_at), self.timeline)
        if record.ended_at:
            self._add("Ended", fmt_time(record.ended_at), self.timeline)
        self.restyle(theme.current())
        if record.contact_id:
            self._source.contact(record.contact_id, self._contact_loaded, lambda _e: None)
        elif record.remote_number.startswith("+"):
            self._source.lookup(record.remote_number, self._lookup_loaded, lambda _e: None)
        if record.has_transcript:
            self._source.transcript(record.id, self._transcript_loaded, lambda _e: None)

    def _section(self, column: QVBoxLayout, title: str) -> QFormLayout:
        heading = QLabel(title)
        heading.setObjectName("sectionTitle")
        column.addWidget(heading)
        form = QFormLayout()
        self._headings.append((heading, form))
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(6)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        column.addLayout(form)
        return form

    def restyle(self, p: theme.Palette) -> None:
        """Direction icon, status pill and button icons in the current look."""
        self.call_back.setIcon(icon("call", p.accent_text))
        self.load_recording.setIcon(icon("record", p.text))
        self.play.setIcon(icon("resume", p.text))
        record = self._record
        for heading, form in self._headings:
            heading.setVisible(form.rowCount() > 0)
        self.direction_icon.setVisible(record is not None)
        if record is None:
            self.direction_icon.clear()
            self.status_pill.setVisible(False)
            return
        self.direction_icon.setPixmap(direction_icon(record).pixmap(16, 16))
        self.status_pill.set_status(
            STATUS_TEXT.get(record.status, record.status.value), status_tone(record.status)
        )
        self.status_pill.setVisible(True)

    def _add(self, label: str, value: str, form: QFormLayout | None = None) -> None:
        if not value:
            return
        text = QLabel(value)
        text.setObjectName("fieldValue")
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        caption = QLabel(f"{label}:")
        caption.setObjectName("fieldLabel")
        caption.setMinimumWidth(96)
        (form or self.fields).addRow(caption, text)

    def _contact_loaded(self, contact: Contact) -> None:
        if self._record is None or self._record.contact_id != contact.id:
            return
        for row in range(self.fields.rowCount()):
            item = self.fields.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                label = item.widget()
                if isinstance(label, QLabel) and label.text() == "Contact:":
                    item = self.fields.itemAt(row, QFormLayout.ItemRole.FieldRole)
                    field = item.widget() if item is not None else None
                    if isinstance(field, QLabel):
                        company = f" ({contact.company})" if contact.company else ""
                        field.setText(f"{contact.name}{company}")

    def _lookup_loaded(self, lookup: ContactLookup) -> None:
        """A number seen in a message or signature: "maybe: NAME" until the agent confirms
        by creating the contact (the name is filled in for them)."""
        if self._record is None or self._record.remote_number != lookup.number:
            return
        if lookup.confirmed:
            self._add("Contact", lookup.confirmed[0].contact.name)
            self.contact_row.setVisible(False)
            return
        if lookup.maybe:
            name = lookup.maybe[0].contact.name
            self.maybe_name = name
            self.title.setText(f"maybe: {name}")
            self.avatar.set_name(name)
            self.number.setText(record_number := self._record.remote_number)
            self.number.setVisible(bool(record_number))
            self.contact_name.setText(name)
            self.contact_row.setVisible(True)
            self.create_contact.setText("Confirm contact")

    def _transcript_loaded(self, transcript: Transcript | None) -> None:
        if transcript is None:
            return
        lines = [f"<b>{s.speaker.value}</b>: {s.text}" for s in transcript.segments]
        self.transcript.setText("<br>".join(lines))
        self.transcript.setVisible(True)
        self.transcript_title.setVisible(True)

    def _call_back(self) -> None:
        if self._record is not None:
            self.call_back_requested.emit(self._record.remote_number, self._record.chat_id or "")

    def _load_recording(self) -> None:
        record = self._record
        if record is None:
            return
        self.recording_state.setText("Loading recording…")
        dest = Path(tempfile.gettempdir()) / f"lodgephone-rec-{record.id}.wav"

        def ok(info: RecordingInfo) -> None:
            if self._record is None or self._record.id != record.id:
                return
            self.recording_path = dest
            secs = f", {info.duration_s:.0f} s" if info.duration_s else ""
            self.recording_state.setText(f"Recording ready ({info.size_bytes // 1024} KB{secs}).")
            self.play.setEnabled(True)

        def err(exc: BaseException) -> None:
            e = user_error(ErrorKind.RECORDING_FAILED, str(exc))
            extra = " (this call has no recording)" if isinstance(exc, NotFound) else ""
            self.recording_state.setText(f"{e.message}{extra}. {e.what_to_do}")

        self._source.recording(record.id, dest, ok, err)

    def _play(self) -> None:
        """Play through the default output with miniaudio (no QtMultimedia in Essentials)."""
        if self.recording_path is None:
            return
        try:
            import miniaudio

            stream = miniaudio.stream_file(str(self.recording_path))
            device = miniaudio.PlaybackDevice()
            device.start(stream)
            self._player = device
            self.recording_state.setText("Playing…")
        except Exception as exc:
            self.recording_state.setText(
                f"Cannot play here: {exc}. The file is {self.recording_path}"
            )

    def _create_contact(self) -> None:
        record = self._record
        if record is None:
            return
        name = self.contact_name.text().strip()

        def ok(contact: Contact) -> None:
            self.contact_row.setVisible(False)
            self._add("Contact created", contact.name)
            self.contact_created.emit(contact.id)

        def err(exc: BaseException) -> None:
            self.recording_state.setText(f"Could not create the contact: {exc}")

        self._source.create_contact(record.remote_number, name, ok, err)
