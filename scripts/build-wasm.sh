#!/usr/bin/env bash
# Builds the wasm package into www/pkg (served by ComfyUI and by the relay)
# and prints its size, raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

OUT=www/pkg
cargo build --quiet -p rtc-client --target wasm32-unknown-unknown --profile wasm-release
wasm-bindgen --target web --typescript --weak-refs --out-dir "$OUT" --out-name rtc_client \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm-release/rtc_client.wasm"
# Rust's wasm32 target enables these proposals by default; wasm-opt must accept them.
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  -o "$OUT/rtc_client_bg.wasm" "$OUT/rtc_client_bg.wasm"
# The pages load the glue as is (no bundler), so it ships minified; its documentation lives in
# rtc_client.d.ts. The @ts-self-types pointer stays.
terser "$OUT/rtc_client.js" --module --compress --mangle --comments '/@ts-self-types/' \
  -o "$OUT/rtc_client.js"

wasm_raw=$(stat -c %s "$OUT/rtc_client_bg.wasm")
js_raw=$(stat -c %s "$OUT/rtc_client.js")
# Measured as tests/js/wasm-package.test.js measures the budget (zlib level 9 in Node), which
# comes out several hundred bytes larger than gzip(1) on the wasm.
gz=$(node -e 'const zlib = require("node:zlib"), fs = require("node:fs");
let total = 0;
for (const file of process.argv.slice(1)) total += zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
console.log(total);' "$OUT/rtc_client_bg.wasm" "$OUT/rtc_client.js")
awk -v w="$wasm_raw" -v j="$js_raw" -v g="$gz" 'BEGIN {
  printf "wasm package: wasm %d B + glue %d B raw, %.1f KB gzipped (budget 80 KB)\n", w, j, g / 1024 }'
echo "$gz" > "$OUT/.gzip-bytes"
