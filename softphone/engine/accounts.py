"""Accounts: transports, registration with our own backoff, inbound call admission.

Each account gets its own SIP transport so it can bind an explicit address/port (or an
ephemeral one, reported back) and so TCP/TLS accounts really use their transport.
PJSIP's fixed-interval retry is disabled: we retry with exponential backoff and tell the
app when the next attempt is due, so its status dot can say "retrying in 8 s".
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from typing import Any

import pjsua2 as pj

from softphone.config import AccountConfig
from softphone.engine import states
from softphone.engine.base import CommandError, EngineBase
from softphone.events import AccountAdded, AccountRemoved, RegistrationChanged
from softphone.types import ErrorCode, RegistrationState, Transport
from softphone.uri import InvalidUri, validate_sip_uri, with_transport

log = logging.getLogger(__name__)


class EngineAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, engine: AccountOps, config: AccountConfig, transport_id: int) -> None:
        super().__init__()
        self.engine = engine
        self.config = config
        self.transport_id = transport_id
        self.want_registered = config.registers
        self.failures = 0
        self.retry_token = 0
        self.last_transport_retry = -1e9
        self.state = (
            RegistrationState.DIRECT if not config.registers else (RegistrationState.REGISTERING)
        )
        self.added: AccountAdded | None = None

    def onRegStarted(self, prm: Any) -> None:
        if self.state is not RegistrationState.REGISTERED and prm.renew:
            self.engine.set_reg_state(self, RegistrationState.REGISTERING, 0, "")

    def onRegState(self, prm: Any) -> None:
        self.engine.on_reg_state(self, int(prm.code), str(prm.reason), int(prm.expiration))

    def onIncomingCall(self, prm: Any) -> None:
        self.engine.on_incoming_call(self, int(prm.callId), str(prm.rdata.wholeMsg))


class AccountOps(EngineBase):
    def on_incoming_call(self, account: EngineAccount, pj_call_id: int, invite: str) -> None:
        raise NotImplementedError  # CallOps

    def install_gate(self) -> None:
        raise NotImplementedError  # CallOps

    def add_account(self, cfg: AccountConfig) -> dict[str, Any]:
        if not cfg.account_id.strip():
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "account_id must not be empty")
        if cfg.account_id in self.accounts:
            raise CommandError(ErrorCode.DUPLICATE, f"account {cfg.account_id!r} exists")
        if not 0 <= cfg.local_port < 65536:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "local_port must be 0..65535")
        try:
            validate_sip_uri(cfg.aor)
            registrar = (
                with_transport(validate_sip_uri(cfg.registrar), cfg.transport)
                if (cfg.registrar)
                else ""
            )
            proxy = validate_sip_uri(cfg.outbound_proxy) if cfg.outbound_proxy else ""
        except InvalidUri as exc:
            raise CommandError(ErrorCode.INVALID_URI, str(exc)) from None
        if proxy and ";lr" not in proxy.lower():
            proxy += ";lr"
        proxy = with_transport(proxy, cfg.transport) if proxy else ""

        for what, path in (
            ("tls_ca_file", cfg.tls_ca_file),
            ("tls_cert_file", cfg.tls_cert_file),
            ("tls_key_file", cfg.tls_key_file),
        ):
            if path and not os.access(path, os.R_OK):
                raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{what}: cannot read {path!r}")
        if bool(cfg.tls_cert_file) != bool(cfg.tls_key_file):
            raise CommandError(
                ErrorCode.INVALID_ARGUMENT, "tls_cert_file and tls_key_file go together"
            )
        tcfg = pj.TransportConfig()
        tcfg.port = cfg.local_port
        if cfg.bind_address:
            tcfg.boundAddress = cfg.bind_address
        if cfg.transport is Transport.TLS:
            tcfg.tlsConfig.verifyServer = cfg.tls_verify_server
            if cfg.tls_ca_file:
                tcfg.tlsConfig.CaListFile = cfg.tls_ca_file
            if cfg.tls_cert_file:
                tcfg.tlsConfig.certFile = cfg.tls_cert_file
                tcfg.tlsConfig.privKeyFile = cfg.tls_key_file
        try:
            tid = int(self.ep.transportCreate(states.TRANSPORT_TYPES[cfg.transport], tcfg))
        except pj.Error as exc:
            raise CommandError(
                ErrorCode.SIP_ERROR, f"cannot open {cfg.transport.value} transport: {exc.info()}"
            ) from None
        acfg = pj.AccountConfig()
        display = cfg.display_name.replace('"', "").replace("\\", "")
        acfg.idUri = f'"{display}" <{cfg.aor}>' if display else cfg.aor
        acfg.sipConfig.transportId = tid
        acfg.regConfig.registrarUri = registrar
        acfg.regConfig.registerOnAdd = bool(registrar)
        acfg.regConfig.timeoutSec = max(30, cfg.register_expires_s)
        acfg.regConfig.retryIntervalSec = 0  # our own backoff (see on_reg_state)
        acfg.regConfig.dropCallsOnFail = False
        if cfg.password or cfg.auth_username:
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", cfg.auth_username or cfg.username, 0, cfg.password)
            )
        if proxy:
            acfg.sipConfig.proxies.append(proxy)
        acfg.mediaConfig.srtpUse = states.SRTP_USE[cfg.srtp]
        acfg.mediaConfig.srtpSecureSignaling = 0
        if self.config.rtp_bind_address:
            acfg.mediaConfig.transportConfig.boundAddress = self.config.rtp_bind_address
        if self.config.rtp_port_start:
            acfg.mediaConfig.transportConfig.port = self.config.rtp_port_start
        account = EngineAccount(self, cfg, tid)
        self.accounts[cfg.account_id] = account
        try:
            account.create(acfg, False)
        except pj.Error as exc:
            del self.accounts[cfg.account_id]
            self._close_transport(tid)
            raise CommandError(ErrorCode.SIP_ERROR, f"account refused: {exc.info()}") from None
        self.install_gate()  # after a real account exists: the gate must not be the default
        info = self.ep.transportGetInfo(tid)
        host, _, port = str(info.localName).rpartition(":")
        added = AccountAdded(
            account_id=cfg.account_id,
            transport=cfg.transport,
            local_address=host.strip("[]"),
            local_port=int(port or 0),
            contact=f"sip:{cfg.username}@{info.localName}"
            + ("" if cfg.transport is Transport.UDP else f";transport={cfg.transport.value}"),
        )
        account.added = added
        self.emit(added)
        if not cfg.registers:
            self.set_reg_state(account, RegistrationState.DIRECT, 0, "")
        return {k: getattr(added, k) for k in ("local_address", "local_port", "contact")} | {
            "account_id": added.account_id,
            "transport": added.transport.value,
        }

    def remove_account(self, account_id: str) -> dict[str, Any]:
        account = self.account(account_id)
        account.want_registered = False
        account.retry_token += 1
        for call in list(self.calls.values()):
            if call.account is account and not call.ended:
                call.local_hangup = True
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error:
                    log.debug("hangup during account removal failed")
        del self.accounts[account_id]
        self.set_reg_state(account, RegistrationState.OFFLINE, 0, "account removed")
        self.emit(AccountRemoved(account_id))
        tid = account.transport_id
        try:
            account.shutdown()
        except pj.Error:
            log.debug("account shutdown failed")
        self.removed_accounts.append(account)
        self.later(2.0, lambda: self._close_transport(tid))
        return {}

    def _close_transport(self, tid: int) -> None:
        try:
            self.ep.transportClose(tid)
        except pj.Error:
            log.debug("transport %s already closed", tid)

    def set_registration(self, account_id: str, registered: bool) -> dict[str, Any]:
        account = self.account(account_id)
        if not account.config.registers:
            raise CommandError(ErrorCode.INVALID_STATE, "this account has no registrar")
        account.want_registered = registered
        account.retry_token += 1
        account.failures = 0
        try:
            account.setRegistration(registered)
        except pj.Error as exc:
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None
        if registered:
            self.set_reg_state(account, RegistrationState.REGISTERING, 0, "")
        return {}

    def handle_ip_change(self) -> dict[str, Any]:
        try:
            self.ep.handleIpChange(pj.IpChangeParam())
        except pj.Error as exc:
            raise CommandError(ErrorCode.SIP_ERROR, exc.info()) from None
        return {}

    def set_reg_state(
        self,
        account: EngineAccount,
        state: RegistrationState,
        code: int,
        reason: str,
        *,
        expires_s: int = 0,
        retry_in_s: float | None = None,
    ) -> None:
        account.state = state
        self.emit(
            RegistrationChanged(
                account_id=account.config.account_id,
                state=state,
                code=code,
                reason=reason,
                expires_s=expires_s,
                retry_in_s=retry_in_s,
            )
        )

    def on_reg_state(self, account: EngineAccount, code: int, reason: str, expires: int) -> None:
        if account.config.account_id not in self.accounts:
            return
        state = states.registration_state(code, expires, not account.want_registered)
        if state is RegistrationState.FAILED and account.want_registered:
            cfg = account.config
            delay = min(cfg.retry_max_s, cfg.retry_min_s * 2**account.failures)
            delay = max(1, delay)
            account.failures += 1
            account.retry_token += 1
            token = account.retry_token
            self.later(delay, lambda: self._retry_registration(account, token))
            self.set_reg_state(account, state, code, reason, retry_in_s=float(delay))
            return
        if state is RegistrationState.REGISTERED:
            account.failures = 0
        self.set_reg_state(account, state, code, reason, expires_s=max(0, expires))

    def on_transport_lost(self) -> None:
        """A TCP/TLS connection closed: the registrations it carried are gone (the registrar
        can no longer reach us), so registered accounts on such transports re-register now:
        on a new connection, or failing into the backoff. PJSIP does not say which account
        the connection served, so every registered TCP/TLS account re-registers; each at
        most once per `retry_min_s`, so a server that closes every connection cannot make
        us loop."""
        if self.quit:
            return
        now = time.monotonic()
        for account in list(self.accounts.values()):
            cfg = account.config
            if cfg.transport is Transport.UDP or not cfg.registers or not account.want_registered:
                continue
            if account.state is not RegistrationState.REGISTERED:
                continue  # already retrying (or registering) on its own
            at = max(now, account.last_transport_retry + max(1, cfg.retry_min_s))
            account.last_transport_retry = at
            account.retry_token += 1
            token = account.retry_token
            self.later(at - now, functools.partial(self._retry_registration, account, token))

    def _retry_registration(self, account: EngineAccount, token: int) -> None:
        if token != account.retry_token or not account.want_registered:
            return
        if account.config.account_id not in self.accounts:
            return
        try:
            account.setRegistration(True)
        except pj.Error as exc:
            self.on_reg_state(account, 503, f"cannot send REGISTER: {exc.info()}", 0)

    def account_snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "account": dataclasses.asdict(a.added) if a.added else {"account_id": k},
                "state": a.state.value,
                "at": time.time(),
            }
            for k, a in self.accounts.items()
        ]
