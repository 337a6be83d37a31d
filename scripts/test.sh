#!/usr/bin/env bash
# The one test command: README.md gives it and .ci/run runs it unchanged.
# Lint and types first (fast failures), then every test inside a private network namespace
# so SIP and HTTP peers only ever see a loopback of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy softphone crmclient app

run_pytest=(.venv/bin/python -X faulthandler -m pytest "$@")
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "${run_pytest[@]}"
elif unshare -rn true 2>/dev/null; then
    exec unshare -rn sh -c 'ip link set lo up && exec "$0" "$@"' "${run_pytest[@]}"
else
    echo "test: no network namespace available; running on the shared loopback" >&2
    exec "${run_pytest[@]}"
fi
