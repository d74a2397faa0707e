#!/usr/bin/env bash
# Builds a release into dist/: the relay wheel for this platform and the pack's archive for
# the Comfy Registry.
#   scripts/package.sh [TARGET_TRIPLE]
# Without a triple the wheel is for this machine. Linux wheels are linked with zig against
# glibc 2.17 (manylinux2014) so that they install on every current distribution; other
# triples are cross builds through cargo-zigbuild (`rustup target add TRIPLE` first).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$ROOT/.venv/bin:$PATH"

triple=${1:-}
options=(--release --zig)
case "$triple" in
  "" | *-linux-gnu) options+=(--compatibility manylinux2014 --auditwheel check) ;;
esac
[ -n "$triple" ] && options+=(--target "$triple")

scripts/build-wasm.sh
mkdir -p dist
scripts/build-wheel.sh dist "${options[@]}"
version=$(awk -F'"' '/^version = / { print $2; exit }' pyproject.toml)
# The same file list as `comfy node pack` (see scripts/registry_archive.py).
.venv/bin/python scripts/registry_archive.py "dist/rtc-node-$version.zip"
ls -l dist
