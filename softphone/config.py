"""Settings the engine is started with (EngineConfig) and accounts it serves (AccountConfig).

Both are frozen so a config that was validated stays valid; the client keeps the
AccountConfigs it added so it can re-add them after an engine restart. The password is the
only secret: it is excluded from repr() and must never be logged (`redacted()` gives a copy
that is safe to print or to write to a crash report).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from softphone.types import DtmfMethod, SrtpMode, Transport

DEFAULT_CODECS: tuple[str, ...] = ("G722/16000", "PCMU/8000", "PCMA/8000")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One SIP identity of the agent.

    `registrar` empty means no registration: the account only listens on
    `bind_address:local_port` (0 = any free port, the bound port is reported in
    AccountAdded) and places calls directly to `sip:user@host:port` URIs.
    `domain` is the host part of our own address of record (sip:username@domain).
    """

    account_id: str  #: our key for the account, chosen by the caller (e.g. "work")
    username: str
    domain: str
    password: str = field(default="", repr=False)
    auth_username: str = ""  #: when the digest user differs from `username`
    display_name: str = ""
    registrar: str = ""  #: e.g. "sip:pbx.example.com;transport=tcp"; empty = no registration
    outbound_proxy: str = ""  #: e.g. "sip:proxy.example.com:5060;lr"
    transport: Transport = Transport.UDP
    bind_address: str = ""  #: local IP for SIP; empty = all interfaces
    local_port: int = 0  #: 0 = an ephemeral port chosen by the OS
    srtp: SrtpMode = SrtpMode.OFF
    dtmf: DtmfMethod = DtmfMethod.AUTO
    auto_answer: bool = False  #: answer inbound calls at once (demo line, tests)
    #: put a call's caller-ID in the From user too (trunks that read it there), not only in
    #: P-Preferred-Identity; off for PBXs that identify the extension by the From user
    caller_id_in_from: bool = False
    register_expires_s: int = 300
    retry_min_s: int = 2  #: first re-registration retry after a failure ...
    retry_max_s: int = 60  #: ... doubling up to this
    tls_verify_server: bool = True
    tls_ca_file: str = ""  #: PEM CA list to verify servers with (empty = OpenSSL's default)
    tls_cert_file: str = ""  #: PEM certificate of our TLS listener (inbound direct calls)
    tls_key_file: str = ""  #: its private key (PEM)

    @property
    def registers(self) -> bool:
        return bool(self.registrar)

    @property
    def aor(self) -> str:
        """Our address of record, sip:user@domain."""
        return f"sip:{self.username}@{self.domain}" if self.username else f"sip:{self.domain}"

    def redacted(self) -> AccountConfig:
        """A copy whose password is masked, for logs and crash reports."""
        return dataclasses.replace(self, password="***" if self.password else "")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Process-wide settings, fixed for the life of one engine process."""

    user_agent: str = "LodgestoryPhone/0.1"
    codecs: tuple[str, ...] = DEFAULT_CODECS  #: priority order; codecs not listed are disabled
    max_outbound_calls: int = 1  #: per agent (across accounts); 0 = unlimited
    call_waiting: bool = True  #: announce a 2nd inbound call during a call (else answer 486)
    stats_interval_s: float = 2.0
    rtp_bind_address: str = ""  #: "127.0.0.1" keeps RTP on loopback (tests)
    rtp_port_start: int = 0  #: 0 = PJSIP default (4000)
    audio_backend: str = "null"  #: "null" (no devices) or "miniaudio"
    recordings_dir: str = ""  #: where start_recording puts files when no path is given
    log_level: int = 3  #: PJSIP log level 0..6 (stderr or log_file, never the protocol)
    log_file: str = ""
    poll_ms: int = 1000  #: longest sleep of the owner loop; commands and timers wake it sooner
    no_answer_timeout_s: int = 0  #: stop ringing inbound calls after this (missed, 480); 0 = never
