// The pack's frontend inside a ComfyUI stand-in (tests/e2e/comfy-shim.mjs) in front of a real
// relay: extension registration, the sidebar and every control, settings, toasts, the preview
// node's DOM widget, and the sidebar while the relay is down (the pack's own supervisor).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { startComfyShim, startPackProxy } from "./comfy-shim.mjs";
import { launchBrowser, relayBinary } from "./harness.mjs";
import { CREATED_STREAM_ROW, grantMedia, screenshot, startTokenRelay, WAIT_MS } from "./pages.mjs";

const SIDEBAR_ID = "rtc-node.stream";
const SECRET = "fake-key-that-must-never-leave-the-relay";

let relay;
let shim;
let browser;
let context;
let page;
const pageErrors = [];

before(async () => {
  relay = await startTokenRelay();
  shim = await startComfyShim({ relayUrl: relay.url, token: relay.token });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await grantMedia(context);
  page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(err));
  await page.goto(`${shim.url}/`);
  await page.waitForFunction(() => window.comfyShim?.ready === true, null, { timeout: WAIT_MS });
});

after(async () => {
  await browser?.close();
  await shim?.stop();
  await relay?.stop();
});

const sidebar = () => page.locator("#sidebar .rtc-sidebar");

test("the entry module registers one extension with settings, a sidebar tab and no load errors", async () => {
  const registered = await page.evaluate(() => ({
    names: window.comfyShim.extensions.map((e) => e.name),
    settings: [...window.comfyShim.settingsById.keys()],
    tabs: window.comfyShim.sidebarTabs.map((t) => ({ id: t.id, type: t.type, title: t.title })),
  }));
  assert.deepEqual(registered.names, ["rtc-node.main"]);
  assert.deepEqual(registered.tabs, [{ id: SIDEBAR_ID, type: "custom", title: "RTC Stream" }]);
  for (const id of [
    "RTCNode.Credentials.Panel",
    "RTCNode.Stream.Name",
    "RTCNode.Stream.Model",
    "RTCNode.Agent.Publish",
  ]) {
    assert.ok(registered.settings.includes(id), `setting ${id}`);
  }
  assert.deepEqual(pageErrors, []);
});

