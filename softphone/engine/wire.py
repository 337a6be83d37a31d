"""The engine's end of the protocol: a reader thread for stdin, a locked writer for stdout.

The writer owns a duplicate of the original stdout fd; fd 1 itself is pointed at stderr
before PJSIP starts, so nothing PJSIP (or a stray print) writes can corrupt the protocol.
The reader only parses and validates: execution happens on the pjsua2 owner thread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from softphone import codec, protocol
from softphone.commands import COMMAND_TYPES, Command
from softphone.events import Event
from softphone.types import ErrorCode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    request_id: int | str
    command: Command


class Wire:
    def __init__(self, out_fd: int) -> None:
        self._out = os.fdopen(out_fd, "wb", buffering=0)
        self._lock = threading.Lock()
        self.broken = False

    def _send(self, line: bytes) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                self._out.write(line)
            except (BrokenPipeError, OSError, ValueError):
                self.broken = True

    def event(self, event: Event) -> None:
        self._send(protocol.event_line(event))

    def reply(self, request_id: object, result: dict[str, object]) -> None:
        self._send(protocol.reply_line(request_id, result))

    def error(self, request_id: object, code: ErrorCode, message: str) -> None:
        self._send(protocol.error_line(request_id, code, message))


def parse(raw: bytes) -> Request | tuple[object, ErrorCode, str]:
    """A valid Request, or (id, error code, message) for the error reply."""
    if len(raw) > protocol.MAX_LINE_BYTES:
        return None, ErrorCode.BAD_REQUEST, "command line too long"
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, ErrorCode.BAD_REQUEST, f"not JSON: {exc}"
    if not isinstance(message, dict):
        return None, ErrorCode.BAD_REQUEST, "a command must be a JSON object"
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return None, ErrorCode.BAD_REQUEST, "missing or invalid 'id' (integer or string)"
    name = message.get("cmd")
    if not isinstance(name, str):
        return request_id, ErrorCode.BAD_REQUEST, "missing or invalid 'cmd'"
    cls = COMMAND_TYPES.get(name)
    if cls is None:
        return request_id, ErrorCode.UNKNOWN_COMMAND, f"unknown command {name!r}"
    args = message.get("args", {})
    try:
        command = codec.from_json(cls, args)
    except codec.CodecError as exc:
        return request_id, ErrorCode.BAD_REQUEST, str(exc)
    return Request(request_id, command)


def start_reader(
    stream: BinaryIO, wire: Wire, post: Callable[[Request | None], None]
) -> threading.Thread:
    """Read commands until EOF; `post(None)` at EOF (the client is gone: shut down)."""

    def run() -> None:
        try:
            for raw in stream:
                if not raw.strip():
                    continue
                parsed = parse(raw)
                if isinstance(parsed, Request):
                    post(parsed)
                else:
                    wire.error(*parsed)
        except Exception:
            log.exception("command reader failed")
        post(None)

    thread = threading.Thread(target=run, name="engine-stdin", daemon=True)
    thread.start()
    return thread
