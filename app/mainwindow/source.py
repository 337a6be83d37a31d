"""Where the call log gets its rows: the CRM backend, run on the asyncio thread.

The model asks for pages and gets the answer on the Qt main thread; a newer request makes
older answers stale (a fast typist changes the filter five times, only the last counts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.runloop import AsyncRunner, MainThread
from crmclient.backend import CrmBackend
from crmclient.models import (
    CallFilter,
    CallPage,
    CallRecord,
    Contact,
    ContactCreate,
    ContactLookup,
    RecordingInfo,
    Transcript,
)


class CallLogSource:
    def __init__(self, backend: CrmBackend, runner: AsyncRunner, main: MainThread) -> None:
        self.backend = backend
        self.runner = runner
        self.main = main

    def page(
        self,
        flt: CallFilter,
        cursor: str | None,
        ok: Callable[[CallPage], None],
        err: Callable[[BaseException], None],
        limit: int = 100,
    ) -> None:
        fut = self.runner.submit(self.backend.list_calls(flt, cursor=cursor, limit=limit))
        self.main.when_done(fut, ok, err)

    def call(
        self, call_id: str, ok: Callable[[CallRecord], None], err: Callable[[BaseException], None]
    ) -> None:
        self.main.when_done(self.runner.submit(self.backend.get_call(call_id)), ok, err)

    def contact(
        self, contact_id: str, ok: Callable[[Contact], None], err: Callable[[BaseException], None]
    ) -> None:
        self.main.when_done(self.runner.submit(self.backend.get_contact(contact_id)), ok, err)

    def lookup(
        self, number: str, ok: Callable[[ContactLookup], None], err: Callable[[BaseException], None]
    ) -> None:
        self.main.when_done(self.runner.submit(self.backend.lookup_number(number)), ok, err)

    def create_contact(
        self,
        phone: str,
        name: str,
        ok: Callable[[Contact], None],
        err: Callable[[BaseException], None],
    ) -> None:
        coro = self.backend.create_contact(ContactCreate(phone=phone, name=name or None))
        self.main.when_done(self.runner.submit(coro), ok, err)

    def recording(
        self,
        call_id: str,
        dest: Path,
        ok: Callable[[RecordingInfo], None],
        err: Callable[[BaseException], None],
    ) -> None:
        coro = self.backend.fetch_recording(call_id, dest)
        self.main.when_done(self.runner.submit(coro), ok, err)

    def transcript(
        self,
        call_id: str,
        ok: Callable[[Transcript | None], None],
        err: Callable[[BaseException], None],
    ) -> None:
        self.main.when_done(self.runner.submit(self.backend.get_transcript(call_id)), ok, err)

    def export_csv(
        self,
        flt: CallFilter,
        dest: Path,
        ok: Callable[[int], None],
        err: Callable[[BaseException], None],
    ) -> None:
        self.main.when_done(self.runner.submit(self.backend.export_calls_csv(flt, dest)), ok, err)
