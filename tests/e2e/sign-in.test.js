// "Sign in with Daydream" in the pack's credentials panel (ComfyUI stand-in, real relay,
// headless Chromium): the panel starts the sign-in, the local backend's sign-in page sends the
// browser to the relay's callback, and the panel ends signed in without the key ever reaching
// the page.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startComfyShim } from "./comfy-shim.mjs";
import { launchBrowser } from "./harness.mjs";
import { startTokenRelay, WAIT_MS } from "./pages.mjs";

let relay;
let shim;
let browser;

before(async () => {
  relay = await startTokenRelay();
  shim = await startComfyShim({ relayUrl: relay.url, token: relay.token });
  browser = await launchBrowser();
  // The relay's own local backend stands in for Daydream, sign-in page included.
  await relay.api("/v1/credentials", {
    method: "PUT",
    body: JSON.stringify({ api_url: `${relay.url}/local` }),
  });
});

after(async () => {
  await browser?.close();
  await shim?.stop();
  await relay?.stop();
});

test("Sign in opens the sign-in page; its button brings the browser back and the panel ends signed in", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  await page.goto(`${shim.url}/`);
  await page.waitForFunction(() => window.comfyShim?.ready === true, null, { timeout: WAIT_MS });
  await page.evaluate(() => window.comfyShim.renderSettings());
  const panel = page.locator("#settings .rtc-credentials");
  await panel.locator('[data-field="key-state"]', { hasText: "not set" }).waitFor({ timeout: WAIT_MS });

  const opened = context.waitForEvent("page");
  await panel.locator('[data-action="sign-in"]').click();
  const tab = await opened;
  await panel.locator('[data-field="sign-in"][data-state="waiting"]').waitFor({ timeout: WAIT_MS });
  assert.match(await panel.locator('[data-field="sign-in"]').textContent(), /Waiting for you to sign in/);
  await tab.waitForURL(/\/local\/sign-in\/local\?port=\d+&state=[0-9a-f]{64}$/, { timeout: WAIT_MS });
  assert.equal(await tab.evaluate(() => window.opener), null, "the sign-in page cannot reach the panel");

  await tab.click('[data-action="sign-in"]');
  await tab.waitForURL(`${relay.url}/local/sign-in/local/success`, { timeout: WAIT_MS });
  assert.equal(await tab.locator("h1").textContent(), "Signed in");

  await panel.locator('[data-field="sign-in"][data-state="signed_in"]').waitFor({ timeout: WAIT_MS });
  await page.locator(".shim-toast", { hasText: "Signed in with Daydream" }).waitFor({ timeout: WAIT_MS });
  await panel
    .locator('[data-field="key-state"]', { hasText: "set (saved on the relay)" })
    .waitFor({ timeout: WAIT_MS });
  const credentials = await relay.api("/v1/credentials");
  assert.equal(credentials.has_api_key, true);
  assert.equal(credentials.backend, "daydream");

  // The key the relay stored is nowhere in the page, its settings or its storage.
  const stored = JSON.parse(readFileSync(join(relay.stateDir, "credentials.json"), "utf8")).api_key;
  assert.match(stored, /^sk_local_/);
  const leaks = await page.evaluate(
    (key) => ({
      dom: document.documentElement.outerHTML.includes(key),
      settings: JSON.stringify([...window.comfyShim.settingValues]).includes(key),
      storage: JSON.stringify({ ...localStorage, ...sessionStorage }).includes(key),
    }),
    stored,
  );
  assert.deepEqual(leaks, { dom: false, settings: false, storage: false });
  assert.ok(!(await tab.content()).includes(stored), "the success page does not show the key");
  assert.ok(!relay.log().includes(stored), "the relay does not log the key");
  assert.deepEqual(errors, []);
  await context.close();
});
