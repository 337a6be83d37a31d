"""MOS estimate from what RTCP tells us, via a simplified ITU-T G.107 E-model.

Agents and support compare calls by one number; the E-model turns delay, loss and the
codec's impairment into an R factor and then a MOS, the way most PBXs report it.
"""

from __future__ import annotations

# (equipment impairment Ie, packet-loss robustness Bpl) per codec, G.113 Appendix I values
_CODEC_IMPAIRMENT: dict[str, tuple[float, float]] = {
    "PCMU": (0.0, 25.1),
    "PCMA": (0.0, 25.1),
    "G722": (0.0, 25.1),  # wideband scale would start higher; narrowband keeps MOS <= 4.4
    "GSM": (20.0, 43.0),
    "iLBC": (11.0, 32.0),
    "speex": (11.0, 20.0),
}


def mos(codec: str, one_way_delay_ms: float, loss_percent: float) -> float:
    """MOS in 1.0 .. 4.5 for a call with this codec, mouth-to-ear delay and packet loss."""
    ie, bpl = _CODEC_IMPAIRMENT.get(codec.split("/", maxsplit=1)[0], (10.0, 20.0))
    d = max(0.0, one_way_delay_ms)
    idd = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ppl = max(0.0, min(100.0, loss_percent))
    ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl)
    r = 93.2 - idd - ie_eff
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    value = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
    return round(max(1.0, min(4.5, value)), 2)
