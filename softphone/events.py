"""Everything the engine tells the app, as frozen past-tense dataclasses.

Events are facts that already happened; they carry our enums and plain values only (no
pjsua2 object ever leaves the engine). The same classes are used on both sides of the JSON
protocol: the engine encodes them with `softphone.codec`, the client decodes them back into
these types by the wire name in `EVENT_TYPES`. EngineDied and EngineRestarted are produced by
the client itself, since a dead engine cannot report its own death.

Times are seconds: `at` fields are wall-clock UNIX time taken where the fact happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from softphone.audio.devices import AudioDevice
from softphone.types import (
    CallDirection,
    CallState,
    DtmfMethod,
    EndReason,
    RegistrationState,
    Transport,
)


@dataclass(frozen=True, slots=True)
class EngineStarted:
    """The hello: first line the engine writes, once PJSIP is started and commands work."""

    protocol: int  #: protocol version (softphone.protocol.PROTOCOL_VERSION)
    engine_version: str
    pjsip_version: str
    pid: int
    codecs: tuple[str, ...]  #: enabled codecs in priority order
    audio_backend: str  #: the backend asked for; AudioStarted says which one opened
    startup_ms: float  #: process start to ready, measured inside the engine


@dataclass(frozen=True, slots=True)
class EngineDied:
    """The engine process exited without being asked to (client-side event)."""

    exit_code: int | None  #: negative = killed by that signal (e.g. -9)
    reason: str
    will_restart: bool


@dataclass(frozen=True, slots=True)
class EngineRestarted:
    """A new engine is up again after a death, with these accounts re-added (client-side)."""

    pid: int
    accounts: tuple[str, ...]
    downtime_s: float


@dataclass(frozen=True, slots=True)
class EngineStopped:
    """The engine shut down on request (last event before the process exits)."""

    exit_code: int


@dataclass(frozen=True, slots=True)
class AccountAdded:
    account_id: str
    transport: Transport
    local_address: str  #: the address SIP listens on for this account
    local_port: int  #: the bound port (the real one when 0 was asked)
    contact: str  #: our Contact URI as PJSIP advertises it


@dataclass(frozen=True, slots=True)
class AccountRemoved:
    account_id: str


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    account_id: str
    state: RegistrationState
    code: int = 0  #: last SIP status code (0 when none, e.g. DIRECT)
    reason: str = ""  #: SIP reason phrase or transport error text
    expires_s: int = 0  #: registration lifetime granted by the registrar
    retry_in_s: float | None = None  #: when FAILED: next attempt in this many seconds


@dataclass(frozen=True, slots=True)
class IncomingCallReceived:
    """A new inbound call is alerting (announce it; `waiting` = agent is already in a call)."""

    call_id: str
    account_id: str
    remote_uri: str  #: e.g. "sip:+4930123@pbx.example.com"
    remote_display: str  #: display name from the From header, may be empty
    remote_user: str  #: user part of remote_uri (the number to match in the CRM)
    waiting: bool  #: another call is active: this is call waiting
    auto_answer: bool  #: the engine will answer it by itself
    at: float
    sip_call_id: str = ""  #: the INVITE's Call-ID (pairs the call with the CRM's record)


@dataclass(frozen=True, slots=True)
class CallStateChanged:
    """Every transition of a call, with the SIP code that caused it."""

    call_id: str
    account_id: str
    direction: CallDirection
    state: CallState
    remote_uri: str
    code: int = 0  #: last SIP status code seen for this call
    reason: str = ""  #: its reason phrase (or our own text when there was no SIP)
    end_reason: EndReason | None = None  #: set only when state is ENDED or FAILED
    early_media: bool = False  #: far end sends audio before answering (183 with SDP)
    remote_hold: bool = False  #: the far end put us on hold
    muted: bool = False
    secure_media: bool = False  #: SRTP negotiated
    connected_at: float | None = None  #: when it was answered (for durations)
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class CallStatsReported:
    """Media quality, every EngineConfig.stats_interval_s while media is active."""

    call_id: str
    codec: str  #: e.g. "G722/16000"
    jitter_ms: float  #: receive jitter
    loss_percent: float  #: receive packet loss over the call so far
    rtt_ms: float  #: from RTCP; 0 until the first report arrived
    mos: float  #: E-model estimate (ITU-T G.107), 1.0 .. 4.5
    rx_packets: int
    tx_packets: int
    at: float


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    call_id: str
    digit: str  #: one of 0-9 * # A-D
    method: DtmfMethod  #: RFC2833 or SIP_INFO, as it arrived
    at: float


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    call_id: str
    path: str


@dataclass(frozen=True, slots=True)
class RecordingStopped:
    call_id: str
    path: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A play_file / play_tone into a call ended (file done or stopped)."""

    call_id: str
    source: str


@dataclass(frozen=True, slots=True)
class TransferProgressed:
    """NOTIFY about a transfer we requested (REFER sent on `call_id`)."""

    call_id: str
    code: int  #: sipfrag status of the transferred call
    reason: str
    final: bool  #: True when this is the last report; success if 200 <= code < 300


@dataclass(frozen=True, slots=True)
class CallTransferredAway:
    """The far end transferred us: `new_call_id` is the call PJSIP places to `target_uri`."""

    call_id: str
    new_call_id: str
    target_uri: str


@dataclass(frozen=True, slots=True)
class CallReplaced:
    """Attended transfer target side: `new_call_id` replaces `old_call_id` (INVITE/Replaces)."""

    old_call_id: str
    new_call_id: str


@dataclass(frozen=True, slots=True)
class AudioStarted:
    """The audio bridge is up, shortly after the hello (it is started after SIP so neither
    the hello nor re-registration waits for it). `backend` is what really opened, e.g.
    "miniaudio-pulseaudio" or "null"; the hello only says which backend was asked for."""

    backend: str
    devices: tuple[AudioDevice, ...]


@dataclass(frozen=True, slots=True)
class AudioDevicesChanged:
    devices: tuple[AudioDevice, ...]


@dataclass(frozen=True, slots=True)
class EngineWarned:
    """Something the user or support should know but that did not fail a command."""

    message: str
    code: str = ""  #: machine-readable kind, e.g. "audio_device_lost", "srtp_failed"


Event = (
    EngineStarted
    | EngineDied
    | EngineRestarted
    | EngineStopped
    | AccountAdded
    | AccountRemoved
    | RegistrationChanged
    | IncomingCallReceived
    | CallStateChanged
    | CallStatsReported
    | DtmfReceived
    | RecordingStarted
    | RecordingStopped
    | PlaybackFinished
    | TransferProgressed
    | CallTransferredAway
    | CallReplaced
    | AudioStarted
    | AudioDevicesChanged
    | EngineWarned
)


def wire_name(cls: type) -> str:
    """CallStateChanged -> "call_state_changed" (the "event" field of the protocol)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


EVENT_TYPES: dict[str, type[Event]] = {
    wire_name(cls): cls
    for cls in (
        EngineStarted,
        EngineDied,
        EngineRestarted,
        EngineStopped,
        AccountAdded,
        AccountRemoved,
        RegistrationChanged,
        IncomingCallReceived,
        CallStateChanged,
        CallStatsReported,
        DtmfReceived,
        RecordingStarted,
        RecordingStopped,
        PlaybackFinished,
        TransferProgressed,
        CallTransferredAway,
        CallReplaced,
        AudioStarted,
        AudioDevicesChanged,
        EngineWarned,
    )
}
