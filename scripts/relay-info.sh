#!/usr/bin/env bash
# Prints where the relay listens and its token as shell assignments, for calling the API by
# hand: `eval "$(scripts/relay-info.sh)"` sets RELAY and TOKEN. Finds the relay ComfyUI
# started, else the standalone one (RTC_RELAY_ADDR, RTC_RELAY_STATE_DIR, RTC_RELAY_TOKEN as
# the relay reads them). docs/DEVELOPING.md shows what to do with them.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m comfy_extension.rtc_node.relay_info
