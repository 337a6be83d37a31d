"""What the agent's session tells the UI: frozen snapshots and past-tense events.

These types are the contract between the session (no Qt) and every widget (dialer, popup,
tray, main window). They carry our own enums and plain values, never engine or CRM objects,
so a widget can be tested with hand-made instances and no engine at all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LineState(enum.StrEnum):
    """The dialer's status line for one account (the tray colour follows the worst line)."""

    NOT_CONFIGURED = "not_configured"  # no account provisioned: "Calling not configured"
    ENGINE_DOWN = "engine_down"  # softphone engine not running / restarting
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"  # registration refused or unreachable; ``reason`` says why
    OFFLINE = "offline"  # unregistered on purpose (signed out, presence offline)


class CallPhase(enum.StrEnum):
    """Status-line words for a call, in the order a call normally goes through them."""

    CALLING = "calling"  # outbound, INVITE sent, no ringing yet
    RINGING = "ringing"  # inbound ringing here, or outbound ringing at the far end
    IN_CALL = "in_call"
    ON_HOLD = "on_hold"
    ENDED = "ended"
    FAILED = "failed"


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallEnd(enum.StrEnum):
    """Why a call ended, as the agent and the call log say it."""

    COMPLETED = "completed"  # talked, then someone hung up
    MISSED = "missed"  # rang here, nobody answered anywhere
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # a teammate or another device took it
    REJECTED = "rejected"  # the agent declined it
    NO_ANSWER = "no_answer"  # outbound, the callee did not pick up
    BUSY = "busy"
    CANCELLED = "cancelled"  # outbound, the agent hung up before it was answered
    FAILED = "failed"  # network, engine or provider error; ``reason`` says which


