"""The engine process itself: hello first, bad input answered, clean exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from softphone.protocol import PROTOCOL_VERSION


def _engine() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "softphone", "--config", '{"log_level": 1}'],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def _read(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "engine closed its protocol stream"
    message = json.loads(line)  # every line on stdout is JSON: PJSIP logs stay off it
    assert isinstance(message, dict)
    return message


def _send(proc: subprocess.Popen[bytes], raw: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(raw + b"\n")
    proc.stdin.flush()


def _reply(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    while True:
        message = _read(proc)
        if "event" not in message:
            return message


def test_bad_input_gets_error_replies_and_the_engine_stays_up() -> None:
    proc = _engine()
    try:
        hello = _read(proc)
        assert hello["event"] == "engine_started"
        assert hello["data"]["protocol"] == PROTOCOL_VERSION
        cases = [
            (b"this is not json", None, "bad_request"),
            (b"[1, 2, 3]", None, "bad_request"),
            (b'{"cmd": "ping"}', None, "bad_request"),
            (b'{"id": 5, "cmd": "explode"}', 5, "unknown_command"),
            (b'{"id": 6, "cmd": "make_call", "args": {"account_id": 7}}', 6, "bad_request"),
            (b'{"id": 7, "cmd": "hangup", "args": {"call_id": "nope"}}', 7, "unknown_call"),
            (
                b'{"id": 8, "cmd": "make_call", "args": {"account_id": "x", "uri": "1"}}',
                8,
                "unknown_account",
            ),
            (
                b'{"id": 9, "cmd": "add_account", "args": {"account": {"account_id": "a", '
                b'"username": "a", "domain": "127.0.0.1", "registrar": "sip:\\r\\nbad"}}}',
                9,
                "invalid_uri",
            ),
            (b"\xff\xfe garbage bytes", None, "bad_request"),
        ]
        for raw, request_id, code in cases:
            _send(proc, raw)
            reply = _reply(proc)
            assert reply["ok"] is False, raw
            assert reply["id"] == request_id, raw
            assert reply["error"]["code"] == code, (raw, reply)
            assert reply["error"]["message"]
        _send(proc, b'{"id": "p", "cmd": "ping"}')
        pong = _reply(proc)
        assert pong["id"] == "p" and pong["ok"] is True and pong["result"]["pong"] is True
    finally:
        _send(proc, b'{"id": 99, "cmd": "shutdown"}')
        assert proc.wait(10) == 0
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.stdout.close()


def test_shutdown_exits_zero_and_says_so() -> None:
    proc = _engine()
    hello = _read(proc)
    assert hello["event"] == "engine_started"
    assert hello["data"]["audio_backend"] == "null"
    # the bridge comes up right after the hello and says what really opened
    assert _read(proc) == {"event": "audio_started", "data": {"backend": "null", "devices": []}}
    _send(proc, b'{"id": 1, "cmd": "shutdown"}')
    assert _reply(proc) == {"id": 1, "ok": True, "result": {}}
    assert _read(proc) == {"event": "engine_stopped", "data": {"exit_code": 0}}
    assert proc.wait(10) == 0
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.stdout.close()


def test_engine_exits_cleanly_when_its_client_disappears() -> None:
    proc = _engine()
    assert _read(proc)["event"] == "engine_started"
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    assert proc.wait(10) == 0
    proc.stdout.close()
