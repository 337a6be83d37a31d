"""The SQLite schema and the one connection the server's event loop uses.

WAL with synchronous=NORMAL: a committed transaction survives the process being killed
(kill -9), which is what "restart loses nothing" needs; fsync per commit would only add
power-loss safety at a large cost in throughput.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL,
  role TEXT NOT NULL, extension TEXT, pw_salt BLOB NOT NULL, pw_hash BLOB NOT NULL,
  presence TEXT NOT NULL DEFAULT 'offline', presence_at TEXT NOT NULL,
  default_caller_id TEXT, prov_revision INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS api_tokens(
  hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, label TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, refresh_hash TEXT NOT NULL UNIQUE,
  session_expires_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens(
  hash TEXT PRIMARY KEY, session_id TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts(
  id TEXT PRIMARY KEY, provider TEXT NOT NULL, label TEXT NOT NULL, sip_json TEXT NOT NULL,
  supports_softphone INTEGER NOT NULL, supports_phone_mode INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS account_agents(
  account_id TEXT NOT NULL, user_id TEXT NOT NULL, sip_username TEXT NOT NULL,
  secret TEXT NOT NULL, extension TEXT, agent_phone TEXT,
  PRIMARY KEY(account_id, user_id));
CREATE TABLE IF NOT EXISTS caller_ids(
  id TEXT PRIMARY KEY, account_id TEXT NOT NULL, number TEXT NOT NULL, country TEXT NOT NULL,
  label TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_caller_ids(
  user_id TEXT NOT NULL, caller_id TEXT NOT NULL, PRIMARY KEY(user_id, caller_id));
CREATE TABLE IF NOT EXISTS contacts(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, company TEXT, emails_json TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contact_phones(
  number TEXT NOT NULL, contact_id TEXT NOT NULL, PRIMARY KEY(number, contact_id));
CREATE TABLE IF NOT EXISTS maybe_numbers(
  number TEXT NOT NULL, contact_id TEXT NOT NULL, source TEXT NOT NULL, excerpt TEXT,
  PRIMARY KEY(number, contact_id, source));
CREATE TABLE IF NOT EXISTS chats(
  id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, channel TEXT NOT NULL, subject TEXT NOT NULL,
  status TEXT NOT NULL, last_message_at TEXT NOT NULL, assignee_id TEXT);
CREATE INDEX IF NOT EXISTS chats_contact ON chats(contact_id, last_message_at);
CREATE TABLE IF NOT EXISTS permissions(
  chat_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL, expires_at TEXT);
CREATE TABLE IF NOT EXISTS calls(
  id TEXT PRIMARY KEY, direction TEXT NOT NULL, status TEXT NOT NULL, mode TEXT NOT NULL,
  agent_id TEXT NOT NULL, remote_number TEXT NOT NULL, created_at TEXT NOT NULL,
  started_at TEXT NOT NULL, updated_at TEXT NOT NULL, account_id TEXT, local_number TEXT,
  contact_id TEXT, chat_id TEXT, guest_name TEXT, external_id TEXT, answered_at TEXT,
  ended_at TEXT, duration_s INTEGER, answered_by TEXT, hangup_cause TEXT, sip_code INTEGER,
  outcome TEXT, notes TEXT, has_recording INTEGER NOT NULL DEFAULT 0,
  has_transcript INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS calls_started ON calls(started_at, id);
CREATE INDEX IF NOT EXISTS calls_agent ON calls(agent_id, started_at, id);
CREATE TABLE IF NOT EXISTS call_targets(
  call_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(call_id, user_id));
CREATE INDEX IF NOT EXISTS call_targets_user ON call_targets(user_id);
CREATE TABLE IF NOT EXISTS recordings(
  call_id TEXT PRIMARY KEY, file TEXT NOT NULL, content_type TEXT NOT NULL,
  size_bytes INTEGER NOT NULL, duration_s REAL, uploaded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transcripts(
  call_id TEXT PRIMARY KEY, language TEXT NOT NULL, segments_json TEXT NOT NULL,
  created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards(
  id TEXT PRIMARY KEY, chat_id TEXT NOT NULL, call_id TEXT NOT NULL, kind TEXT NOT NULL,
  direction TEXT NOT NULL, status TEXT NOT NULL, duration_s INTEGER, agent_id TEXT NOT NULL,
  created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cards_chat ON cards(chat_id, created_at);
CREATE TABLE IF NOT EXISTS dial_requests(
  id TEXT PRIMARY KEY, chat_id TEXT NOT NULL, number TEXT, contact_id TEXT,
  requested_by TEXT NOT NULL, agent_id TEXT NOT NULL, requested_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency(
  user_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
  body TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY(user_id, key));
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, type TEXT NOT NULL,
  data TEXT NOT NULL, audience TEXT NOT NULL, user_id TEXT);
CREATE INDEX IF NOT EXISTS events_user ON events(user_id, id);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database; autocommit mode, transactions via ``tx``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(SCHEMA)
    return conn


@contextmanager
def tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write: committed on success, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def stamp(value: datetime) -> str:
    """Fixed-width UTC text, so stored times sort correctly as strings."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unstamp(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def now() -> datetime:
    return datetime.now(UTC)
