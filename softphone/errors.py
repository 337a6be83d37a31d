"""Errors the client raises; each carries an ErrorCode so the app can decide how to show it."""

from __future__ import annotations

from softphone.types import ErrorCode


class EngineError(Exception):
    """A command failed: refused by the engine, or the engine was not there to answer."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class CommandRejected(EngineError):
    """The engine answered with an error reply (bad input, wrong state, SIP refusal...)."""


class EngineUnavailable(EngineError):
    """The engine is not running (not started, died, restarting, stopped)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.ENGINE_UNAVAILABLE, message)


class CommandTimeout(EngineError):
    """No reply within the deadline; the engine may still execute the command."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.TIMEOUT, message)
