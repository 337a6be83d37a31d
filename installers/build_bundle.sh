#!/usr/bin/env bash
# Builds the onedir bundle into dist/lodgephone/ (offline; about a minute on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x .venv/bin/pyinstaller ] || .venv/bin/python -m pip install -q --disable-pip-version-check "pyinstaller>=6.5,<7"
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller installers/lodgephone.spec
du -sh dist/lodgephone
