#!/usr/bin/env bash
# Prepares a fresh Debian machine: system packages, then a virtualenv with the project.
# `--test` adds the real peers and rigs the tests drive (Kamailio, baresip, sipp, PulseAudio,
# Xvfb, a Secret Service). Idempotent: a second run installs nothing it already has.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

runtime_pkgs=(
    python3-venv libpulse0 libasound2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
    libxcb-randr0 libxcb-render-util0 libxcb-image0 libfontconfig1 libdbus-1-3
    fonts-dejavu-core desktop-file-utils xdg-utils
    gcc libc6-dev python3-dev
)
test_pkgs=(
    kamailio baresip sip-tester pulseaudio pulseaudio-utils xvfb x11-utils imagemagick
    gnome-keyring dbus dbus-x11 libsecret-tools iproute2 util-linux sox tshark
    libglib2.0-bin wixl msitools openssl
)

pkgs=("${runtime_pkgs[@]}")
[ "$want_test" = 1 ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo_cmd=()
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    echo "setup: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

py=""
for cand in python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" 2>/dev/null -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))'; then
        py="$cand"; break
    fi
done
[ -n "$py" ] || { echo "setup: need CPython 3.11 or 3.12 (pjsua2-python has no wheel for others)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
extra=""
[ "$want_test" = 1 ] && extra="[test]"
stamp=".venv/.installed$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] \
    || [ softphone/audio/native/lpaudio.c -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra"
    touch "$stamp"
fi
