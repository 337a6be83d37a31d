"""The agent's session: engine events in, CRM records, chat cards and UI state out.

No Qt here. Three kinds of threads meet in this object, and each does only its own job:

- the engine client's reader thread delivers engine events (``_on_engine_event``); the
  session updates its state under a lock and emits its own events at once (the popup
  must not wait for anything);
- one "crm-writes" thread journals every CRM write into the outbox, in order, so a slow
  disk never delays an engine event (the outbox delivers them later, retrying forever);
- the asyncio loop (``AsyncRunner``) talks to the CRM for reads: caller match, contact
  search, provisioning, the event stream;
- commands from the UI run on an "engine-commands" thread pool, because engine commands
  block until the engine answers, and the UI thread never blocks.

Every listener is called on whichever of those threads produced the event; the Qt
adapter hops to the main thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from app.config import Settings
from app.links import LinkError
from app.session import mapping, outbound, ringing
from app.session.errors import ENGINE_WARNINGS, user_error
from app.session.model import (
    AudioDeviceOption,
    AudioDevicesListed,
    CallDirection,
    CallEnd,
    CallEnded,
    CallerMatched,
    CallLogChanged,
    CallPermission,
    CallPhase,
    CallQuality,
    CallView,
    ContactHit,
    ContactMatch,
    ContactsFound,
    DialRequest,
    DialSource,
    ErrorKind,
    IncomingCall,
    LineState,
    LineStatus,
    MissedCallsChanged,
    OutboundOptions,
    OutboxPendingChanged,
    PermissionState,
    Presence,
    PresenceChanged,
    SessionStatus,
    WrapUp,
    WrapUpRequested,
    WrapUpSaved,
)
from app.session.protocol import SessionListener
from crmclient import models as crm
from crmclient import numbers
from crmclient.backend import CrmBackend
from crmclient.errors import AuthError, CrmError, NumberError
from crmclient.outbox import Outbox, OutboxStatus
from softphone import events as ev
from softphone.audio.devices import AudioDevice, DeviceKind
from softphone.client import EngineClient
from softphone.config import AccountConfig
from softphone.errors import EngineError, EngineUnavailable
from softphone.types import (
    CallState,
    EndReason,
    RegistrationState,
    RejectKind,
    SrtpMode,
    Transport,
)

log = logging.getLogger(__name__)

MATCH_TIMEOUT_S = 2.0
#: How long an inbound call waits for the CRM's ``call.ringing`` before the session creates
#: the record itself (a CRM that routes calls announces them; its websocket and the INVITE
#: race). Only with a remote CRM whose event stream is connected.
RINGING_GRACE_S = 1.5
_PRESENCE_TO_CRM = {
    Presence.AVAILABLE: crm.PresenceStatus.AVAILABLE,
    Presence.BUSY: crm.PresenceStatus.BUSY,
    Presence.DO_NOT_DISTURB: crm.PresenceStatus.DND,
}
_PERMISSION = {
    crm.PermissionState.NOT_REQUESTED: PermissionState.NOT_NEEDED,
    crm.PermissionState.PENDING: PermissionState.WAITING,
    crm.PermissionState.ALLOWED_ONCE: PermissionState.ALLOWED_ONCE,
    crm.PermissionState.ALWAYS_ALLOWED: PermissionState.ALWAYS_ALLOWED,
    crm.PermissionState.NEVER: PermissionState.DECLINED,
}
_LINE = {
    RegistrationState.REGISTERING: LineState.REGISTERING,
    RegistrationState.REGISTERED: LineState.REGISTERED,
    RegistrationState.DIRECT: LineState.REGISTERED,
    RegistrationState.FAILED: LineState.FAILED,
    RegistrationState.OFFLINE: LineState.OFFLINE,
}


class Runner(Protocol):
    """What the session needs of ``app.runloop.AsyncRunner``."""

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]: ...


@dataclass
class _Call:
    """Mutable bookkeeping for one call; ``view`` is the frozen snapshot the UI gets."""

    view: CallView
    crm_id: str | None  # None: the counterparty is not a number the CRM can log
    #: Inbound, waiting for the CRM's own record (``RINGING_GRACE_S``): the create to journal
    #: if none comes, and the writes made meanwhile (they take the record id in the end).
    pending_create: crm.CallCreate | None = None
    held: list[Callable[[str], object]] = field(default_factory=list)
    crm_owned: bool = False  # the record is the CRM's (it routed the call), not ours
    sip_call_id: str = ""  # the INVITE's Call-ID, when the engine reports it
    elsewhere: bool = False  # the CRM said another agent answered it
    answered: bool = False
    card_posted: bool = False
    dtmf_after: str = ""
    final_status: crm.CallStatus | None = None
    pending_events: list[ev.CallStateChanged] = field(default_factory=list)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class AgentSession:
    """See the module docstring. ``start()`` once; ``close()`` at the end."""

    def __init__(
        self,
        engine: EngineClient,
        backend: CrmBackend,
        outbox: Outbox,
        runner: Runner,
        settings: Callable[[], Settings],
        *,
        crm_label: str = "embedded",
        clock: Callable[[], float] = time.time,
        crm_rings_calls: bool | None = None,
        ringing_grace_s: float = RINGING_GRACE_S,
    ) -> None:
        """``crm_rings_calls``: the CRM may create inbound call records itself and announce
        them (``call.ringing``); default: any CRM but the embedded one."""
        self.engine = engine
        self.crm = backend
        self.outbox = outbox
        self.runner = runner
        self._settings = settings
        self._crm_label = crm_label
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[SessionListener] = []
        self._calls: dict[str, _Call] = {}
        self._ended: dict[str, _Call] = {}  # for wrap-ups after the call
        self._orphans: dict[str, list[ev.CallStateChanged]] = {}
        self._lines: dict[str, LineStatus] = {}
        self._prov: crm.Provisioning | None = None
        self._user: crm.User | None = None
        self._missed = 0
        self._presence = Presence.AVAILABLE
        self._matches: dict[str, tuple[ContactMatch | None, float]] = {}
        self._awaiting_permission: dict[str, DialRequest] = {}
        self._devices: AudioDevicesListed = AudioDevicesListed()
        self._unsubs: list[Callable[[], None]] = []
        self._stream_task: concurrent.futures.Future[Any] | None = None
        self._cmd = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="engine-cmd")
        self._writes = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="crm-writes")
        self._closed = False
        rings = crm_label != "embedded" if crm_rings_calls is None else crm_rings_calls
        self._grace_s = ringing_grace_s if rings else 0.0
        self._announced = ringing.AnnouncedCalls()
        self._stream_connected = False
        self._stream_wanted = False
        self._last_event_id: int | None = None  # resume point of the CRM's event stream
        self.ready = threading.Event()  # provisioning applied (or found empty)
        #: Where each engine account listens (the bound port for accounts on port 0).
        self.accounts_added: dict[str, ev.AccountAdded] = {}

    # ------------------------------------------------------------------------ listeners
    def subscribe(self, listener: SessionListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: object) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("session listener failed on %s", type(event).__name__)

    def _error(self, kind: ErrorKind, detail: str = "", call_id: str | None = None) -> None:
        err = user_error(kind, detail, call_id)
        log.warning("user error: %s (%s)", err.message, detail)
        self._emit(err)

    # ------------------------------------------------------------------------ lifecycle
    def start(self, *, stream: bool = True) -> concurrent.futures.Future[Any]:
        """Subscribe to the engine and outbox, then load provisioning (async)."""
        self._unsubs.append(self.engine.subscribe(self._on_engine_event))
        self._unsubs.append(self.outbox.subscribe(self._on_outbox_status))
        # The engine announced its devices (AudioStarted) before we listened: ask for them,
        # or Settings would list none until one is plugged in.
        self._cmd.submit(self._list_devices)
        self._stream_wanted = stream
        self._ensure_stream()
        return self.runner.submit(self._load())

    def close(self) -> None:
        if self._closed:
            return
        with self._lock:  # quitting while a call waits for the CRM's record: log our own
            for call in (*self._calls.values(), *self._ended.values()):
                if call.pending_create is not None:
                    self._settle(call, call.pending_create.id, call.pending_create)
        self._closed = True
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        if self._stream_task is not None:
            self._stream_task.cancel()
        self._cmd.shutdown(wait=True, cancel_futures=True)
        self._writes.shutdown(wait=True)

    def flush_writes(self, timeout: float = 5.0) -> None:
        """Wait until every write queued so far is in the outbox journal (tests, quit)."""
        self._writes.submit(lambda: None).result(timeout)

    @property
    def region(self) -> str:
        return outbound.default_region(self._settings().default_region, self._prov)

    @property
    def provisioning(self) -> crm.Provisioning | None:
        return self._prov

    @property
    def user(self) -> crm.User | None:
        return self._user

    async def _load(self) -> None:
        try:
            prov = await self.crm.get_provisioning()
        except AuthError:
            self._error(ErrorKind.SIGN_IN_REQUIRED)
            self._set_not_configured("Sign in to the CRM in Settings")
            return
        except CrmError as exc:
            self._error(ErrorKind.CRM_UNREACHABLE, str(exc))
            self._set_not_configured(str(exc))
            return
        finally:
            self.ready.set()
        await self.apply_provisioning(prov)
        with contextlib.suppress(CrmError):
            presence = await self.crm.get_presence()
            self._set_presence_local(presence.status)

    def _set_not_configured(self, reason: str) -> None:
        status = LineStatus("", "", LineState.NOT_CONFIGURED, reason)
        with self._lock:
            self._lines = {"": status}
        self._emit(status)
        self._emit(self.outbound_options(""))

    async def apply_provisioning(self, prov: crm.Provisioning) -> None:
        """Add the provisioned accounts to the engine (secrets fetched, never stored)."""
        self.ready.clear()
        self._ensure_stream()  # provisioning after a sign-in: the events can flow now
        with self._lock:
            old = set(self._prov.accounts if self._prov else ())
            self._prov = prov
            self._user = prov.user
        settings = self._settings()
        wanted = [a for a in prov.accounts if a.supports_softphone]
        for account in old - set(prov.accounts):
            with contextlib.suppress(EngineError):
                await asyncio.to_thread(self.engine.remove_account, account.id)
        if not prov.accounts:
            self._set_not_configured("No calling account is assigned to you")
            self.ready.set()
            return
        with self._lock:
            self._lines.pop("", None)
        for account in wanted:
            if account in old and account.id in self.engine.accounts:
                continue
            refusal = _policy_refusal(account, settings)
            if refusal:
                self._set_line(LineStatus(account.id, account.label, LineState.FAILED, refusal))
                continue
            self._set_line(LineStatus(account.id, account.label, LineState.REGISTERING))
            try:
                secret = await self.crm.get_sip_secret(account.id)
                password = secret.password
            except CrmError as exc:
                log.warning("no SIP secret for %s: %s", account.id, exc)
                password = ""
            config = _account_config(account, password, settings)
            try:
                with contextlib.suppress(EngineError):
                    await asyncio.to_thread(self.engine.remove_account, account.id)
                added = await asyncio.to_thread(self.engine.add_account, config)
                with self._lock:
                    self.accounts_added[account.id] = added
            except EngineError as exc:
                self._set_line(LineStatus(account.id, account.label, LineState.FAILED, exc.message))
        self.ready.set()
        self._emit(self.outbound_options(""))

    def _set_line(self, status: LineStatus) -> None:
        with self._lock:
            self._lines[status.account_id] = status
        self._emit(status)

    def _label(self, account_id: str) -> str:
        prov = self._prov
        acct = prov.account(account_id) if prov else None
        return acct.label if acct else account_id

    # -------------------------------------------------------------------- engine events
    def _on_engine_event(self, event: ev.Event) -> None:
        try:
            self._handle_engine_event(event)
        except Exception:
            log.exception("session failed to handle %s", type(event).__name__)

    def _handle_engine_event(self, event: ev.Event) -> None:
        match event:
            case ev.RegistrationChanged():
                reason = event.reason if event.state is RegistrationState.FAILED else ""
                if event.code and reason:
                    reason = f"{event.code} {reason}"
                self._set_line(
                    LineStatus(
                        event.account_id,
                        self._label(event.account_id),
                        _LINE[event.state],
                        reason,
                    )
                )
            case ev.IncomingCallReceived():
                self._on_incoming(event)
            case ev.CallStateChanged():
                self._on_call_state(event)
            case ev.CallStatsReported():
                self._emit(
                    CallQuality(
                        event.call_id,
                        event.mos,
                        event.jitter_ms,
                        event.loss_percent,
                        event.rtt_ms,
                        event.codec,
                    )
                )
            case ev.RecordingStarted():
                self._update_view(event.call_id, recording=True)
            case ev.RecordingStopped():
                self._update_view(event.call_id, recording=False)
                call = self._calls.get(event.call_id) or self._ended.get(event.call_id)
                if call is not None:
                    path = event.path
                    self._journal(call, lambda crm_id: self.outbox.upload_recording(crm_id, path))
            case ev.EngineDied():
                with self._lock:
                    lines = [
                        dataclasses.replace(s, state=LineState.ENGINE_DOWN, reason=event.reason)
                        for s in self._lines.values()
                        if s.account_id
                    ]
                for status in lines:
                    self._set_line(status)
                self._error(ErrorKind.NOT_CONNECTED, event.reason)
            case ev.EngineRestarted():
                with self._lock:
                    lines = [
                        dataclasses.replace(s, state=LineState.REGISTERING, reason="")
                        for s in self._lines.values()
                        if s.account_id
                    ]
                for status in lines:
                    self._set_line(status)
            case ev.AudioDevicesChanged() | ev.AudioStarted():
                self._set_devices(event.devices)
            case ev.CallReplaced():
                with self._lock:
                    call = self._calls.pop(event.old_call_id, None)
                    if call is not None:
                        call.view = dataclasses.replace(call.view, call_id=event.new_call_id)
                        self._calls[event.new_call_id] = call
            case ev.EngineWarned():
                kind = ENGINE_WARNINGS.get(event.code)
                if kind is not None:
                    self._error(kind, event.message)
                else:
                    log.warning("engine: %s (%s)", event.message, event.code or "no code")
            case _:
                pass

    def _list_devices(self) -> None:
        try:
            devices = self.engine.list_devices()
        except EngineError as exc:
            log.info("no audio device list from the engine: %s", exc)
            return
        self._set_devices(devices)

    @property
    def audio_devices(self) -> AudioDevicesListed:
        return self._devices

    def _set_devices(self, devices: tuple[AudioDevice, ...]) -> None:
        settings = self._settings()
        listed = AudioDevicesListed(
            tuple(
                AudioDeviceOption(
                    d.id,
                    d.name,
                    is_input=d.kind is DeviceKind.INPUT,
                    is_output=d.kind is DeviceKind.OUTPUT,
                    is_default=d.is_default,
                )
                for d in devices
            ),
            settings.audio_input or None,
            settings.audio_output or None,
            settings.audio_ringer or None,
        )
        self._devices = listed
        self._emit(listed)

    def _normalise(self, raw: str) -> str | None:
        """E.164 (or an extension) for the CRM; None when it is not a number at all."""
        text = raw.strip()
        if crm.is_e164(text):
            return text
        digits = text.lstrip("+")
        if digits.isdigit() and len(digits) <= 6:
            return digits  # an internal extension
        try:
            return numbers.normalize(text, self.region)
        except (NumberError, ValueError):
            pass
        if digits.isdigit() and len(digits) >= 10:
            # Trunks often send E.164 without the "+": accept it only when that reads as a
            # real number, so a national number is never turned into a foreign one.
            try:
                parsed = numbers.parse("+" + digits, self.region)
            except (NumberError, ValueError):
                return None
            return parsed.e164 if parsed.known_range else None
        return None

    def _display(self, number: str) -> str:
        try:
            return numbers.parse(number, self.region).international
        except (NumberError, ValueError):
            return number

    def _on_incoming(self, event: ev.IncomingCallReceived) -> None:
        number = self._normalise(event.remote_user)
        # Pairing with the CRM's record and registering the call happen under the lock that
        # _on_crm_ringing holds: an announcement arriving meanwhile is never left unpaired.
        with self._lock:
            call, create, cached = self._register_incoming(event, number)
            dnd = self._presence is Presence.DO_NOT_DISTURB and not event.auto_answer
            wait_for_crm = create is not None and self._grace_s > 0 and self._stream_connected
            if wait_for_crm:
                call.pending_create = create
        view, crm_id = call.view, call.crm_id
        self._emit(IncomingCall(view, waiting=event.waiting, auto_answer=event.auto_answer))
        if dnd:
            self._command(lambda: self.engine.reject(event.call_id, RejectKind.BUSY))
        if wait_for_crm:
            timer = threading.Timer(self._grace_s, self._create_own_record, (call,))
            timer.daemon = True
            timer.start()
        elif create is not None:
            new = create
            self._write(lambda: self.outbox.create_call(new))
        if crm_id is not None and number is not None:
            self._emit(CallLogChanged(crm_id, event.call_id))
            if cached is None:
                self._match(event.call_id, number)

    def _register_incoming(
        self, event: ev.IncomingCallReceived, number: str | None
    ) -> tuple[_Call, crm.CallCreate | None, tuple[ContactMatch | None, float] | None]:
        """The call's bookkeeping, on the CRM's record if it announced this call, else with
        the create of our own record (lock held)."""
        shown = number or event.remote_user or event.remote_uri
        cached = self._matches.get(number or "")
        contact = cached[0] if cached else None
        # The INVITE's Call-ID pairs exactly once the engine reports it (a field the engine
        # event does not have yet: until then calls pair by number, see app.session.ringing).
        sip_call_id = str(getattr(event, "sip_call_id", "") or "")
        announced = self._announced.claim(number, self._clock(), sip_call_id) if number else None
        if announced is not None:
            crm_id: str | None = announced.call.id
            if contact is None:
                contact = ringing.contact_of(announced)
                if contact is not None and number is not None:
                    self._matches[number] = (contact, self._clock())
                    cached = self._matches[number]
        else:
            crm_id = uuid.uuid4().hex if number else None
        view = CallView(
            call_id=event.call_id,
            direction=CallDirection.INBOUND,
            phase=CallPhase.RINGING,
            number=shown,
            display_number=self._display(shown),
            account_id=event.account_id,
            line_label=self._label(event.account_id),
            remote_name=event.remote_display,
            contact=contact,
            chat_id=contact.chat_id if contact else None,
            crm_call_id=crm_id,
            started_at=event.at or self._clock(),
        )
        call = _Call(view, crm_id, crm_owned=announced is not None, sip_call_id=sip_call_id)
        self._calls[event.call_id] = call
        create: crm.CallCreate | None = None
        if announced is None and crm_id is not None and number is not None:
            create = crm.CallCreate(
                id=crm_id,
                direction=crm.CallDirection.INBOUND,
                remote_number=number,
                started_at=_utc(view.started_at),
                status=crm.CallStatus.RINGING,
                account_id=event.account_id,
                contact_id=contact.contact_id if contact else None,
                chat_id=contact.chat_id if contact else None,
                guest_name=contact.name if contact and contact.confirmed else None,
            )
        return call, create, cached

    def _journal(self, call: _Call, write: Callable[[str], object]) -> None:
        """Journal a write of ``call``'s record, or hold it while the record is not settled
        (waiting for the CRM's own record); nothing for calls the CRM cannot log."""
        with self._lock:
            if call.pending_create is not None:
                call.held.append(write)
                return
            crm_id = call.crm_id
        if crm_id is not None:
            self._write(lambda: write(crm_id))

    def _settle(self, call: _Call, crm_id: str, create: crm.CallCreate | None) -> None:
        """The record is known now: ours (journal the create) or the CRM's. Lock held, so
        no write of this call can slip in before the create."""
        call.pending_create = None
        call.crm_id = crm_id
        held, call.held = call.held, []
        if create is not None:
            self._write(lambda: self.outbox.create_call(create))
        for write in held:
            self._write(functools.partial(write, crm_id))

    def _create_own_record(self, call: _Call) -> None:
        """No CRM record came within the grace period: this call is ours to log."""
        with self._lock:
            create = call.pending_create
            if create is None:
                return  # the CRM's record came first
            self._settle(call, create.id, create)

    def _on_crm_ringing(self, announced: crm.CallRinging) -> None:
        """The CRM rang this agent: pair it with an INVITE waiting for it, or keep it for
        the INVITE still to come."""
        now = self._clock()
        with self._lock:
            waiting = [
                c for c in (*self._calls.values(), *self._ended.values()) if c.pending_create
            ]
            call = next(
                (c for c in waiting if ringing.same_call(announced.call, c.sip_call_id)), None
            ) or next(
                (
                    c
                    for c in waiting
                    if c.pending_create is not None
                    and ringing.same_caller(announced.call, c.pending_create.remote_number)
                ),
                None,
            )
            if call is None:
                self._announced.add(announced, now)
                return
            self._announced.mark_claimed(announced.call.id, now)
            self._settle(call, announced.call.id, None)
            call.crm_owned = True
            contact = call.view.contact or ringing.contact_of(announced)
            matched = call.view.contact is None and contact is not None
            call.view = dataclasses.replace(
                call.view,
                crm_call_id=announced.call.id,
                contact=contact,
                chat_id=call.view.chat_id or (contact.chat_id if contact else None),
            )
            view = call.view
        log.info("call %s is the CRM's call %s", view.call_id, announced.call.id)
        if matched:
            self._emit(CallerMatched(view.call_id, contact))
        self._emit(view)
        self._emit(CallLogChanged(announced.call.id, view.call_id))

    def _match(self, call_id: str, number: str) -> None:
        fut = self.runner.submit(self._lookup(number))

        def done(f: concurrent.futures.Future[ContactMatch | None]) -> None:
            try:
                match = f.result()
            except Exception as exc:
                log.info("caller match failed for call %s: %r", call_id, exc)
                return
            self._matches[number] = (match, self._clock())
            with self._lock:
                call = self._calls.get(call_id) or self._ended.get(call_id)
                if call is None:
                    return
                call.view = dataclasses.replace(
                    call.view, contact=match, chat_id=match.chat_id if match else None
                )
                view = call.view
            self._emit(CallerMatched(call_id, match))
            self._emit(view)
            if match is not None:
                update = crm.CallUpdate(contact_id=match.contact_id, chat_id=match.chat_id)
                self._journal(call, lambda crm_id: self.outbox.update_call(crm_id, update))

        fut.add_done_callback(done)

    async def _lookup(self, number: str) -> ContactMatch | None:
        lookup = await asyncio.wait_for(self.crm.lookup_number(number), MATCH_TIMEOUT_S)
        found = lookup.confirmed[0] if lookup.confirmed else None
        confirmed = True
        if found is None and lookup.maybe:
            found, confirmed = lookup.maybe[0], False
        if found is None:
            return None
        chat: crm.Chat | None = None
        with contextlib.suppress(CrmError, TimeoutError):
            chats = await asyncio.wait_for(
                self.crm.list_contact_chats(found.contact.id), MATCH_TIMEOUT_S
            )
            chat = next((c for c in chats if c.voice_capable), chats[0] if chats else None)
        return ContactMatch(
            contact_id=found.contact.id,
            name=found.contact.name,
            confirmed=confirmed,
            chat_id=chat.id if chat and confirmed else None,
            chat_title=chat.subject if chat and confirmed else None,
            company=found.contact.company,
        )

    def _on_call_state(self, event: ev.CallStateChanged) -> None:
        with self._lock:
            call = self._calls.get(event.call_id)
            if call is None:
                if event.call_id in self._ended:
                    return
                if event.direction.value == CallDirection.OUTBOUND and not event.state.is_final:
                    # Our dial() has not registered the call yet (the engine was quicker
                    # than its own reply): keep the events until it does.
                    self._orphans.setdefault(event.call_id, []).append(event)
                    return
                if event.direction.value != CallDirection.OUTBOUND:
                    return
                self._orphans.setdefault(event.call_id, []).append(event)
                return
        self._apply_state(call, event)

    def _apply_state(self, call: _Call, event: ev.CallStateChanged) -> None:
        phase = mapping.PHASE[event.state]
        now = event.at or self._clock()
        with self._lock:
            was = call.view
            first_answer = event.state is CallState.IN_CALL and not call.answered
            if first_answer:
                call.answered = True
            view = dataclasses.replace(
                was,
                phase=phase,
                muted=event.muted,
                held=event.state is CallState.ON_HOLD,
                connected_at=event.connected_at or (now if first_answer else was.connected_at),
            )
            final = event.state.is_final
            answered_at = _utc(view.connected_at) if first_answer and view.connected_at else None
            end: CallEnd | None = None
            update: crm.CallUpdate | None = None
            if final:
                reason = event.end_reason
                if call.elsewhere and not call.answered:
                    reason = EndReason.ANSWERED_ELSEWHERE  # we hung up because the CRM said so
                end, status, cause = mapping.end_of_call(reason, call.answered, was.direction)
                view = dataclasses.replace(
                    view, ended_at=now, end=end, end_reason=_reason_text(event)
                )
                duration = round(now - view.connected_at) if view.connected_at else 0
                update = crm.CallUpdate(
                    status=status,
                    ended_at=_utc(now),
                    duration_s=max(0, duration),
                    hangup_cause=cause,
                    sip_code=event.code or None,
                    answered_at=answered_at,
                )
                call.final_status = status
                caller_gave_up = end is CallEnd.MISSED and event.code != 480  # 480: we gave up
                if call.crm_owned and not call.answered and not caller_gave_up:
                    # The CRM's record may ring other agents too: declining it, or giving up
                    # ringing here, is not the call's outcome. The caller hanging up is.
                    update = None
                self._calls.pop(event.call_id, None)
                self._ended[event.call_id] = call
                if len(self._ended) > 50:
                    self._ended.pop(next(iter(self._ended)))
                if end is CallEnd.MISSED:
                    self._missed += 1
            elif phase is not was.phase:
                status = mapping.LIVE_STATUS[event.state]
                update = crm.CallUpdate(
                    status=status,
                    answered_at=answered_at,
                    answered_by=self._user.id if first_answer and self._user else None,
                )
            call.view = view
            missed = self._missed
        self._emit(view)
        if call.crm_id is not None and update is not None:
            upd = update
            self._journal(call, lambda crm_id: self.outbox.update_call(crm_id, upd))
            self._emit(CallLogChanged(call.crm_id, view.call_id))
        if first_answer and call.dtmf_after:
            digits = call.dtmf_after
            timer = threading.Timer(
                1.5, lambda: self._command(lambda: self.engine.send_dtmf(view.call_id, digits))
            )
            timer.daemon = True
            timer.start()
        if final and end is not None:
            self._finish(call, view, end)
            if end is CallEnd.MISSED:
                self._emit(MissedCallsChanged(missed))

    def _finish(self, call: _Call, view: CallView, end: CallEnd) -> None:
        self._emit(CallEnded(view))
        shared = call.crm_owned and not call.answered  # the CRM posts what it rang for
        elsewhere = end is CallEnd.ANSWERED_ELSEWHERE
        if call.crm_id is not None and view.chat_id and not shared and not elsewhere:
            duration = (
                int(view.ended_at - view.connected_at)
                if view.connected_at and view.ended_at
                else None
            )
            chat_id = view.chat_id
            kind = mapping.card_kind(end)
            direction = crm.CallDirection(view.direction.value)
            status = call.final_status or crm.CallStatus.COMPLETED

            def post(crm_id: str) -> None:
                card = crm.CardCreate(
                    id=uuid.uuid4().hex,
                    chat_id=chat_id,
                    call_id=crm_id,
                    kind=kind,
                    direction=direction,
                    status=status,
                    duration_s=duration,
                )
                self.outbox.post_card(card)

            self._journal(call, post)
        if mapping.wants_wrap_up(end, view.direction):
            self._emit(WrapUpRequested(view, suggested=mapping.suggested_outcome(end)))

    def _update_view(self, call_id: str, **changes: Any) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                return
            call.view = dataclasses.replace(call.view, **changes)
            view = call.view
        self._emit(view)

    def _on_outbox_status(self, status: OutboxStatus) -> None:
        self._emit(OutboxPendingChanged(status.pending))

    # -------------------------------------------------------------------- thread helpers
    def _write(self, fn: Callable[[], object]) -> None:
        """Journal a CRM write on the writer thread (in submission order)."""

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("could not journal a CRM write")

        if not self._closed:
            self._writes.submit(run)

    def _command(self, fn: Callable[[], object], call_id: str | None = None) -> None:
        def run() -> None:
            try:
                fn()
            except EngineUnavailable as exc:
                self._error(ErrorKind.NOT_CONNECTED, exc.message, call_id)
            except EngineError as exc:
                log.warning("engine command failed: %s", exc)
                self._error(ErrorKind.CALL_FAILED, exc.message, call_id)

        if not self._closed:
            self._cmd.submit(run)

    # --------------------------------------------------------------------------- commands
    def outbound_options(
        self, text: str, account_id: str | None = None, caller_id: str | None = None
    ) -> OutboundOptions:
        with self._lock:
            lines = {k: v.state for k, v in self._lines.items()}
            prov = self._prov
        return outbound.options(
            text, prov, lines, self.region, account_id=account_id, caller_id=caller_id
        )

    def prepare_outbound(self, text: str, account_id: str | None = None) -> None:
        self._emit(self.outbound_options(text, account_id))

    def dial(self, request: DialRequest) -> None:
        self._cmd.submit(self._dial_guarded, request)

    def _dial_guarded(self, request: DialRequest) -> None:
        try:
            self._dial(request)
        except Exception as exc:
            log.exception("dial failed")
            self._error(ErrorKind.CALL_FAILED, str(exc))

    def _dial(self, request: DialRequest) -> None:
        opts = self.outbound_options(request.number, request.account_id, request.caller_id)
        if opts.disabled is not None:
            if opts.destination is not None and opts.destination.error:
                self._error(ErrorKind.INVALID_NUMBER, opts.destination.error)
            else:
                self._error(ErrorKind.CALL_FAILED, opts.disabled.value)
            return
        if opts.error is not None and not request.caller_id:
            self._emit(opts.error)
            return
        try:
            target, uri = outbound.dial_target(request.number, self.region)
        except LinkError as exc:
            self._error(ErrorKind.INVALID_NUMBER, exc.message)
            return
        except NumberError as exc:
            self._error(ErrorKind.INVALID_NUMBER, exc.reason)
            return
        account_id = opts.account_id or ""
        with self._lock:
            busy = any(
                c.view.direction is CallDirection.OUTBOUND and c.view.active
                for c in self._calls.values()
            )
            line = self._lines.get(account_id)
        if busy:
            self._error(ErrorKind.BUSY_WITH_CALL)
            return
        chat = self._voice_chat(request)
        if (
            chat is not None
            and chat.channel is crm.Channel.WHATSAPP
            and not self._whatsapp_allowed(chat.id, request)
        ):
            return
        prov = self._prov
        account = prov.account(account_id) if prov else None
        if request.use_phone and account is not None and account.supports_phone_mode:
            self._phone_mode_call(request, account, uri, opts.caller_id)
            return
        if line is None or line.state is not LineState.REGISTERED:
            self._error(ErrorKind.NOT_CONNECTED, line.reason if line else "no registered line")
            return
        e164 = opts.destination.e164 if opts.destination else None
        number = e164 or (target.number if target.number else None)
        try:
            call_id = self.engine.make_call(account_id, uri, caller_id=opts.caller_id or None)
        except EngineUnavailable as exc:
            self._error(ErrorKind.NOT_CONNECTED, exc.message)
            return
        except EngineError as exc:
            self._error(ErrorKind.CALL_FAILED, exc.message)
            return
        crm_number = self._normalise(number) if number else None
        contact = self._matches.get(crm_number or "", (None, 0.0))[0]
        chat_id = request.chat_id or (contact.chat_id if contact else None)
        crm_id = uuid.uuid4().hex if crm_number else None
        view = CallView(
            call_id=call_id,
            direction=CallDirection.OUTBOUND,
            phase=CallPhase.CALLING,
            number=crm_number or uri,
            display_number=opts.destination.display if opts.destination else uri,
            account_id=account_id,
            line_label=self._label(account_id),
            contact=contact,
            location=_location(opts),
            chat_id=chat_id,
            crm_call_id=crm_id,
            caller_id=opts.caller_id or "",
            started_at=self._clock(),
        )
        call = _Call(view, crm_id, dtmf_after=target.extension)
        self._emit(view)
        if crm_id is not None and crm_number is not None:
            create = crm.CallCreate(
                id=crm_id,
                direction=crm.CallDirection.INTERNAL
                if request.internal or (crm_number.isdigit() and len(crm_number) <= 6)
                else crm.CallDirection.OUTBOUND,
                remote_number=crm_number,
                started_at=_utc(view.started_at),
                status=crm.CallStatus.DIALING,
                account_id=account_id,
                local_number=opts.caller_id,
                contact_id=request.contact_id or (contact.contact_id if contact else None),
                chat_id=chat_id,
                guest_name=contact.name if contact and contact.confirmed else None,
            )
            self._write(lambda: self.outbox.create_call(create))
            if chat_id:
                card = crm.CardCreate(
                    id=uuid.uuid4().hex,
                    chat_id=chat_id,
                    call_id=crm_id,
                    kind=crm.CardKind.INITIATED,
                    direction=crm.CallDirection.OUTBOUND,
                    status=crm.CallStatus.DIALING,
                )
                self._write(lambda: self.outbox.post_card(card))
            self._emit(CallLogChanged(crm_id, call_id))
        self._register_outbound(call_id, call)
        if crm_id is not None and crm_number is not None and contact is None:
            self._match(call_id, crm_number)

    def _register_outbound(self, call_id: str, call: _Call) -> None:
        """Make a dialled call visible to engine events, after the CRM record is queued.

        The engine often reports `calling`, `ringing` and even `in_call` before its reply to
        make_call reaches us; those events wait as orphans. They are applied here in order,
        and the call is registered only when none is left, so an early `calling` can never
        be applied after a later `in_call` (the call stuck at "Calling...")."""
        while True:
            with self._lock:
                orphans = self._orphans.pop(call_id, [])
                if not orphans:
                    if call_id not in self._ended:
                        self._calls[call_id] = call
                    return
            for orphan in orphans:
                self._apply_state(call, orphan)

    def _voice_chat(self, request: DialRequest) -> crm.Chat | None:
        if not request.chat_id or not request.contact_id:
            return None
        try:
            chats = self.runner.submit(self.crm.list_contact_chats(request.contact_id)).result(5)
        except Exception:
            return None
        return next((c for c in chats if c.id == request.chat_id), None)

    def _whatsapp_allowed(self, chat_id: str, request: DialRequest) -> bool:
        try:
            perm = self.runner.submit(self.crm.get_call_permission(chat_id)).result(5)
        except Exception as exc:
            self._error(ErrorKind.CALL_FAILED, f"could not check the guest's permission: {exc}")
            return False
        state = _PERMISSION[perm.state]
        self._emit(CallPermission(chat_id, state))
        if perm.state.may_call:
            return True
        if perm.state is crm.PermissionState.NEVER:
            self._error(ErrorKind.CALL_FAILED, "The guest declined calls on WhatsApp.")
            return False
        with self._lock:
            self._awaiting_permission[chat_id] = request
        if perm.state is crm.PermissionState.NOT_REQUESTED:
            self.request_call_permission(chat_id)
        return False

    def _phone_mode_call(
        self, request: DialRequest, account: crm.CallingAccount, uri: str, caller_id: str | None
    ) -> None:
        crm_id = uuid.uuid4().hex
        req = crm.PhoneCallRequest(
            call_id=crm_id,
            account_id=account.id,
            to_number=uri,
            caller_id=caller_id,
            chat_id=request.chat_id,
            contact_id=request.contact_id,
        )
        try:
            self.runner.submit(self.crm.start_phone_call(req)).result(10)
        except Exception as exc:
            self._error(ErrorKind.CALL_FAILED, str(exc))
            return
        self._emit(CallLogChanged(crm_id))

    def _pick(self, call_id: str | None, *phases: CallPhase) -> str | None:
        with self._lock:
            if call_id:
                return call_id if call_id in self._calls else None
            for call in reversed(list(self._calls.values())):
                if call.view.phase in phases and (
                    CallPhase.RINGING not in phases or call.view.direction is CallDirection.INBOUND
                ):
                    return call.view.call_id
        return None

    def answer(self, call_id: str | None = None) -> None:
        target = self._pick(call_id, CallPhase.RINGING)
        if target is None:
            return
        self._command(lambda: self.engine.answer(target), target)

    def reject(self, call_id: str | None = None) -> None:
        target = self._pick(call_id, CallPhase.RINGING)
        if target is None:
            return
        self._command(lambda: self.engine.reject(target, RejectKind.DECLINE), target)

    def hangup(self, call_id: str | None = None) -> None:
        target = self._pick(
            call_id, CallPhase.IN_CALL, CallPhase.ON_HOLD, CallPhase.CALLING
        ) or self._pick(call_id, CallPhase.RINGING)
        if target is None:
            with self._lock:  # an outbound call still ringing at the far end
                target = next((c.view.call_id for c in self._calls.values() if c.view.active), None)
        if target is None:
            return
        self._command(lambda: self.engine.hangup(target), target)

    def _hangup_later(self, call_id: str) -> None:
        self._command(lambda: self.engine.hangup(call_id), call_id)

    def set_muted(self, call_id: str, muted: bool) -> None:
        self._command(lambda: self.engine.set_muted(call_id, muted), call_id)

    def set_held(self, call_id: str, held: bool) -> None:
        if held:
            self._command(lambda: self.engine.hold(call_id), call_id)
        else:
            self._command(lambda: self.engine.resume(call_id), call_id)

    def send_dtmf(self, call_id: str, digits: str) -> None:
        self._command(lambda: self.engine.send_dtmf(call_id, digits), call_id)

    def transfer(self, call_id: str, target: str) -> None:
        try:
            _link, uri = outbound.dial_target(target, self.region)
        except (LinkError, NumberError) as exc:
            self._error(ErrorKind.INVALID_NUMBER, str(exc), call_id)
            return
        self._command(lambda: self.engine.transfer(call_id, uri), call_id)

    def transfer_attended(self, call_id: str, consult_call_id: str) -> None:
        self._command(lambda: self.engine.attended_transfer(call_id, consult_call_id), call_id)

    def set_recording(self, call_id: str, recording: bool) -> None:
        if recording and not self._settings().recording_allowed:
            self._error(
                ErrorKind.CALL_FAILED, "Recording is turned off by your organisation.", call_id
            )
            return
        if recording:
            self._command(lambda: self.engine.start_recording(call_id), call_id)
        else:
            self._command(lambda: self.engine.stop_recording(call_id), call_id)

    def save_wrap_up(self, wrap_up: WrapUp) -> None:
        with self._lock:
            call = self._ended.get(wrap_up.call_id) or self._calls.get(wrap_up.call_id)
        if call is None or call.crm_id is None:
            self._error(ErrorKind.WRAP_UP_FAILED, "unknown call", wrap_up.call_id)
            return
        update = crm.CallUpdate(outcome=wrap_up.outcome.value, notes=wrap_up.notes or None)

        def write(crm_id: str) -> None:
            try:
                self.outbox.update_call(crm_id, update)
            except Exception as exc:
                self._error(ErrorKind.WRAP_UP_FAILED, str(exc), wrap_up.call_id)
                return
            queued = self.outbox.status().pending > 0
            self._emit(WrapUpSaved(wrap_up.call_id, queued=queued))
            self._emit(CallLogChanged(crm_id, wrap_up.call_id))

        self._journal(call, write)

    def _set_presence_local(self, status: crm.PresenceStatus) -> None:
        mapping_ = {v: k for k, v in _PRESENCE_TO_CRM.items()}
        presence = mapping_.get(status, Presence.BUSY)
        with self._lock:
            changed = presence is not self._presence
            self._presence = presence
        if changed:
            self._emit(PresenceChanged(presence))

    def set_presence(self, presence: Presence) -> None:
        with self._lock:
            self._presence = presence
        self._emit(PresenceChanged(presence))
        fut = self.runner.submit(self.crm.set_presence(_PRESENCE_TO_CRM[presence]))

        def done(f: concurrent.futures.Future[Any]) -> None:
            if f.exception() is not None:
                log.warning("presence not saved: %r", f.exception())

        fut.add_done_callback(done)

    def search_contacts(self, query: str) -> None:
        text = query.strip()
        if len(text) < 2:
            self._emit(ContactsFound(query))
            return

        def done(f: concurrent.futures.Future[tuple[crm.Contact, ...]]) -> None:
            try:
                contacts = f.result()
            except Exception as exc:
                log.info("contact search failed: %r", exc)
                contacts = ()
            hits = tuple(
                ContactHit(c.id, c.name, phone, company=c.company)
                for c in contacts
                for phone in c.phones[:3]
            )
            self._emit(ContactsFound(query, hits))

        self.runner.submit(self.crm.search_contacts(text, limit=20)).add_done_callback(done)

    def request_call_permission(self, chat_id: str) -> None:
        def done(f: concurrent.futures.Future[crm.CallPermission]) -> None:
            try:
                perm = f.result()
            except Exception as exc:
                self._error(ErrorKind.CALL_FAILED, f"permission request failed: {exc}")
                return
            self._on_permission(perm)

        self.runner.submit(self.crm.request_call_permission(chat_id)).add_done_callback(done)

    def _on_permission(self, perm: crm.CallPermission) -> None:
        self._emit(CallPermission(perm.chat_id, _PERMISSION[perm.state]))
        with self._lock:
            pending = self._awaiting_permission.get(perm.chat_id)
            if pending is not None and perm.state is not crm.PermissionState.PENDING:
                del self._awaiting_permission[perm.chat_id]
        if pending is not None and perm.state.may_call:
            self.dial(pending)

    def clear_missed(self) -> None:
        with self._lock:
            self._missed = 0
        self._emit(MissedCallsChanged(0))

    def status(self) -> SessionStatus:
        with self._lock:
            return SessionStatus(
                lines=tuple(self._lines.values()),
                calls=tuple(c.view for c in self._calls.values()),
                presence=self._presence,
                missed_calls=self._missed,
                outbox_pending=self.outbox.status().pending,
                crm=self._crm_label,
                user=self._user.email if self._user else "",
            )

    def active_call_ids(self) -> list[str]:
        with self._lock:
            return list(self._calls)

    # ---------------------------------------------------------------------- CRM stream
    @property
    def crm_stream_connected(self) -> bool:
        """Whether the CRM's event stream is up (its ``call.ringing`` can reach us)."""
        return self._stream_connected

    def _on_stream_status(self, status: crm.StreamStatus) -> None:
        self._stream_connected = status.connected

    async def _follow_stream(self) -> None:
        """Follow the CRM's events until closed; a new subscription resumes after the last
        event handled, so a dropped subscription misses nothing. Without a CRM session it
        stops; signing in (``apply_provisioning``) starts it again."""
        while not self._closed:
            try:
                after = self._last_event_id
                sub = self.crm.subscribe(after=after, on_status=self._on_stream_status)
                async for item in sub:
                    self._on_stream_event(item)
                    self._last_event_id = item.id
            except asyncio.CancelledError:
                raise
            except AuthError:
                self._stream_connected = False
                self._error(ErrorKind.SIGN_IN_REQUIRED)
                return
            except Exception as exc:
                log.info("CRM event stream ended: %r; reconnecting", exc)
            self._stream_connected = False
            await asyncio.sleep(2.0)

    def _ensure_stream(self) -> None:
        """(Re)start following the CRM's events if start() asked for them and they stopped
        (the stream ends when the CRM wants a sign-in)."""
        with self._lock:
            task = self._stream_task
            if self._stream_wanted and not self._closed and (task is None or task.done()):
                self._stream_task = self.runner.submit(self._follow_stream())

    def _on_stream_event(self, item: crm.StreamEvent) -> None:
        payload = item.payload
        match payload:
            case crm.DialRequested():
                req = payload.request
                self._emit(
                    DialRequest(
                        number=req.number or "",
                        source=DialSource.CRM,
                        dial_now=self._settings().dial_links_immediately,
                        chat_id=req.chat_id,
                        contact_id=req.contact_id,
                    )
                )
            case crm.CallRinging():
                self._on_crm_ringing(payload)
            case crm.CallAnsweredElsewhere():
                with self._lock:
                    taken = [
                        c
                        for c in self._calls.values()
                        if c.crm_id == payload.call_id and c.view.phase is CallPhase.RINGING
                    ]
                    for c in taken:
                        c.elsewhere = True
                for c in taken:
                    self._hangup_later(c.view.call_id)
            case crm.CallUpdated():
                self._emit(CallLogChanged(payload.call.id))
            case crm.PermissionChanged():
                self._on_permission(payload.permission)
            case crm.PresenceChanged():
                if self._user is None or payload.presence.user_id == self._user.id:
                    self._set_presence_local(payload.presence.status)
            case crm.ProvisioningChanged() | crm.ResyncRequired():
                # (a resync: events were lost while away; what they changed is refetched)
                self.runner.submit(self._reload())
            case _:
                pass

    async def _reload(self) -> None:
        try:
            prov = await self.crm.get_provisioning()
        except CrmError as exc:
            log.warning("provisioning reload failed: %r", exc)
            return
        await self.apply_provisioning(prov)


def _reason_text(event: ev.CallStateChanged) -> str:
    if event.code and event.reason:
        return f"{event.code} {event.reason}"
    return event.reason


def _location(opts: OutboundOptions) -> str:
    dest = opts.destination
    if dest is None:
        return ""
    return ", ".join(p for p in (dest.place, dest.country) if p)


def _policy_refusal(account: crm.CallingAccount, settings: Settings) -> str:
    transport = account.sip.transport.value
    if transport not in settings.allowed_transports:
        return (
            f"Your organisation allows only {', '.join(settings.allowed_transports).upper()}; "
            f"this account uses {transport.upper()}."
        )
    if settings.srtp == "mandatory" and account.sip.srtp is crm.SrtpMode.OFF:
        return "Your organisation requires encrypted calls (SRTP); this account has none."
    return ""


def _account_config(
    account: crm.CallingAccount, password: str, settings: Settings
) -> AccountConfig:
    sip = account.sip
    host = sip.domain if sip.port is None else f"{sip.domain}:{sip.port}"
    transport = Transport(sip.transport.value)
    registrar = ""
    if sip.register:
        registrar = f"sip:{host}" + (
            f";transport={transport.value}" if transport.value != "udp" else ""
        )
    srtp = SrtpMode(sip.srtp.value)
    if settings.srtp == "mandatory":
        srtp = SrtpMode.MANDATORY
    return AccountConfig(
        account_id=account.id,
        username=sip.username,
        domain=host,
        password=password,
        auth_username=sip.auth_username or "",
        display_name=sip.display_name or "",
        registrar=registrar,
        outbound_proxy=sip.proxy or "",
        transport=transport,
        srtp=srtp,
        auto_answer=settings.auto_answer,
        caller_id_in_from=sip.caller_id_header is crm.CallerIdHeader.FROM,
        register_expires_s=sip.registration_expires_s,
    )
