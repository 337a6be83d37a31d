"""The seam between the app and any CRM: one async interface, two implementations.

``HttpCrm`` (crmclient/http.py) speaks the contract of docs/crm-api.md to a real CRM;
``EmbeddedCrm`` (crmclient/embedded/) keeps everything in local SQLite when no CRM is
configured. The app codes against ``CrmBackend`` only, so it cannot tell them apart and the
demo needs nothing else.

Rules every implementation keeps, so callers can rely on them:

- Methods raise only ``crmclient.errors.CrmError`` subclasses (``NotFound`` for an unknown
  or invisible id, ``PermissionDenied`` for a role that may not, ``Conflict`` for a status
  transition ``can_transition`` refuses, ``ValidationError`` for a refused body,
  ``AuthError`` when signed out, ``TransportError`` when the CRM could not be reached).
- Writes keyed by a client id (``CallCreate.id``, ``CardCreate.id``,
  ``PhoneCallRequest.call_id``) or an ``idempotency_key`` are idempotent: repeating one,
  even after a crash or a lost answer, returns the first result and changes nothing more.
  That is what lets the outbox retry blindly.
- Role rules are the CRM's: a user sees and changes only their own calls; admins and owners
  see all. Implementations enforce them; callers need not pre-filter.
- Every method is safe to call concurrently from one event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeAlias, runtime_checkable

from crmclient.models import (
    CALL_PAGE_SIZE,
    BatchResult,
    BatchWrite,
    CallCard,
    CallCreate,
    CallFilter,
    CallPage,
    CallPermission,
    CallRecord,
    CallUpdate,
    CardCreate,
    Chat,
    Contact,
    ContactCreate,
    ContactLookup,
    Credentials,
    DialRequest,
    PhoneCallRequest,
    Presence,
    PresenceStatus,
    Provisioning,
    RecordingInfo,
    SessionToken,
    SipSecret,
    StreamEvent,
    StreamStatus,
    Transcript,
    User,
)

__all__ = [
    "CrmBackend",
    "EventSubscription",
    "SessionListener",
    "StatusListener",
    "Unsubscribe",
]

#: Called with the new session after sign-in or a (possibly automatic) refresh, and with
#: ``None`` after sign-out or when the session ended; the app stores it in the keyring.
SessionListener: TypeAlias = Callable[[SessionToken | None], None]
#: Called when the event subscription connects or loses its connection.
StatusListener: TypeAlias = Callable[[StreamStatus], None]
#: Calling it removes the listener it was returned for; calling it twice is harmless.
Unsubscribe: TypeAlias = Callable[[], None]


@runtime_checkable
class EventSubscription(Protocol):
    """A live, resumable feed of ``StreamEvent``s for the signed-in user.

    Iterating yields events in increasing id order, each exactly once, across reconnects:
    the implementation resumes from ``last_id`` itself. Ids need not be contiguous. When
    the CRM no longer has the events after the resume point, a ``ResyncRequired`` payload
    arrives first: refetch state, then carry on. The iteration ends only after ``aclose()``
    (or raises ``AuthError`` when the session ended).
    """

    @property
    def last_id(self) -> int:
        """Id of the last event yielded (before any: where it resumes from, 0 if unknown)."""
        ...

    @property
    def connected(self) -> bool: ...

    def __aiter__(self) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class CrmBackend(Protocol):
    """Every operation of the CRM contract (docs/crm-api.md), one method each."""

    # -- session -------------------------------------------------------------------
    async def sign_in(self, credentials: Credentials) -> SessionToken:
        """Email and password, or an API token, to a session (10 days, refreshable)."""
        ...

    async def restore_session(self, session: SessionToken) -> User:
        """Use a session kept from an earlier run (refreshing it if it expired);
        ``AuthError`` when it cannot be used any more."""
        ...

    async def refresh_session(self) -> SessionToken:
        """A new token for the current session (implementations also do this by
        themselves when a request is refused as expired)."""
        ...

    async def sign_out(self) -> None:
        """End the session on the CRM and forget it; harmless when signed out."""
        ...

    async def current_user(self) -> User: ...

    def add_session_listener(self, listener: SessionListener) -> Unsubscribe: ...

    # -- provisioning --------------------------------------------------------------
    async def get_provisioning(self) -> Provisioning:
        """Calling accounts, caller-IDs, the agent's mapping and teammates (no secrets)."""
        ...

    async def get_sip_secret(self, account_id: str) -> SipSecret:
        """The SIP password of one account: keep it in the OS keyring only."""
        ...

    # -- contacts and chats --------------------------------------------------------
    async def lookup_number(self, number: str) -> ContactLookup:
        """Who an E.164 number belongs to, confirmed matches apart from maybe ones."""
        ...

    async def search_contacts(self, text: str, *, limit: int = 20) -> tuple[Contact, ...]:
        """Contacts whose name, number, email or company contains ``text``."""
        ...

    async def get_contact(self, contact_id: str) -> Contact: ...

    async def create_contact(self, contact: ContactCreate) -> Contact:
        """A contact for an unknown number (the number becomes a confirmed match)."""
        ...

    async def list_contact_chats(self, contact_id: str) -> tuple[Chat, ...]:
        """The contact's active (open or pending) chats, most recent first;
        ``Chat.voice_capable`` tells which channels can carry a call."""
        ...

    # -- calls ---------------------------------------------------------------------
    async def create_call(self, call: CallCreate) -> CallRecord:
        """Log a call; creating the same ``call.id`` again returns the existing record
        (``Conflict`` if it belongs to a different call, e.g. another number)."""
        ...

    async def update_call(
        self, call_id: str, update: CallUpdate, *, idempotency_key: str | None = None
    ) -> CallRecord: ...

    async def get_call(self, call_id: str) -> CallRecord: ...

    async def list_calls(
        self,
        filter: CallFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = CALL_PAGE_SIZE,
    ) -> CallPage:
        """Newest first, at most ``CALL_PAGE_SIZE`` per page; follow ``next_cursor``."""
        ...

    async def fetch_recording(self, call_id: str, dest: Path) -> RecordingInfo:
        """Download the call's recording (WAV) to ``dest``, on demand; ``NotFound`` when
        the call has none."""
        ...

    async def upload_recording(
        self, call_id: str, wav: Path, *, idempotency_key: str | None = None
    ) -> RecordingInfo:
        """Attach a local WAV recording to the call (replacing any earlier one)."""
        ...

    async def get_transcript(self, call_id: str) -> Transcript | None:
        """The call's transcript, ``None`` when there is none (yet)."""
        ...

    async def export_calls_csv(self, filter: CallFilter | None, dest: Path) -> int:
        """Write the matching calls as CSV (columns in docs/crm-api.md) to ``dest``;
        returns the number of data rows."""
        ...

    # -- chat call-event cards -----------------------------------------------------
    async def post_card(self, card: CardCreate) -> CallCard:
        """Post a call-event card to a chat thread; idempotent on ``card.id``."""
        ...

    async def list_cards(self, chat_id: str) -> tuple[CallCard, ...]: ...

    # -- batched writes ------------------------------------------------------------
    async def write_batch(
        self, writes: Sequence[BatchWrite], *, minimal: bool = False
    ) -> tuple[BatchResult, ...]:
        """Up to ``BATCH_MAX_WRITES`` call creates, call updates and cards in one round
        trip, applied in order with the idempotency and role rules of their single
        methods. One result per write, in the same order: a refused write is reported in
        its result (``error``) and does not stop the others; later writes of a call whose
        earlier write failed in the same batch are not attempted (status 424). Raises
        only for the batch as a whole (signed out, unreachable, malformed batch). With
        ``minimal`` the results may leave out the records (the outbox needs only the
        outcome, and encoding them is most of the server's work)."""
        ...

    # -- phone mode and dial requests ----------------------------------------------
    async def start_phone_call(self, request: PhoneCallRequest) -> CallRecord:
        """Phone mode: the provider rings the agent's own phone, then bridges the
        customer. Returns the call record it created (``mode = phone``)."""
        ...

    async def request_dial(self, chat_id: str, *, number: str | None = None) -> DialRequest:
        """What the web CRM's Call button does: the agent's softphone receives a
        ``dial.requested`` event for the chat."""
        ...

    # -- WhatsApp calling permission -----------------------------------------------
    async def get_call_permission(self, chat_id: str) -> CallPermission: ...

    async def request_call_permission(self, chat_id: str) -> CallPermission:
        """Ask the guest for permission to call; the answer arrives as a
        ``permission.changed`` event."""
        ...

    # -- presence ------------------------------------------------------------------
    async def get_presence(self) -> Presence: ...

    async def set_presence(self, status: PresenceStatus) -> Presence: ...

    # -- events --------------------------------------------------------------------
    def subscribe(
        self, *, after: int | None = None, on_status: StatusListener | None = None
    ) -> EventSubscription:
        """Events with an id greater than ``after``: pass the last id you processed (kept
        across restarts) to miss nothing; ``None`` starts from now on."""
        ...

    async def aclose(self) -> None:
        """Release connections and files; the backend is unusable afterwards."""
        ...
