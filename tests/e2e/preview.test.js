// The preview page served by the relay: Load status, Connect, Disconnect, Auto-connect, the
// event log and the info panel, against a stream published by the studio page.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser } from "./harness.mjs";
import { openRelayPage, screenshot, startTokenRelay, WAIT_MS } from "./pages.mjs";

let relay;
let browser;

before(async () => {
  relay = await startTokenRelay();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

const phase = (page) => page.getAttribute("#preview", "data-phase");

async function waitPhase(page, wanted) {
  await page.locator(`#preview[data-phase="${wanted}"]`).waitFor({ timeout: WAIT_MS });
}

/** Waits until the page has applied `n` more relay updates than now. */
async function waitUpdates(page, n) {
  const now = Number((await page.getAttribute("#preview", "data-updates")) ?? 0);
  await page.waitForFunction(
    (target) => Number(document.getElementById("preview").dataset.updates) >= target,
    now + n,
    {
      timeout: WAIT_MS,
    },
  );
}

/** Opens the preview's collapsed event log, as a user would to read it. */
async function openLog(page) {
  await page.locator("summary", { hasText: "Event log" }).click();
  await page.locator('[data-field="log"]').waitFor();
}

async function startPublisher() {
  const studio = await openRelayPage(browser, relay, "/");
  await studio.page.locator('#wasm-version[data-state="ready"]').waitFor({ timeout: WAIT_MS });
  await studio.page.click('[data-action="start"]');
  await studio.page.waitForFunction(
    () => document.getElementById("studio").dataset.stream?.startsWith("str_"),
    null,
    {
      timeout: WAIT_MS,
    },
  );
  return { ...studio, streamId: await studio.page.getAttribute("#studio", "data-stream") };
}

test("with no stream the preview says so and Connect is disabled", async () => {
  const { page, context, errors } = await openRelayPage(browser, relay, "/preview.html");
  await page.locator('.rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
  assert.equal(await page.isDisabled('[data-action="connect"]'), true);
  assert.equal(await phase(page), "idle");
  await openLog(page);
  await page.click('[data-action="load"]');
  await page.locator('[data-field="log"] li', { hasText: "status: no stream" }).waitFor({ timeout: WAIT_MS });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the info panel follows a stream live, without reloading", async () => {
  const { page, context } = await openRelayPage(browser, relay, "/preview.html");
  await page.locator('.rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
  const created = await relay.api("/v1/streams", {
    method: "POST",
    body: JSON.stringify({ name: "panel-check" }),
  });
  await page.waitForFunction(
    (id) => document.querySelector('[data-field="stream"]').title === id,
    created.id,
    {
      timeout: WAIT_MS,
    },
  );
  assert.match(await page.textContent('[data-field="stream"]'), /^panel-check · /);
  assert.notEqual(await page.textContent('[data-field="state"]'), "—");
  await openLog(page);
  await page.click('[data-action="load"]');
  await page
    .locator('[data-field="log"] li', { hasText: `status: ${created.id}` })
    .waitFor({ timeout: WAIT_MS });
  await relay.api(`/v1/streams/${created.id}`, { method: "DELETE" });
  await page
    .locator('[data-field="log"] li', { hasText: `stream ${created.id} removed` })
    .waitFor({ timeout: WAIT_MS });
  await page.locator('.rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
  await context.close();
});

test("auto-connect plays the output; a manual Disconnect stays disconnected; Connect reconnects", async () => {
  const publisher = await startPublisher();
  const { page, context, errors } = await openRelayPage(browser, relay, "/preview.html");
  assert.equal(await page.isChecked('input[name="auto-connect"]'), true);
  await waitPhase(page, "connected");
  await page.waitForFunction(() => document.querySelector("video").videoWidth > 0, null, {
    timeout: WAIT_MS,
  });
  await screenshot(page, "preview.png");

  await page.click('[data-action="disconnect"]');
  await waitPhase(page, "idle");
  // Stream updates and stats keep arriving; the preview must not connect by itself.
  await waitUpdates(page, 3);
  assert.equal(await phase(page), "idle");
  assert.equal(await page.evaluate(() => document.querySelector("video").srcObject), null);

  await page.click('[data-action="connect"]');
  await waitPhase(page, "connected");
  assert.deepEqual(errors, []);
  await context.close();
  await publisher.context.close();
  await relay.api(`/v1/streams/${publisher.streamId}`, { method: "DELETE" }).catch(() => {});
});

test("with auto-connect off nothing plays until Connect; turning it on connects", async () => {
  const publisher = await startPublisher();
  const { page, context } = await openRelayPage(browser, relay, "/preview.html");
  await page.locator('input[name="auto-connect"]').uncheck();
  await page.reload();
  assert.equal(await page.isChecked('input[name="auto-connect"]'), false, "the choice is remembered");
  await page.waitForFunction(() => !document.querySelector('[data-action="connect"]').disabled, null, {
    timeout: WAIT_MS,
  });
  await waitUpdates(page, 3);
  assert.equal(await phase(page), "idle");
  await page.locator('input[name="auto-connect"]').check();
  await waitPhase(page, "connected");
  await context.close();
  await publisher.context.close();
  await relay.api(`/v1/streams/${publisher.streamId}`, { method: "DELETE" }).catch(() => {});
});

test("when the stream is replaced the preview reconnects to the new one", async () => {
  const first = await startPublisher();
  const { page, context } = await openRelayPage(browser, relay, "/preview.html");
  await waitPhase(page, "connected");
  await first.page.click('[data-action="stop"]');
  await first.page.click('[data-action="start"]');
  await first.page.waitForFunction(
    (old) => {
      const id = document.getElementById("studio").dataset.stream;
      return id?.startsWith("str_") && id !== old;
    },
    first.streamId,
    { timeout: WAIT_MS },
  );
  const second = await first.page.getAttribute("#studio", "data-stream");
  await openLog(page);
  await page.waitForFunction((id) => document.querySelector('[data-field="stream"]').title === id, second, {
    timeout: WAIT_MS,
  });
  await waitPhase(page, "connected");
  await page
    .locator('[data-field="log"] li', { hasText: `connecting to ${second}` })
    .waitFor({ timeout: WAIT_MS });
  await context.close();
  await first.context.close();
  await relay.api(`/v1/streams/${second}`, { method: "DELETE" }).catch(() => {});
});

test("a dead relay shows RELAY OFFLINE in the preview", async () => {
  const own = await startTokenRelay();
  const { page, context } = await openRelayPage(browser, own, "/preview.html");
  await page.locator('.rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
  await own.stop();
  await page.locator('.rtc-badge[data-state="offline"]').waitFor({ timeout: WAIT_MS });
  await openLog(page);
  await page
    .locator('[data-field="log"] li', { hasText: "relay events" })
    .first()
    .waitFor({ timeout: WAIT_MS });
  await context.close();
});
