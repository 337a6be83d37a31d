#!/usr/bin/env bash
# Builds dist/lodgephone-<version>.msi with wixl from lodgephone.wxs and a fragment listing
# the bundle's files (wixl-heat). On Linux this checks the WiX sources and the MSI tables;
# the payload for agents' PCs is the Windows bundle built by PyInstaller on Windows
# (see installers/README.md), passed as STAGE_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(.venv/bin/python -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
stage=${STAGE_DIR:-}
if [ -z "$stage" ]; then
    [ -x dist/lodgephone/lodgephone ] || installers/build_bundle.sh >/dev/null
    stage=build/msi/stage
    rm -rf build/msi && mkdir -p build/msi
    cp -a dist/lodgephone "$stage"
    mv "$stage/lodgephone" "$stage/lodgephone.exe"
fi
mkdir -p build/msi dist
stage=$(realpath --relative-to=. "$stage")  # wixl takes SourceFile paths relative only
(cd "$stage" && find . -type f | sed 's|^\./||' | sort) \
    | wixl-heat --prefix "" --directory-ref INSTALLDIR --component-group BundleFiles \
        --var var.StageDir --win64 > build/msi/bundle.wxs
out="dist/lodgephone-${version}.msi"
wixl --arch x64 -D Win64=yes -D Version="$version" -D StageDir="$stage" \
    -o "$out" installers/windows/lodgephone.wxs build/msi/bundle.wxs
[ -s "$out" ] || { echo "build_msi: wixl wrote no $out" >&2; exit 1; }
echo "$out"
