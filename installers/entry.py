"""The bundle's one executable: the app by default, the engine with ``--engine``.

A frozen bundle has no ``python -m softphone``, so the app starts its engine as
``<this executable> --engine`` (``softphone.client`` picks that argv when frozen). The
autostart entry runs ``--autostart``, which starts the app only when the agent or IT policy
turned "start at login" on, so one shipped entry serves both cases.
"""

from __future__ import annotations

import sys


def _main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--engine"]:
        from softphone.__main__ import run as engine_run

        engine_run(args[1:])  # ends the process itself (see softphone.__main__.run)
    if args[:1] == ["--autostart"]:
        from app.config import ConfigStore

        if not ConfigStore().settings.start_at_login:
            return 0
        args = ["--minimized", *args[1:]]
    from app.__main__ import main as app_main

    return int(app_main(args) or 0)


if __name__ == "__main__":
    sys.exit(_main())
