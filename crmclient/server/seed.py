"""Demo data: a small guesthouse team with two providers (US and India caller-IDs; the US
trunk reads the caller-ID from the From header, the India one from P-Preferred-Identity),
guests on WhatsApp, email and web chat, some "maybe" matches, and a short call history.

Sign in with these (password for every seeded user: their role, e.g. ``demo-user``):
owner olivia@lodgestory.test / demo-owner, admin arjun@lodgestory.test / demo-admin,
users maya@ / sam@ / priya@lodgestory.test / demo-user. API token for Maya:
``lsk_demo_maya``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta

from crmclient.server.auth import hash_password, token_hash
from crmclient.server.db import now, stamp, tx

PASSWORDS = {"owner": "demo-owner", "admin": "demo-admin", "user": "demo-user"}
USERS = (
    ("u_olivia", "olivia@lodgestory.test", "Olivia Owner", "owner", "100"),
    ("u_arjun", "arjun@lodgestory.test", "Arjun Admin", "admin", "101"),
    ("u_maya", "maya@lodgestory.test", "Maya Lopez", "user", "102"),
    ("u_sam", "sam@lodgestory.test", "Sam Carter", "user", "103"),
    ("u_priya", "priya@lodgestory.test", "Priya Nair", "user", "104"),
)
DEMO_API_TOKEN = "lsk_demo_maya"
ACCOUNTS = (
    (
        "acc_twilio",
        "Twilio",
        "US lines",
        {
            "domain": "sip.twilio.test",
            "transport": "tls",
            "port": 5061,
            "srtp": "optional",
            "caller_id_header": "from",  # a trunk: the calling number is the From user
        },
        1,
        1,
    ),
    (
        "acc_exotel",
        "Exotel",
        "India lines",
        {"domain": "sip.exotel.test", "transport": "udp", "port": 5060, "srtp": "off"},
        1,
        0,
    ),
)
CALLER_IDS = (
    ("cid_us_main", "acc_twilio", "+14155550100", "US", "Front desk (SF)"),
    ("cid_us_sales", "acc_twilio", "+12125550123", "US", "Sales (NYC)"),
    ("cid_in_main", "acc_exotel", "+918045550100", "IN", "Bengaluru desk"),
)
CONTACTS: tuple[tuple[str, str, str | None, list[str], list[str]], ...] = (
    ("ct_ana", "Ana Souza", "Souza Travel", ["ana@souzatravel.test"], ["+14155550111"]),
    ("ct_raj", "Raj Malhotra", None, ["raj.m@mail.test"], ["+919812345678"]),
    ("ct_lee", "Lee Chen", "Chen & Co", ["lee@chenco.test"], ["+12125550199"]),
    ("ct_sofia", "Sofia Rossi", None, [], ["+393401234567"]),
    ("ct_tom", "Tom Baker", "Baker Events", ["tom@bakerevents.test"], ["+14155550177"]),
    ("ct_kavya", "Kavya Iyer", None, ["kavya@mail.test"], ["+919876543210"]),
    ("ct_nina", "Nina Berg", None, ["nina@berg.test"], []),
    ("ct_omar", "Omar Haddad", None, [], ["+447700900123"]),
)
MAYBE = (
    ("+14155550188", "ct_nina", "signature", "Nina Berg | Berg Tours | +1 415 555 0188"),
    ("+14155550188", "ct_tom", "message", "my assistant can be reached at (415) 555-0188"),
    ("+919900112233", "ct_raj", "message", "call my office on 99001 12233 tomorrow"),
)
CHATS = (
    ("chat_ana_wa", "ct_ana", "whatsapp", "Late check-in for 3 guests", "open", "u_maya"),
    ("chat_ana_mail", "ct_ana", "email", "Invoice for June stay", "pending", "u_maya"),
    ("chat_raj_wa", "ct_raj", "whatsapp", "Airport pickup", "open", "u_sam"),
    ("chat_lee_web", "ct_lee", "webchat", "Group booking question", "open", "u_maya"),
    ("chat_sofia_wa", "ct_sofia", "whatsapp", "Room upgrade", "open", "u_priya"),
    ("chat_tom_mail", "ct_tom", "email", "Event hall availability", "closed", "u_sam"),
    ("chat_kavya_wa", "ct_kavya", "whatsapp", "Breakfast options", "pending", "u_priya"),
    ("chat_nina_web", "ct_nina", "webchat", "Tour partnership", "open", None),
)


def _sip_secret(user_id: str, account_id: str) -> str:
    return f"demo-{user_id[2:]}-{account_id[4:]}-secret"


def seed(db: sqlite3.Connection) -> None:
    """Fill an empty database; does nothing when users exist."""
    if db.execute("SELECT COUNT(*) FROM users").fetchone()[0]:
        return
    at = now()
    with tx(db):
        for user_id, email, name, role, ext in USERS:
            salt = os.urandom(16)
            db.execute(
                "INSERT INTO users(id, email, name, role, extension, pw_salt, pw_hash, presence, "
                "presence_at, default_caller_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    user_id,
                    email,
                    name,
                    role,
                    ext,
                    salt,
                    hash_password(PASSWORDS[role], salt),
                    "offline",
                    stamp(at),
                    "cid_us_main",
                ),
            )
            for account in ACCOUNTS:
                db.execute(
                    "INSERT INTO account_agents(account_id, user_id, sip_username, secret, "
                    "extension, agent_phone) VALUES (?,?,?,?,?,?)",
                    (
                        account[0],
                        user_id,
                        f"{user_id[2:]}{ext}",
                        _sip_secret(user_id, account[0]),
                        ext,
                        "+14155550142" if user_id == "u_maya" else None,
                    ),
                )
            for caller_id in CALLER_IDS:
                db.execute(
                    "INSERT INTO user_caller_ids(user_id, caller_id) VALUES (?,?)",
                    (user_id, caller_id[0]),
                )
        db.execute(
            "INSERT INTO api_tokens(hash, user_id, label) VALUES (?,?,?)",
            (token_hash(DEMO_API_TOKEN), "u_maya", "demo token"),
        )
        for acc_id, provider, label, sip, softphone, phone_mode in ACCOUNTS:
            db.execute(
                "INSERT INTO accounts VALUES (?,?,?,?,?,?)",
                (acc_id, provider, label, json.dumps(sip), softphone, phone_mode),
            )
        db.executemany("INSERT INTO caller_ids VALUES (?,?,?,?,?)", CALLER_IDS)
        for i, (cid, name, company, emails, phones) in enumerate(CONTACTS):
            created = stamp(at - timedelta(days=30 - i))
            db.execute(
                "INSERT INTO contacts VALUES (?,?,?,?,?,?)",
                (cid, name, company, json.dumps(emails), created, created),
            )
            for number in phones:
                db.execute("INSERT INTO contact_phones VALUES (?,?)", (number, cid))
        db.executemany("INSERT INTO maybe_numbers VALUES (?,?,?,?)", MAYBE)
        for i, (chat_id, cid, channel, subject, status, assignee) in enumerate(CHATS):
            db.execute(
                "INSERT INTO chats VALUES (?,?,?,?,?,?,?)",
                (chat_id, cid, channel, subject, status, stamp(at - timedelta(hours=i)), assignee),
            )
        _seed_calls(db, at)


def _seed_calls(db: sqlite3.Connection, at: object) -> None:
    from datetime import datetime

    assert isinstance(at, datetime)
    history = (
        ("u_maya", "inbound", "completed", "+14155550111", "ct_ana", "chat_ana_wa", 2, 184),
        ("u_maya", "outbound", "completed", "+12125550199", "ct_lee", None, 5, 62),
        ("u_maya", "inbound", "missed", "+14155550188", None, None, 8, None),
        ("u_sam", "outbound", "no_answer", "+919812345678", "ct_raj", "chat_raj_wa", 3, None),
        ("u_sam", "inbound", "completed", "+919812345678", "ct_raj", "chat_raj_wa", 26, 305),
        ("u_priya", "outbound", "completed", "+393401234567", "ct_sofia", "chat_sofia_wa", 30, 95),
        ("u_priya", "internal", "completed", "102", None, None, 50, 40),
        ("u_arjun", "outbound", "failed", "+447700900123", "ct_omar", None, 70, None),
    )
    for n, (agent, direction, status, number, contact, chat, hours_ago, duration) in enumerate(
        history, 1
    ):
        started = at - timedelta(hours=hours_ago)
        answered = started + timedelta(seconds=6) if duration else None
        ended = (answered or started) + timedelta(seconds=duration or 25)
        name = next((c[1] for c in CONTACTS if c[0] == contact), None)
        db.execute(
            "INSERT INTO calls(id, direction, status, mode, agent_id, remote_number, created_at, "
            "started_at, updated_at, account_id, local_number, contact_id, chat_id, guest_name, "
            "answered_at, ended_at, duration_s, answered_by, hangup_cause, has_transcript) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                f"seed-call-{n}",
                direction,
                status,
                "softphone",
                agent,
                number,
                stamp(started),
                stamp(started),
                stamp(ended),
                "acc_exotel" if number.startswith("+91") else "acc_twilio",
                "+918045550100" if number.startswith("+91") else "+14155550100",
                contact,
                chat,
                name,
                stamp(answered) if answered else None,
                stamp(ended),
                duration or 0,
                agent if answered else None,
                "remote_hangup" if duration else ("no_answer" if status != "failed" else "other"),
                int(n == 1),
            ),
        )
    segments = [
        {"start_s": 0.0, "end_s": 4.2, "speaker": "agent", "text": "Lodgestory, Maya speaking."},
        {"start_s": 4.5, "end_s": 11.0, "speaker": "guest", "text": "Hi, we land after ten."},
        {"start_s": 11.3, "end_s": 16.0, "speaker": "agent", "text": "No problem, I'll note it."},
    ]
    db.execute(
        "INSERT INTO transcripts VALUES (?,?,?,?)",
        ("seed-call-1", "en", json.dumps(segments), stamp(at)),
    )
