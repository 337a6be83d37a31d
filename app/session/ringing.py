"""Calls the CRM announced as ringing (``call.ringing``), waiting for the INVITE they match.

A CRM that routes inbound calls (a provider webhook, then the provider rings the agent)
creates the call record itself. The softphone must then log onto that record: a second
record would show the call twice in the call log, and the CRM's "answered elsewhere" would
name a call the session does not know.

Matching key, strongest first:

1. the record whose ``external_id`` is the INVITE's SIP Call-ID (when the engine reports
   it): exact, even with two calls from one number;
2. otherwise the caller's number (E.164): the oldest unclaimed ringing record for that number
   announced within ``MATCH_WINDOW_S``. Two calls from one number ring in the order they
   arrived, so first-in, first-out pairs them. A record whose ``external_id`` is something
   else (the contract also allows the provider's own call id there) still pairs this way.

Either side may come first (the websocket event and the INVITE race), so the session also
keeps INVITEs it could not pair for a short grace period; see ``AgentSession``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.session.model import ContactMatch
from crmclient import models as crm

#: How long an announced, unclaimed ringing record stays a candidate.
MATCH_WINDOW_S = 60.0


def _ringing_in(record: crm.CallRecord) -> bool:
    return record.direction is crm.CallDirection.INBOUND and record.status is (
        crm.CallStatus.RINGING
    )


def same_call(record: crm.CallRecord, sip_call_id: str) -> bool:
    """The record names this INVITE's Call-ID: certainly the same call."""
    return bool(sip_call_id) and _ringing_in(record) and record.external_id == sip_call_id


def same_caller(record: crm.CallRecord, number: str) -> bool:
    """The record rings for a call from ``number``: the same call unless another pairs first."""
    return _ringing_in(record) and record.remote_number == number


def contact_of(ringing: crm.CallRinging) -> ContactMatch | None:
    """What the CRM matched, in the popup's terms (a maybe match stays a maybe)."""
    chat = ringing.chat
    if ringing.contact is not None:
        contact = ringing.contact
        return ContactMatch(
            contact_id=contact.id,
            name=contact.name,
            confirmed=True,
            chat_id=chat.id if chat else None,
            chat_title=chat.subject if chat else None,
            company=contact.company,
        )
    if ringing.maybe:
        maybe = ringing.maybe[0].contact
        return ContactMatch(maybe.id, maybe.name, confirmed=False, company=maybe.company)
    return None


@dataclass
class _Announced:
    ringing: crm.CallRinging
    at: float


class AnnouncedCalls:
    """Thread-safe: the stream adds on the asyncio thread, the engine thread claims."""

    def __init__(self, window_s: float = MATCH_WINDOW_S) -> None:
        self._window_s = window_s
        self._lock = threading.Lock()
        self._waiting: dict[str, _Announced] = {}  # CRM call id -> announcement, oldest first
        self._claimed: dict[str, float] = {}  # CRM call ids already paired with a call

    def add(self, ringing: crm.CallRinging, now: float) -> None:
        with self._lock:
            self._prune(now)
            call_id = ringing.call.id
            if call_id not in self._claimed:
                self._waiting.setdefault(call_id, _Announced(ringing, now))

    def claim(self, number: str, now: float, sip_call_id: str = "") -> crm.CallRinging | None:
        """The announcement this call pairs with (removed from the candidates), if any."""
        with self._lock:
            self._prune(now)
            candidates = list(self._waiting.items())  # oldest first
            found = next(
                (k for k, a in candidates if same_call(a.ringing.call, sip_call_id)), None
            ) or next((k for k, a in candidates if same_caller(a.ringing.call, number)), None)
            if found is None:
                return None
            self._claimed[found] = now
            return self._waiting.pop(found).ringing

    def mark_claimed(self, crm_call_id: str, now: float) -> None:
        """Paired the other way round (the INVITE came first): never offer it again."""
        with self._lock:
            self._waiting.pop(crm_call_id, None)
            self._claimed[crm_call_id] = now

    def is_claimed(self, crm_call_id: str) -> bool:
        with self._lock:
            return crm_call_id in self._claimed

    def _prune(self, now: float) -> None:
        horizon = now - self._window_s
        for store in (self._waiting, self._claimed):
            for key in [k for k, v in store.items() if _at(v) < horizon]:
                del store[key]


def _at(value: _Announced | float) -> float:
    return value.at if isinstance(value, _Announced) else value
