"""`python -m softphone`: the engine process (see docs/engine-protocol.md).

The protocol owns the original stdout; fd 1 is re-pointed at stderr before PJSIP loads,
so PJSIP's console log and any stray print go to stderr, never into the JSON stream.
"""

from __future__ import annotations

import time

_T0 = time.monotonic()

import argparse  # noqa: E402
import faulthandler  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import NoReturn  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m softphone", description=__doc__)
    parser.add_argument("--config", default="{}", help="EngineConfig as JSON")
    parser.add_argument("--id-prefix", default="", help="prefix of call ids (per restart)")
    args = parser.parse_args(argv)

    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    faulthandler.enable(file=sys.stderr, all_threads=True)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="engine %(levelname)s %(name)s: %(message)s"
    )

    from softphone import codec
    from softphone.config import EngineConfig
    from softphone.engine.core import Engine
    from softphone.engine.wire import Wire, start_reader

    try:
        config = codec.from_json(EngineConfig, json.loads(args.config))
    except (ValueError, codec.CodecError) as exc:
        print(f"engine: bad --config: {exc}", file=sys.stderr)
        return 2
    wire = Wire(protocol_fd)
    engine = Engine(config, wire, args.id_prefix, _T0)
    start_reader(sys.stdin.buffer, wire, engine.submit)
    return engine.run()


def run(argv: list[str] | None = None) -> NoReturn:
    """Run the engine and end the process without interpreter teardown: PJSIP is destroyed
    by then, and the daemon stdin reader (blocked in read()) would make CPython abort on the
    buffered stdin lock (exit -6 instead of 0). Also the frozen bundle's `--engine` mode."""
    code = main(argv)
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
