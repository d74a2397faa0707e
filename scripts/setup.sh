#!/usr/bin/env bash
# Takes a bare Debian 12 machine to a working state for the demo and the tests.
# Idempotent: every step checks first and skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step_start=$(date +%s)
timed() { local t0; t0=$(date +%s); "$@"; say "  ($(( $(date +%s) - t0 )) s)"; }

apt_install() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v sysctl >/dev/null || missing+=(procps)
  command -v gzip >/dev/null || missing+=(gzip)
  # openh264's build uses its SIMD assembly only when nasm is there, and is several times
  # slower without it (the local backend's effect stage encodes every frame).
  command -v nasm >/dev/null || missing+=(nasm)
  # The developer guide's examples, which the tests run as printed.
  command -v curl >/dev/null || missing+=(curl)
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

rust_targets() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rustup: adding wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
}

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wasm_bindgen_cli() {
  local want have
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$want" != "$have" ]; then
    say "cargo: installing wasm-bindgen-cli $want (have: ${have:-none})"
    # --locked fails on a yanked transitive crate of this release.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

wasm_pack() {
  if ! command -v wasm-pack >/dev/null; then
    say "cargo: installing wasm-pack $WASM_PACK_VERSION"
    cargo install wasm-pack --version "$WASM_PACK_VERSION"
  fi
}

npm_deps() {
  local stamp=node_modules/.setup-stamp want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "npm: installing JS tooling"
    # `npm ci` installs exactly the lockfile and never rewrites it.
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
}

python_venv() {
  local stamp=.venv/.setup-stamp want
  want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "python: creating .venv with the test tools"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # Not the pack's requirements.txt: the tests use the relay built here, and
    # tests/python/test_install.py installs the wheel into a venv of its own.
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
    echo "$want" > "$stamp"
  fi
}

say "setup: checking tools"
timed apt_install
timed rust_targets
timed wasm_bindgen_cli
timed wasm_pack
timed npm_deps
timed python_venv
say "setup: done in $(( $(date +%s) - step_start )) s"
