// ComfyUI on one machine, the browser on another: Chromium runs in its own network namespace
// (tests/e2e/netns.mjs) and reaches the ComfyUI stand-in only at the veth address, as a laptop
// reaches a GPU box. Signalling goes through the pack's proxy and supervisor (real Python, real
// relay), frames over the JPEG link the proxy asks for; media goes straight to the local
// backend's UDP socket, or cannot.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startComfyShim, startPackProxy } from "./comfy-shim.mjs";
import { relayBinary } from "./harness.mjs";
import { loadMarkers, quantile, RelayApi, startSink, startSource, until } from "./loop.mjs";
import { createRemoteHost } from "./netns.mjs";
import { CREATED_STREAM_ROW, grantMedia, WAIT_MS } from "./pages.mjs";

const SIDEBAR_ID = "rtc-node.stream";
const ICE_FAILS_MS = 90_000;

let remote;
let markers;

before(async () => {
  remote = createRemoteHost();
  markers = await loadMarkers();
});

after(() => remote?.remove());

/**
 * ComfyUI started with `comfyArgs`, listening on the host's end of the link: the pack's
 * supervisor starts the relay, and the ComfyUI tab opens in the browser on the other machine.
 */
async function remoteComfyTab(comfyArgs, run) {
  const dir = mkdtempSync(join(tmpdir(), "rtc-remote-pack-"));
  const pack = await startPackProxy({
    supervised: { RTC_RELAY_BIN: relayBinary, RTC_RELAY_STATE_DIR: join(dir, "state"), RTC_RELAY_PORT: "0" },
    comfyArgs,
  });
  let comfy;
  let browser;
  try {
    comfy = await startComfyShim({
      relayUrl: "http://127.0.0.1:9",
      token: "unused",
      packProxy: pack.url,
      host: remote.hostIp,
    });
    // Plain http on a LAN address, as users often open ComfyUI: no secure context.
    browser = await remote.launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await grantMedia(context);
    const tab = await context.newPage();
    const errors = [];
    tab.on("pageerror", (err) => errors.push(err));
    await tab.goto(`${comfy.url}/`);
    await tab.waitForFunction(() => window.comfyShim?.ready === true, null, { timeout: WAIT_MS });
    await tab.evaluate((id) => window.comfyShim.openSidebar(id), SIDEBAR_ID);
    await tab
      .locator("#sidebar [data-field=agent]", { hasText: "agent connected" })
      .waitFor({ timeout: WAIT_MS });
    const stateFile = join(dir, "state", "pack-relay.json");
    await until("the pack's relay", () => existsSync(stateFile));
    const { url, token } = JSON.parse(readFileSync(stateFile, "utf8"));
    const api = new RelayApi(url, token);
    await tab.click('#sidebar [data-action="start"]');
    const row = tab.locator(CREATED_STREAM_ROW);
    await row.first().waitFor({ timeout: WAIT_MS });
    const streamId = await row.first().getAttribute("data-stream-id");
    await run({ tab, api, comfy, streamId });
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    await comfy?.stop();
    await pack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("with ComfyUI on --listen, a browser on another machine publishes and plays the local backend's output", async () => {
  await remoteComfyTab(["--listen", remote.hostIp], async ({ api, streamId }) => {
    const health = await (await fetch(`${api.url}/healthz`)).json();
    assert.ok(
      health.media.some((address) => address.startsWith(`${remote.hostIp}:`)),
      `media announced on the address the browser reaches: ${health.media}`,
    );
    const { settings } = await api.stream(streamId);
    const source = startSource(api, streamId, {
      width: settings.width,
      height: settings.height,
      fps: 15,
      markers,
    });
    const sink = startSink(api, streamId, { markers, sentAt: source.stats.sentAt });
    let warm = 0;
    try {
      await until("20 frames back through the remote browser", () => sink.stats.decoded.length >= 20, 60_000);
      // Latency once warmed up: the first frames also waited for ICE, DTLS and a keyframe.
      warm = sink.stats.latenciesMs.length;
      await until("60 more frames", () => sink.stats.latenciesMs.length >= warm + 60, 60_000);
    } finally {
      source.stop();
      await sink.stop();
    }
    const latenciesMs = sink.stats.latenciesMs.slice(warm);
    console.log(
      `remote browser loop: ${latenciesMs.length} frames after warm-up, relay-to-relay p50 ${quantile(latenciesMs, 0.5).toFixed(1)} ms, p95 ${quantile(latenciesMs, 0.95).toFixed(1)} ms`,
    );
    const stream = await api.stream(streamId);
    assert.equal(stream.publisher.state, "live");
    assert.equal(stream.publisher.error, null);
    assert.equal(stream.player.state, "live");
    // The pack's proxy saw a browser on another machine: frames crossed as JPEG.
    assert.equal(stream.publisher.link, "jpeg");
    assert.equal(stream.player.link, "jpeg");
  });
});

test("with media on loopback only, the remote browser's UI says the media server is unreachable and what to do", async () => {
  await remoteComfyTab(null, async ({ tab, api, comfy, streamId }) => {
    const health = await (await fetch(`${api.url}/healthz`)).json();
    assert.ok(
      health.media.every((address) => address.startsWith("127.0.0.1:")),
      `${health.media}`,
    );
    const port = health.media[0].split(":")[1];
    // The browser's own ICE failure is the signal; Chromium gives up on unanswered checks
    // after tens of seconds.
    const started = Date.now();
    await tab.locator('#sidebar .rtc-badge[data-state="unreachable"]').waitFor({ timeout: ICE_FAILS_MS });
    console.log(
      `media unreachable shown ${((Date.now() - started) / 1000).toFixed(1)} s after the stream's row`,
    );
    const detail = await tab.textContent("#sidebar .rtc-detail");
    assert.match(detail, /^MEDIA_UNREACHABLE: ICE did not connect: this browser cannot reach/);
    assert.ok(detail.includes(`the media server at 127.0.0.1:${port} (UDP)`), detail);
    assert.match(detail, /start ComfyUI with --listen/);
    assert.equal(
      await tab.textContent(`#sidebar li[data-stream-id="${streamId}"] .rtc-chip`),
      "MEDIA UNREACHABLE",
    );
    const toast = tab.locator('.shim-toast[data-severity="error"]', { hasText: "Media unreachable" });
    await toast.waitFor({ timeout: WAIT_MS });
    assert.ok((await toast.textContent()).includes(`127.0.0.1:${port} (UDP)`));

    // The relay records it, so the Frame nodes can say it too.
    const stream = await api.stream(streamId);
    assert.equal(stream.state, "reconnecting");
    assert.match(stream.publisher.error, /^MEDIA_UNREACHABLE: /);

    // The publisher keeps trying (a firewall may open) without repeating the toast.
    const whipPosts = () =>
      comfy.apiRequests.filter((r) => r.method === "POST" && r.path.endsWith(`/${streamId}/whip`)).length;
    const seen = whipPosts();
    await until("another publish attempt", () => whipPosts() > seen, ICE_FAILS_MS);
    await tab.locator('#sidebar .rtc-badge[data-state="unreachable"]').waitFor({ timeout: WAIT_MS });
    assert.equal(await toast.count(), 1);
  });
});
