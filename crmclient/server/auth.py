"""Passwords, API tokens and sessions. Only hashes are stored; tokens are random.

A session lasts ``session_ttl_s`` (10 days) from sign-in; its access tokens last
``token_ttl_s`` and are renewed with the (rotating) refresh token. An old access token stays
valid until its own expiry, so requests in flight during a refresh do not fail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from datetime import timedelta

from starlette.requests import HTTPConnection

from crmclient.models import ApiTokenCredentials, PasswordCredentials, SessionToken, User
from crmclient.server.db import now, stamp, tx, unstamp
from crmclient.server.problems import Problem
from crmclient.server.state import State, user_from_row

PBKDF2_ROUNDS = 60_000


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unauthorized(code: str, message: str) -> Problem:
    return Problem(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def _rate_limit(state: State, email: str) -> None:
    window = state.config.sign_in_window_s
    recent = [t for t in state.sign_in_failures.get(email, []) if t > time.monotonic() - window]
    state.sign_in_failures[email] = recent
    if len(recent) >= state.config.sign_in_failures_allowed:
        retry = int(recent[0] + window - time.monotonic()) + 1
        raise Problem(
            429,
            "rate_limited",
            "too many failed sign-ins; try again later",
            headers={"Retry-After": str(retry)},
        )


def check_credentials(state: State, creds: PasswordCredentials | ApiTokenCredentials) -> User:
    if isinstance(creds, ApiTokenCredentials):
        row = state.db.execute(
            "SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
            (token_hash(creds.api_token),),
        ).fetchone()
        if row is None:
            raise _unauthorized("invalid_credentials", "unknown API token")
        return user_from_row(row)
    email = creds.email.strip().lower()
    _rate_limit(state, email)
    row = state.db.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    salt = row["pw_salt"] if row else b"no-such-user-salt"
    candidate = hash_password(creds.password, salt)
    if row is None or not hmac.compare_digest(candidate, row["pw_hash"]):
        state.sign_in_failures.setdefault(email, []).append(time.monotonic())
        raise _unauthorized("invalid_credentials", "wrong email or password")
    state.sign_in_failures.pop(email, None)
    return user_from_row(row)


def _new_token(state: State, session_id: str, session_end: str) -> tuple[str, str]:
    token = "lst_" + secrets.token_urlsafe(32)
    expires = min(stamp(now() + timedelta(seconds=state.config.token_ttl_s)), session_end)
    state.db.execute(
        "INSERT INTO tokens(hash, session_id, expires_at) VALUES (?,?,?)",
        (token_hash(token), session_id, expires),
    )
    return token, expires


def open_session(state: State, user: User) -> SessionToken:
    session_id = uuid.uuid4().hex
    refresh = "lsr_" + secrets.token_urlsafe(32)
    session_end = stamp(now() + timedelta(seconds=state.config.session_ttl_s))
    with tx(state.db):
        state.db.execute(
            "INSERT INTO sessions(id, user_id, refresh_hash, session_expires_at) VALUES (?,?,?,?)",
            (session_id, user.id, token_hash(refresh), session_end),
        )
        token, expires = _new_token(state, session_id, session_end)
    return _session_token(token, refresh, expires, session_end, user)


def _session_token(token: str, refresh: str, expires: str, end: str, user: User) -> SessionToken:
    expires_at, session_end = unstamp(expires), unstamp(end)
    assert expires_at is not None and session_end is not None
    return SessionToken(token, refresh, expires_at, session_end, user)


def refresh_session(state: State, refresh_token: str) -> SessionToken:
    row = state.db.execute(
        "SELECT s.*, u.id AS uid FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.refresh_hash = ? AND s.revoked = 0",
        (token_hash(refresh_token),),
    ).fetchone()
    if row is None:
        raise _unauthorized("unauthorized", "unknown or revoked refresh token")
    if row["session_expires_at"] <= stamp(now()):
        raise _unauthorized("session_expired", "the session ended; sign in again")
    user = state.user(row["uid"])
    assert user is not None
    refresh = "lsr_" + secrets.token_urlsafe(32)
    with tx(state.db):
        state.db.execute(
            "UPDATE sessions SET refresh_hash = ? WHERE id = ?", (token_hash(refresh), row["id"])
        )
        token, expires = _new_token(state, row["id"], row["session_expires_at"])
    return _session_token(token, refresh, expires, row["session_expires_at"], user)


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def authenticate(state: State, token: str | None) -> tuple[User, str]:
    """The user a token belongs to, and its session id; 401 with the precise reason."""
    if not token:
        raise _unauthorized("unauthorized", "sign in first (Authorization: Bearer <token>)")
    row = state.db.execute(
        "SELECT t.expires_at, s.id AS sid, s.revoked, s.session_expires_at, u.* FROM tokens t "
        "JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id "
        "WHERE t.hash = ?",
        (token_hash(token),),
    ).fetchone()
    if row is None or row["revoked"]:
        raise _unauthorized("unauthorized", "unknown or revoked token")
    current = stamp(now())
    if row["session_expires_at"] <= current:
        raise _unauthorized("session_expired", "the session ended; sign in again")
    if row["expires_at"] <= current:
        raise _unauthorized("token_expired", "the token expired; refresh it")
    return user_from_row(row), row["sid"]


def sign_out(state: State, session_id: str) -> None:
    with tx(state.db):
        state.db.execute("UPDATE sessions SET revoked = 1 WHERE id = ?", (session_id,))
        state.db.execute("DELETE FROM tokens WHERE session_id = ?", (session_id,))
