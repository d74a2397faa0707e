// The built wasm package loads outside a browser and stays within the design budget (P5):
// wasm + JS glue, gzipped, at most 80 KB.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

const pkg = new URL("../../www/pkg/", import.meta.url);

test("wasm package instantiates and reports its version", async () => {
  const wasm = await import(new URL("rtc_client.js", pkg));
  wasm.initSync({ module: readFileSync(new URL("rtc_client_bg.wasm", pkg)) });
  assert.match(wasm.version(), /^\d+\.\d+\.\d+$/);
  assert.equal(wasm.protocolVersion(), 1);
});

const BUDGET_KB = 80;

test(`wasm + glue gzip to at most ${BUDGET_KB} KB`, () => {
  const gz = (name) => gzipSync(readFileSync(new URL(name, pkg)), { level: 9 }).length;
  const total = gz("rtc_client_bg.wasm") + gz("rtc_client.js");
  console.log(`wasm package gzip size: ${(total / 1024).toFixed(1)} KB`);
  assert.ok(total <= BUDGET_KB * 1024, `package is ${total} bytes gzipped`);
});
