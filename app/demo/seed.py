"""Demo contacts, chats and calling setup for the embedded CRM.

The guest who rings the agent is Maria Lopez (a WhatsApp chat about a late check-in), so
the popup shows a real name and chat on the very first ring. The other contacts cover
what the dialer shows: a callee in business hours, one where it is the middle of the night
(the local-time warning), and one on another continent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from crmclient.models import (
    CallerId,
    CallingAccount,
    Channel,
    Chat,
    ChatStatus,
    Contact,
    PresenceStatus,
    Provisioning,
    Role,
    SipSettings,
    Teammate,
    User,
)

log = logging.getLogger(__name__)

GUEST_NAME = "Maria Lopez"
GUEST_NUMBER = "+34911234567"
DEMO_ACCOUNT_ID = "demo"
DEMO_CHAT_ID = "demo-chat-maria"

#: (id, name, E.164, company)
DEMO_CONTACTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("demo-maria", GUEST_NAME, GUEST_NUMBER, None),
    ("demo-james", "James Carter", "+12125550199", "Carter & Sons Travel"),
    ("demo-aiko", "Aiko Tanaka", "+81312345678", None),
    ("demo-tom", "Tom Becker", "+493090182000", "Spree Events GmbH"),
)


class _Seedable(Protocol):
    def add_contacts(self, contacts: list[Contact]) -> None: ...
    def add_chats(self, chats: list[Chat]) -> None: ...
    def set_provisioning(
        self, provisioning: Provisioning, sip_secrets: dict[str, str] | None = None
    ) -> None: ...


def demo_contacts(now: datetime | None = None) -> list[Contact]:
    at = now or datetime.now(UTC)
    return [
        Contact(id=cid, name=name, phones=(phone,), created_at=at, updated_at=at, company=co)
        for cid, name, phone, co in DEMO_CONTACTS
    ]


def demo_chats(now: datetime | None = None) -> list[Chat]:
    at = now or datetime.now(UTC)
    return [
        Chat(
            id=DEMO_CHAT_ID,
            contact_id="demo-maria",
            channel=Channel.WHATSAPP,
            subject="Booking 4411 · late check-in",
            status=ChatStatus.OPEN,
            voice_capable=True,
            last_message_at=at - timedelta(minutes=3),
        ),
        Chat(
            id="demo-chat-james",
            contact_id="demo-james",
            channel=Channel.EMAIL,
            subject="Group booking, 12 rooms",
            status=ChatStatus.PENDING,
            voice_capable=False,
            last_message_at=at - timedelta(hours=2),
        ),
    ]


def demo_provisioning(guest_port: int, user: User | None = None) -> Provisioning:
    """One calling account whose "provider" is the demo guest on 127.0.0.1:`guest_port`:
    every outbound call reaches the guest, who answers with the announcement."""
    me = user or User(id="local", email="agent@localhost", name="Me", role=Role.OWNER)
    account = CallingAccount(
        id=DEMO_ACCOUNT_ID,
        provider="demo",
        label="Demo line",
        sip=SipSettings(
            domain="127.0.0.1",
            username="agent",
            port=guest_port,
            display_name="Demo agent",
            register=False,
        ),
        supports_softphone=True,
        extension="201",
        caller_ids=(
            CallerId(
                id="demo-cid-es",
                number="+34910000001",
                country="ES",
                label="Madrid front desk",
                is_default=True,
            ),
            CallerId(id="demo-cid-us", number="+12125550100", country="US", label="New York"),
        ),
    )
    teammates = (
        Teammate(
            user_id="demo-ana", name="Ana Silva", extension="202", presence=PresenceStatus.AVAILABLE
        ),
        Teammate(
            user_id="demo-ben", name="Ben Okafor", extension="203", presence=PresenceStatus.BUSY
        ),
    )
    return Provisioning(user=me, accounts=(account,), teammates=teammates, revision=0)


def seed_embedded(crm: _Seedable, guest_port: int) -> bool:
    """Put the demo data into an embedded CRM. Returns False when it was already there
    (the contacts exist), in which case only the calling setup is refreshed."""
    # The demo account never registers; its "password" only satisfies the secret lookup.
    crm.set_provisioning(demo_provisioning(guest_port), {DEMO_ACCOUNT_ID: "demo"})
    try:
        crm.add_contacts(demo_contacts())
    except Exception as exc:  # the store says "already there" as a constraint error
        log.info("demo contacts already present (%s)", exc)
        return False
    crm.add_chats(demo_chats())
    return True
