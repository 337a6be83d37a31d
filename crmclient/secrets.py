"""CRM tokens and SIP secrets live in the OS keyring, nowhere else.

The keyring backend is chosen by name, never by keyring's automatic discovery: discovery
may pick keyrings.alt's "plaintext" file (base64, not encryption) or the chainer, which
can fall back to a backend that prompts on stdin and hangs a GUI app. If the chosen
backend is not there (no Secret Service on the session bus, say) the app gets a
``SecretStoreError`` that says what to install or start, and nothing is written anywhere
else.

Calls go over D-Bus (Linux) or to the OS vault, and may wait for an unlock prompt: call
them off the UI thread (the ``a*`` variants run them in a worker thread).
"""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from typing import Final, Protocol

from crmclient.errors import SecretStoreError

__all__ = [
    "Backend",
    "Secret",
    "SecretKind",
    "SecretStore",
    "default_backend",
]

SERVICE_PREFIX: Final = "lodgephone"


class Backend(StrEnum):
    """The keyring backends we trust with secrets."""

    SECRET_SERVICE = "secret-service"  # GNOME Keyring, KeePassXC, KWallet >= 5.97 on Linux
    KWALLET = "kwallet"
    MACOS = "macos"
    WINDOWS = "windows"


class SecretKind(StrEnum):
    """What a secret is for; each kind is a separate keyring service name."""

    CRM_TOKEN = "crm-token"
    CRM_REFRESH_TOKEN = "crm-refresh-token"
    SIP_SECRET = "sip-secret"


class Secret:
    """A secret string that does not print itself: ``repr``/``str`` show a mask.

    Anything that formats a ``Secret`` into a log line, an exception or a crash report gets
    ``'***'``; code that needs the value says so with ``reveal()``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("secrets are not pickled")


class _KeyringBackend(Protocol):
    def get_password(self, service: str, username: str) -> str | None: ...

    def set_password(self, service: str, username: str, password: str) -> None: ...

    def delete_password(self, service: str, username: str) -> None: ...


def default_backend(platform: str = sys.platform) -> Backend:
    """The backend a desktop on ``platform`` normally has."""
    if platform == "darwin":
        return Backend.MACOS
    if platform == "win32":
        return Backend.WINDOWS
    return Backend.SECRET_SERVICE


_HINTS: Final[dict[Backend, str]] = {
    Backend.SECRET_SERVICE: (
        "no Secret Service on the D-Bus session bus: start GNOME Keyring, KWallet or "
        "KeePassXC (org.freedesktop.secrets) and unlock it"
    ),
    Backend.KWALLET: "KWallet is not running on the D-Bus session bus",
    Backend.MACOS: "the macOS Keychain is not available to this process",
    Backend.WINDOWS: "the Windows Credential Manager is not available",
}


def _load(backend: Backend) -> _KeyringBackend:
    """Instantiate one named keyring backend after checking that it can work here."""
    try:
        if backend is Backend.SECRET_SERVICE:
            from keyring.backends import SecretService as module

            cls = module.Keyring
        elif backend is Backend.KWALLET:
            from keyring.backends import kwallet as module

            cls = module.DBusKeyring
        elif backend is Backend.MACOS:
            from keyring.backends import macOS as module

            cls = module.Keyring
        else:
            from keyring.backends import Windows as module

            cls = module.WinVaultKeyring
        # keyring reports "cannot work here" by raising from the priority property.
        priority = cls.priority
    except Exception as exc:  # keyring raises bare RuntimeError/ImportError/D-Bus errors
        raise SecretStoreError(f"{_HINTS[backend]} ({type(exc).__name__}: {exc})") from exc
    if not priority or priority <= 0:
        raise SecretStoreError(_HINTS[backend])
    instance: _KeyringBackend = cls()
    return instance


class SecretStore:
    """Reads and writes secrets in one explicitly chosen OS keyring.

    ``account`` identifies whose secret it is: e.g. ``"https://crm.example|agent@x.com"``
    for a CRM token, or the SIP account id for a SIP secret.
    """

    def __init__(self, backend: Backend | None = None) -> None:
        self.backend = backend or default_backend()
        self._keyring = _load(self.backend)

    @staticmethod
    def _service(kind: SecretKind) -> str:
        return f"{SERVICE_PREFIX}:{kind.value}"

    def get(self, kind: SecretKind, account: str) -> Secret | None:
        """The stored secret, or None if there is none."""
        try:
            value = self._keyring.get_password(self._service(kind), account)
        except Exception as exc:
            raise SecretStoreError(
                f"could not read the {kind.value} from the {self.backend.value} keyring: "
                f"{type(exc).__name__}"
            ) from exc
        return None if value is None else Secret(value)

    def set(self, kind: SecretKind, account: str, secret: Secret | str) -> None:
        """Store (or replace) a secret."""
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value:
            raise ValueError("refusing to store an empty secret")
        try:
            self._keyring.set_password(self._service(kind), account, value)
        except Exception as exc:
            raise SecretStoreError(
                f"could not store the {kind.value} in the {self.backend.value} keyring: "
                f"{type(exc).__name__}"
            ) from exc

    def delete(self, kind: SecretKind, account: str) -> bool:
        """Forget a secret; False if there was none."""
        if self.get(kind, account) is None:
            return False
        try:
            self._keyring.delete_password(self._service(kind), account)
        except Exception as exc:
            raise SecretStoreError(
                f"could not delete the {kind.value} from the {self.backend.value} keyring: "
                f"{type(exc).__name__}"
            ) from exc
        return True

    async def aget(self, kind: SecretKind, account: str) -> Secret | None:
        return await asyncio.to_thread(self.get, kind, account)

    async def aset(self, kind: SecretKind, account: str, secret: Secret | str) -> None:
        await asyncio.to_thread(self.set, kind, account, secret)

    async def adelete(self, kind: SecretKind, account: str) -> bool:
        return await asyncio.to_thread(self.delete, kind, account)
