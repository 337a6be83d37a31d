"""The real engine (`python -m softphone` under an EngineClient) as an audio bench peer.

Speaks the same stdout lines as bench/audio_peer.py (`READY <port> <engine pid>`,
`CONFIRMED`, a JSON line at exit) so the audio benches can measure what agents run: the
engine process with its event loop, statistics timer and audio bridge, not a bare pjsua2.

    audio_engine_peer.py --port 0 --input mic.monitor --output spk [--call sip:b@127.0.0.1:5062]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from softphone.client import EngineClient
from softphone.config import AccountConfig, EngineConfig
from softphone.events import AudioStarted, CallStateChanged, Event
from softphone.types import CallState


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--input", default="")
    ap.add_argument("--output", default="")
    ap.add_argument("--call", default="")
    ap.add_argument("--period-ms", type=int, default=0, help="ignored (audio_peer.py's option)")
    args = ap.parse_args()

    audio_up = threading.Event()
    in_call = threading.Event()
    ended = threading.Event()
    backend: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, AudioStarted):
            backend.append(event.backend)
            audio_up.set()
        elif isinstance(event, CallStateChanged):
            if event.state is CallState.IN_CALL:
                in_call.set()
            elif event.state in (CallState.ENDED, CallState.FAILED):
                ended.set()

    config = EngineConfig(rtp_bind_address="127.0.0.1", log_level=1, audio_backend="miniaudio")
    client = EngineClient(config, stderr=sys.stderr)
    client.subscribe(on_event)
    client.start()
    if not audio_up.wait(10):
        print("engine audio did not start", file=sys.stderr)
        return 1
    added = client.add_account(
        AccountConfig(
            account_id="bench",
            username="bench",
            domain="127.0.0.1",
            bind_address="127.0.0.1",
            local_port=args.port,
            auto_answer=not args.call,
        )
    )
    client.set_devices(
        input_id=args.input or "", output_id=args.output or "", ringer_id=args.output or ""
    )
    print(f"READY {added.local_port} {client.pid}", flush=True)
    call_id = client.make_call("bench", args.call) if args.call else None
    if call_id is not None:
        if not in_call.wait(10):
            print("call did not connect", file=sys.stderr)
            return 1
        print("CONFIRMED", flush=True)
    sys.stdin.read()  # the bench closes stdin to end the call
    if call_id is not None and not ended.is_set():
        client.hangup(call_id)
    ended.wait(5)
    print(json.dumps({"backend": backend[0] if backend else ""}), flush=True)
    return 0 if client.stop() == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
