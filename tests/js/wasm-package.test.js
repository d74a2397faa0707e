// The built wasm package loads outside a browser and does not grow unnoticed. The design
// budget (P5) is 80 KB gzipped; the package is over it today, which the benchmark table
// reports. This test holds the line at the current size so any growth fails here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

const pkg = new URL("../../comfy_extension/web/pkg/", import.meta.url);

test("wasm package instantiates and reports its version", async () => {
  const wasm = await import(new URL("rtc_client.js", pkg));
  wasm.initSync({ module: readFileSync(new URL("rtc_client_bg.wasm", pkg)) });
  assert.match(wasm.version(), /^\d+\.\d+\.\d+$/);
  assert.equal(wasm.protocolVersion(), 1);
});

const CEILING_KB = 125;

test(`wasm + glue gzip to at most ${CEILING_KB} KB`, () => {
  const gz = (name) => gzipSync(readFileSync(new URL(name, pkg)), { level: 9 }).length;
  const total = gz("rtc_client_bg.wasm") + gz("rtc_client.js");
  console.log(`wasm package gzip size: ${(total / 1024).toFixed(1)} KB`);
  assert.ok(total <= CEILING_KB * 1024, `package is ${total} bytes gzipped`);
});
