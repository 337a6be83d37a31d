"""SQLite plumbing shared by the outbox journal and the embedded CRM.

Both keep data the agent cannot re-type (call records, notes), so the choices here are
about durability first and speed second:

* WAL journal: readers never block the writer, a crash (even kill -9) leaves the last
  committed transaction intact, and commits append to one file instead of rewriting pages.
* ``synchronous`` is chosen per connection by the caller: FULL fsyncs the WAL on every
  commit (survives power loss), NORMAL fsyncs only at checkpoints (survives any process
  crash, may lose the last commits on power loss). The outbox uses FULL for what the agent
  wrote and NORMAL only where losing a commit is harmless (see ``outbox.py``).
* Autocommit connections with explicit ``BEGIN IMMEDIATE`` so a transaction takes the write
  lock up front instead of failing half-way with SQLITE_BUSY.
* Schema versions in ``PRAGMA user_version``; migrations run in one transaction.
* One process owns a store file at a time (``ProcessLock``): two app instances delivering
  the same journal would race.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Literal

from crmclient.errors import CrmError

__all__ = [
    "ProcessLock",
    "StoreError",
    "StoreLocked",
    "fsync_dir",
    "migrate",
    "open_db",
    "transaction",
]

Synchronous = Literal["FULL", "NORMAL", "OFF"]


class StoreError(CrmError):
    """The local database cannot be opened, read or written (disk full, corrupt file...)."""


class StoreLocked(StoreError):
    """Another process (a second app instance) already owns this store file."""


def open_db(path: Path | str, *, synchronous: Synchronous = "FULL") -> sqlite3.Connection:
    """An autocommit connection in WAL mode, usable from any thread (callers serialise it)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            timeout=10.0,
            cached_statements=256,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint roughly every 4 MiB of WAL; keeps reads fast and the WAL small.
        conn.execute("PRAGMA wal_autocheckpoint=1000")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the local database {path}: {exc}") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (re-raised)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, migrations: Sequence[str], *, name: str) -> None:
    """Bring the schema to ``len(migrations)``; each entry is one version's SQL script.

    A database from a newer release (higher version) is refused rather than guessed at.
    """
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current > len(migrations):
            raise StoreError(
                f"the {name} database is from a newer version of the app "
                f"(schema {current}, this build knows {len(migrations)})"
            )
        if current == len(migrations):
            return
        with transaction(conn):
            for script in migrations[current:]:
                for statement in _statements(script):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={len(migrations)}")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot prepare the {name} database: {exc}") from exc


def _statements(script: str) -> list[str]:
    """Split a script into statements (triggers included) with SQLite's own tokenizer.

    ``executescript`` would do it, but it commits first, outside our transaction.
    """
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n\t;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \n\t;"):
        raise StoreError(f"incomplete SQL statement in a migration: {buffer[:60]!r}")
    return statements


def fsync_dir(path: Path) -> None:
    """Make a rename or create in ``path`` durable (a no-op where the OS cannot do it)."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ProcessLock:
    """An exclusive, non-blocking lock on ``<store>.lock``, released by the OS on any exit.

    The kernel drops the lock when the process dies (kill -9 included), so a crash never
    leaves a stale lock behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held for the lock's lifetime
        try:
            _lock_file(handle)
        except OSError as exc:
            handle.close()
            raise StoreLocked(
                f"{self.path.with_suffix('')} is in use by another Lodgestory Phone process"
            ) from exc
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                _unlock_file(self._file)
            self._file.close()
            self._file = None

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock_file(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock_file(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_file(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
