# Shared by the scripts in this folder; sourced, not run.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WASM_PACK_VERSION=0.15.1
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/bin/chromium}

say() { printf '%s\n' "$*" >&2; }
