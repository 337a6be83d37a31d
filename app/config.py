"""The agent's settings, and the machine policy IT can use to preset or lock them.

Settings live in one JSON file in the platform's config folder (``~/.config/lodgephone``
on Linux). Nothing secret is ever written there: the CRM token and SIP passwords live in
the OS keyring (``crmclient.secrets``), and ``ConfigStore`` refuses keys that look like
secrets.

The policy (``/etc/xdg/lodgephone/policy.toml`` on Linux; ``LODGEPHONE_POLICY`` overrides
the path) is read-only for the app. It can preset values (``[defaults]``) and lock them
(``[locked]``): a locked setting always reads as the policy's value, the settings window
shows it as locked, and ``ConfigStore.update`` refuses to change it. Example::

    [crm]
    url = "https://crm.example.com"

    [locked]
    auto_answer = false
    recording_allowed = false
    allowed_transports = ["tls"]
    srtp = "mandatory"

    [defaults]
    start_at_login = true

A settings file that cannot be read is kept aside (``settings.json.unreadable-<time>``),
never overwritten, and the app starts on defaults with a message saying where the copy is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

APP_NAME = "lodgephone"
SETTINGS_FILE = "settings.json"
_SECRETISH = re.compile(r"(?i)(password|passwd|secret|token|api_?key|cookie|credential)")

THEMES = ("system", "light", "dark")
TRANSPORTS = ("udp", "tcp", "tls")
SRTP_MODES = ("off", "optional", "mandatory")


class SettingLocked(PermissionError):
    """The machine policy locks this setting; the message says so in words for the agent."""


class SettingInvalid(ValueError):
    """A value of the wrong type or outside what the setting accepts."""


#: The ringtones Settings offers: the names of softphone.audio.tones.RINGTONES (a test keeps
#: them equal; importing the engine's tone tables here would load numpy at start-up).
RINGTONES = ("classic", "soft", "digital")


@dataclass(frozen=True)
class Settings:
    """Every setting the agent can see. Defaults are what a first start uses."""

    crm_url: str = ""  # "" = the embedded CRM with the demo line
    crm_user: str = ""  # sign-in name (email); the token is in the keyring
    dial_links_immediately: bool = False  # tel: links dial at once instead of filling
    auto_answer: bool = False
    start_at_login: bool = False
    start_minimized: bool = False
    theme: str = "system"
    audio_input: str = ""  # device id; "" = system default
    audio_output: str = ""
    audio_ringer: str = ""
    ringtone: str = "classic"  # one of RINGTONES
    default_region: str = ""  # "US"; "" = from provisioning, then the system locale
    recording_allowed: bool = True
    allowed_transports: tuple[str, ...] = TRANSPORTS
    srtp: str = "optional"
    demo_line: bool = True  # only used with the embedded CRM
    call_log_page_size: int = 100
    update_url: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["allowed_transports"] = list(self.allowed_transports)
        return data


FIELD_TYPES: dict[str, type] = {
    f.name: (tuple if f.name == "allowed_transports" else type(getattr(Settings(), f.name)))
    for f in fields(Settings)
}


def _check_value(key: str, value: Any) -> Any:
    if key not in FIELD_TYPES:
        raise SettingInvalid(f"unknown setting {key!r}")
    want = FIELD_TYPES[key]
    if want is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise SettingInvalid(f"{key} must be a list")
        value = tuple(str(v).lower() for v in value)
        bad = [v for v in value if v not in TRANSPORTS]
        if bad or not value:
            raise SettingInvalid(f"{key} accepts {', '.join(TRANSPORTS)} (got {bad or 'none'})")
        return value
    if want is bool and not isinstance(value, bool):
        raise SettingInvalid(f"{key} must be true or false")
    if want is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SettingInvalid(f"{key} must be a whole number")
    if want is str and not isinstance(value, str):
        raise SettingInvalid(f"{key} must be text")
    if key == "theme" and value not in THEMES:
        raise SettingInvalid(f"theme must be one of {', '.join(THEMES)}")
    if key == "srtp" and value not in SRTP_MODES:
        raise SettingInvalid(f"srtp must be one of {', '.join(SRTP_MODES)}")
    if key == "call_log_page_size" and not 10 <= value <= 1000:
        raise SettingInvalid("call_log_page_size must be between 10 and 1000")
    if key == "crm_url" and value:
        _check_url(value)
    if key == "default_region" and value and not re.fullmatch(r"[A-Z]{2}", value):
        raise SettingInvalid("default_region must be a two-letter country code like US")
    return value


def _check_url(url: str) -> None:
    m = re.match(r"^(https?)://([^/@\s]+)(/[^\s]*)?$", url)
    if m is None:
        raise SettingInvalid("The CRM address must look like https://crm.example.com")
    host = m.group(2).rsplit(":", 1)[0].strip("[]")
    if m.group(1) == "http" and host not in ("localhost", "127.0.0.1", "::1"):
        raise SettingInvalid("The CRM address must use https:// (http:// only for localhost)")


# ------------------------------------------------------------------------------- policy
@dataclass(frozen=True)
class Policy:
    """What IT decided for this machine. Empty when there is no policy."""

    source: str = ""  # where it was read from, for the settings window and diagnostics
    locked: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # entries that were ignored, and why

    def is_locked(self, key: str) -> bool:
        return key in self.locked


def policy_path() -> Path:
    override = os.environ.get("LODGEPHONE_POLICY")
    if override:
        return Path(override)
    return Path(platformdirs.site_config_dir(APP_NAME, appauthor=False)) / "policy.toml"


def load_policy(path: Path | None = None) -> Policy:
    """Read the machine policy. A broken policy locks nothing and says why in ``problems``
    (a typo by IT must not lock an agent out of their phone)."""
    if sys.platform == "win32" and path is None and not os.environ.get("LODGEPHONE_POLICY"):
        return _windows_policy()  # pragma: no cover - Windows only
    if sys.platform == "darwin" and path is None and not os.environ.get("LODGEPHONE_POLICY"):
        return macos_policy(MACOS_MANAGED_PLIST)  # pragma: no cover - macOS only
    path = path or policy_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Policy()
    except OSError as exc:
        return Policy(source=str(path), problems=(f"cannot read policy: {exc}",))
    import tomllib  # only when there is a policy file (most machines have none)

    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Policy(source=str(path), problems=(f"policy is not valid TOML: {exc}",))
    return _policy_from_doc(doc, str(path))


def _policy_from_doc(doc: Mapping[str, Any], source: str) -> Policy:
    locked: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    problems: list[str] = []
    crm = doc.get("crm", {})
    if isinstance(crm, dict) and "url" in crm:
        locked["crm_url"] = crm["url"]
    updates = doc.get("updates", {})
    if isinstance(updates, dict) and "url" in updates:
        locked["update_url"] = updates["url"]
    for section, target in (("locked", locked), ("defaults", defaults)):
        table = doc.get(section, {})
        if not isinstance(table, dict):
            problems.append(f"[{section}] must be a table")
            continue
        for key, value in table.items():
            target[key] = value
    for target in (locked, defaults):
        for key in list(target):
            try:
                target[key] = _check_value(key, target[key])
            except SettingInvalid as exc:
                problems.append(f"ignored {key}: {exc}")
                del target[key]
    return Policy(source=source, locked=locked, defaults=defaults, problems=tuple(problems))


MACOS_MANAGED_PLIST = Path("/Library/Managed Preferences/com.lodgestory.phone.plist")


def macos_policy(path: Path) -> Policy:
    """Managed preferences pushed by an MDM configuration profile: the same tables as the
    TOML (``crm`` with ``url``, ``updates``, ``locked``, ``defaults``) as plist dictionaries."""
    import plistlib

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Policy()
    except OSError as exc:
        return Policy(source=str(path), problems=(f"cannot read policy: {exc}",))
    try:
        doc = plistlib.loads(raw)
    except (plistlib.InvalidFileException, ValueError) as exc:
        return Policy(source=str(path), problems=(f"policy is not a valid plist: {exc}",))
    if not isinstance(doc, dict):
        return Policy(source=str(path), problems=("policy plist must be a dictionary",))
    return _policy_from_doc(doc, str(path))


def _windows_policy() -> Policy:  # pragma: no cover - Windows only
    """HKLM\\SOFTWARE\\Policies\\Lodgestory\\Phone: CrmUrl, and subkeys Locked / Defaults
    whose value names are setting names (REG_DWORD for booleans, REG_SZ / REG_MULTI_SZ)."""
    if sys.platform != "win32":
        return Policy()
    import winreg

    base = r"SOFTWARE\Policies\Lodgestory\Phone"
    doc: dict[str, Any] = {}
    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, base)
    except OSError:
        return Policy()
    with key, contextlib.suppress(OSError):
        url = str(winreg.QueryValueEx(key, "CrmUrl")[0]).strip()
        if url:  # the MSI writes a blank CrmUrl when installed without CRMURL=
            doc["crm"] = {"url": url}
    for section in ("Locked", "Defaults"):
        table: dict[str, Any] = {}
        try:
            sub = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, base + "\\" + section)
        except OSError:
            continue
        with sub:
            i = 0
            while True:
                try:
                    name, value, kind = winreg.EnumValue(sub, i)
                except OSError:
                    break
                i += 1
                if kind == winreg.REG_DWORD and FIELD_TYPES.get(name) is bool:
                    value = bool(value)
                table[name] = value
        doc[section.lower()] = table
    return _policy_from_doc(doc, "HKLM\\" + base)


# ------------------------------------------------------------------------------- store
def config_dir() -> Path:
    override = os.environ.get("LODGEPHONE_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


class ConfigStore:
    """Current settings = defaults < policy defaults < the agent's file < policy locks.

    Thread-safe. Listeners are called (on the caller's thread) with the new ``Settings``
    after each successful update.
    """

    def __init__(self, folder: Path | None = None, policy: Policy | None = None) -> None:
        self.folder = folder or config_dir()
        self.path = self.folder / SETTINGS_FILE
        self.policy = policy if policy is not None else load_policy()
        self.problems: list[str] = list(self.policy.problems)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Settings], None]] = []
        self._user: dict[str, Any] = self._read_user_file()
        self._current = self._compose()

    @property
    def settings(self) -> Settings:
        return self._current

    def is_locked(self, key: str) -> bool:
        return self.policy.is_locked(key)

    def subscribe(self, listener: Callable[[Settings], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def update(self, **changes: Any) -> Settings:
        """Validate, refuse locked keys, write atomically, notify. All or nothing."""
        for key in changes:
            if _SECRETISH.search(key):
                raise SettingInvalid(f"{key} looks like a secret; secrets go to the keyring")
            if self.is_locked(key):
                raise SettingLocked(f"“{key}” is set by your organisation and cannot be changed")
        checked = {key: _check_value(key, value) for key, value in changes.items()}
        with self._lock:
            user = dict(self._user)
            user.update(checked)
            self._write(user)
            self._user = user
            self._current = self._compose()
            current = self._current
        for listener in list(self._listeners):
            listener(current)
        return current

    def _compose(self) -> Settings:
        values: dict[str, Any] = {}
        values.update(self.policy.defaults)
        values.update(self._user)
        values.update(self.policy.locked)
        return dataclasses.replace(Settings(), **values)

    def _read_user_file(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.problems.append(f"Settings could not be read ({exc}); using defaults.")
            return {}
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            kept = self._keep_aside(raw)
            self.problems.append(
                f"Your settings file was unreadable ({exc}); a copy is kept at {kept} "
                "and the app started with default settings."
            )
            return {}
        user: dict[str, Any] = {}
        for key, value in doc.items():
            if key not in FIELD_TYPES or _SECRETISH.search(key):
                continue  # from a newer version, or something that must not be here
            try:
                user[key] = _check_value(key, value)
            except SettingInvalid as exc:
                self.problems.append(f"Setting {key} was ignored: {exc}")
        return user

    def _keep_aside(self, raw: bytes) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept = self.path.with_name(f"{SETTINGS_FILE}.unreadable-{stamp}")
        kept.write_bytes(raw)
        return kept

    def _write(self, user: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(user.items())}
        tmp = self.path.with_name(f".{SETTINGS_FILE}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
