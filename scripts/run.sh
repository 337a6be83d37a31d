#!/usr/bin/env bash
# Sets up the app and starts it on its embedded default: demo CRM and demo line, no server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/lodgephone "$@"
