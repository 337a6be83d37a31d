"""Rotating log files in the platform's log folder, with every secret masked.

Handlers get ``crmclient.redact.RedactingFilter`` (on the handlers, so records propagating
from any child logger pass through it). Files rotate at 2 MB, five kept: enough for a day
of calls, small enough to attach to a ticket.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

import platformdirs

from crmclient.redact import RedactingFilter

APP_NAME = "lodgephone"
LOG_FILE = "lodgephone.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


def log_dir() -> Path:
    override = os.environ.get("LODGEPHONE_LOG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def setup_logging(
    folder: Path | None = None, level: int = logging.INFO, console: bool = True
) -> Path:
    """Send the root logger to a rotating file (and stderr); returns the file's path.

    Safe to call twice: handlers installed by an earlier call are replaced.
    """
    folder = folder or log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_lodgephone", False):
            root.removeHandler(handler)
            handler.close()
    redact = RedactingFilter()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
    )
    handlers: list[logging.Handler] = [file_handler]
    if console and sys.stderr is not None:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(redact)
        handler._lodgephone = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    with contextlib.suppress(OSError):
        path.touch(mode=0o600, exist_ok=True)
    return path
