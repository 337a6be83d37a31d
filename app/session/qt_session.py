"""The session as Qt sees it: typed past-tense signals out, command slots in.

Widgets (dialer, popup, tray, main window) bind to this object only. It receives the
session's events on whatever thread produced them (the engine client's reader thread, the
CRM loop thread) and re-emits them as signals on the Qt main thread, so slots connected to
it may touch widgets directly. Commands go the other way and never block: the session
answers later with an event.

It also keeps the latest state (lines, active calls, counts) so a window opened late can
draw itself at once from ``lines()``, ``calls()``, ``missed_calls`` and friends instead of
waiting for the next change.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.session.model import (
    AudioDevicesListed,
    CallEnded,
    CallerMatched,
    CallLogChanged,
    CallPermission,
    CallQuality,
    CallView,
    ContactsFound,
    DialRequest,
    IncomingCall,
    LineStatus,
    MissedCallsChanged,
    OutboundOptions,
    OutboxPendingChanged,
    Presence,
    PresenceChanged,
    SessionStatus,
    UserError,
    WrapUp,
    WrapUpRequested,
    WrapUpSaved,
)
from app.session.protocol import SessionCommands


class QtSession(QObject):
    """Qt face of ``AgentSession``. Create it on the main thread."""

    #: One account's registration changed (also on engine death/restart: ENGINE_DOWN).
    registration_changed = Signal(LineStatus)
    #: A call started ringing here; the popup shows it. ``CallerMatched`` may follow.
    incoming_call_received = Signal(IncomingCall)
    #: The CRM named the caller (or said it does not know them) for a ringing/active call.
    caller_matched = Signal(CallerMatched)
    #: Any change of a call: phase, mute, hold, recording, contact, CRM record id.
    call_state_changed = Signal(CallView)
    #: A call is over; ``call.end`` tells MISSED from ANSWERED_ELSEWHERE and the rest.
    call_ended = Signal(CallEnded)
    #: Media statistics every few seconds during a call (MOS for the quality indicator).
    call_stats_reported = Signal(CallQuality)
    #: Missed calls not yet seen by the agent (tray and popup badge).
    missed_calls_changed = Signal(int)
    #: CRM writes stored locally and not yet delivered (0: everything is in the CRM).
    outbox_pending_changed = Signal(int)
    #: Answer to ``search_contacts``; ignore it when ``query`` is no longer current.
    contacts_found = Signal(ContactsFound)
    #: Providers, caller-IDs, teammates, destination info and the Call button state for the
    #: text in the dialer (answer to ``prepare_outbound``; also after provisioning changes).
    outbound_options_changed = Signal(OutboundOptions)
    #: A WhatsApp guest's permission to be called changed (waiting, allowed, declined).
    call_permission_changed = Signal(CallPermission)
    #: A call ended that deserves a wrap-up; the dialer shows the form.
    wrap_up_requested = Signal(WrapUpRequested)
    #: The wrap-up was stored (``queued``: it reaches the CRM once it is reachable).
    wrap_up_saved = Signal(WrapUpSaved)
    #: The agent's presence changed (tray menu, CRM, or another device).
    presence_changed = Signal(Presence)
    #: Something went wrong that the agent must know, with what to do about it.
    error_raised = Signal(UserError)
    #: A link, the command line or the web CRM asked to call a number: open the dialer
    #: filled in (requests with ``dial_now`` are dialled by the session instead).
    dial_requested = Signal(DialRequest)
    #: Audio devices appeared, disappeared, or the chosen ones changed.
    audio_devices_listed = Signal(AudioDevicesListed)
    #: A CRM call record was created or updated; the call log refreshes it.
    call_log_changed = Signal(CallLogChanged)

    #: Internal: carries one event from any thread to the main thread (queued hop).
    _event_arrived = Signal(object)

    def __init__(self, session: SessionCommands, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._lines: dict[str, LineStatus] = {}
        self._calls: dict[str, CallView] = {}
        self.missed_calls = 0
        self.outbox_pending = 0
        self.presence = Presence.AVAILABLE
        self.last_options: OutboundOptions | None = None
        self.last_devices = AudioDevicesListed()  #: for a Settings window opened later
        self._event_arrived.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._event_arrived.emit)

    # ----------------------------------------------------------------- state for late views
    def lines(self) -> tuple[LineStatus, ...]:
        return tuple(self._lines.values())

    def calls(self) -> tuple[CallView, ...]:
        """Calls not yet ended, oldest first."""
        return tuple(self._calls.values())

    def status(self) -> SessionStatus:
        return self._session.status()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ----------------------------------------------------------------------- events in
    @Slot(object)
    def _dispatch(self, event: object) -> None:
        match event:
            case LineStatus():
                self._lines[event.account_id] = event
                self.registration_changed.emit(event)
            case IncomingCall():
                self._calls[event.call.call_id] = event.call
                self.incoming_call_received.emit(event)
            case CallerMatched():
                self.caller_matched.emit(event)
            case CallView():
                if event.active:
                    self._calls[event.call_id] = event
                else:
                    self._calls.pop(event.call_id, None)
                self.call_state_changed.emit(event)
            case CallEnded():
                self._calls.pop(event.call.call_id, None)
                self.call_ended.emit(event)
            case CallQuality():
                self.call_stats_reported.emit(event)
            case MissedCallsChanged():
                self.missed_calls = event.count
                self.missed_calls_changed.emit(event.count)
            case OutboxPendingChanged():
                self.outbox_pending = event.count
                self.outbox_pending_changed.emit(event.count)
            case ContactsFound():
                self.contacts_found.emit(event)
            case OutboundOptions():
                self.last_options = event
                self.outbound_options_changed.emit(event)
            case CallPermission():
                self.call_permission_changed.emit(event)
            case WrapUpRequested():
                self.wrap_up_requested.emit(event)
            case WrapUpSaved():
                self.wrap_up_saved.emit(event)
            case PresenceChanged():
                self.presence = event.presence
                self.presence_changed.emit(event.presence)
            case UserError():
                self.error_raised.emit(event)
            case DialRequest():
                self.open_dial(event)
            case AudioDevicesListed():
                self.last_devices = event
                self.audio_devices_listed.emit(event)
            case CallLogChanged():
                self.call_log_changed.emit(event)
            case _:
                pass  # an event type newer than this adapter: nothing listens for it yet

    # -------------------------------------------------------------------- commands out
    @Slot(DialRequest)
    def open_dial(self, request: DialRequest) -> None:
        """A dial request from outside (link, CLI, CRM): dial now or fill the dialer."""
        if request.dial_now:
            self._session.dial(request)
        else:
            self.dial_requested.emit(request)

    @Slot(DialRequest)
    def dial(self, request: DialRequest) -> None:
        self._session.dial(request)

    @Slot()
    @Slot(str)
    def answer(self, call_id: str | None = None) -> None:
        self._session.answer(call_id or None)

    @Slot()
    @Slot(str)
    def reject(self, call_id: str | None = None) -> None:
        self._session.reject(call_id or None)

    @Slot()
    @Slot(str)
    def hangup(self, call_id: str | None = None) -> None:
        self._session.hangup(call_id or None)

    @Slot(str, bool)
    def set_muted(self, call_id: str, muted: bool) -> None:
        self._session.set_muted(call_id, muted)

    @Slot(str, bool)
    def set_held(self, call_id: str, held: bool) -> None:
        self._session.set_held(call_id, held)

    @Slot(str, str)
    def send_dtmf(self, call_id: str, digits: str) -> None:
        self._session.send_dtmf(call_id, digits)

    @Slot(str, str)
    def transfer(self, call_id: str, target: str) -> None:
        """Blind transfer to a number or extension."""
        self._session.transfer(call_id, target)

    @Slot(str, str)
    def transfer_attended(self, call_id: str, consult_call_id: str) -> None:
        """Join ``call_id``'s party to the consultation call and drop out."""
        self._session.transfer_attended(call_id, consult_call_id)

    @Slot(str, bool)
    def set_recording(self, call_id: str, recording: bool) -> None:
        self._session.set_recording(call_id, recording)

    @Slot(WrapUp)
    def save_wrap_up(self, wrap_up: WrapUp) -> None:
        self._session.save_wrap_up(wrap_up)

    @Slot(Presence)
    def set_presence(self, presence: Presence) -> None:
        self._session.set_presence(presence)

    @Slot(str)
    @Slot(str, str)
    def prepare_outbound(self, text: str, account_id: str | None = None) -> None:
        """The dialer's text changed: answer with ``outbound_options_changed``."""
        self._session.prepare_outbound(text, account_id or None)

    @Slot(str)
    def search_contacts(self, query: str) -> None:
        self._session.search_contacts(query)

    @Slot(str)
    def request_call_permission(self, chat_id: str) -> None:
        self._session.request_call_permission(chat_id)

    @Slot()
    def clear_missed(self) -> None:
        self._session.clear_missed()
