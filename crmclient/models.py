"""The resources of the CRM contract (docs/crm-api.md) as frozen dataclasses.

One definition serves the HTTP client, the embedded CRM, the reference server and the app,
so the wire format cannot drift between them. Every model converts with ``to_json()`` /
``from_json()``; decoding checks every type and raises ``ProtocolError`` naming the field,
because a CRM that answers outside the contract must never crash the app or corrupt a call
record. Constructors check invariants (E.164 numbers, one default caller-ID...) with
``ValueError``: building a bad model in our own code is a bug, receiving one is a protocol
error.

Forward compatibility: unknown keys are ignored and unknown event types decode to
``UnknownEvent``, so a CRM may add fields and events without breaking deployed clients.
Times are timezone-aware UTC datetimes; on the wire ISO 8601 with ``Z``.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Self, TypeAlias, Union

from crmclient.errors import ProtocolError

__all__ = [
    "BATCH_MAX_WRITES",
    "CALL_PAGE_SIZE",
    "LIVE_STATUSES",
    "TERMINAL_STATUSES",
    "ApiTokenCredentials",
    "BatchOp",
    "BatchResult",
    "BatchWrite",
    "CallAnsweredElsewhere",
    "CallCard",
    "CallCreate",
    "CallDirection",
    "CallFilter",
    "CallMode",
    "CallPage",
    "CallPermission",
    "CallRecord",
    "CallRinging",
    "CallStatus",
    "CallUpdate",
    "CallUpdated",
    "CallerId",
    "CallerIdHeader",
    "CallingAccount",
    "CardCreate",
    "CardKind",
    "CardPosted",
    "Channel",
    "Chat",
    "ChatStatus",
    "Contact",
    "ContactCreate",
    "ContactLookup",
    "ContactMatch",
    "ContactUpdated",
    "Credentials",
    "DialRequest",
    "DialRequested",
    "ErrorBody",
    "EventPayload",
    "EventType",
    "HangupCause",
    "Heartbeat",
    "JsonObject",
    "MatchKind",
    "MatchSource",
    "PasswordCredentials",
    "PermissionChanged",
    "PermissionState",
    "PhoneCallRequest",
    "Presence",
    "PresenceChanged",
    "PresenceStatus",
    "Provisioning",
    "ProvisioningChanged",
    "RecordingInfo",
    "ResyncRequired",
    "Role",
    "SessionToken",
    "SipSecret",
    "SipSettings",
    "SipTransport",
    "SrtpMode",
    "StreamEvent",
    "StreamStatus",
    "Teammate",
    "Transcript",
    "TranscriptSegment",
    "TranscriptSpeaker",
    "UnknownEvent",
    "User",
    "can_transition",
    "format_time",
    "is_e164",
    "parse_frame",
    "parse_time",
]

JsonObject: TypeAlias = dict[str, Any]

#: The contract's page size for call lists (also the maximum a client may ask for).
CALL_PAGE_SIZE: Final = 100
#: The most writes one ``POST /v1/batch`` may carry.
BATCH_MAX_WRITES: Final = 100

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
# Internal calls dial an extension; a remote party may also be an extension.
_EXTENSION = re.compile(r"^[0-9*#]{1,15}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def is_e164(number: str) -> bool:
    """True for a number in E.164 form (``+`` then 2-15 digits, no leading zero)."""
    return bool(_E164.match(number))


def _check_e164(what: str, number: str | None) -> None:
    if number is not None and not is_e164(number):
        raise ValueError(f"{what} must be an E.164 number like +15551234567, not {number!r}")


def _check_dialable(what: str, number: str | None) -> None:
    if number is not None and not (is_e164(number) or _EXTENSION.match(number)):
        raise ValueError(f"{what} must be an E.164 number or an extension, not {number!r}")


def _check_nonempty(what: str, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{what} must not be empty")


def _check_nonneg(what: str, value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{what} must not be negative")


def parse_time(text: str) -> datetime:
    """An ISO 8601 timestamp with an offset (``Z`` or ``+hh:mm``) as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {text[:40]!r}")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The wire form: UTC with a ``Z`` suffix (lossless: microseconds when present)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: every time in the contract carries a UTC offset")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_aware(what: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")


# --------------------------------------------------------------------------------------
# Enums (string values are the wire values)


class Role(enum.StrEnum):
    """Users see their own calls; admins and owners see everyone's."""

    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"

    @property
    def sees_all_calls(self) -> bool:
        return self in (Role.OWNER, Role.ADMIN)


class PresenceStatus(enum.StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    DND = "dnd"
    OFFLINE = "offline"


class SipTransport(enum.StrEnum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


class SrtpMode(enum.StrEnum):
    OFF = "off"
    OPTIONAL = "optional"
    MANDATORY = "mandatory"


class CallerIdHeader(enum.StrEnum):
    """Where a provider reads the caller-ID the agent presents on an outbound call.

    Every call that presents one carries it in ``P-Preferred-Identity``; ``from`` also makes
    it the From user (SIP trunks that take the calling number from there). Left at
    ``p_preferred_identity``, the From user stays the account's username, because PBXs
    identify the extension by it.
    """

    P_PREFERRED_IDENTITY = "p_preferred_identity"
    FROM = "from"


class Channel(enum.StrEnum):
    """Where a chat happens; whether it can carry a call is ``Chat.voice_capable``."""

    WHATSAPP = "whatsapp"
    EMAIL = "email"
    WEBCHAT = "webchat"
    SMS = "sms"
    PHONE = "phone"


class ChatStatus(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


class MatchKind(enum.StrEnum):
    """Confirmed: the number is on the contact. Maybe: only seen in their messages."""

    CONFIRMED = "confirmed"
    MAYBE = "maybe"


class MatchSource(enum.StrEnum):
    CONTACT_PHONE = "contact_phone"
    MESSAGE = "message"
    SIGNATURE = "signature"


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class CallMode(enum.StrEnum):
    """Softphone: audio on this computer. Phone: the provider rings the agent's own phone
    first, then bridges the customer."""

    SOFTPHONE = "softphone"
    PHONE = "phone"


class CallStatus(enum.StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    MISSED = "missed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def live(self) -> bool:
        return self in LIVE_STATUSES

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


LIVE_STATUSES: Final = frozenset(
    {CallStatus.DIALING, CallStatus.RINGING, CallStatus.IN_PROGRESS, CallStatus.ON_HOLD}
)
TERMINAL_STATUSES: Final = frozenset(set(CallStatus) - LIVE_STATUSES)

_RANK: Final = {CallStatus.DIALING: 0, CallStatus.RINGING: 1}
_ANSWERED: Final = frozenset({CallStatus.IN_PROGRESS, CallStatus.ON_HOLD})
# Ends that only make sense before anyone answered.
_UNANSWERED_ENDS: Final = frozenset(
    {
        CallStatus.MISSED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.REJECTED,
        CallStatus.CANCELLED,
    }
)


def can_transition(old: CallStatus, new: CallStatus) -> bool:
    """Whether a call may move from ``old`` to ``new`` (the same status is always allowed,
    so replaying an update is harmless).

    dialing -> ringing -> in_progress <-> on_hold -> completed | failed; before an answer a
    call may end missed, no_answer, busy, rejected, cancelled or failed. Terminal is final.
    """
    if old == new:
        return True
    if old in TERMINAL_STATUSES:
        return False
    if new in _RANK:
        return old in _RANK and _RANK[new] > _RANK[old]
    if new in _ANSWERED:
        return True
    if new in _UNANSWERED_ENDS:
        return old in _RANK
    return True  # completed or failed from any live status


class HangupCause(enum.StrEnum):
    LOCAL_HANGUP = "local_hangup"
    REMOTE_HANGUP = "remote_hangup"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    UNREACHABLE = "unreachable"
    NETWORK_ERROR = "network_error"
    MEDIA_ERROR = "media_error"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"
    OTHER = "other"


class CardKind(enum.StrEnum):
    INITIATED = "initiated"
    COMPLETED = "completed"
    MISSED = "missed"
    FAILED = "failed"


class PermissionState(enum.StrEnum):
    """WhatsApp calling permission of a chat's guest."""

    NOT_REQUESTED = "not_requested"
    PENDING = "pending"
    ALLOWED_ONCE = "allowed_once"
    ALWAYS_ALLOWED = "always_allowed"
    NEVER = "never"

    @property
    def may_call(self) -> bool:
        return self in (PermissionState.ALLOWED_ONCE, PermissionState.ALWAYS_ALLOWED)


class TranscriptSpeaker(enum.StrEnum):
    AGENT = "agent"
    GUEST = "guest"
    UNKNOWN = "unknown"


class EventType(enum.StrEnum):
    CALL_RINGING = "call.ringing"
    CALL_ANSWERED_ELSEWHERE = "call.answered_elsewhere"
    CALL_UPDATED = "call.updated"
    DIAL_REQUESTED = "dial.requested"
    CARD_POSTED = "card.posted"
    CONTACT_UPDATED = "contact.updated"
    PERMISSION_CHANGED = "permission.changed"
    PROVISIONING_CHANGED = "provisioning.changed"
    PRESENCE_CHANGED = "presence.changed"
    STREAM_RESYNC = "stream.resync"


# --------------------------------------------------------------------------------------
# The codec: one typed walk over dataclass fields instead of hand-written parsers.


class _Model:
    """Base of every resource: ``to_json`` / ``from_json`` driven by the type hints."""

    __slots__ = ()
    _hints_cache: ClassVar[dict[type, dict[str, Any]]] = {}

    def to_json(self) -> JsonObject:
        out: JsonObject = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _encode(getattr(self, f.name))
        return out

    @classmethod
    def from_json(cls, data: object) -> Self:
        return _decode_model(cls, data, cls.__name__)


_M = typing.TypeVar("_M", bound=_Model)


def _hints(cls: type) -> dict[str, Any]:
    cached = _Model._hints_cache.get(cls)
    if cached is None:
        cached = typing.get_type_hints(cls)
        _Model._hints_cache[cls] = cached
    return cached


def _encode(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, _Model):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__}")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _decode_model(cls: type[_M], data: object, path: str) -> _M:
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: expected an object, got {_type_name(data)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProtocolError(f"{path}.{f.name}: missing")
            continue
        kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{path}.{f.name}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ProtocolError(f"{path}: {exc}") from None


def _decode(tp: Any, value: object, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ProtocolError(f"{path}: must not be null")
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _decode(inner[0], value, path)
        raise TypeError(f"{path}: ambiguous union {tp}")  # not used by the contract
    if origin is tuple:
        if not isinstance(value, list):
            raise ProtocolError(f"{path}: expected an array, got {_type_name(value)}")
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(_decode(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{path}: expected an object, got {_type_name(value)}")
        return dict(value)
    if tp is Any:
        return value
    if value is None:
        raise ProtocolError(f"{path}: must not be null")
    if isinstance(tp, type):
        if issubclass(tp, _Model):
            return _decode_model(tp, value, path)
        if issubclass(tp, enum.Enum):
            if not isinstance(value, str):
                raise ProtocolError(f"{path}: expected a string, got {_type_name(value)}")
            try:
                return tp(value)
            except ValueError:
                allowed = ", ".join(m.value for m in tp)
                raise ProtocolError(f"{path}: {value[:40]!r} is not one of {allowed}") from None
        if tp is datetime:
            if not isinstance(value, str):
                raise ProtocolError(f"{path}: expected a timestamp, got {_type_name(value)}")
            try:
                return parse_time(value)
            except ValueError as exc:
                raise ProtocolError(f"{path}: {exc}") from None
        if tp is bool:
            if not isinstance(value, bool):
                raise ProtocolError(f"{path}: expected a boolean, got {_type_name(value)}")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ProtocolError(f"{path}: expected an integer, got {_type_name(value)}")
            return value
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ProtocolError(f"{path}: expected a number, got {_type_name(value)}")
            return float(value)
        if tp is str:
            if not isinstance(value, str):
                raise ProtocolError(f"{path}: expected a string, got {_type_name(value)}")
            return value
    raise TypeError(f"{path}: unsupported annotation {tp!r}")


# --------------------------------------------------------------------------------------
# Session


@dataclass(frozen=True, slots=True)
class User(_Model):
    id: str
    email: str
    name: str
    role: Role
    extension: str | None = None

    def __post_init__(self) -> None:
        _check_nonempty("user id", self.id)


@dataclass(frozen=True, slots=True)
class PasswordCredentials(_Model):
    email: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiTokenCredentials(_Model):
    """A long-lived token an admin issued in the CRM; exchanged for a session like a
    password."""

    api_token: str = field(repr=False)


Credentials: TypeAlias = PasswordCredentials | ApiTokenCredentials


@dataclass(frozen=True, slots=True)
class SessionToken(_Model):
    """A signed-in session. ``token`` authorizes requests until ``expires_at``;
    ``refresh_token`` renews it until ``session_expires_at`` (10 days after sign-in),
    after which the agent signs in again. Both tokens are secrets: not in repr."""

    token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    session_expires_at: datetime
    user: User

    def __post_init__(self) -> None:
        _check_nonempty("token", self.token)
        _check_aware("expires_at", self.expires_at)
        _check_aware("session_expires_at", self.session_expires_at)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def session_over(self, now: datetime) -> bool:
        return now >= self.session_expires_at


# --------------------------------------------------------------------------------------
# Provisioning


@dataclass(frozen=True, slots=True)
class SipSettings(_Model):
    """Everything needed to register except the secret (``SipSecret``, fetched apart and
    kept only in the OS keyring)."""

    domain: str
    username: str
    transport: SipTransport = SipTransport.UDP
    port: int | None = None
    proxy: str | None = None
    auth_username: str | None = None
    display_name: str | None = None
    srtp: SrtpMode = SrtpMode.OFF
    register: bool = True
    registration_expires_s: int = 300
    caller_id_header: CallerIdHeader = CallerIdHeader.P_PREFERRED_IDENTITY

    def __post_init__(self) -> None:
        _check_nonempty("SIP domain", self.domain)
        _check_nonempty("SIP username", self.username)
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"SIP port out of range: {self.port}")
        if self.registration_expires_s <= 0:
            raise ValueError("registration_expires_s must be positive")


@dataclass(frozen=True, slots=True)
class CallerId(_Model):
    """A number the agent may present, with its ISO 3166 country (the dialer picks the
    one matching the destination's country, else the default)."""

    id: str
    number: str
    country: str
    label: str = ""
    is_default: bool = False

    def __post_init__(self) -> None:
        _check_e164("caller-ID number", self.number)
        if not _COUNTRY.match(self.country):
            raise ValueError(f"country must be an ISO 3166 alpha-2 code, not {self.country!r}")


@dataclass(frozen=True, slots=True)
class CallingAccount(_Model):
    """One provider account with the agent's mapping on it."""

    id: str
    provider: str
    label: str
    sip: SipSettings
    supports_softphone: bool = True
    supports_phone_mode: bool = False
    extension: str | None = None
    #: The agent's own phone (E.164) the provider rings first in phone mode.
    agent_phone: str | None = None
    caller_ids: tuple[CallerId, ...] = ()

    def __post_init__(self) -> None:
        _check_e164("agent phone", self.agent_phone)


@dataclass(frozen=True, slots=True)
class Teammate(_Model):
    user_id: str
    name: str
    extension: str | None = None
    presence: PresenceStatus = PresenceStatus.OFFLINE


@dataclass(frozen=True, slots=True)
class Provisioning(_Model):
    """The agent's whole telephony setup. ``revision`` grows with every change; a
    ``provisioning.changed`` event carries the new one."""

    user: User
    accounts: tuple[CallingAccount, ...]
    teammates: tuple[Teammate, ...]
    revision: int

    def __post_init__(self) -> None:
        defaults = [c for a in self.accounts for c in a.caller_ids if c.is_default]
        if len(defaults) > 1:
            raise ValueError("more than one default caller-ID")

    def caller_ids(self) -> Iterator[tuple[CallingAccount, CallerId]]:
        for account in self.accounts:
            for caller_id in account.caller_ids:
                yield account, caller_id

    def default_caller_id(self) -> tuple[CallingAccount, CallerId] | None:
        for account, caller_id in self.caller_ids():
            if caller_id.is_default:
                return account, caller_id
        return None

    def account(self, account_id: str) -> CallingAccount | None:
        return next((a for a in self.accounts if a.id == account_id), None)


@dataclass(frozen=True, slots=True)
class SipSecret(_Model):
    account_id: str
    password: str = field(repr=False)


# --------------------------------------------------------------------------------------
# Contacts and chats


@dataclass(frozen=True, slots=True)
class Contact(_Model):
    id: str
    name: str
    phones: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    emails: tuple[str, ...] = ()
    company: str | None = None

    def __post_init__(self) -> None:
        for number in self.phones:
            _check_e164("contact phone", number)


@dataclass(frozen=True, slots=True)
class ContactCreate(_Model):
    """A contact for an unknown number; without a name the CRM names it after the number."""

    phone: str
    name: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        _check_e164("phone", self.phone)


@dataclass(frozen=True, slots=True)
class ContactMatch(_Model):
    contact: Contact
    kind: MatchKind
    source: MatchSource
    number: str
    #: For maybe matches: the text the number was seen in (message or signature line).
    excerpt: str | None = None


@dataclass(frozen=True, slots=True)
class ContactLookup(_Model):
    """Who a number belongs to. Confirmed and maybe matches are kept apart so the UI never
    presents a guess as a fact."""

    number: str
    confirmed: tuple[ContactMatch, ...] = ()
    maybe: tuple[ContactMatch, ...] = ()

    def __post_init__(self) -> None:
        if any(m.kind is not MatchKind.CONFIRMED for m in self.confirmed):
            raise ValueError("a maybe match among the confirmed ones")
        if any(m.kind is not MatchKind.MAYBE for m in self.maybe):
            raise ValueError("a confirmed match among the maybe ones")

    @property
    def contact(self) -> Contact | None:
        """The confirmed contact when there is exactly one."""
        return self.confirmed[0].contact if len(self.confirmed) == 1 else None


@dataclass(frozen=True, slots=True)
class Chat(_Model):
    id: str
    contact_id: str
    channel: Channel
    subject: str
    status: ChatStatus
    #: Whether a call can be placed on this chat's channel (e.g. WhatsApp calling).
    voice_capable: bool
    last_message_at: datetime
    assignee_id: str | None = None


# --------------------------------------------------------------------------------------
# Calls


@dataclass(frozen=True, slots=True)
class CallRecord(_Model):
    """One call in the CRM's call log. ``id`` is chosen by the client that created it."""

    id: str
    direction: CallDirection
    status: CallStatus
    mode: CallMode
    agent_id: str
    remote_number: str
    created_at: datetime
    started_at: datetime
    updated_at: datetime
    account_id: str | None = None
    local_number: str | None = None
    contact_id: str | None = None
    chat_id: str | None = None
    guest_name: str | None = None
    #: The provider's or SIP Call-ID of this call, to correlate a CRM-created ringing
    #: record with the call the softphone sees.
    external_id: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    answered_by: str | None = None
    hangup_cause: HangupCause | None = None
    sip_code: int | None = None
    outcome: str | None = None
    notes: str | None = None
    has_recording: bool = False
    has_transcript: bool = False

    def __post_init__(self) -> None:
        _check_nonempty("call id", self.id)
        _check_dialable("remote number", self.remote_number)
        _check_dialable("local number", self.local_number)
        _check_nonneg("duration", self.duration_s)

    @property
    def live(self) -> bool:
        return self.status.live


@dataclass(frozen=True, slots=True)
class CallCreate(_Model):
    """A new call. ``id`` (a UUID the client generates) is the idempotency key: creating
    the same id twice yields one record."""

    id: str
    direction: CallDirection
    remote_number: str
    started_at: datetime
    status: CallStatus = CallStatus.DIALING
    mode: CallMode = CallMode.SOFTPHONE
    account_id: str | None = None
    local_number: str | None = None
    contact_id: str | None = None
    chat_id: str | None = None
    guest_name: str | None = None
    external_id: str | None = None
    #: Only admins and owners may log a call for someone else; default: the caller.
    agent_id: str | None = None

    def __post_init__(self) -> None:
        _check_nonempty("call id", self.id)
        if len(self.id) > 64:
            raise ValueError("call id longer than 64 characters")
        _check_dialable("remote number", self.remote_number)
        _check_dialable("local number", self.local_number)
        _check_aware("started_at", self.started_at)


#: Fields of ``CallUpdate`` that may be cleared (set to null).
_CLEARABLE: Final = frozenset({"contact_id", "chat_id", "outcome", "notes"})


@dataclass(frozen=True, slots=True)
class CallUpdate(_Model):
    """A partial update. ``None`` leaves a field as it is; names in ``clear`` are set to
    null (only contact_id, chat_id, outcome and notes). On the wire: absent = unchanged,
    null = clear. Status changes must follow ``can_transition``."""

    status: CallStatus | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    answered_by: str | None = None
    hangup_cause: HangupCause | None = None
    sip_code: int | None = None
    outcome: str | None = None
    notes: str | None = None
    contact_id: str | None = None
    chat_id: str | None = None
    clear: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = set(self.clear) - _CLEARABLE
        if bad:
            raise ValueError(f"cannot clear {', '.join(sorted(bad))}")
        both = [n for n in self.clear if getattr(self, n) is not None]
        if both:
            raise ValueError(f"{', '.join(both)} both set and cleared")
        _check_nonneg("duration", self.duration_s)
        _check_aware("answered_at", self.answered_at)
        _check_aware("ended_at", self.ended_at)

    def to_json(self) -> JsonObject:
        out: JsonObject = {}
        for f in dataclasses.fields(self):
            if f.name == "clear":
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = _encode(value)
        for name in self.clear:
            out[name] = None
        return out

    @classmethod
    def from_json(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise ProtocolError(f"CallUpdate: expected an object, got {_type_name(data)}")
        if "clear" in data:
            raise ProtocolError("CallUpdate.clear: send null values instead")
        nulls = tuple(sorted(k for k, v in data.items() if v is None))
        bad = set(nulls) - _CLEARABLE
        if bad:
            raise ProtocolError(f"CallUpdate: {', '.join(sorted(bad))} cannot be null")
        present = {k: v for k, v in data.items() if v is not None}
        decoded = _decode_model(cls, present, "CallUpdate")
        return dataclasses.replace(decoded, clear=nulls)

    def is_empty(self) -> bool:
        return not self.to_json()


@dataclass(frozen=True, slots=True)
class CallFilter(_Model):
    """What a call list or CSV export selects. Users only ever get their own calls (asking
    for another ``agent_id`` is ``PermissionDenied``); ``text`` matches the number and the
    guest's name."""

    direction: CallDirection | None = None
    statuses: tuple[CallStatus, ...] = ()
    agent_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    live: bool | None = None

    def __post_init__(self) -> None:
        _check_aware("since", self.since)
        _check_aware("until", self.until)

    def to_query(self) -> dict[str, str]:
        """The filter as URL query parameters (``status`` comma-separated)."""
        query: dict[str, str] = {}
        if self.direction is not None:
            query["direction"] = self.direction.value
        if self.statuses:
            query["status"] = ",".join(s.value for s in self.statuses)
        if self.agent_id is not None:
            query["agent_id"] = self.agent_id
        if self.since is not None:
            query["since"] = format_time(self.since)
        if self.until is not None:
            query["until"] = format_time(self.until)
        if self.text:
            query["q"] = self.text
        if self.live is not None:
            query["live"] = "true" if self.live else "false"
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Self:
        """Parse query parameters; raises ``ValueError`` naming the bad one."""
        statuses: tuple[CallStatus, ...] = ()
        if query.get("status"):
            try:
                statuses = tuple(CallStatus(s) for s in query["status"].split(","))
            except ValueError:
                raise ValueError(f"status: unknown value in {query['status'][:80]!r}") from None
        live: bool | None = None
        if "live" in query:
            if query["live"] not in ("true", "false"):
                raise ValueError("live: expected true or false")
            live = query["live"] == "true"
        try:
            direction = CallDirection(query["direction"]) if "direction" in query else None
        except ValueError:
            raise ValueError("direction: expected inbound, outbound or internal") from None
        times: dict[str, datetime | None] = {}
        for key in ("since", "until"):
            times[key] = None
            if key in query:
                try:
                    times[key] = parse_time(query[key])
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
        return cls(
            direction=direction,
            statuses=statuses,
            agent_id=query.get("agent_id") or None,
            since=times["since"],
            until=times["until"],
            text=query.get("q") or None,
            live=live,
        )


@dataclass(frozen=True, slots=True)
class CallPage(_Model):
    """One page of calls, newest first. Pass ``next_cursor`` back for the next page;
    ``None`` means this was the last. ``total`` counts all matches of the filter."""

    items: tuple[CallRecord, ...]
    total: int
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingInfo(_Model):
    call_id: str
    content_type: str
    size_bytes: int
    uploaded_at: datetime
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class TranscriptSegment(_Model):
    start_s: float
    end_s: float
    speaker: TranscriptSpeaker
    text: str


@dataclass(frozen=True, slots=True)
class Transcript(_Model):
    call_id: str
    language: str
    segments: tuple[TranscriptSegment, ...]
    created_at: datetime

    @property
    def text(self) -> str:
        return "\n".join(f"{s.speaker.value}: {s.text}" for s in self.segments)


# --------------------------------------------------------------------------------------
# Chat cards, phone mode, dial requests, permission, presence


@dataclass(frozen=True, slots=True)
class CardCreate(_Model):
    """A call-event card for a chat thread; ``id`` (client UUID) is the idempotency key."""

    id: str
    chat_id: str
    call_id: str
    kind: CardKind
    direction: CallDirection
    status: CallStatus
    duration_s: int | None = None

    def __post_init__(self) -> None:
        _check_nonempty("card id", self.id)
        _check_nonneg("duration", self.duration_s)


@dataclass(frozen=True, slots=True)
class CallCard(_Model):
    id: str
    chat_id: str
    call_id: str
    kind: CardKind
    direction: CallDirection
    status: CallStatus
    agent_id: str
    created_at: datetime
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class PhoneCallRequest(_Model):
    """Phone mode: the provider rings the agent's own phone, then bridges ``to_number``.
    ``call_id`` is the client-generated id of the call record it creates (idempotent)."""

    call_id: str
    account_id: str
    to_number: str
    caller_id: str | None = None
    chat_id: str | None = None
    contact_id: str | None = None

    def __post_init__(self) -> None:
        _check_nonempty("call id", self.call_id)
        _check_dialable("to_number", self.to_number)
        _check_e164("caller_id", self.caller_id)


@dataclass(frozen=True, slots=True)
class DialRequest(_Model):
    """The web CRM's Call button: asks the agent's softphone to dial."""

    id: str
    chat_id: str
    requested_by: str
    requested_at: datetime
    number: str | None = None
    contact_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallPermission(_Model):
    """WhatsApp calling permission for a chat. ``allowed_once`` turns back into
    ``not_requested`` after one call."""

    chat_id: str
    state: PermissionState
    updated_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Presence(_Model):
    user_id: str
    status: PresenceStatus
    updated_at: datetime


# --------------------------------------------------------------------------------------
# The event stream


@dataclass(frozen=True, slots=True)
class CallRinging(_Model):
    """A call ringing for this agent, with what the CRM matched: the confirmed contact
    (if exactly one), the chat it most likely belongs to, and maybe matches apart."""

    call: CallRecord
    contact: Contact | None = None
    chat: Chat | None = None
    maybe: tuple[ContactMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class CallAnsweredElsewhere(_Model):
    call_id: str
    answered_by: str
    answered_by_name: str | None = None


@dataclass(frozen=True, slots=True)
class CallUpdated(_Model):
    call: CallRecord


@dataclass(frozen=True, slots=True)
class DialRequested(_Model):
    request: DialRequest


@dataclass(frozen=True, slots=True)
class CardPosted(_Model):
    card: CallCard


@dataclass(frozen=True, slots=True)
class ContactUpdated(_Model):
    contact: Contact


@dataclass(frozen=True, slots=True)
class PermissionChanged(_Model):
    permission: CallPermission


@dataclass(frozen=True, slots=True)
class ProvisioningChanged(_Model):
    """Fetch the provisioning again; ``revision`` is the new one."""

    revision: int


@dataclass(frozen=True, slots=True)
class PresenceChanged(_Model):
    presence: Presence


@dataclass(frozen=True, slots=True)
class StreamStatus(_Model):
    """The event subscription's connection, for an "offline" indicator. Not an event:
    delivered to the subscriber's status callback, never on the wire."""

    connected: bool
    at: datetime
    reason: str | None = None
    #: When disconnected: seconds until the next reconnect attempt.
    retry_in_s: float | None = None


@dataclass(frozen=True, slots=True)
class ResyncRequired(_Model):
    """The resume point is older than the server keeps: events were lost, so refetch state
    (provisioning, live calls) and continue from this event's id."""

    oldest_id: int


@dataclass(frozen=True, slots=True)
class UnknownEvent(_Model):
    """An event type this client does not know (a newer CRM); safe to ignore."""

    type: str
    data: dict[str, Any]


EventPayload: TypeAlias = (
    CallRinging
    | CallAnsweredElsewhere
    | CallUpdated
    | DialRequested
    | CardPosted
    | ContactUpdated
    | PermissionChanged
    | ProvisioningChanged
    | PresenceChanged
    | ResyncRequired
    | UnknownEvent
)

_PAYLOADS: Final[dict[EventType, type[_Model]]] = {
    EventType.CALL_RINGING: CallRinging,
    EventType.CALL_ANSWERED_ELSEWHERE: CallAnsweredElsewhere,
    EventType.CALL_UPDATED: CallUpdated,
    EventType.DIAL_REQUESTED: DialRequested,
    EventType.CARD_POSTED: CardPosted,
    EventType.CONTACT_UPDATED: ContactUpdated,
    EventType.PERMISSION_CHANGED: PermissionChanged,
    EventType.PROVISIONING_CHANGED: ProvisioningChanged,
    EventType.PRESENCE_CHANGED: PresenceChanged,
    EventType.STREAM_RESYNC: ResyncRequired,
}
_TYPES: Final[dict[type[_Model], EventType]] = {v: k for k, v in _PAYLOADS.items()}


@dataclass(frozen=True, slots=True)
class StreamEvent(_Model):
    """One event. Ids increase strictly per stream but need not be contiguous (a user
    only sees their own events); resume with the last id seen. Wire form:
    ``{"id": 7, "type": "call.updated", "at": "...", "data": {...}}``."""

    id: int
    at: datetime
    payload: EventPayload

    @property
    def type(self) -> str:
        if isinstance(self.payload, UnknownEvent):
            return self.payload.type
        return _TYPES[type(self.payload)].value

    def to_json(self) -> JsonObject:
        data = (
            self.payload.data if isinstance(self.payload, UnknownEvent) else self.payload.to_json()
        )
        return {"id": self.id, "type": self.type, "at": format_time(self.at), "data": data}

    @classmethod
    def from_json(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise ProtocolError(f"StreamEvent: expected an object, got {_type_name(data)}")
        event_id = _decode(int, data.get("id"), "StreamEvent.id")
        kind = _decode(str, data.get("type"), "StreamEvent.type")
        at = _decode(datetime, data.get("at"), "StreamEvent.at")
        body = data.get("data")
        if not isinstance(body, dict):
            raise ProtocolError(f"StreamEvent.data: expected an object, got {_type_name(body)}")
        payload: EventPayload
        try:
            payload_cls = _PAYLOADS[EventType(kind)]
        except ValueError:
            payload = UnknownEvent(type=kind, data=body)
        else:
            payload = typing.cast(
                EventPayload, _decode_model(payload_cls, body, f"StreamEvent[{kind}]")
            )
        if event_id <= 0:
            raise ProtocolError("StreamEvent.id: must be positive")
        return cls(id=event_id, at=at, payload=payload)


@dataclass(frozen=True, slots=True)
class Heartbeat(_Model):
    """Sent every ``interval_s`` when nothing else was; ``last_id`` is the newest event id
    for this user, so a client can also tell it is up to date. Wire form adds
    ``"type": "heartbeat"``."""

    at: datetime
    last_id: int
    interval_s: float

    def to_json(self) -> JsonObject:
        return {"type": "heartbeat", **super(Heartbeat, self).to_json()}


def parse_frame(data: object) -> StreamEvent | Heartbeat:
    """Decode one websocket text frame's JSON: an event (has an ``id``) or a heartbeat."""
    if isinstance(data, dict) and data.get("type") == "heartbeat":
        return Heartbeat.from_json(data)
    return StreamEvent.from_json(data)


# --------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class ErrorBody(_Model):
    """The one error shape: ``{"error": {"code", "message", "status", "details"?,
    "request_id"?}}``. ``code`` is stable (see docs/crm-api.md); ``message`` is for
    humans."""

    code: str
    message: str
    status: int
    details: dict[str, Any] | None = None
    request_id: str | None = None

    def envelope(self) -> JsonObject:
        return {"error": self.to_json()}

    @classmethod
    def from_envelope(cls, data: object) -> Self:
        if not isinstance(data, dict) or "error" not in data:
            raise ProtocolError('error body: expected {"error": {...}}')
        return cls.from_json(data["error"])


# --------------------------------------------------------------------------------------
# Batched writes


class BatchOp(enum.StrEnum):
    """The writes ``POST /v1/batch`` carries (recordings stay separate uploads)."""

    CALL_CREATE = "call.create"
    CALL_UPDATE = "call.update"
    CARD_POST = "card.post"


@dataclass(frozen=True, slots=True)
class BatchWrite(_Model):
    """One write of a batch, with exactly the fields its ``op`` needs: ``call`` for
    call.create, ``call_id`` + ``update`` (+ ``idempotency_key``) for call.update, ``card``
    for card.post. Each keeps the idempotency of its single request, so a batch can be
    resent whole after a lost answer."""

    op: BatchOp
    call: CallCreate | None = None
    call_id: str | None = None
    update: CallUpdate | None = None
    idempotency_key: str | None = None
    card: CardCreate | None = None

    def __post_init__(self) -> None:
        needs = {
            BatchOp.CALL_CREATE: {"call"},
            BatchOp.CALL_UPDATE: {"call_id", "update", "idempotency_key"},
            BatchOp.CARD_POST: {"card"},
        }[self.op]
        required = needs - {"idempotency_key"}
        present = {
            n
            for n in ("call", "call_id", "update", "idempotency_key", "card")
            if getattr(self, n) is not None
        }
        if missing := required - present:
            raise ValueError(f"{self.op.value} needs {', '.join(sorted(missing))}")
        if extra := present - needs:
            raise ValueError(f"{self.op.value} takes no {', '.join(sorted(extra))}")
        if self.call_id is not None:
            _check_nonempty("call_id", self.call_id)
        if self.idempotency_key is not None and not 0 < len(self.idempotency_key) <= 200:
            raise ValueError("idempotency_key must be 1-200 characters")

    @property
    def lane(self) -> str:
        """The call this write belongs to (what per-call order is kept for)."""
        if self.call is not None:
            return self.call.id
        if self.card is not None:
            return self.card.call_id
        assert self.call_id is not None
        return self.call_id

    def to_json(self) -> JsonObject:
        out: JsonObject = {"op": self.op.value}
        for name in ("call", "call_id", "update", "idempotency_key", "card"):
            value = getattr(self, name)
            if value is not None:
                out[name] = _encode(value)
        return out

    @classmethod
    def from_json(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise ProtocolError(f"BatchWrite: expected an object, got {_type_name(data)}")
        if "op" not in data:
            raise ProtocolError("BatchWrite.op: missing")
        hints = _hints(cls)
        kwargs: dict[str, Any] = {
            name: _decode(hints[name], data[name], f"BatchWrite.{name}")
            for name in ("op", "call", "call_id", "idempotency_key", "card")
            if name in data
        }
        if data.get("update") is not None:
            kwargs["update"] = CallUpdate.from_json(data["update"])
        try:
            return cls(**kwargs)
        except ValueError as exc:
            raise ProtocolError(f"BatchWrite: {exc}") from None


@dataclass(frozen=True, slots=True)
class BatchResult(_Model):
    """What one write of a batch did: ``status`` is the HTTP status its single request
    would have had (201 created, 200 applied before / updated, else an error status with
    ``error`` in the one error shape). ``call`` or ``card`` is the resulting resource."""

    status: int
    call: CallRecord | None = None
    card: CallCard | None = None
    error: ErrorBody | None = None

    def __post_init__(self) -> None:
        if (self.error is None) != (200 <= self.status < 300):
            raise ValueError("a result has an error exactly when its status is not 2xx")

    @property
    def ok(self) -> bool:
        return self.error is None
