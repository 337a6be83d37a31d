"""A session stand-in for widget and adapter tests: records commands, emits on demand.

Only for pure widget tests; flows use the real engine and CRM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.session.model import DialRequest, Presence, SessionStatus, WrapUp
from app.session.protocol import SessionListener


class RecordingSession:
    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[object, ...]]] = []
        self._listeners: list[SessionListener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: SessionListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: object) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)

    def _record(self, name: str, *args: object) -> None:
        self.commands.append((name, args))

    def dial(self, request: DialRequest) -> None:
        self._record("dial", request)

    def answer(self, call_id: str | None = None) -> None:
        self._record("answer", call_id)

    def reject(self, call_id: str | None = None) -> None:
        self._record("reject", call_id)

    def hangup(self, call_id: str | None = None) -> None:
        self._record("hangup", call_id)

    def set_muted(self, call_id: str, muted: bool) -> None:
        self._record("set_muted", call_id, muted)

    def set_held(self, call_id: str, held: bool) -> None:
        self._record("set_held", call_id, held)

    def send_dtmf(self, call_id: str, digits: str) -> None:
        self._record("send_dtmf", call_id, digits)

    def transfer(self, call_id: str, target: str) -> None:
        self._record("transfer", call_id, target)

    def transfer_attended(self, call_id: str, consult_call_id: str) -> None:
        self._record("transfer_attended", call_id, consult_call_id)

    def set_recording(self, call_id: str, recording: bool) -> None:
        self._record("set_recording", call_id, recording)

    def save_wrap_up(self, wrap_up: WrapUp) -> None:
        self._record("save_wrap_up", wrap_up)

    def set_presence(self, presence: Presence) -> None:
        self._record("set_presence", presence)

    def prepare_outbound(self, text: str, account_id: str | None = None) -> None:
        self._record("prepare_outbound", text, account_id)

    def search_contacts(self, query: str) -> None:
        self._record("search_contacts", query)

    def request_call_permission(self, chat_id: str) -> None:
        self._record("request_call_permission", chat_id)

    def clear_missed(self) -> None:
        self._record("clear_missed")

    def status(self) -> SessionStatus:
        return SessionStatus()
