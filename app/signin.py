"""Keeps the CRM session in the OS keyring, so an agent signs in once.

IT's policy sets only the CRM address; the agent signs in once and the 10-day session
(token, refresh token, expiries) is kept as one keyring item, never in a file. At the next
start the app restores it and fetches provisioning without asking again; every token refresh
is written back, and a session the CRM ends (sign-out, refused refresh) is deleted.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from crmclient.errors import CrmError, ProtocolError
from crmclient.http import HttpCrm
from crmclient.models import SessionToken, User
from crmclient.secrets import Secret, SecretKind, SecretStore

log = logging.getLogger(__name__)


def keyring_account(crm_url: str, email: str) -> str:
    """One item per CRM and agent: signing in to a second CRM never clobbers the first."""
    return f"{crm_url.rstrip('/')}|{email.strip().lower()}"


class SessionKeeper:
    def __init__(self, backend: HttpCrm, crm_url: str, email: str, store: SecretStore) -> None:
        self._backend = backend
        self._account = keyring_account(crm_url, email)
        self._store = store
        self._unsubscribe = backend.add_session_listener(self._changed)

    def close(self) -> None:
        self._unsubscribe()

    async def restore(self) -> User | None:
        """The signed-in user if the kept session still works, else None (sign in again)."""
        secret = await self._store.aget(SecretKind.CRM_TOKEN, self._account)
        if secret is None:
            return None
        try:
            session = SessionToken.from_json(json.loads(secret.reveal()))
        except (ValueError, ProtocolError):
            log.warning("the kept CRM session is unreadable; the agent must sign in again")
            await self._store.adelete(SecretKind.CRM_TOKEN, self._account)
            return None
        if session.session_over(datetime.now(UTC)):
            await self._store.adelete(SecretKind.CRM_TOKEN, self._account)
            return None
        try:
            return await self._backend.restore_session(session)
        except CrmError as exc:
            log.info("the kept CRM session was not accepted (%s); sign-in needed", exc)
            return None

    def _changed(self, session: SessionToken | None) -> None:
        try:
            if session is None:
                self._store.delete(SecretKind.CRM_TOKEN, self._account)
            else:
                blob = json.dumps(session.to_json(), separators=(",", ":"))
                self._store.set(SecretKind.CRM_TOKEN, self._account, Secret(blob))
        except CrmError as exc:  # no keyring: the session still works until the app quits
            log.warning("cannot keep the CRM session in the keyring: %s", exc)
