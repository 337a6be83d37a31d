"""How a reference CRM server instance is set up (database, timings, optional hooks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``simulate`` enables /v1/sim/* (provider and guest stand-ins for the demo);
    ``test_hooks`` enables /v1/test/* (fault injection). Both are off by default."""

    db_path: Path
    recordings_dir: Path | None = None
    seed: bool = True
    simulate: bool = False
    test_hooks: bool = False
    token_ttl_s: float = 3600.0
    session_ttl_s: float = 10 * 24 * 3600.0
    heartbeat_s: float = 15.0
    max_json_bytes: int = 1 << 20
    max_recording_bytes: int = 512 << 20
    sign_in_failures_allowed: int = 10
    sign_in_window_s: float = 300.0
    event_retention_days: float = 7.0

    @property
    def recordings(self) -> Path:
        if self.recordings_dir is not None:
            return self.recordings_dir
        return self.db_path.with_name(self.db_path.name + ".recordings")
