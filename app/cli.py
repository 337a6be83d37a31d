"""The command line: parsed the same way in the process that typed it and in the running app.

``lodgephone`` alone starts the app (or shows the running one). Everything else either
starts it with a task or is forwarded to the running instance over ``app.ipc``::

    lodgephone [--minimized]
    lodgephone tel:+15551234567           (also sip:, sips:, callto:, or a bare number)
    lodgephone dial NUMBER [--now]
    lodgephone answer | hangup | show | settings | quit
    lodgephone status [--json]
    lodgephone diagnostics [--out FILE.zip]   (works with or without a running app)

No Qt here: a click on a phone link must cost as little as possible. For the same reason
``argparse`` is only imported for a real command: a plain start, ``--minimized`` and a
phone link are recognised without it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from app.links import LinkError, LinkTarget, looks_like_link, parse_link

if TYPE_CHECKING:
    import argparse

__all__ = ["Command", "CommandKind", "UsageError", "parse_args"]


class CommandKind(enum.StrEnum):
    OPEN = "open"  # start, or bring the running app forward
    LINK = "link"  # a phone link: open the dialer filled in (or dial, per setting)
    DIAL = "dial"
    ANSWER = "answer"
    HANGUP = "hangup"
    STATUS = "status"
    SHOW = "show"
    SETTINGS = "settings"
    QUIT = "quit"
    DIAGNOSTICS = "diagnostics"  # handled in the typing process; asks a running app for status


#: Commands that only make sense with a running app (they never start one).
NEEDS_RUNNING = frozenset(
    {CommandKind.ANSWER, CommandKind.HANGUP, CommandKind.STATUS, CommandKind.QUIT}
)


class UsageError(ValueError):
    """The command line is wrong; the message says how to write it."""


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    target: LinkTarget | None = None  # LINK and DIAL: what to call (parsed, never guessed)
    link_error: str = ""  # LINK/DIAL whose number is malformed: shown to the agent
    raw: str = ""  # the link or number as given
    dial_now: bool = False
    as_json: bool = False
    minimized: bool = False


def _parser() -> argparse.ArgumentParser:
    import argparse

    class _Parser(argparse.ArgumentParser):
        """Raises instead of printing and exiting: the running app parses forwarded argv too."""

        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{message}\n{self.format_usage().strip()}")

    p = _Parser(
        prog="lodgephone",
        description="Lodgestory Phone: softphone for agents. Without a command it starts "
        "the app, or shows the one already running.",
        epilog="Phone links (tel:, sip:, callto:) may be given instead of a command.",
    )
    p.add_argument("--minimized", action="store_true", help="start in the tray only")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    dial = sub.add_parser("dial", help="dial a number in the running app (starts it if needed)")
    dial.add_argument("number", help="number in any format, or a tel:/sip: link")
    dial.add_argument("--now", action="store_true", help="dial at once, do not just fill in")
    sub.add_parser("answer", help="answer the ringing call")
    sub.add_parser("hangup", help="hang up the current call")
    status = sub.add_parser("status", help="show registration and calls")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("show", help="bring the main window (call log) forward")
    sub.add_parser("settings", help="open the settings window")
    sub.add_parser("quit", help="quit the running app")
    diag = sub.add_parser("diagnostics", help="write a zip for IT: logs, versions, devices")
    diag.add_argument("--out", default="", help="where to write it (default: Desktop or home)")
    return p


def parse_args(argv: list[str]) -> Command:
    """Parse argv (without the program name). Raises ``UsageError`` with the usage text.

    ``--help`` raises ``SystemExit`` like argparse does (the caller lets it through).
    """
    args = [a for a in argv if a]
    minimized = "--minimized" in args
    rest = [a for a in args if a != "--minimized"]
    if not rest:
        return Command(CommandKind.OPEN, minimized=minimized)
    if len(rest) == 1 and (looks_like_link(rest[0]) or _looks_like_number(rest[0])):
        return _link(CommandKind.LINK, rest[0], minimized=minimized)
    parser = _parser()
    ns = parser.parse_args(args)
    if ns.command is None:
        return Command(CommandKind.OPEN, minimized=ns.minimized)
    kind = CommandKind(ns.command)
    if kind is CommandKind.DIAL:
        return _link(kind, ns.number, dial_now=ns.now, minimized=ns.minimized)
    if kind is CommandKind.DIAGNOSTICS:
        return Command(kind, raw=ns.out, minimized=ns.minimized)
    return Command(kind, as_json=getattr(ns, "json", False), minimized=ns.minimized)


def _looks_like_number(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] in "+0123456789(" and not stripped.startswith("-")


def _link(kind: CommandKind, raw: str, *, dial_now: bool = False, minimized: bool) -> Command:
    try:
        target = parse_link(raw)
    except LinkError as exc:
        return Command(kind, link_error=exc.message, raw=raw, minimized=minimized)
    return Command(kind, target=target, raw=raw, dial_now=dial_now, minimized=minimized)
