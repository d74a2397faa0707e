// The studio page served by the relay: test pattern → stream → processed output, every control.
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

test("the studio loads the wasm agent and shows the relay's live state", async () => {
  const { page, context, errors } = await openRelayPage(browser, relay, "/");
  const version = page.locator("#wasm-version");
  await version.and(page.locator("[data-state]")).waitFor({ timeout: WAIT_MS });
  assert.equal(await version.getAttribute("data-state"), "ready");
  assert.match(await version.textContent(), /^\d+\.\d+\.\d+$/);
  await page.locator('.rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
  assert.equal(await page.locator(".rtc-badge").textContent(), "NO STREAM");
  assert.deepEqual(errors, []);
  await context.close();
});

test("Start streams the test pattern and plays the output; Apply prompt and Stop work", async () => {
  const { page, context, errors } = await openRelayPage(browser, relay, "/");
  await page.locator('#wasm-version[data-state="ready"]').waitFor({ timeout: WAIT_MS });
  await page.click('[data-action="start"]');
  await page.waitForFunction(
    () => document.getElementById("studio").dataset.stream?.startsWith("str_"),
    null,
    {
      timeout: WAIT_MS,
    },
  );
  const streamId = await page.getAttribute("#studio", "data-stream");
  const listed = await relay.api("/v1/streams");
  assert.ok(
    listed.streams.some((s) => s.id === streamId),
    "the relay lists the studio's stream",
  );

  // Frames go in through the relay, the agent in the page publishes them.
  await page.waitForFunction(
    () => Number(document.querySelector('[data-field="posted"]').dataset.count) >= 30,
    null,
    {
      timeout: WAIT_MS,
    },
  );
  // The processed output plays.
  await page.locator('#studio[data-output="connected"]').waitFor({ timeout: WAIT_MS });
  await page.waitForFunction(
    () => {
      const video = document.querySelector('video[aria-label="Processed output"]');
      return video.videoWidth > 0 && video.currentTime > 0.5;
    },
    null,
    { timeout: WAIT_MS },
  );
  await page.locator('.rtc-badge[data-state="live"]').waitFor({ timeout: WAIT_MS });
  await page.waitForFunction(
    () => document.querySelector('[data-stat="fpsOut"]').textContent.endsWith("fps"),
    null,
    {
      timeout: WAIT_MS,
    },
  );
  await screenshot(page, "studio.png");

  await page.fill('input[name="prompt"]', "an oil painting of a lighthouse");
  await page.click('[data-action="apply"]');
  await page.locator('[data-field="log"] li', { hasText: "prompt applied" }).waitFor({ timeout: WAIT_MS });
  const patched = await relay.api(`/v1/streams/${streamId}`);
  assert.equal(patched.pipeline_config.params.prompt, "an oil painting of a lighthouse");

  await page.click('[data-action="stop"]');
  await page
    .locator('[data-field="log"] li', { hasText: `stream ${streamId} stopped` })
    .waitFor({ timeout: WAIT_MS });
  assert.equal(await page.getAttribute("#studio", "data-stream"), "");
  const remaining = await relay.api("/v1/streams");
  assert.ok(!remaining.streams.some((s) => s.id === streamId), "Stop deleted the stream");
  assert.deepEqual(errors, []);
  await context.close();
});

test("the camera source feeds the stream like the test pattern", async () => {
  const { page, context, errors } = await openRelayPage(browser, relay, "/");
  await page.locator('#wasm-version[data-state="ready"]').waitFor({ timeout: WAIT_MS });
  await page.selectOption('select[name="source"]', "camera");
  await page.click('[data-action="start"]');
  await page.waitForFunction(
    () => Number(document.querySelector('[data-field="posted"]').dataset.count) >= 10,
    null,
    {
      timeout: WAIT_MS,
    },
  );
  const streamId = await page.getAttribute("#studio", "data-stream");
  const stream = await relay.api(`/v1/streams/${streamId}`);
  assert.ok(stream.frames.received >= 10, `relay received ${stream.frames.received} frames`);
  await page.click('[data-action="stop"]');
  await page
    .locator('[data-field="log"] li', { hasText: `stream ${streamId} stopped` })
    .waitFor({ timeout: WAIT_MS });
  assert.deepEqual(errors, []);
  await context.close();
});
