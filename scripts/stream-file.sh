#!/usr/bin/env bash
# Streams a video file through create → WHIP → backend → WHEP in headless Chromium, on the
# local backend unless `--backend daydream` (key from DAYDREAM_API_KEY), printing live figures:
#   scripts/stream-file.sh VIDEO [--loop] [--seconds N] [--backend local|daydream]
# Builds the relay (release, unless RTC_RELAY_BIN names one) and the wasm package first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Built from the checkout; run from the caller's folder, against which VIDEO is resolved.
pushd "$ROOT" >/dev/null
build_for_streaming
popd >/dev/null
exec node "$ROOT/scripts/stream-file.mjs" "$@"
