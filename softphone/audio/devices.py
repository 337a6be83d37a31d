"""Device descriptions that may leave the engine (no backend handles inside)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeviceKind(StrEnum):
    """Which way sound flows through a device."""

    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class AudioDevice:
    """One capture or playback device as the user picks it.

    `id` is stable across enumerations and restarts of the engine (PulseAudio: the
    sink/source name), so a saved choice still finds its headset after a replug.
    """

    id: str
    name: str
    kind: DeviceKind
    is_default: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "default": self.is_default,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> AudioDevice:
        dev_id, name, kind = data.get("id"), data.get("name"), data.get("kind")
        if not isinstance(dev_id, str) or not isinstance(name, str) or not isinstance(kind, str):
            raise ValueError(f"audio device needs string id, name and kind: {data!r}")
        return cls(dev_id, name, DeviceKind(kind), bool(data.get("default", False)))
