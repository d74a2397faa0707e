// The browser's connection budget: over HTTP/1.1 Chromium opens at most six connections per
// host across all tabs, and every open event stream holds one for good. Three ComfyUI tabs
// with three preview nodes each must leave ComfyUI's own `/prompt`, `/queue` and `/view`
// answering at once. Runs against the ComfyUI stand-in and its proxy, in front of a real relay.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startComfyShim } from "./comfy-shim.mjs";
import { launchBrowser } from "./harness.mjs";
import { grantMedia, startTokenRelay, WAIT_MS } from "./pages.mjs";

const EVENTS = "/rtc/api/v1/events";
const SIDEBAR_ID = "rtc-node.stream";
// Generous for a request on loopback, yet one queued behind stalled connections never meets
// it: such a request waits until a connection closes, which event streams never do.
const ANSWER_MS = 5000;

let relay;
let shim;
let browser;

before(async () => {
  relay = await startTokenRelay();
  shim = await startComfyShim({ relayUrl: relay.url, token: relay.token });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await shim?.stop();
  await relay?.stop();
});

/** Polls `check` until it holds; fails with `what` after WAIT_MS. */
async function until(check, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Fetches ComfyUI's routes from `page`; each result says whether it answered within
 * ANSWER_MS. The requests are left running, so a queued one can be seen finishing later.
 */
function comfyRequests(page) {
  return page.evaluate(async (limit) => {
    const routes = [
      ["POST", "/prompt"],
      ["GET", "/queue"],
      ["GET", "/view?filename=out.png&type=output"],
    ];
    window.budgetRequests = routes.map(([method, path]) =>
      fetch(path, { method, cache: "no-store", body: method === "POST" ? "{}" : undefined }).then(
        (response) => response.status,
      ),
    );
    const outcome = (request) =>
      Promise.race([
        request.then((status) => ({ status })),
        new Promise((resolve) => setTimeout(() => resolve({ stalled: true }), limit)),
      ]);
    const results = await Promise.all(window.budgetRequests.map(outcome));
    return Object.fromEntries(routes.map(([, path], i) => [path.split("?")[0], results[i]]));
  }, ANSWER_MS);
}

const answered = { "/prompt": { status: 200 }, "/queue": { status: 200 }, "/view": { status: 200 } };

test("calibration: in this browser, six open event streams stall ComfyUI's requests", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${shim.url}/queue`);
    await page.evaluate((url) => {
      window.sources = Array.from({ length: 6 }, () => new EventSource(url));
    }, EVENTS);
    await until(
      () => page.evaluate(() => window.sources.every((s) => s.readyState === EventSource.OPEN)),
      "six event streams to open",
    );
    const stalled = { stalled: true };
    assert.deepEqual(await comfyRequests(page), { "/prompt": stalled, "/queue": stalled, "/view": stalled });
    // Queued, not failed: they finish once connections are free.
    await page.evaluate(() => {
      for (const source of window.sources) source.close();
    });
    assert.deepEqual(await page.evaluate(() => Promise.all(window.budgetRequests)), [200, 200, 200]);
  } finally {
    await context.close();
  }
});

test("three tabs with three previews each share one event stream; ComfyUI still answers at once", async () => {
  // One context: its tabs share the browser's connections to the host, as a user's tabs do.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await grantMedia(context);
  const errors = [];
  try {
    const tabs = [];
    for (let i = 0; i < 3; i += 1) {
      const tab = await context.newPage();
      tab.on("pageerror", (err) => errors.push(err));
      await tab.goto(`${shim.url}/`);
      await tab.waitForFunction(() => window.comfyShim?.ready === true, null, { timeout: WAIT_MS });
      await tab.evaluate((id) => window.comfyShim.openSidebar(id), SIDEBAR_ID);
      for (let n = 0; n < 3; n += 1) await tab.evaluate(() => window.comfyShim.addNode("RTCStreamUIPreview"));
      tabs.push(tab);
    }

    /** Every tab's sidebar and every preview in it shows stream `id`, from live events. */
    const everyPageShows = async (open, id) => {
      for (const tab of open) {
        await tab.locator(`#sidebar li[data-stream-id="${id}"]`).waitFor({ timeout: WAIT_MS });
        const frames = tab.locator("iframe[data-rtc-preview]");
        assert.equal(await frames.count(), 3);
        for (let n = 0; n < 3; n += 1) {
          await frames
            .nth(n)
            .contentFrame()
            .locator(`[data-field="stream"][title="${id}"]`)
            .waitFor({ timeout: WAIT_MS });
        }
      }
    };

    const first = await relay.api("/v1/streams", { method: "POST", body: JSON.stringify({ name: "one" }) });
    await everyPageShows(tabs, first.id);
    assert.equal(shim.openRequests(EVENTS), 1, "one event stream for 3 tabs and 9 previews");
    for (const tab of tabs) assert.deepEqual(await comfyRequests(tab), answered);

    // The tab that opened the shared stream closes; the others keep getting events.
    await tabs[0].close();
    const second = await relay.api("/v1/streams", { method: "POST", body: JSON.stringify({ name: "two" }) });
    await everyPageShows(tabs.slice(1), second.id);
    assert.equal(shim.openRequests(EVENTS), 1);
    assert.deepEqual(await comfyRequests(tabs[1]), answered);

    // With the last page gone the connection goes too.
    for (const tab of tabs.slice(1)) await tab.close();
    await until(() => shim.openRequests(EVENTS) === 0, "the event stream to close");
    for (const stream of [first, second]) await relay.api(`/v1/streams/${stream.id}`, { method: "DELETE" });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("without SharedWorker every page falls back to its own event stream", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await grantMedia(context);
  // Like Chrome on Android, in every frame.
  await context.addInitScript(() => {
    delete window.SharedWorker;
  });
  try {
    const tab = await context.newPage();
    const errors = [];
    tab.on("pageerror", (err) => errors.push(err));
    await tab.goto(`${shim.url}/`);
    await tab.waitForFunction(() => window.comfyShim?.ready === true, null, { timeout: WAIT_MS });
    await tab.evaluate((id) => window.comfyShim.openSidebar(id), SIDEBAR_ID);
    await tab.evaluate(() => window.comfyShim.addNode("RTCStreamUIPreview"));
    const stream = await relay.api("/v1/streams", { method: "POST", body: JSON.stringify({ name: "own" }) });
    await tab.locator(`#sidebar li[data-stream-id="${stream.id}"]`).waitFor({ timeout: WAIT_MS });
    await tab
      .locator("iframe[data-rtc-preview]")
      .contentFrame()
      .locator(`[data-field="stream"][title="${stream.id}"]`)
      .waitFor({ timeout: WAIT_MS });
    assert.equal(shim.openRequests(EVENTS), 2, "the tab's and the preview's own streams");
    await relay.api(`/v1/streams/${stream.id}`, { method: "DELETE" });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
  await until(() => shim.openRequests(EVENTS) === 0, "the event streams to close");
});
