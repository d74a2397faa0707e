#!/usr/bin/env bash
# Builds the relay wheel (rtc-node-relay) with the wasm package inside it.
#   scripts/build-wheel.sh OUT_DIR [maturin build options...]
#   scripts/build-wheel.sh --stage-only    (for CI jobs that run maturin themselves)
# The wasm package must have been built (scripts/build-wasm.sh); it is staged into the
# wheel's data folder (relay/pyproject.toml) so that pip installs it beside the executable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

out=${1:?usage: scripts/build-wheel.sh OUT_DIR [maturin options...] | --stage-only}
shift
for file in rtc_client.js rtc_client_bg.wasm; do
  [ -f "www/pkg/$file" ] || { say "www/pkg/$file is missing: run scripts/build-wasm.sh first"; exit 1; }
done
staged=relay/wheel-data/data/share/rtc-node-relay/pkg
rm -rf relay/wheel-data
mkdir -p "$staged"
cp www/pkg/rtc_client.js www/pkg/rtc_client_bg.wasm "$staged/"
[ "$out" = --stage-only ] && exit 0
maturin=${MATURIN:-$ROOT/.venv/bin/maturin}
"$maturin" build --quiet -m relay/Cargo.toml --out "$out" "$@"
