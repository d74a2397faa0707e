# Shared by the scripts in this folder; sourced, not run.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WASM_PACK_VERSION=0.15.1
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/bin/chromium}

say() { printf '%s\n' "$*" >&2; }

# Builds what the streaming scripts run: the relay in release (the figures shown are the
# product's) unless RTC_RELAY_BIN already names a binary, and the wasm package.
build_for_streaming() {
  if [ -z "${RTC_RELAY_BIN:-}" ]; then
    say "building the relay (release: the figures shown are the product's)"
    cargo build --quiet --release -p rtc-relay
    export RTC_RELAY_BIN="$TARGET_DIR/release/rtc-relay"
  fi
  say "building the wasm package"
  scripts/build-wasm.sh
}
