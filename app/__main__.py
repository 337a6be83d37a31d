"""``lodgephone``: forward to the running app if there is one, else become the app.

The forwarding path imports no Qt (``app.cli``, ``app.ipc`` and ``app.links`` are pure
standard library), so clicking a ``tel:`` link while the app runs costs tens of
milliseconds, not the half second of a Qt import.
"""

from __future__ import annotations

import json
import sys

from app import ipc
from app.cli import NEEDS_RUNNING, Command, CommandKind, UsageError, parse_args

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3


def _print_reply(command: Command, reply: ipc.Reply) -> int:
    if command.kind is CommandKind.STATUS and command.as_json:
        print(json.dumps({"running": True, **reply.data}, indent=2, sort_keys=True))
    elif reply.message:
        print(reply.message, file=sys.stdout if reply.ok else sys.stderr)
    return EXIT_OK if reply.ok else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = parse_args(args)
    except UsageError as exc:
        print(f"lodgephone: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if command.kind is CommandKind.DIAGNOSTICS:
        from app.diagnostics import export_for_agent

        path = export_for_agent(command.raw or None)
        print(f"Diagnostics written to {path}")
        return EXIT_OK
    if command.link_error:
        print(f"lodgephone: {command.raw!r}: {command.link_error}", file=sys.stderr)
    for _attempt in range(3):
        try:
            return _print_reply(command, ipc.forward(args))
        except ipc.NotRunning:
            pass
        except ipc.IpcError as exc:
            print(f"lodgephone: the running app did not answer: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if command.kind in NEEDS_RUNNING:
            if command.kind is CommandKind.STATUS and command.as_json:
                print(json.dumps({"running": False}))
            else:
                print("Lodgestory Phone is not running.", file=sys.stderr)
            return EXIT_NOT_RUNNING
        lock = ipc.InstanceLock()
        if lock.acquire():
            from app.application import run

            code = run(command, lock)
            # Leave without interpreter finalisation: PySide6 objects torn down by the
            # garbage collector at exit have crashed the process (after all was saved).
            import logging
            import os

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        # Another process won the race to start; it will be listening shortly.
    print("lodgephone: another instance is starting but does not answer", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
