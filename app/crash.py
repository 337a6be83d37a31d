"""Crash handling, installed first thing: nothing dies silently, nothing leaks a secret.

- ``faulthandler`` writes native crashes (a segfault in Qt) with all threads' stacks to
  ``faulthandler.log`` in the log folder; the next start reports that file if it grew.
- ``sys.excepthook`` and ``threading.excepthook`` write a report (traceback with locals'
  reprs left out, versions, time) through the redactor to ``crash-<time>.txt`` and the log.
  An exception in a Qt slot goes through ``sys.excepthook`` too; the app keeps running and
  the optional ``on_report`` callback tells the agent where the report is.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from crmclient.redact import redact

log = logging.getLogger(__name__)

_state: dict[str, object] = {}


def install(folder: Path, on_report: Callable[[Path, str], None] | None = None) -> None:
    """Install the hooks. ``on_report(path, summary)`` runs on the crashing thread."""
    folder.mkdir(parents=True, exist_ok=True)
    fault_path = folder / "faulthandler.log"
    previous = _state.get("fault_file")
    fault_file = open(fault_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
    faulthandler.enable(file=fault_file, all_threads=True)
    if previous is not None and hasattr(previous, "close"):
        previous.close()
    _state.update(folder=folder, fault_file=fault_file, on_report=on_report)

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        write_report(exc_type, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "?"
        write_report(args.exc_type, args.exc_value, args.exc_traceback, thread=name)

    sys.excepthook = excepthook
    threading.excepthook = thread_hook


def write_report(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    thread: str = "",
) -> Path | None:
    """Write one redacted crash report; returns its path (None if it could not be written)."""
    import platform  # not at start-up: ~6 ms of import before the dialer shows

    folder = _state.get("folder")
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    header = (
        f"Lodgestory Phone crash report\n"
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        f"thread: {thread or threading.current_thread().name}\n"
        f"python: {platform.python_version()} on {platform.platform()}\n\n"
    )
    report = redact(header + text)
    summary = redact(f"{exc_type.__name__}: {exc}")
    log.critical("unhandled exception: %s\n%s", summary, redact(text))
    if not isinstance(folder, Path):
        return None
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{threading.get_ident() % 10000}.txt"
    try:
        path.write_text(report, encoding="utf-8")
    except OSError:
        return None
    callback = _state.get("on_report")
    if callable(callback):
        try:
            callback(path, summary)
        except Exception:
            log.exception("crash report callback failed")
    return path


def uninstall() -> None:
    """Restore the default hooks (tests)."""
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__
    fault_file = _state.pop("fault_file", None)
    if faulthandler.is_enabled():
        faulthandler.enable(file=sys.stderr, all_threads=True)
    if fault_file is not None and hasattr(fault_file, "close"):
        fault_file.close()
    _state.clear()
