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

/** Mean RGB of the processed output as the page shows it (installs the probe the waits use). */
function outputColour(page) {
  return page.evaluate(() => {
    window.outputColour = () => {
      const video = document.querySelector('video[aria-label="Processed output"]');
      const ctx = new OffscreenCanvas(64, 64).getContext("2d");
      ctx.drawImage(video, 0, 0, 64, 64);
      const data = ctx.getImageData(0, 0, 64, 64).data;
      const mean = [0, 0, 0];
      for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) mean[c] += data[i + c] / (64 * 64);
      return mean;
    };
    return window.outputColour();
  });
}

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

test("Start streams the test pattern and plays the output; Apply changes the picture live; Stop works", async () => {
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

  // The local backend's effect follows the params: a new prompt picks another palette.
  const before = await outputColour(page);
  await page.fill('input[name="prompt"]', "an oil painting of a lighthouse");
  await page.fill('input[name="delta"]', "0.9");
  await page.fill('input[name="seed"]', "42");
  await page.selectOption('select[name="passes"]', "2");
  await page.click('[data-action="apply"]');
  await page.locator('[data-field="log"] li', { hasText: "params applied" }).waitFor({ timeout: WAIT_MS });
  const patched = await relay.api(`/v1/streams/${streamId}`);
  const params = patched.pipeline_config.params;
  assert.equal(params.prompt, "an oil painting of a lighthouse");
  assert.equal(params.delta, 0.9);
  assert.equal(params.seed, 42);
  assert.deepEqual(params.t_index_list, [12, 20]);
  await page.waitForFunction(
    ([r, g, b]) => {
      const [r2, g2, b2] = window.outputColour();
      return Math.hypot(r2 - r, g2 - g, b2 - b) > 12;
    },
    before,
    { timeout: WAIT_MS },
  );

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
