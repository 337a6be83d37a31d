"""A private app instance for tests and benchmarks: its own folders, no policy, null audio.

The app reads these variables before anything else, so a test or a benchmark never sees
(or writes) the machine's real settings, CRM session, call log or policy file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def private_app_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment for `python -m app` living entirely under `folder`."""
    return {
        **os.environ,
        "LODGEPHONE_RUNTIME_DIR": str(folder / "run"),
        "LODGEPHONE_CONFIG_DIR": str(folder / "config"),
        "LODGEPHONE_DATA_DIR": str(folder / "data"),
        "LODGEPHONE_LOG_DIR": str(folder / "log"),
        "LODGEPHONE_POLICY": str(folder / "no-policy.toml"),
        "LODGEPHONE_AUDIO": "null",
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        **extra,
    }


def app_cli(
    env: dict[str, str], *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`lodgephone ARGS` as a second process would run it (forwarded to the running app)."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
