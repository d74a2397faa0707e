// P5: the wasm package (wasm + JS glue) gzipped, against the JavaScript WHIP/WHEP SDK people
// use for the same job in a page (@daydreamlive/browser, if it is installed).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { root } from "./lib/proc.mjs";

const gz = (path) => gzipSync(readFileSync(path), { level: 9 }).length / 1024;

function jsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsFiles(path);
    return /\.(m?js)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

export async function p5() {
  const pkg = `${root}www/pkg/`;
  const kb = gz(`${pkg}rtc_client_bg.wasm`) + gz(`${pkg}rtc_client.js`);
  const sdk = `${root}node_modules/@daydreamlive/browser/dist`;
  const sdkFiles = existsSync(sdk) ? jsFiles(sdk).filter((f) => !f.endsWith(".cjs")) : [];
  // The SDK ships ESM and CJS copies of one bundle; count the ESM entry only.
  const entry = sdkFiles.find((f) => /index\.m?js$/.test(f));
  const one = (v) => ({ median: v, min: v, max: v, runs: 1 });
  return [
    {
      id: "P5",
      what: "wasm package, gzip",
      unit: "KB",
      better: "lower",
      value: one(kb),
      baseline: entry ? one(gz(entry)) : undefined,
      baselineName: entry ? "@daydreamlive/browser ESM bundle" : "no baseline installed",
      budget: "≤ 80 KB",
      pass: kb <= 80,
    },
  ];
}
