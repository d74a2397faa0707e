#!/usr/bin/env bash
# Benchmarks DESIGN P1–P6 against baselines measured in the same run; prints the table and
# writes docs/benchmarks.{json,png} and the README's benchmark section.
# Options go to tests/bench/run.mjs: --runs N (≥3), --seconds S, --only P2,P4, --no-write.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/setup.sh
cargo build --quiet --release -p rtc-relay --bin rtc-relay --example local_media
scripts/build-wasm.sh
RTC_RELAY_BIN="$TARGET_DIR/release/rtc-relay" exec node tests/bench/run.mjs "$@"
