#!/usr/bin/env bash
# The main job on the embedded local backend: builds everything, starts the relay, streams a
# test source through WHIP → local pipeline → WHEP in headless Chromium and prints live
# figures. `--seconds N` sets how long to stream; `--open` keeps the relay up for a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/setup.sh
build_for_streaming
exec node scripts/demo.mjs "$@"
