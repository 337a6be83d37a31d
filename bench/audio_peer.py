"""A bare pjsua2 user agent around `AudioBridge`, for the audio benchmarks.

It measures the audio path (bridge, FIFOs, devices, jitter buffer) with the media settings
the engine uses, without depending on the engine's command protocol. One process = one
endpoint (pjsua2 allows one per process). Prints `READY <port>`, `CONFIRMED`, and at exit
one JSON line of bridge statistics on stdout.

    audio_peer.py --port 0 --input mic.monitor --output spk [--call sip:127.0.0.1:5062]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pjsua2 as pj

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from softphone.audio.bridge import AudioBridge
from softphone.audio.priority import promote_threads_named
from softphone.engine import (  # states: the one module that knows pjsua2 call states
    mediaconf,
    states,
)


def media_config(cfg: Any, jb_ms: int) -> None:
    """The engine's own media settings, with the jitter buffer under test."""
    mediaconf.apply(cfg.medConfig, jb_ms)
    cfg.medConfig.threadCnt = 1


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, peer: Peer, acc: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.peer = peer

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if states.is_confirmed(info.state):
            print("CONFIRMED", flush=True)
        elif states.is_disconnected(info.state):
            print("DISCONNECTED", flush=True)
            self.peer.done.set()

    def onCallMediaState(self, prm: Any) -> None:
        info = self.getInfo()
        for i, mi in enumerate(info.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.peer.bridge.attach(self.getAudioMedia(i))


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self, peer: Peer) -> None:
        super().__init__()
        self.peer = peer

    def onIncomingCall(self, prm: Any) -> None:
        call = Call(self.peer, self, prm.callId)
        self.peer.calls.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


class Peer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.done = threading.Event()
        self.bridge: AudioBridge


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--input", default="")
    ap.add_argument("--output", default="")
    ap.add_argument("--backend", default="miniaudio")
    ap.add_argument("--call", default="")
    ap.add_argument("--jb-ms", type=int, default=20)
    ap.add_argument("--codec", default="G722/16000")
    ap.add_argument("--period-ms", type=int, default=0, help="device period (0: default)")
    args = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    media_config(cfg, args.jb_ms)
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    port = ep.transportGetInfo(tid).localName.split(":")[-1]
    ep.libStart()
    for _ in range(20):  # as the engine does (softphone/engine/core.py): the RTP worker
        if promote_threads_named(("media",)):  # names itself once it runs
            break
        threading.Event().wait(0.05)
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith(args.codec) else 0)

    peer = Peer()
    backend: Any = args.backend
    if args.backend == "miniaudio" and args.period_ms:
        from softphone.audio.backends.mini import MiniaudioBackend

        backend = MiniaudioBackend(period_ms=args.period_ms)
    peer.bridge = AudioBridge(backend)
    peer.bridge.set_devices(args.input or None, args.output or None, None)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:bench@127.0.0.1:{port}"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = Account(peer)
    acc.create(acfg)
    print(f"READY {port}", flush=True)

    if args.call:
        peer.calls.append(Call(peer, acc))
        peer.calls[-1].makeCall(args.call, pj.CallOpParam(True))

    stdin_closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
    while not stdin_closed.is_set() and not peer.done.is_set():
        ep.libHandleEvents(10)

    stats = peer.bridge.stats()
    ep.hangupAllCalls()
    for _ in range(100):
        if peer.done.is_set():
            break
        ep.libHandleEvents(10)
    peer.bridge.close()
    ep.audDevManager().setNoDev()
    print(json.dumps(stats), flush=True)
    peer.calls.clear()
    del peer, acc
    import gc

    gc.collect()
    ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