test("the sidebar shows live state; Start and Stop manage a stream through the proxy", async () => {
  await page.evaluate((id) => window.comfyShim.openSidebar(id), SIDEBAR_ID);
  await sidebar().waitFor({ timeout: WAIT_MS });
  await page.locator('#sidebar .rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
  await page
    .locator("#sidebar [data-field=agent]", { hasText: "This tab: agent" })
    .waitFor({ timeout: WAIT_MS });
  // The pack's headless agent stands by: this tab publishes.
  await page
    .locator('#sidebar [data-field="headless"][data-state="idle"]', {
      hasText: "Headless browser: on standby",
    })
    .waitFor({ timeout: WAIT_MS });

  await page.click('#sidebar [data-action="start"]');
  const row = page.locator(CREATED_STREAM_ROW);
  await row.first().waitFor({ timeout: WAIT_MS });
  const streamId = await row.first().getAttribute("data-stream-id");
  assert.match(streamId, /^str_/);
  assert.equal(await page.textContent('#sidebar [data-field="id"]'), streamId);
  const created = await relay.api(`/v1/streams/${streamId}`);
  assert.equal(created.name, "comfyui-live", "the stream defaults from the settings were used");
  const catalog = await (await fetch(new URL("/rtc/catalog", shim.url))).json();
  assert.equal(created.pipeline_config.params.model_id, catalog.params.model_id.default);
  await page.locator(".shim-toast", { hasText: "Stream created" }).waitFor({ timeout: WAIT_MS });
  // The agent in this tab takes the publish lease, and the sidebar says so.
  await page
    .locator('#sidebar [data-field="publisher"]', { hasText: /^this tab/ })
    .waitFor({ timeout: WAIT_MS });

  // The log tab shows events; the controls tab comes back.
  await page.click('#sidebar [data-tab="log"]');
  assert.equal(await page.isVisible('#sidebar [data-panel="log"]'), true);
  await page.click('#sidebar [data-tab="controls"]');

  await page.click('#sidebar [data-action="stop"]');
  await page.locator("#sidebar li.rtc-empty").waitFor({ timeout: WAIT_MS });
  const after = await relay.api("/v1/streams");
  assert.ok(!after.streams.some((s) => s.id === streamId));
  await page.locator(".shim-toast", { hasText: "Stream stopped" }).waitFor({ timeout: WAIT_MS });
});

test("frame settings keep what the user types while updates arrive, then save to the relay", async () => {
  const width = page.locator('#sidebar input[name="width"]');
  await page.waitForFunction(
    () => document.querySelector('#sidebar input[name="width"]').value !== "",
    null,
    {
      timeout: WAIT_MS,
    },
  );
  // The limits are the catalog's, the ones the relay enforces.
  assert.equal(await page.getAttribute('#sidebar input[name="frame_rate"]', "max"), "60");
  assert.equal(await width.getAttribute("step"), "2");
  const original = await relay.api("/v1/config");
  await width.fill("7");
  // Another client changes the config; a stream event arrives; the field keeps "7".
  await relay.api("/v1/config", {
    method: "PUT",
    body: JSON.stringify({ frame_rate: original.frame_rate === 24 ? 20 : 24 }),
  });
  const probe = await relay.api("/v1/streams", { method: "POST", body: JSON.stringify({ name: "probe" }) });
  await page.locator(`#sidebar li[data-stream-id="${probe.id}"]`).waitFor({ timeout: WAIT_MS });
  assert.equal(await width.inputValue(), "7");

  await page.click('#sidebar [data-action="save-settings"]');
  await page.locator("#sidebar .rtc-field-error", { hasText: "Width must be between 64 and 4096" }).waitFor();
  await width.fill("640");
  await page.click('#sidebar [data-action="save-settings"]');
  await page.locator(".shim-toast", { hasText: "Frame settings saved" }).waitFor({ timeout: WAIT_MS });
  assert.equal((await relay.api("/v1/config")).width, 640);
  await screenshot(page.locator("#sidebar"), "sidebar.png");
  await relay.api(`/v1/streams/${probe.id}`, { method: "DELETE" });
});

test("the API key goes to the relay and is never kept in the page or the settings", async () => {
  await page.evaluate(() => window.comfyShim.renderSettings());
  const panel = page.locator("#settings .rtc-credentials");
  await panel.locator('[data-field="key-state"]', { hasText: "not set" }).waitFor({ timeout: WAIT_MS });
  await panel.locator('input[type="password"]').fill(SECRET);
  await panel.locator("button", { hasText: "Save key" }).click();
  await panel.locator('[data-field="key-state"]', { hasText: /^set/ }).waitFor({ timeout: WAIT_MS });
  const credentials = await relay.api("/v1/credentials");
  assert.equal(credentials.has_api_key, true);
  assert.ok(!JSON.stringify(credentials).includes(SECRET), "the relay never returns the key");
  const leaks = await page.evaluate(
    (secret) => ({
      dom: document.documentElement.outerHTML.includes(secret),
      inputs: [...document.querySelectorAll("input")].some((i) => i.value.includes(secret)),
      settings: JSON.stringify([...window.comfyShim.settingValues]).includes(secret),
      storage: JSON.stringify({ ...localStorage }).includes(secret),
    }),
    SECRET,
  );
  assert.deepEqual(leaks, { dom: false, inputs: false, settings: false, storage: false });
  await panel.locator("button", { hasText: "Remove key" }).click();
  await panel.locator('[data-field="key-state"]', { hasText: "not set" }).waitFor({ timeout: WAIT_MS });
});

test("the backend is switched from the settings; the sidebar shows it and running streams keep theirs", async () => {
  const health = async () => (await fetch(`${relay.url}/healthz`)).json();
  await page.evaluate(() => window.comfyShim.renderSettings());
  const panel = page.locator("#settings .rtc-credentials");
  const select = panel.locator('select[name="rtc-backend"]');
  await panel.locator('[data-field="key-state"]', { hasText: "not set" }).waitFor({ timeout: WAIT_MS });
  assert.equal(await select.inputValue(), "auto");

  // Daydream without a key is refused by the relay; the panel says why and shows what is in force.
  await select.selectOption("daydream");
  await panel.locator(".rtc-form-message", { hasText: "needs an API key" }).waitFor({ timeout: WAIT_MS });
  await page.locator(".shim-toast", { hasText: "Credentials not saved" }).waitFor({ timeout: WAIT_MS });
  assert.equal(await select.inputValue(), "auto");
  assert.equal((await health()).backend, "local");

  // A stream started now runs on the local backend.
  const local = await relay.api("/v1/streams", {
    method: "POST",
    body: JSON.stringify({ name: "on-local" }),
  });
  assert.equal(local.backend, "local");

  // With a key (the relay's own stand-in as the "cloud"), Daydream can be chosen.
  await panel.locator('input[type="password"]').fill(SECRET);
  await panel.locator('input[type="url"]').fill(`${relay.url}/local`);
  await panel.locator("button", { hasText: "Save key" }).click();
  await panel.locator('[data-field="key-state"]', { hasText: /^set/ }).waitFor({ timeout: WAIT_MS });
  await select.selectOption("local");
  await page
    .locator(".shim-toast", {
      hasText: "Backend choice saved. New streams use Local (stand-in effect, no account).",
    })
    .waitFor({ timeout: WAIT_MS });
  assert.deepEqual(
    (({ backend, backend_source }) => ({ backend, backend_source }))(await relay.api("/v1/credentials")),
    { backend: "local", backend_source: "setting" },
  );
  await select.selectOption("daydream");
  await page
    .locator(".shim-toast", {
      hasText:
        "Backend choice saved. New streams use Daydream (cloud). 1 running stream keeps the backend it started on (Local",
    })
    .waitFor({ timeout: WAIT_MS });
  assert.equal((await health()).backend, "daydream");
  const cloud = await relay.api("/v1/streams", {
    method: "POST",
    body: JSON.stringify({ name: "on-daydream" }),
  });
  assert.equal(cloud.backend, "daydream");
  assert.equal((await relay.api(`/v1/streams/${local.id}`)).backend, "local");

  // The sidebar names the backend for new streams, and each stream's own.
  await page.evaluate((id) => window.comfyShim.openSidebar(id), SIDEBAR_ID);
  await page
    .locator('#sidebar [data-field="active-backend"]', { hasText: "Daydream (cloud)" })
    .waitFor({ timeout: WAIT_MS });
  await page.click(`#sidebar li[data-stream-id="${local.id}"] .rtc-link-button`);
  await page
    .locator('#sidebar [data-field="stream-backend"]', { hasText: "Local" })
    .waitFor({ timeout: WAIT_MS });
  await page.click(`#sidebar li[data-stream-id="${cloud.id}"] .rtc-link-button`);
  await page
    .locator('#sidebar [data-field="stream-backend"]', { hasText: "Daydream" })
    .waitFor({ timeout: WAIT_MS });

  // Switching in the sidebar's own Settings tab updates its header at once.
  await page.click('#sidebar [data-tab="settings"]');
  await page.locator('#sidebar select[name="rtc-backend"]').selectOption("auto");
  await page
    .locator('#sidebar [data-field="active-backend"]', { hasText: "Daydream (cloud)" })
    .waitFor({ timeout: WAIT_MS });
  assert.equal((await relay.api("/v1/credentials")).backend_source, "key");
  // Removing the key falls back to the local backend.
  await page.locator("#sidebar .rtc-credentials button", { hasText: "Remove key" }).click();
  await page
    .locator('#sidebar [data-field="active-backend"]', { hasText: "Local" })
    .waitFor({ timeout: WAIT_MS });
  await page.click('#sidebar [data-tab="controls"]');
  for (const id of [local.id, cloud.id]) await relay.api(`/v1/streams/${id}`, { method: "DELETE" });
  assert.deepEqual(pageErrors, []);
});

test("node events from the pack become toasts; malformed ones are ignored", async () => {
  await page.evaluate(() => {
    const { api } = window.comfyShim;
    api.dispatchEvent(new CustomEvent("rtc-stream-notification", { detail: { severity: "bogus" } }));
    api.dispatchEvent(
      new CustomEvent("rtc-stream-notification", {
        detail: { severity: "error", summary: "Update failed", detail: "PATCH rejected: guidance_scale" },
      }),
    );
  });
  const toast = page.locator(".shim-toast", { hasText: "Update failed" });
  await toast.waitFor({ timeout: WAIT_MS });
  assert.equal(await toast.getAttribute("data-severity"), "error");
  const count = await page.evaluate(
    () => window.comfyShim.toasts.filter((t) => t.summary === "RTC Node").length,
  );
  assert.equal(count, 0);
});

test("the preview node embeds the same-origin preview page, not saved with the workflow", async () => {
  const widgets = await page.evaluate(() => window.comfyShim.addNode("RTCStreamUIPreview"));
  assert.deepEqual(
    widgets.map((w) => w.name),
    ["rtc_preview", "Reload preview", "Open preview in a new tab", "stream"],
  );
  assert.equal(widgets[0].serialize, false);
  const [opened] = await Promise.all([
    context.waitForEvent("page"),
    page.click('.shim-node button:has-text("Open preview in a new tab")'),
  ]);
  await opened.waitForLoadState();
  assert.equal(opened.url(), new URL("/rtc/ui/preview.html", shim.url).href);
  await opened.locator('[data-action="connect"]').waitFor({ timeout: WAIT_MS });
  await opened.close();
  const frame = page.locator("iframe[data-rtc-preview]");
  const src = await frame.getAttribute("src");
  assert.equal(new URL(src).origin, shim.url, "served from ComfyUI's own origin");
  assert.ok(!src.includes(shim.folder), "no dependence on the install folder name");
  const inner = page.frameLocator("iframe[data-rtc-preview]");
  await inner.locator('.rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
  await inner.locator('[data-action="connect"]').waitFor();
  await screenshot(page.locator(".shim-node").first(), "preview-node.png");
  const other = await page.evaluate(() => window.comfyShim.addNode("KSampler"));
  assert.deepEqual(other, [], "other nodes are left alone");
  assert.deepEqual(pageErrors, []);
});

test("the preview node shows the stream its selector or its linked stream_id names", async () => {
  const create = (name) => relay.api("/v1/streams", { method: "POST", body: JSON.stringify({ name }) });
  const a = await create("older");
  const b = await create("newer");
  const index = await page.evaluate(() => window.comfyShim.nodes.length);
  const frameIndex = await page.locator("iframe[data-rtc-preview]").count();
  await page.evaluate(() => window.comfyShim.addNode("RTCStreamUIPreview"));
  const frame = page.locator("iframe[data-rtc-preview]").nth(frameIndex);
  const shows = (id) =>
    frame.contentFrame().locator(`[data-field="stream"][title="${id}"]`).waitFor({ timeout: WAIT_MS });
  const selector = () =>
    page.evaluate((i) => {
      const widget = window.comfyShim.nodes[i].widgets.find((w) => w.name === "stream");
      return { value: widget.value, values: [...widget.options.values] };
    }, index);

  // "latest" by default: today's behaviour, the relay's current stream.
  assert.equal((await selector()).value, "latest");
  await shows(b.id);
  // The choices follow the relay's streams.
  await page.waitForFunction(
    ({ i, ids }) => {
      const values = window.comfyShim.nodes[i].widgets.find((w) => w.name === "stream").options.values;
      return ids.every((id) => values.includes(id));
    },
    { i: index, ids: [a.id, b.id] },
    { timeout: WAIT_MS },
  );
  assert.equal((await selector()).values[0], "latest");

  // Choosing the older stream pins the preview to it, and the choice is saved last.
  await page.evaluate(({ i, id }) => window.comfyShim.pick(i, "stream", id), { i: index, id: a.id });
  await shows(a.id);
  assert.equal(new URL(await frame.getAttribute("src")).searchParams.get("stream"), a.id);
  const saved = await page.evaluate((i) => window.comfyShim.serialize(i), index);
  assert.deepEqual(saved, { properties: { stream: a.id }, widgets_values: [null, null, null, null] });

  // A workflow saved before the selector existed means "latest"; a saved choice comes back.
  const restored = await page.evaluate(() => window.comfyShim.nodes.length);
  await page.evaluate(() => window.comfyShim.addNode("RTCStreamUIPreview"));
  const restoredFrame = page.locator("iframe[data-rtc-preview]").nth(frameIndex + 1);
  await page.evaluate(
    (i) => window.comfyShim.configure(i, { properties: {}, widgets_values: [null, null] }),
    restored,
  );
  assert.equal(
    await page.evaluate((i) => window.comfyShim.nodes[i].widgets.at(-1).value, restored),
    "latest",
  );
  await restoredFrame.contentFrame().locator(`[data-field="stream"][title="${b.id}"]`).waitFor();
  await page.evaluate(({ i, values }) => window.comfyShim.configure(i, values), {
    i: restored,
    values: saved,
  });
  await restoredFrame
    .contentFrame()
    .locator(`[data-field="stream"][title="${a.id}"]`)
    .waitFor({ timeout: WAIT_MS });

  // A linked stream_id arrives when the node runs, and wins.
  await page.evaluate(({ i, id }) => window.comfyShim.executed(i, { rtc_stream: [id] }), {
    i: index,
    id: b.id,
  });
  await shows(b.id);
  assert.equal((await selector()).value, b.id);
  // Back to "latest".
  await page.evaluate((i) => window.comfyShim.pick(i, "stream", "latest"), index);
  assert.equal(new URL(await frame.getAttribute("src")).searchParams.has("stream"), false);
  for (const stream of [a, b]) await relay.api(`/v1/streams/${stream.id}`, { method: "DELETE" });
  assert.deepEqual(pageErrors, []);
});

test("the UI modules, styles, pages and wasm come from ComfyUI's /rtc/ui/, only API calls from the relay", async () => {
  const served = await page.evaluate(() =>
    performance.getEntriesByType("resource").map((entry) => new URL(entry.name).pathname),
  );
  for (const path of ["/rtc/ui/js/comfy.mjs", "/rtc/ui/css/rtc.css", "/rtc/ui/pkg/rtc_client_bg.wasm"])
    assert.ok(served.includes(path), `${path} loaded from ComfyUI`);
  const fromRelay = shim.apiRequests
    .map((r) => r.path)
    .filter((path) => !path.startsWith("/rtc/api/v1/") && path !== "/rtc/api/healthz");
  assert.deepEqual(fromRelay, [], "nothing but the API went through the relay");
});

test("with the relay binary missing the sidebar says what to install, and Restart brings the relay up", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rtc-pack-"));
  const binary = join(dir, "bin", "rtc-relay");
  // The pack's own supervisor, routes and proxy, as inside ComfyUI; its binary is not there yet.
  const pack = await startPackProxy({
    supervised: { RTC_RELAY_BIN: binary, RTC_RELAY_STATE_DIR: join(dir, "state"), RTC_RELAY_PORT: "0" },
  });
  const comfy = await startComfyShim({
    relayUrl: "http://127.0.0.1:9",
    token: "unused",
    packProxy: pack.url,
  });
  const own = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await grantMedia(own);
  const tab = await own.newPage();
  const errors = [];
  const consoleLines = [];
  let statusPolls = 0;
  tab.on("pageerror", (err) => errors.push(err));
  tab.on("console", (message) => consoleLines.push({ type: message.type(), text: message.text() }));
  tab.on("request", (request) => {
    if (new URL(request.url()).pathname === "/rtc/relay") statusPolls += 1;
  });
  try {
    await tab.goto(`${comfy.url}/`);
    await tab.waitForFunction(() => window.comfyShim?.ready === true, null, { timeout: WAIT_MS });
    await tab.evaluate((id) => window.comfyShim.openSidebar(id), SIDEBAR_ID);
    await tab
      .locator('#sidebar [data-state="unavailable"][data-relay-state="failed"]')
      .waitFor({ timeout: WAIT_MS });
    const reason = await tab.textContent('#sidebar [data-field="relay-reason"]');
    assert.match(reason, /rtc-relay binary not found/);
    assert.ok(reason.includes(binary), "the path that was looked at is named");
    assert.equal(
      await tab.textContent('#sidebar [data-field="relay-summary"]'),
      "The RTC relay is not running.",
    );
    const toast = tab.locator('.shim-toast[data-severity="error"]', {
      hasText: "The RTC relay is not running.",
    });
    await toast.waitFor({ timeout: WAIT_MS });
    assert.match(await toast.textContent(), /rtc-relay binary not found/);
    // The settings page says the same instead of a broken panel.
    await tab.evaluate(() => window.comfyShim.renderSettings());
    assert.match(await tab.textContent("#settings [data-rtc-credentials]"), /not running.*binary not found/s);
    await screenshot(tab.locator("#sidebar"), "sidebar-relay-down.png");

    // Later polls find the same reason: said once, in a toast and a console line.
    const polled = statusPolls;
    const deadline = Date.now() + WAIT_MS;
    while (statusPolls < polled + 3) {
      assert.ok(Date.now() < deadline, "the status is polled while the relay is down");
      await tab.waitForEvent("request", { timeout: WAIT_MS });
    }
    const said = consoleLines.filter((line) => line.text.includes("The RTC relay is not running."));
    assert.equal(said.length, 1, JSON.stringify(consoleLines));
    assert.equal(said[0].type, "warning");
    assert.equal(await tab.locator(".shim-toast", { hasText: "The RTC relay is not running." }).count(), 1);

    // The user installs the binary and restarts the relay from the sidebar.
    mkdirSync(dirname(binary), { recursive: true });
    symlinkSync(relayBinary, binary);
    await tab.click('#sidebar [data-action="restart-relay"]');
    await tab.locator('#sidebar .rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
    await tab.locator(".shim-toast", { hasText: "The RTC relay is running." }).waitFor({ timeout: WAIT_MS });
    await tab
      .locator("#sidebar [data-field=agent]", { hasText: "agent connected" })
      .waitFor({ timeout: WAIT_MS });
    await tab.click('#sidebar [data-action="start"]');
    await tab.locator(CREATED_STREAM_ROW).first().waitFor({ timeout: WAIT_MS });
    await tab.click('#sidebar [data-action="stop"]');
    await tab.locator("#sidebar li.rtc-empty").waitFor({ timeout: WAIT_MS });
    assert.deepEqual(errors, []);
    assert.ok(
      !consoleLines.some((line) => /\bat \S+:\d+:\d+/.test(line.text)),
      "no stack trace in the console",
    );
  } finally {
    await own.close();
    await comfy.stop();
    await pack.stop();
  }
});
