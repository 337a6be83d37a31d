"""Real SIP peers and helpers for tests: Kamailio, baresip, sipp, tones, deadlines, ports.

Everything binds to 127.0.0.1 only and is meant to run inside a private network namespace
(`unshare -n`), so nothing here ever reaches a real network.
"""
