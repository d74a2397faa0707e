#!/usr/bin/env bash
# Refreshes the README's pictures in docs/ from the page tests (the tests alone write their
# screenshots to a scratch folder). With COMFYUI_DIR set, the real-ComfyUI pictures too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/setup.sh
cargo build --quiet -p rtc-relay
scripts/build-wasm.sh
files=(tests/e2e/comfy-frontend.test.js tests/e2e/preview.test.js tests/e2e/studio.test.js)
[ -n "${COMFYUI_DIR:-}" ] && files+=(tests/e2e/comfyui-real.test.js)
RTC_SCREENSHOT_DIR="$PWD/docs" node --test --test-concurrency=1 --test-timeout=240000 "${files[@]}"
say "screenshots refreshed in docs/"
