"""The product's error table: one fixed message per kind, and what the agent can do.

The session raises these as ``UserError`` events; widgets show ``message`` big and
``what_to_do`` under it. Technical detail goes to ``detail`` (logged, shown on demand).
"""

from __future__ import annotations

from app.session.model import ErrorKind, UserError

TABLE: dict[ErrorKind, tuple[str, str]] = {
    ErrorKind.CALL_FAILED: (
        "Failed to initiate call",
        "Check the number and try again. If it keeps failing, check your connection "
        "and the line status in the dialer.",
    ),
    ErrorKind.NOT_CONNECTED: (
        "Softphone not connected",
        "Wait a few seconds while the phone reconnects. If it stays red, open "
        "Settings and check your account, or restart the app.",
    ),
    ErrorKind.NO_CALLER_ID_FOR_COUNTRY: (
        "No caller-ID available for this destination country",
        "Pick a caller-ID in the dialer, or ask your admin to assign a number for this country.",
    ),
    ErrorKind.CALL_LOGS_FAILED: (
        "Failed to load call logs",
        "Check your connection, then press Refresh. Calls you make meanwhile are kept "
        "and synced later.",
    ),
    ErrorKind.RECORDING_FAILED: (
        "Failed to load recording",
        "Try again in a moment. Recordings can take a few minutes to be available after the call.",
    ),
    ErrorKind.INVALID_NUMBER: (
        "That is not a number we can call",
        "Check the number; type it with digits, with + and the country code for numbers abroad.",
    ),
    ErrorKind.BUSY_WITH_CALL: (
        "You are already on an outgoing call",
        "Hang up or finish the current call first, then dial again.",
    ),
    ErrorKind.CRM_UNREACHABLE: (
        "CRM not reachable",
        "Calls still work and are logged locally; they reach the CRM once it is back.",
    ),
    ErrorKind.SIGN_IN_REQUIRED: (
        "Please sign in again",
        "Open Settings and sign in to the CRM.",
    ),
    ErrorKind.WRAP_UP_FAILED: (
        "Wrap-up not saved",
        "Your notes are still in the form: press Save again.",
    ),
    ErrorKind.AUDIO_DEVICE: (
        "Headset or speaker not available",
        "Check that it is plugged in, or pick another device in Settings > Audio.",
    ),
    ErrorKind.CALLS_REFUSED: (
        "Some callers could not get through",
        "More calls arrived at once than the phone can take; they heard busy and can call "
        "back. If this keeps happening, tell your admin.",
    ),
}

#: What an engine warning (softphone.events.EngineWarned.code) means for the agent; codes
#: not listed are logged only.
ENGINE_WARNINGS: dict[str, ErrorKind] = {
    "audio_device_failed": ErrorKind.AUDIO_DEVICE,
    "no_audio": ErrorKind.AUDIO_DEVICE,
    "inbound_calls_refused": ErrorKind.CALLS_REFUSED,
}


def user_error(kind: ErrorKind, detail: str = "", call_id: str | None = None) -> UserError:
    message, what_to_do = TABLE[kind]
    return UserError(kind, message, what_to_do, detail=detail, call_id=call_id)
