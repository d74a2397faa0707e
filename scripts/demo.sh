#!/usr/bin/env bash
# The main job on the embedded local backend: builds everything, starts the relay, streams a
# test source through WHIP → local pipeline → WHEP in headless Chromium and prints live
# figures. `--seconds N` sets how long to stream; `--open` keeps the relay up for a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/setup.sh
say "building the relay (release: the figures shown are the product's) and the wasm package"
cargo build --quiet --release -p rtc-relay
scripts/build-wasm.sh
RTC_RELAY_BIN="$TARGET_DIR/release/rtc-relay" exec node scripts/demo.mjs "$@"
