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
import { openRelayPage, startTokenRelay, WAIT_MS } from "./pages.mjs";

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

const storedKey = () => JSON.parse(readFileSync(join(relay.stateDir, "credentials.json"), "utf8")).api_key;

/** Opens the pack's settings in the ComfyUI stand-in and returns its credentials panel. */
async function comfySettings(context) {
  const page = await context.newPage();
  await page.goto(`${shim.url}/`);
  await page.waitForFunction(() => window.comfyShim?.ready === true, null, { timeout: WAIT_MS });
  await page.evaluate(() => window.comfyShim.renderSettings());
  return { page, panel: page.locator("#settings .rtc-credentials") };
}

after(async () => {
  await browser?.close();
  await shim?.stop();
  await relay?.stop();
});

test("Sign in opens the sign-in page; its button brings the browser back and the panel ends signed in", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, panel } = await comfySettings(context);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
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
  const stored = storedKey();
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

test("a browser on another machine finishes by pasting the address the sign-in tab ended on", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, panel } = await comfySettings(context);
  const before = storedKey();
  const opened = context.waitForEvent("page");
  await panel.locator('[data-action="sign-in"]').click();
  const tab = await opened;
  await tab.waitForURL(/\/local\/sign-in\/local\?/, { timeout: WAIT_MS });
  // Where the button would send the browser; on another machine that localhost does not load.
  const address = await tab.locator('[data-action="sign-in"]').getAttribute("href");
  await tab.close();

  // Something that is not the address is refused in the panel, without a call.
  await panel.locator("summary", { hasText: "another machine" }).click();
  await panel.locator('input[name="rtc-sign-in-address"]').fill("not an address");
  await panel.locator("button", { hasText: "Finish sign-in" }).click();
  await panel
    .locator('[data-field="sign-in"]', { hasText: "Paste the whole address" })
    .waitFor({ timeout: WAIT_MS });
  assert.equal((await relay.api("/v1/credentials/sign-in")).status, "waiting");

  await panel.locator('input[name="rtc-sign-in-address"]').fill(address);
  await panel.locator("button", { hasText: "Finish sign-in" }).click();
  await panel.locator('[data-field="sign-in"][data-state="signed_in"]').waitFor({ timeout: WAIT_MS });
  await page.locator(".shim-toast", { hasText: "Signed in with Daydream" }).waitFor({ timeout: WAIT_MS });
  assert.equal(
    await panel.locator('input[name="rtc-sign-in-address"]').inputValue(),
    "",
    "the token is cleared",
  );
  assert.notEqual(storedKey(), before, "the new key replaced the old one");
  await context.close();
});

test("the studio signs in the same way, the callback reaching the relay directly", async () => {
  const { page, context } = await openRelayPage(browser, relay, "/");
  const panel = page.locator(".rtc-credentials");
  await panel.locator('[data-field="key-state"]', { hasText: /^set/ }).waitFor({ timeout: WAIT_MS });
  const before = storedKey();
  const opened = context.waitForEvent("page");
  await panel.locator('[data-action="sign-in"]').click();
  const tab = await opened;
  await tab.waitForURL(/\/local\/sign-in\/local\?/, { timeout: WAIT_MS });
  await tab.click('[data-action="sign-in"]');
  await tab.waitForURL(`${relay.url}/local/sign-in/local/success`, { timeout: WAIT_MS });
  await panel.locator('[data-field="sign-in"][data-state="signed_in"]').waitFor({ timeout: WAIT_MS });
  await page
    .locator('[data-field="log"] li', { hasText: "Signed in with Daydream" })
    .waitFor({ timeout: WAIT_MS });
  assert.notEqual(storedKey(), before);
  await context.close();
});
