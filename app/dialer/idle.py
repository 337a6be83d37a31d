"""The dialer at rest: who to call, from which number and line, and whether it is a good
time for them.

The page asks the session about the text as it is typed (`prepare_outbound`) and draws
the answer (`OutboundOptions`): destination country, place and local time, the caller-ID
and provider picked for it, and why the Call button is disabled if it is.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.dialer.numbertext import clean_number, looks_like_name
from app.session.model import (
    CallPermission,
    ContactHit,
    ContactsFound,
    DialRequest,
    DialSource,
    DisabledReason,
    OutboundOptions,
    PermissionState,
    Presence,
    Teammate,
    UserError,
)
from app.widgets.banner import Banner
from app.widgets.dialpad import DialPad
from app.widgets.icons import icon
from app.widgets.segmented import Segmented

PREPARE_DEBOUNCE_MS = 120

PERMISSION_TEXT = {
    PermissionState.WAITING: ("Asked the guest for permission to call… waiting", "info"),
    PermissionState.ALLOWED_ONCE: ("The guest allowed this call", "success"),
    PermissionState.ALWAYS_ALLOWED: ("The guest always allows calls", "success"),
    PermissionState.DECLINED: ("The guest declined to be called. Reply in the chat.", "danger"),
}

_PRESENCE_TONE = {
    Presence.AVAILABLE: "success",
    Presence.BUSY: "warning",
    Presence.DO_NOT_DISTURB: "danger",
}


class NumberField(QLineEdit):
    """The number box: pasted text of any shape is cleaned to digits on the way in."""

    #: Enter was pressed in the field.
    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("numberField")
        self.setPlaceholderText("Number or name")
        self.setClearButtonEnabled(False)
        self.setAccessibleName("Number to call")
        self._previous = ""
        self.textEdited.connect(self._on_edited)

    def _on_edited(self, text: str) -> None:
        bulk = len(text) - len(self._previous) >= 2
        self._previous = text
        if bulk:
            cleaned = clean_number(text)
            if cleaned != text:
                self.setText(cleaned)
                self._previous = cleaned
                self.textEdited.emit(cleaned)

    def setText(self, text: str | None, /) -> None:
        self._previous = text or ""
        super().setText(text)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class DialPage(QWidget):
    """Idle dialer page. The window turns its signals into session commands."""

    #: The agent pressed Call (or Enter) with an enabled Call button.
    call_requested = Signal(DialRequest)
    #: The text or the chosen provider changed: ask the session for options.
    prepare_requested = Signal(str, str)
    #: Letters typed: search contacts.
    contact_search_requested = Signal(str)
    #: Calling a chat needs the guest's permission first.
    permission_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._options: OutboundOptions | None = None
        self._chat_id: str | None = None
        self._contact_id: str | None = None
        self._contact_name = ""
        self._context_number = ""
        self._permission: CallPermission | None = None
        self._pending_dial: DialRequest | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(PREPARE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_prepare)
        self._build()
        self._refresh_call_button()

    # ------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 6, 16, 12)
        root.setSpacing(8)

        self.scope = Segmented([("external", "External"), ("internal", "Internal")], self)
        self.scope.changed.connect(self._on_scope_changed)
        scope_row = QHBoxLayout()
        scope_row.addStretch(1)
        scope_row.addWidget(self.scope)
        scope_row.addStretch(1)
        root.addLayout(scope_row)

        field_row = QHBoxLayout()
        field_row.setSpacing(6)
        self.number = NumberField(self)
        self.number.textEdited.connect(self._on_text_edited)
        self.number.submitted.connect(self.press_call)
        self.backspace = QToolButton(self)
        self.backspace.setObjectName("headerButton")
        self.backspace.setIconSize(QSize(22, 22))
        self.backspace.setToolTip("Delete last digit")
        self.backspace.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.backspace.clicked.connect(self._backspace)
        field_row.addWidget(self.number, 1)
        field_row.addWidget(self.backspace)
        root.addLayout(field_row)

        self.contact_chip = QLabel(self)
        self.contact_chip.setProperty("role", "muted")
        self.contact_chip.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.contact_chip.hide()
        root.addWidget(self.contact_chip)

        self.destination = QLabel(self)
        self.destination.setProperty("role", "muted")
        self.destination.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.destination.setWordWrap(True)
        self.destination.setMinimumHeight(18)
        root.addWidget(self.destination)

        self.hours_banner = Banner(self)
        self.permission_banner = Banner(self)
        self.error_banner = Banner(self)
        root.addWidget(self.hours_banner)
        root.addWidget(self.permission_banner)
        root.addWidget(self.error_banner)

        self.middle = QStackedWidget(self)
        self.pad = DialPad(self.middle)
        self.pad.key_pressed.connect(self._on_key)
        pad_holder = QWidget(self.middle)
        pad_layout = QVBoxLayout(pad_holder)
        pad_layout.setContentsMargins(0, 4, 0, 4)
        pad_layout.addWidget(self.pad, 0, Qt.AlignmentFlag.AlignCenter)
        self.results = QListWidget(self.middle)
        self.results.setObjectName("contactResults")
        self.results.itemActivated.connect(self._on_hit_chosen)
        self.results.itemClicked.connect(self._on_hit_chosen)
        self.teammates = QListWidget(self.middle)
        self.teammates.setObjectName("teammateList")
        self.teammates.currentItemChanged.connect(lambda *_: self._refresh_call_button())
        self.teammates.itemDoubleClicked.connect(lambda _item: self.press_call())
        self.middle.addWidget(pad_holder)
        self.middle.addWidget(self.results)
        self.middle.addWidget(self.teammates)
        root.addWidget(self.middle, 1)

        from_box = QFrame(self)
        from_layout = QVBoxLayout(from_box)
        from_layout.setContentsMargins(0, 0, 0, 0)
        from_layout.setSpacing(6)
        self.provider_row = QWidget(from_box)
        provider_layout = QHBoxLayout(self.provider_row)
        provider_layout.setContentsMargins(0, 0, 0, 0)
        provider_label = QLabel("Line", self.provider_row)
        provider_label.setProperty("role", "muted")
        provider_label.setFixedWidth(44)
        self.provider = QComboBox(self.provider_row)
        self.provider.setAccessibleName("Provider")
        self.provider.activated.connect(self._on_provider_chosen)
        provider_layout.addWidget(provider_label)
        provider_layout.addWidget(self.provider, 1)
        self.caller_id_row = QWidget(from_box)
        cid_layout = QHBoxLayout(self.caller_id_row)
        cid_layout.setContentsMargins(0, 0, 0, 0)
        cid_label = QLabel("From", self.caller_id_row)
        cid_label.setProperty("role", "muted")
        cid_label.setFixedWidth(44)
        self.caller_id = QComboBox(self.caller_id_row)
        self.caller_id.setAccessibleName("Caller ID")
        self.caller_id.currentIndexChanged.connect(lambda _i: self._refresh_default_badge())
        cid_layout.addWidget(cid_label)
        cid_layout.addWidget(self.caller_id, 1)
        self.mode = Segmented([("softphone", "Softphone"), ("phone", "Phone")], from_box)
        self.mode.setToolTip("Phone: your desk or mobile phone rings first, then the guest")
        from_layout.addWidget(self.provider_row)
        from_layout.addWidget(self.caller_id_row)
        from_layout.addWidget(self.mode, 0, Qt.AlignmentFlag.AlignHCenter)
        root.addWidget(from_box)

        self.call_button = QPushButton("Call", self)
        self.call_button.setObjectName("callButton")
        self.call_button.setIconSize(QSize(20, 20))
        self.call_button.setMinimumHeight(48)
        self.call_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.call_button.clicked.connect(self.press_call)
        root.addWidget(self.call_button)
        self.provider_row.hide()
        self.mode.hide()
        self.refresh_icons()

    def refresh_icons(self) -> None:
        self.backspace.setIcon(icon("backspace", theme.current().text_muted))
        self.call_button.setIcon(icon("call", "#ffffff"))

    # --------------------------------------------------------------------- behaviour
    def is_internal(self) -> bool:
        return self.scope.value() == "internal"

    def text(self) -> str:
        return self.number.text().strip()

    def _on_scope_changed(self, _key: str) -> None:
        internal = self.is_internal()
        self.number.setPlaceholderText("Extension or teammate" if internal else "Number or name")
        self.caller_id_row.setVisible(not internal)
        self.hours_banner.setVisible(False)
        self._show_middle()
        self._filter_teammates()
        self._refresh_call_button()

    def _on_key(self, key: str) -> None:
        self.number.insert(key)
        self.number.setFocus()
        self._on_text_edited(self.number.text())

    def _backspace(self) -> None:
        self.number.backspace()
        self._on_text_edited(self.number.text())

    def _on_text_edited(self, text: str) -> None:
        if self._contact_name and text.strip() != self._context_number:
            self._forget_context()
        self.error_banner.clear()
        self._show_middle()
        if self.is_internal():
            self._filter_teammates()
        self._debounce.start()
        self._refresh_call_button()

    def _emit_prepare(self) -> None:
        """One request per typing pause: a contact search for names, options for numbers."""
        text = self.text()
        if self.is_internal():
            return
        if looks_like_name(text):
            if len(text) >= 2:
                self.contact_search_requested.emit(text)
            return
        self.prepare_requested.emit(text, self._selected_account() or "")

    def _show_middle(self) -> None:
        if self.is_internal():
            self.middle.setCurrentWidget(self.teammates)
        elif looks_like_name(self.text()) and self.results.count():
            self.middle.setCurrentWidget(self.results)
        else:
            self.middle.setCurrentIndex(0)

    def _forget_context(self) -> None:
        self._chat_id = None
        self._contact_id = None
        self._contact_name = ""
        self._context_number = ""
        self._permission = None
        self._pending_dial = None
        self.contact_chip.hide()
        self.permission_banner.clear()

    def set_context(
        self, name: str, number: str, contact_id: str | None, chat_id: str | None
    ) -> None:
        """Calling someone known (picked from search, or the CRM's Call button)."""
        self._contact_name = name
        self._contact_id = contact_id
        self._chat_id = chat_id
        self._context_number = number
        chat = " · chat" if chat_id else ""
        self.contact_chip.setText(f"{name}{chat}" if name else "")
        self.contact_chip.setVisible(bool(name))

    # ------------------------------------------------------------------ from session
    def set_options(self, options: OutboundOptions) -> None:
        self._options = options
        self._fill_providers(options)
        self._fill_caller_ids(options)
        self._fill_teammates(options.teammates)
        self._show_destination(options)
        if options.error is not None:
            self.show_error(options.error)
        self._refresh_call_button()

    def _fill_providers(self, options: OutboundOptions) -> None:
        keep = options.account_id or self._selected_account()
        self.provider.blockSignals(True)
        self.provider.clear()
        for prov in options.providers:
            self.provider.addItem(prov.label, prov.account_id)
        index = self.provider.findData(keep) if keep else 0
        self.provider.setCurrentIndex(max(index, 0))
        self.provider.blockSignals(False)
        self.provider_row.setVisible(len(options.providers) > 1)
        chosen = next((p for p in options.providers if p.account_id == keep), None)
        if chosen is None and options.providers:
            chosen = options.providers[0]
        both = chosen is not None and chosen.softphone and chosen.phone
        self.mode.setVisible(bool(both))
        if not both:
            self.mode.set_value("softphone")

    def _fill_caller_ids(self, options: OutboundOptions) -> None:
        keep = self.caller_id.currentData() if self.caller_id.count() else None
        self.caller_id.blockSignals(True)
        self.caller_id.clear()
        for option in options.caller_ids:
            text = f"{option.label}  (Default)" if option.is_default else option.label
            self.caller_id.addItem(text, option.number)
        # The session picks per destination; a choice the agent made still wins.
        wanted = keep if keep and self.caller_id.findData(keep) >= 0 else options.caller_id
        index = self.caller_id.findData(wanted) if wanted else -1
        if index < 0:
            index = next((i for i, o in enumerate(options.caller_ids) if o.is_default), 0)
        self.caller_id.setCurrentIndex(index if options.caller_ids else -1)
        self.caller_id.setEnabled(bool(options.caller_ids))
        self.caller_id.blockSignals(False)
        self._refresh_default_badge()

    def _refresh_default_badge(self) -> None:
        """The "(Default)" badge is part of the item text; mirror it in the tooltip."""
        self.caller_id.setToolTip(
            f"Your number the guest sees: {self.caller_id.currentText()}"
            if self.caller_id.count()
            else "No caller-ID numbers assigned"
        )

    def _fill_teammates(self, teammates: tuple[Teammate, ...]) -> None:
        current = self.teammates.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole) if current else None
        self.teammates.clear()
        p = theme.current()
        for mate in teammates:
            item = QListWidgetItem(f"{mate.name}   ext. {mate.extension}")
            color = getattr(p, _PRESENCE_TONE.get(mate.presence, "text_muted"))
            item.setIcon(icon("contact", color))
            item.setData(Qt.ItemDataRole.UserRole, mate.user_id)
            item.setData(Qt.ItemDataRole.UserRole + 1, mate.extension)
            item.setToolTip(f"{mate.name}: {mate.presence.value.replace('dnd', 'do not disturb')}")
            self.teammates.addItem(item)
            if mate.user_id == keep:
                self.teammates.setCurrentItem(item)
        self._filter_teammates()

    def _filter_teammates(self) -> None:
        text = self.text().lower()
        for row in range(self.teammates.count()):
            item = self.teammates.item(row)
            item.setHidden(bool(text) and text not in item.text().lower())

    def _show_destination(self, options: OutboundOptions) -> None:
        dest = options.destination
        if self.is_internal() or dest is None or not self.text():
            self.destination.setText("")
            self.hours_banner.clear()
            return
        if dest.error:
            self.destination.setText(dest.error)
            self.destination.setProperty("role", "danger")
        else:
            if dest.place:
                where = f"{dest.place}, {dest.region_code}" if dest.region_code else dest.place
            else:
                where = dest.country
            parts = [
                x for x in (where, f"{dest.local_time} local time" if dest.local_time else "") if x
            ]
            self.destination.setText("  ·  ".join(parts) or dest.display)
            self.destination.setToolTip(f"{dest.display} · {dest.country}".strip(" ·"))
            self.destination.setProperty("role", "muted")
        self.destination.style().unpolish(self.destination)
        self.destination.style().polish(self.destination)
        if dest.outside_hours and dest.local_time:
            self.hours_banner.show_message(
                f"It is {dest.local_time} for them, outside 9:00-18:00. "
                "Consider a message instead.",
                "warning",
                "clock",
            )
        else:
            self.hours_banner.clear()

    def set_contacts(self, found: ContactsFound) -> None:
        if found.query != self.text():
            return  # an answer to text the agent has already changed
        self.results.clear()
        for hit in found.hits:
            extra = f" · {hit.company}" if hit.company else ""
            item = QListWidgetItem(f"{hit.name}{extra}\n{hit.number}")
            item.setIcon(icon("chat" if hit.chat_id else "contact", theme.current().accent))
            item.setData(Qt.ItemDataRole.UserRole, hit)
            self.results.addItem(item)
        if not found.hits:
            item = QListWidgetItem(f'No contact matches "{found.query}"')
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.results.addItem(item)
        self._show_middle()

    def _on_hit_chosen(self, item: QListWidgetItem) -> None:
        hit = item.data(Qt.ItemDataRole.UserRole)
        if not isinstance(hit, ContactHit):
            return
        number = clean_number(hit.number)
        self.number.setText(number)
        self.set_context(hit.name, number, hit.contact_id, hit.chat_id)
        self.results.clear()
        self._show_middle()
        self.prepare_requested.emit(number, self._selected_account() or "")
        self._refresh_call_button()

    def fill(self, request: DialRequest) -> None:
        """Open filled in (a link, the CLI or the CRM asked for this number)."""
        self.scope.set_value("internal" if request.internal else "external")
        number = clean_number(request.number)
        self.number.setText(number)
        self._forget_context()
        if request.chat_id or request.contact_id:
            self.set_context("", number, request.contact_id, request.chat_id)
            self.contact_chip.setText("From the CRM chat" if request.chat_id else "")
            self.contact_chip.setVisible(bool(request.chat_id))
        self._show_middle()
        self.prepare_requested.emit(number, request.account_id or "")
        self._refresh_call_button()

    def set_permission(self, permission: CallPermission) -> None:
        if permission.chat_id != self._chat_id:
            return
        self._permission = permission
        text_tone = PERMISSION_TEXT.get(permission.state)
        if text_tone is None:
            self.permission_banner.clear()
        else:
            text, tone = text_tone
            self.permission_banner.show_message(text, tone, "chat")
        if (
            permission.state
            in (
                PermissionState.ALLOWED_ONCE,
                PermissionState.ALWAYS_ALLOWED,
                PermissionState.NOT_NEEDED,
            )
            and self._pending_dial is not None
        ):
            request, self._pending_dial = self._pending_dial, None
            self.call_requested.emit(request)
        elif permission.state is PermissionState.DECLINED:
            self._pending_dial = None
        self._refresh_call_button()

    def show_error(self, error: UserError) -> None:
        self.error_banner.show_message(f"{error.message}. {error.what_to_do}", "danger")

    # -------------------------------------------------------------------- the call
    def _selected_account(self) -> str | None:
        data = self.provider.currentData()
        return str(data) if data else None

    def _on_provider_chosen(self, _index: int) -> None:
        if self._options is not None:
            self._fill_providers(
                OutboundOptions(
                    providers=self._options.providers, account_id=self._selected_account()
                )
            )
        self.prepare_requested.emit(self.text(), self._selected_account() or "")

    def disabled_reason(self) -> DisabledReason | None:
        options = self._options
        if options is None or not options.providers:
            return DisabledReason.NOT_CONFIGURED
        if options.disabled is DisabledReason.NOT_CONFIGURED:
            return DisabledReason.NOT_CONFIGURED
        if self.is_internal():
            if self._teammate_target() is None:
                return DisabledReason.NO_NUMBER
            return None
        text = self.text()
        if not text or looks_like_name(text):
            return DisabledReason.NO_NUMBER
        if not options.caller_ids or options.disabled is DisabledReason.NO_CALLER_ID:
            return DisabledReason.NO_CALLER_ID
        return None

    def _teammate_target(self) -> tuple[str, str | None] | None:
        item = self.teammates.currentItem()
        if item is not None and not item.isHidden():
            return str(item.data(Qt.ItemDataRole.UserRole + 1)), str(
                item.data(Qt.ItemDataRole.UserRole)
            )
        text = self.text()
        if text and text.replace("*", "").replace("#", "").isdigit():
            return text, None
        return None

    def _refresh_call_button(self) -> None:
        reason = self.disabled_reason()
        waiting = self._pending_dial is not None
        self.call_button.setEnabled(reason is None and not waiting)
        self.call_button.setToolTip(str(reason) if reason else "Call (Enter)")
        self.call_button.setText("Waiting for permission…" if waiting else "Call")

    def current_request(self) -> DialRequest | None:
        if self.disabled_reason() is not None:
            return None
        if self.is_internal():
            target = self._teammate_target()
            if target is None:
                return None
            extension, user_id = target
            return DialRequest(
                number=extension,
                source=DialSource.USER,
                dial_now=True,
                internal=True,
                teammate_id=user_id,
                account_id=self._selected_account(),
            )
        caller = self.caller_id.currentData()
        return DialRequest(
            number=self.text(),
            source=DialSource.USER,
            dial_now=True,
            chat_id=self._chat_id,
            contact_id=self._contact_id,
            account_id=self._selected_account(),
            caller_id=str(caller) if caller else None,
            use_phone=self.mode.isVisible() and self.mode.value() == "phone",
        )

    def press_call(self) -> None:
        request = self.current_request()
        if request is None or self._pending_dial is not None:
            return
        allowed = (PermissionState.ALLOWED_ONCE, PermissionState.ALWAYS_ALLOWED)
        already = self._permission is not None and self._permission.state in allowed
        if request.chat_id and not already:
            self._pending_dial = request
            self.permission_banner.show_message(
                PERMISSION_TEXT[PermissionState.WAITING][0], "info", "chat"
            )
            self.permission_requested.emit(request.chat_id)
            self._refresh_call_button()
            return
        self.call_requested.emit(request)

    def cancel_pending(self) -> None:
        self._pending_dial = None
        self.permission_banner.clear()
        self._refresh_call_button()

    def clear(self) -> None:
        self.number.setText("")
        self._forget_context()
        self.results.clear()
        self.destination.setText("")
        self.hours_banner.clear()
        self.error_banner.clear()
        self._show_middle()
        self._refresh_call_button()
