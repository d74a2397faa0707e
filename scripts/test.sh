#!/usr/bin/env bash
# Runs every gate: formatting, lints, Rust tests, wasm tests in headless Chromium, Python
# tests, JS lint/types/tests and the end-to-end suite. Stops at the first failing gate with a
# non-zero status; `--keep-going` runs them all and fails at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

keep_going=0
[ "${1:-}" = "--keep-going" ] && keep_going=1

scripts/setup.sh || { say "setup failed"; exit 1; }

passed=0
failed=0
failed_names=()
summary=()

# gate NAME COMMAND... : runs one gate, keeps the runner's own summary lines for the end.
gate() {
  local name=$1; shift
  local log; log=$(mktemp)
  local t0; t0=$(date +%s)
  say ""
  say "━━ $name: $*"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local secs=$(( $(date +%s) - t0 ))
  # The runners' own closing lines (cargo test, node --test, pytest, ruff, biome).
  local lines
  lines=$(grep -E '^test result:|^# (pass|fail) |[0-9]+ passed|^All checks passed|^Checked [0-9]+ files|^wasm package:|^Found [0-9]+ error' "$log" | sed 's/^/    /')
  rm -f "$log"
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1)); summary+=("ok    $name (${secs}s)")
  else
    failed=$((failed + 1)); failed_names+=("$name"); summary+=("FAIL  $name (${secs}s, exit $rc)")
  fi
  [ -n "$lines" ] && summary+=("$lines")
  if [ "$rc" != 0 ] && [ "$keep_going" = 0 ]; then finish; fi
}

finish() {
  say ""
  say "━━ summary"
  printf '%s\n' "${summary[@]}"
  echo "gates: $passed passed, $failed failed"
  [ "$failed" = 0 ] || { say "failed: ${failed_names[*]}"; exit 1; }
  exit 0
}

gate "cargo fmt" cargo fmt --all -- --check
gate "ruff" .venv/bin/ruff check __init__.py comfy_extension scripts tests
gate "ruff format" .venv/bin/ruff format --check __init__.py comfy_extension scripts tests
gate "biome" biome check
gate "clippy" cargo clippy --workspace --all-targets -- -D warnings
gate "clippy (wasm32)" cargo clippy -p rtc-client --target wasm32-unknown-unknown --all-targets -- -D warnings
gate "cargo test" cargo test --workspace
gate "wasm build" scripts/build-wasm.sh
gate "wasm-pack test" wasm-pack test --headless --chrome wasm-client
gate "tsc" tsc -p tsconfig.json
gate "pytest" .venv/bin/python -m pytest tests/python -q
gate "js unit" node --test --test-timeout=120000 tests/js/
gate "e2e" node --test --test-concurrency=1 --test-timeout=240000 tests/e2e/
gate "interop: aiortc vs local media" .venv/bin/python -m pytest tests/interop -q
gate "interop: wasm client vs aiortc" node --test --test-timeout=240000 tests/interop/
finish
