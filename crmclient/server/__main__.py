"""``python -m crmclient.server --db PATH [--host H] [--port N] [--simulate]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crmclient.server.config import ServerConfig
from crmclient.server.runner import bind, make_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crmclient.server", description="Lodgestory reference CRM server"
    )
    parser.add_argument("--db", type=Path, required=True, help="SQLite file (created if new)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--recordings", type=Path, help="default: <db>.recordings/")
    parser.add_argument("--no-seed", action="store_true", help="do not add the demo data")
    parser.add_argument("--simulate", action="store_true", help="enable /v1/sim/*")
    parser.add_argument("--test-hooks", action="store_true", help="enable /v1/test/*")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="seconds")
    parser.add_argument("--heartbeat", type=float, default=15.0, help="seconds")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    config = ServerConfig(
        db_path=args.db,
        recordings_dir=args.recordings,
        seed=not args.no_seed,
        simulate=args.simulate,
        test_hooks=args.test_hooks,
        token_ttl_s=args.token_ttl,
        heartbeat_s=args.heartbeat,
    )
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    print(f"crm server listening on http://{host}:{port}", flush=True)
    make_server(config, log_level=args.log_level).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