class Presence(enum.StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    DO_NOT_DISTURB = "dnd"


class ErrorKind(enum.StrEnum):
    """The product's error table; ``UserError.message`` is the fixed text for the kind."""

    CALL_FAILED = "call_failed"  # "Failed to initiate call"
    NOT_CONNECTED = "not_connected"  # "Softphone not connected"
    NO_CALLER_ID_FOR_COUNTRY = "no_caller_id_for_country"
    CALL_LOGS_FAILED = "call_logs_failed"  # "Failed to load call logs"
    RECORDING_FAILED = "recording_failed"  # "Failed to load recording"
    INVALID_NUMBER = "invalid_number"  # a link or typed text that is not a number
    BUSY_WITH_CALL = "busy_with_call"  # one active outbound call at a time
    CRM_UNREACHABLE = "crm_unreachable"
    SIGN_IN_REQUIRED = "sign_in_required"
    WRAP_UP_FAILED = "wrap_up_failed"
    AUDIO_DEVICE = "audio_device"  # the engine could not open a microphone or speaker
    CALLS_REFUSED = "calls_refused"  # callers turned away: more calls at once than lines


class DisabledReason(enum.StrEnum):
    """Why the Call button is disabled; the value is its tooltip, word for word."""

    NOT_CONFIGURED = "Calling not configured"
    NO_NUMBER = "No phone number available"
    NO_CALLER_ID = "No caller-ID numbers assigned"


class WrapUpOutcome(enum.StrEnum):
    CONNECTED = "connected"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    CALLBACK_REQUESTED = "callback_requested"
    OTHER = "other"


class PermissionState(enum.StrEnum):
    """A WhatsApp guest's answer to "may we call you?" (asked through the CRM)."""

    NOT_NEEDED = "not_needed"
    WAITING = "waiting"
    ALLOWED_ONCE = "allowed_once"
    ALWAYS_ALLOWED = "always_allowed"
    DECLINED = "declined"


class DialSource(enum.StrEnum):
    USER = "user"  # typed or clicked in our own UI
    LINK = "link"  # tel:/sip:/callto: link, forwarded from a second process
    CLI = "cli"  # `lodgephone dial NUMBER`
    CRM = "crm"  # the web CRM's Call button, through the websocket


@dataclass(frozen=True)
class ContactMatch:
    """Who a number belongs to. ``confirmed`` False shows as "maybe: NAME"."""

    contact_id: str
    name: str
    confirmed: bool = True
    chat_id: str | None = None
    chat_title: str | None = None
    company: str | None = None

    @property
    def label(self) -> str:
        return self.name if self.confirmed else f"maybe: {self.name}"


@dataclass(frozen=True)
class Destination:
    """Where a number rings: shown under the dialer's number field and in the popup."""

    e164: str | None  # None when the text is not a dialable number
    display: str  # nicely grouped for humans ("+1 555-123-4567")
    country: str = ""  # "United States"
    region_code: str = ""  # "US"
    place: str = ""  # "New York, NY" when the numbering plan tells
    local_time: str = ""  # "14:05" in the callee's zone, "" when unknown
    outside_hours: bool = False  # before 9:00 or after 18:00 their time
    error: str = ""  # why it is not dialable, in words for the agent


@dataclass(frozen=True)
class LineStatus:
    """Registration of one account (provider line); also sent when the engine dies."""

    account_id: str
    label: str  # "Acme SIP (ext. 201)"
    state: LineState
    reason: str = ""  # "403 Forbidden: check the password in Settings"


@dataclass(frozen=True)
class CallView:
    """Everything the dialer and popup show about one call, as of now."""

    call_id: str  # the engine's call id; stable for the call's life
    direction: CallDirection
    phase: CallPhase
    number: str  # counterparty, E.164 when we could parse it, else as received
    display_number: str
    account_id: str = ""
    line_label: str = ""
    remote_name: str = ""  # SIP display name, when the caller sent one
    contact: ContactMatch | None = None
    location: str = ""  # "Lyon, France"
    chat_id: str | None = None
    crm_call_id: str | None = None  # the CRM call record, once created (may lag offline)
    caller_id: str = ""  # our number the callee sees (outbound)
    started_at: float = 0.0  # wall clock seconds
    connected_at: float | None = None
    ended_at: float | None = None
    muted: bool = False
    held: bool = False
    recording: bool = False
    end: CallEnd | None = None
    end_reason: str = ""  # human detail, e.g. "486 Busy Here"

    @property
    def title(self) -> str:
        """The name to show big: contact, then SIP display name, then the number."""
        if self.contact is not None:
            return self.contact.label
        return self.remote_name or self.display_number

    @property
    def active(self) -> bool:
        return self.phase not in (CallPhase.ENDED, CallPhase.FAILED)


@dataclass(frozen=True)
class IncomingCall:
    """A call started ringing here. ``waiting`` means the agent is already in a call."""

    call: CallView
    waiting: bool = False
    auto_answer: bool = False


@dataclass(frozen=True)
class CallerMatched:
    """The CRM told who is calling (may arrive after ``IncomingCall``; update the popup)."""

    call_id: str
    contact: ContactMatch | None  # None: no contact; offer "create contact"
    location: str = ""


@dataclass(frozen=True)
class CallQuality:
    """Periodic media statistics; ``poor`` drives the dialer's quality warning."""

    call_id: str
    mos: float  # 1.0 (bad) .. 4.5 (excellent), estimated from loss, jitter and delay
    jitter_ms: float = 0.0
    loss_percent: float = 0.0
    rtt_ms: float = 0.0
    codec: str = ""

    @property
    def poor(self) -> bool:
        return self.mos < 3.1


@dataclass(frozen=True)
class UserError:
    """Something the agent must know, with what to do about it."""

    kind: ErrorKind
    message: str  # the product's fixed text: "Failed to initiate call"
    what_to_do: str  # "Check the number and try again; if it persists, ..."
    detail: str = ""  # technical cause for the log and a "details" expander; no secrets
    call_id: str | None = None


@dataclass(frozen=True)
class DialRequest:
    """Someone wants a number dialled: the dialer opens filled in, or dials at once."""

    number: str  # as given; the session normalises it
    source: DialSource = DialSource.USER
    dial_now: bool = False
    chat_id: str | None = None
    contact_id: str | None = None
    account_id: str | None = None  # override the provider picked for the destination
    caller_id: str | None = None  # override the caller-ID picked for the destination
    internal: bool = False  # call a teammate's extension
    teammate_id: str | None = None
    use_phone: bool = False  # "Phone" mode (ring the agent's phone first) where offered


@dataclass(frozen=True)
class CallerIdOption:
    number: str  # E.164
    label: str  # "+44 20 7946 0958 (London)"
    is_default: bool = False
    region_code: str = ""


@dataclass(frozen=True)
class ProviderOption:
    account_id: str
    label: str
    state: LineState
    softphone: bool = True  # can place calls from this app
    phone: bool = False  # can ring the agent's phone first ("Phone" mode)


@dataclass(frozen=True)
class Teammate:
    user_id: str
    name: str
    extension: str
    presence: Presence = Presence.AVAILABLE


@dataclass(frozen=True)
class OutboundOptions:
    """What the dialer offers for the number being typed, and whether Call is allowed."""

    providers: tuple[ProviderOption, ...] = ()
    caller_ids: tuple[CallerIdOption, ...] = ()
    teammates: tuple[Teammate, ...] = ()
    account_id: str | None = None  # picked for the destination
    caller_id: str | None = None
    destination: Destination | None = None
    disabled: DisabledReason | None = None  # None: the Call button is enabled
    error: UserError | None = None  # e.g. no caller-ID for the destination country


@dataclass(frozen=True)
class ContactHit:
    contact_id: str
    name: str
    number: str
    chat_id: str | None = None
    company: str | None = None


@dataclass(frozen=True)
class ContactsFound:
    """Answer to a dialer contact search; drop it if ``query`` is no longer the text."""

    query: str
    hits: tuple[ContactHit, ...] = ()


@dataclass(frozen=True)
class CallPermission:
    chat_id: str
    state: PermissionState


@dataclass(frozen=True)
class WrapUp:
    """The agent's after-call notes; saved to the CRM call record through the outbox."""

    call_id: str
    outcome: WrapUpOutcome
    notes: str = ""


@dataclass(frozen=True)
class WrapUpRequested:
    """A call ended: the dialer shows the wrap-up form for it."""

    call: CallView
    outcomes: tuple[WrapUpOutcome, ...] = tuple(WrapUpOutcome)
    suggested: WrapUpOutcome | None = None


@dataclass(frozen=True)
class WrapUpSaved:
    call_id: str
    queued: bool = False  # True: stored locally, reaches the CRM when it is back


@dataclass(frozen=True)
class AudioDeviceOption:
    device_id: str
    name: str
    is_input: bool
    is_output: bool
    is_default: bool = False


@dataclass(frozen=True)
class AudioDevicesListed:
    devices: tuple[AudioDeviceOption, ...] = ()
    input_id: str | None = None
    output_id: str | None = None
    ringer_id: str | None = None


@dataclass(frozen=True)
class CallLogChanged:
    """A CRM call record was created or updated; the call log refreshes its row."""

    crm_call_id: str
    call_id: str | None = None


@dataclass(frozen=True)
class SessionStatus:
    """Snapshot for ``lodgephone status --json`` and the tray tooltip."""

    lines: tuple[LineStatus, ...] = ()
    calls: tuple[CallView, ...] = ()
    presence: Presence = Presence.AVAILABLE
    missed_calls: int = 0
    outbox_pending: int = 0
    crm: str = ""  # "embedded" or the CRM base URL
    user: str = ""


@dataclass(frozen=True)
class MissedCallsChanged:
    count: int


@dataclass(frozen=True)
class OutboxPendingChanged:
    """Writes stored locally and not yet accepted by the CRM (0 when all are delivered)."""

    count: int


@dataclass(frozen=True)
class PresenceChanged:
    presence: Presence


@dataclass(frozen=True)
class CallEnded:
    """Final state of a call; ``call.end`` tells missed from answered elsewhere."""

    call: CallView
