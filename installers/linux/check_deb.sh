#!/usr/bin/env bash
# IT's acceptance check for the Linux package, on this machine (needs root):
# build the bundle and the .deb, install it with apt-get, show that `gio open tel:...`
# reaches the installed app, remove it and find nothing left behind. Prints figures and,
# last, one JSON line (bundle size, .deb size, install time, cold start to dialer ready).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "check_deb: run as root (it installs a package)" >&2; exit 2; }
command -v gio >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libglib2.0-bin >/dev/null

say() { printf 'check_deb: %s\n' "$*"; }
fail() { printf 'check_deb: FAILED: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }

[ -x dist/lodgephone/lodgephone ] || installers/build_bundle.sh >/dev/null
deb=$(installers/linux/build_deb.sh | tail -n 1)
bundle_mb=$(du -sm dist/lodgephone | cut -f1)
deb_mb=$(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$deb")/1048576}")
say "bundle ${bundle_mb} MB, package ${deb_mb} MB ($deb)"

dpkg -s lodgephone >/dev/null 2>&1 && apt-get remove --purge -y -qq lodgephone >/dev/null
t0=$(now_ms)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
install_ms=$(( $(now_ms) - t0 ))
say "installed in ${install_ms} ms"
[ -x /usr/bin/lodgephone ] || fail "/usr/bin/lodgephone missing"
grep -q "x-scheme-handler/tel=.*lodgephone.desktop" /usr/share/applications/mimeinfo.cache \
    || fail "tel: handler not registered in mimeinfo.cache"

# The packaged engine speaks its protocol and exits 0 when told to (not an abort at exit).
engine_out=$(printf '{"id": 1, "cmd": "shutdown"}\n' \
    | /usr/bin/lodgephone --engine --config '{"log_level": 0}' 2>/dev/null) \
    || fail "packaged engine exited $? on shutdown"
grep -q '"event":"engine_stopped"' <<<"$engine_out" || fail "packaged engine: no engine_stopped"
say "packaged engine: hello, shutdown, exit 0"

# A private agent: own home, runtime dir and settings; the embedded CRM without the demo line.
agent=$(mktemp -d)
export HOME="$agent/home" XDG_RUNTIME_DIR="$agent/run" XDG_CONFIG_HOME="$agent/home/.config"
export XDG_DATA_HOME="$agent/home/.local/share" XDG_STATE_HOME="$agent/home/.local/state"
export QT_QPA_PLATFORM=offscreen
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/lodgephone" && chmod 700 "$XDG_RUNTIME_DIR"
echo '{"demo_line": false}' > "$XDG_CONFIG_HOME/lodgephone/settings.json"

app_pid=""
cleanup() {
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
    rm -rf "$agent"
}
trap cleanup EXIT

t0=$(now_ms)
/usr/bin/lodgephone --minimized >"$agent/app.log" 2>&1 &
app_pid=$!
ready=""
for _ in $(seq 1 300); do
    if /usr/bin/lodgephone status --json >"$agent/status.json" 2>/dev/null; then ready=1; break; fi
    kill -0 "$app_pid" 2>/dev/null || { cat "$agent/app.log" >&2; fail "installed app exited"; }
    sleep 0.05
done
[ -n "$ready" ] || { cat "$agent/app.log" >&2; fail "installed app never answered"; }
cold_ms=$(( $(now_ms) - t0 ))
say "installed app answering after ${cold_ms} ms"

gio open "tel:+1-555-123-4567" || fail "gio open tel: failed"
reached=""
for _ in $(seq 1 100); do
    /usr/bin/lodgephone status --json >"$agent/status.json"
    if grep -q '"last_dial_request": "+15551234567"' "$agent/status.json"; then reached=1; break; fi
    sleep 0.05
done
[ -n "$reached" ] || { cat "$agent/status.json" "$agent/app.log" >&2; fail "gio open tel: did not reach the app"; }
say "gio open tel:+1-555-123-4567 reached the running app"
/usr/bin/lodgephone quit >/dev/null 2>&1 || kill "$app_pid"
wait "$app_pid" 2>/dev/null || true
app_pid=""

apt-get remove --purge -y -qq lodgephone >/dev/null
left=""
for path in /opt/lodgephone /usr/bin/lodgephone /usr/share/applications/lodgephone.desktop \
        /usr/share/icons/hicolor/scalable/apps/lodgephone.svg \
        /etc/xdg/autostart/lodgephone-autostart.desktop /usr/share/doc/lodgephone; do
    [ -e "$path" ] && left="$left $path"
done
grep -q lodgephone /usr/share/applications/mimeinfo.cache 2>/dev/null && left="$left mimeinfo.cache"
[ -z "$left" ] || fail "left behind after purge:$left"
say "removed; nothing left behind"
printf '{"bundle_mb": %s, "deb_mb": %s, "install_ms": %s, "installed_cold_start_to_answering_ms": %s}\n' \
    "$bundle_mb" "$deb_mb" "$install_ms" "$cold_ms"
