#!/usr/bin/env bash
# Runs every benchmark on a quiet machine and keeps the JSON lines in artifacts/bench.jsonl.
# As root, inside a private network namespace (the SIP and CRM benches bind loopback ports);
# the PulseAudio rig benches start their own rig. `--quick` shortens the long audio runs.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0; [ "${1:-}" = "--quick" ] && quick=1
out=artifacts/bench.jsonl
mkdir -p artifacts && : > "$out"
cpu_seconds=300; [ "$quick" = 1 ] && cpu_seconds=60
run() {
    echo "== $*  (load $(cut -d' ' -f1-3 /proc/loadavg))"
    unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' .venv/bin/python "$@" | tee /tmp/bench-one.out
    grep -E '^\{' /tmp/bench-one.out | tail -n 1 >> "$out"
}
run bench/engine_start.py --runs 10
run bench/sip_latency.py --iterations 300
run bench/audio_latency.py
run bench/audio_cpu.py --seconds "$cpu_seconds"
run bench/crm_store_lookup.py
run bench/crm_store_calllog.py
run bench/crm_outbox_drain.py --records 3000
run bench/crm_http_lookup.py
run bench/crm_ws_latency.py
run bench/app_launch.py --runs 5
run bench/app_calllog.py
run bench/app_idle.py
run bench/app_popup_latency.py --rings 20
run bench/app_dial_latency.py --calls 20
[ -x dist/lodgephone/lodgephone ] && run bench/installer_launch.py
echo "JSON lines: $out"
