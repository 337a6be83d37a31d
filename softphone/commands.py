"""The command set: what a client may ask the engine, one frozen dataclass per command.

The wire name of each command is `COMMAND_TYPES`' key (snake_case of the class name); its
"args" object decodes into the dataclass with `softphone.codec.from_json`, so the engine
rejects a wrong type or a missing field with a `bad_request` error before doing anything.
Results are small JSON objects documented per class (`docs/engine-protocol.md`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from softphone.config import AccountConfig
from softphone.types import DtmfMethod, RejectKind


@dataclass(frozen=True, slots=True)
class Ping:
    """Result: {"pong": true, "time": <engine wall clock>}."""


@dataclass(frozen=True, slots=True)
class AddAccount:
    """Result: the AccountAdded event's fields (bound port included)."""

    account: AccountConfig


@dataclass(frozen=True, slots=True)
class RemoveAccount:
    """Unregisters (when registered) and forgets the account. Result: {}."""

    account_id: str


@dataclass(frozen=True, slots=True)
class SetRegistration:
    """Go online (REGISTER) or offline (un-REGISTER) without removing the account."""

    account_id: str
    registered: bool


@dataclass(frozen=True, slots=True)
class HandleIpChange:
    """The OS reported a network change: re-create transports and re-register (PJSIP)."""


@dataclass(frozen=True, slots=True)
class MakeCall:
    """Result: {"call_id": "..."}. `uri` may be a SIP URI or a dialable number.

    `caller_id` (E.164) is the number the agent chose to present; it goes out as
    P-Preferred-Identity, and as the From user where the account's provider reads it there.
    """

    account_id: str
    uri: str
    caller_id: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer an inbound call. With `hold_others`, calls in progress are held first."""

    call_id: str
    hold_others: bool = True


@dataclass(frozen=True, slots=True)
class Reject:
    call_id: str
    kind: RejectKind = RejectKind.BUSY


@dataclass(frozen=True, slots=True)
class Hangup:
    """Hang up, cancel (outbound, not answered yet) or reject 603 (inbound, not answered)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Hold:
    call_id: str


@dataclass(frozen=True, slots=True)
class Resume:
    call_id: str


@dataclass(frozen=True, slots=True)
class SetMuted:
    call_id: str
    muted: bool


@dataclass(frozen=True, slots=True)
class SendDtmf:
    """Digits 0-9 * # A-D, sent in order; anything else is refused as invalid_argument."""

    call_id: str
    digits: str
    method: DtmfMethod = DtmfMethod.AUTO


@dataclass(frozen=True, slots=True)
class Transfer:
    """Blind transfer (REFER to `target`)."""

    call_id: str
    target: str


@dataclass(frozen=True, slots=True)
class AttendedTransfer:
    """Connect the far ends of `call_id` and `consult_call_id` (REFER with Replaces)."""

    call_id: str
    consult_call_id: str


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Record both directions to a WAV file. Result: {"path": "..."} (absolute)."""

    call_id: str
    path: str = ""  #: empty = a new file in EngineConfig.recordings_dir


@dataclass(frozen=True, slots=True)
class StopRecording:
    """Result: {"path": "...", "duration_s": ...}."""

    call_id: str


@dataclass(frozen=True, slots=True)
class PlayFile:
    """Send a WAV file into the call (the agent's microphone is still heard unless muted)."""

    call_id: str
    path: str
    loop: bool = False


@dataclass(frozen=True, slots=True)
class PlayTone:
    """Send a sine tone into the call (tests and the demo line)."""

    call_id: str
    frequency_hz: float = 1000.0
    duration_s: float = 0.0  #: 0 = until stop_playback or the call ends
    level: float = 0.5  #: 0..1 of full scale


@dataclass(frozen=True, slots=True)
class StopPlayback:
    call_id: str


@dataclass(frozen=True, slots=True)
class ListDevices:
    """Result: {"devices": [AudioDevice...]}."""


@dataclass(frozen=True, slots=True)
class SetDevices:
    """Choose devices by AudioDevice.id; empty = system default. Takes effect in calls."""

    input_id: str = ""
    output_id: str = ""
    ringer_id: str = ""


@dataclass(frozen=True, slots=True)
class SetRingtone:
    """Which ringtone rings on the ringer device (`softphone.audio.tones.RINGTONES`: classic,
    soft, digital). Result: {}. Takes effect from the next ring (a ringing call keeps its)."""

    name: str


@dataclass(frozen=True, slots=True)
class GetState:
    """Result: {"accounts": [...], "calls": [CallStateChanged fields...]}."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Hang up every call, unregister, exit 0. Result: {} (sent before the process exits)."""

    unregister: bool = True


Command = (
    Ping
    | AddAccount
    | RemoveAccount
    | SetRegistration
    | HandleIpChange
    | MakeCall
    | Answer
    | Reject
    | Hangup
    | Hold
    | Resume
    | SetMuted
    | SendDtmf
    | Transfer
    | AttendedTransfer
    | StartRecording
    | StopRecording
    | PlayFile
    | PlayTone
    | StopPlayback
    | ListDevices
    | SetDevices
    | SetRingtone
    | GetState
    | Shutdown
)


def command_name(cls: type) -> str:
    """MakeCall -> "make_call"."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


COMMAND_TYPES: dict[str, type[Command]] = {
    command_name(cls): cls
    for cls in (
        Ping,
        AddAccount,
        RemoveAccount,
        SetRegistration,
        HandleIpChange,
        MakeCall,
        Answer,
        Reject,
        Hangup,
        Hold,
        Resume,
        SetMuted,
        SendDtmf,
        Transfer,
        AttendedTransfer,
        StartRecording,
        StopRecording,
        PlayFile,
        PlayTone,
        StopPlayback,
        ListDevices,
        SetDevices,
        SetRingtone,
        GetState,
        Shutdown,
    )
}
