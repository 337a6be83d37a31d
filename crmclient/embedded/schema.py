"""The embedded CRM's tables, and the indexes each query of the contract relies on.

Index design (the benchmarks in bench/crm_store_*.py hold these to account):

* Number lookup: ``contact_phones`` and ``maybe_numbers`` are clustered on the number
  (WITHOUT ROWID, primary key starts with it): one B-tree descent answers "who is
  +14155550100", with no second lookup into a rowid table.
* A contact's numbers are also kept as JSON on the contact row, so building a ``Contact``
  reads one row instead of a second index.
* Call log: newest first with keyset paging on ``(started_us, rowid)``; ``calls_text``
  orders by time and covers the free text and every filter column, so a common search
  term (with any other filter) fills the newest page after a short backward scan of the
  index alone; one index per
  selective filter, each ending in ``started_us`` so a filtered page is read in order
  without sorting: agent, status, direction, and a partial index of live calls. Free text
  (number and guest name) goes through an FTS5 trigram index, which answers substring
  queries of three characters or more without scanning the table.
* A call's full JSON lives in ``call_data``, apart from the narrow ``calls`` row: filters
  that must visit thousands of calls (counting a text match with a status) then touch
  small rows that stay in the page cache, and only the page's 100 rows read the JSON.
* Contacts' free-text search uses the same trigram approach over name, numbers, emails and
  company.
"""

from __future__ import annotations

from typing import Final

MIGRATIONS: Final = [
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE contacts (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT    NOT NULL UNIQUE,
        name       TEXT    NOT NULL,
        phones     TEXT    NOT NULL,
        emails     TEXT    NOT NULL,
        company    TEXT,
        created_at TEXT    NOT NULL,
        updated_at TEXT    NOT NULL,
        haystack   TEXT    NOT NULL
    );
    CREATE VIRTUAL TABLE contacts_fts USING fts5 (
        haystack, content = 'contacts', content_rowid = 'rowid', tokenize = 'trigram'
    );
    CREATE TRIGGER contacts_ai AFTER INSERT ON contacts BEGIN
        INSERT INTO contacts_fts (rowid, haystack) VALUES (new.rowid, new.haystack);
    END;
    CREATE TRIGGER contacts_ad AFTER DELETE ON contacts BEGIN
        INSERT INTO contacts_fts (contacts_fts, rowid, haystack)
        VALUES ('delete', old.rowid, old.haystack);
    END;
    CREATE TRIGGER contacts_au AFTER UPDATE OF haystack ON contacts BEGIN
        INSERT INTO contacts_fts (contacts_fts, rowid, haystack)
        VALUES ('delete', old.rowid, old.haystack);
        INSERT INTO contacts_fts (rowid, haystack) VALUES (new.rowid, new.haystack);
    END;

    CREATE TABLE contact_phones (
        number     TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        PRIMARY KEY (number, contact_id)
    ) WITHOUT ROWID;

    CREATE TABLE maybe_numbers (
        number     TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        source     TEXT NOT NULL,
        excerpt    TEXT,
        PRIMARY KEY (number, contact_id, source)
    ) WITHOUT ROWID;

    CREATE TABLE chats (
        id              TEXT PRIMARY KEY,
        contact_id      TEXT NOT NULL,
        channel         TEXT NOT NULL,
        subject         TEXT NOT NULL,
        status          TEXT NOT NULL,
        voice_capable   INTEGER NOT NULL,
        last_message_at TEXT NOT NULL,
        assignee_id     TEXT
    ) WITHOUT ROWID;
    CREATE INDEX chats_contact ON chats (contact_id, last_message_at);

    CREATE TABLE calls (
        rowid         INTEGER PRIMARY KEY,
        id            TEXT    NOT NULL UNIQUE,
        started_us    INTEGER NOT NULL,
        direction     TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        live          INTEGER NOT NULL,
        agent_id      TEXT    NOT NULL,
        remote_number TEXT    NOT NULL,
        guest_name    TEXT,
        haystack      TEXT    NOT NULL
    );
    CREATE TABLE call_data (
        rowid INTEGER PRIMARY KEY,
        data  TEXT NOT NULL
    );
    CREATE INDEX calls_text ON calls (started_us, haystack, status, direction, agent_id, live);
    CREATE INDEX calls_agent ON calls (agent_id, started_us);
    CREATE INDEX calls_status ON calls (status, started_us);
    CREATE INDEX calls_direction ON calls (direction, started_us);
    CREATE INDEX calls_live ON calls (started_us) WHERE live = 1;
    CREATE VIRTUAL TABLE calls_fts USING fts5 (
        haystack, content = 'calls', content_rowid = 'rowid', tokenize = 'trigram'
    );
    CREATE TRIGGER calls_ai AFTER INSERT ON calls BEGIN
        INSERT INTO calls_fts (rowid, haystack) VALUES (new.rowid, new.haystack);
    END;
    CREATE TRIGGER calls_ad AFTER DELETE ON calls BEGIN
        INSERT INTO calls_fts (calls_fts, rowid, haystack)
        VALUES ('delete', old.rowid, old.haystack);
    END;
    CREATE TRIGGER calls_au AFTER UPDATE OF haystack ON calls BEGIN
        INSERT INTO calls_fts (calls_fts, rowid, haystack)
        VALUES ('delete', old.rowid, old.haystack);
        INSERT INTO calls_fts (rowid, haystack) VALUES (new.rowid, new.haystack);
    END;

    CREATE TABLE idempotency (
        key        TEXT PRIMARY KEY,
        call_id    TEXT NOT NULL,
        result     TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE cards (
        id         TEXT PRIMARY KEY,
        chat_id    TEXT NOT NULL,
        call_id    TEXT NOT NULL,
        created_at TEXT NOT NULL,
        data       TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX cards_chat ON cards (chat_id, created_at);

    CREATE TABLE recordings (
        call_id      TEXT PRIMARY KEY,
        file         TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size_bytes   INTEGER NOT NULL,
        uploaded_at  TEXT NOT NULL,
        duration_s   REAL
    ) WITHOUT ROWID;

    CREATE TABLE permissions (
        chat_id    TEXT PRIMARY KEY,
        state      TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        expires_at TEXT
    ) WITHOUT ROWID;

    CREATE TABLE events (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        at   TEXT NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL
    );
    """,
]
