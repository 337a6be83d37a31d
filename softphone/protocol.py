"""The JSON-lines wire format between EngineClient and `python -m softphone`.

One JSON object per line, UTF-8, in both directions:

    client -> engine  {"id": 7, "cmd": "make_call", "args": {"account_id": "a", "uri": "..."}}
    engine -> client  {"id": 7, "ok": true, "result": {"call_id": "c1"}}
                      {"id": 7, "ok": false, "error": {"code": "invalid_uri", "message": "..."}}
                      {"event": "call_state_changed", "data": {...}}

The first line the engine writes is the hello, `{"event": "engine_started", ...}` carrying
`protocol`; a client refuses an engine whose major protocol version differs. Ids are chosen
by the client (any JSON integer or string) and echoed back; a line that cannot be parsed
gets a reply with "id": null. See docs/engine-protocol.md.
"""

from __future__ import annotations

import json
from typing import Any

from softphone import codec
from softphone.commands import Command, command_name
from softphone.events import EVENT_TYPES, Event, wire_name
from softphone.types import ErrorCode

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20  #: longer command lines are refused (bad_request), not buffered


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def command_line(request_id: int | str, command: Command) -> bytes:
    return encode(
        {"id": request_id, "cmd": command_name(type(command)), "args": codec.to_json(command)}
    )


def event_line(event: Event) -> bytes:
    return encode({"event": wire_name(type(event)), "data": codec.to_json(event)})


def reply_line(request_id: object, result: dict[str, Any]) -> bytes:
    return encode({"id": request_id, "ok": True, "result": result})


def error_line(request_id: object, code: ErrorCode, message: str) -> bytes:
    return encode(
        {"id": request_id, "ok": False, "error": {"code": code.value, "message": message}}
    )


def decode_event(name: str, data: object) -> Event:
    """Raises codec.CodecError for unknown names or ill-typed data."""
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise codec.CodecError(f"unknown event {name!r}")
    return codec.from_json(cls, data)
