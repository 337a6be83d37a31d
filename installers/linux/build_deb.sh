#!/usr/bin/env bash
# Builds dist/lodgephone_<version>_amd64.deb from the onedir bundle (built first if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x dist/lodgephone/lodgephone ] || installers/build_bundle.sh
version=$(.venv/bin/python -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
arch=$(dpkg --print-architecture)
root=build/deb/lodgephone
rm -rf build/deb && mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" \
    "$root/usr/share/applications" "$root/usr/share/icons/hicolor/scalable/apps" \
    "$root/etc/xdg/autostart" "$root/usr/share/doc/lodgephone"
cp -a dist/lodgephone "$root/opt/lodgephone"
ln -s /opt/lodgephone/lodgephone "$root/usr/bin/lodgephone"
install -m 644 resources/lodgephone.desktop "$root/usr/share/applications/lodgephone.desktop"
install -m 644 resources/icons/lodgephone.svg "$root/usr/share/icons/hicolor/scalable/apps/lodgephone.svg"
install -m 644 installers/linux/lodgephone-autostart.desktop "$root/etc/xdg/autostart/lodgephone-autostart.desktop"
install -m 644 installers/policy/policy.sample.toml "$root/usr/share/doc/lodgephone/policy.sample.toml"
install -m 755 installers/linux/postinst installers/linux/postrm "$root/DEBIAN/"
size_kb=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: lodgephone
Version: $version
Architecture: $arch
Maintainer: Lodgestory <it@lodgestory.example>
Section: comm
Priority: optional
Installed-Size: $size_kb
Depends: libc6 (>= 2.28), libpulse0, libasound2, libegl1, libgl1, libfontconfig1, libdbus-1-3, libxkbcommon0, libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-xinerama0, libxcb-randr0, libxcb-render-util0, libxcb-image0, desktop-file-utils
Recommends: gnome-keyring | kwalletmanager, xdg-utils
Description: Lodgestory Phone softphone for CRM agents
 A desktop softphone for support and sales agents: floating dialer, incoming-call
 popups, call log synced with the Lodgestory CRM, and click-to-call from tel:,
 sip: and callto: links.
CONTROL
echo "/etc/xdg/autostart/lodgephone-autostart.desktop" > "$root/DEBIAN/conffiles"
out="dist/lodgephone_${version}_${arch}.deb"
# zstd: fast to build and install (dpkg >= 1.21.18, Debian 12 / Ubuntu 22.04); DEB_COMPRESS=xz for older.
compress=${DEB_COMPRESS:-zstd}
level=$([ "$compress" = xz ] && echo 6 || echo 9)
dpkg-deb --root-owner-group "-Z$compress" "-z$level" --build "$root" "$out" >/dev/null
echo "$out"
