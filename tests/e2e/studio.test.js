// The relay serves the studio page and the wasm package; Chromium loads and runs the wasm.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startRelay } from "./harness.mjs";

let relay;
let browser;

before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

test("studio page loads the wasm agent from the relay", async () => {
  const page = await browser.newPage();
  await page.goto(`${relay.url}/`);
  const badge = page.locator("#wasm-version");
  await badge.and(page.locator("[data-state]")).waitFor();
  assert.equal(await badge.getAttribute("data-state"), "ready");
  assert.match(await badge.textContent(), /^\d+\.\d+\.\d+$/);
});
