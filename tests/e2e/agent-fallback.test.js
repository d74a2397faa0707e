// The agent in a browser without MediaStreamTrackProcessor (Firefox, Safari), played by
// Chromium with the API removed before the page's scripts run: the player reads the processed
// stream from a hidden <video> and the frames reach the relay with their markers. Without
// requestVideoFrameCallback as well, no frame can come back, and the relay's Stream object
// says why.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startRelay } from "./harness.mjs";
import { loadMarkers, PASSTHROUGH, RelayApi, startSink, startSource, until } from "./loop.mjs";

const TOKEN = "agent-fallback-token";
const SIZE = { width: 256, height: 256, frame_rate: 30 };

let relay;
let api;
let browser;
let markers;

before(async () => {
  markers = await loadMarkers();
  relay = await startRelay({ env: { RTC_RELAY_TOKEN: TOKEN } });
  api = new RelayApi(relay.url, TOKEN);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** An agent page in its own context where the `[object path, name]` APIs do not exist. */
async function openAgent(missing) {
  const context = await browser.newContext();
  await context.addInitScript((apis) => {
    for (const [path, name] of apis) {
      const target = path.reduce((object, key) => object[key], globalThis);
      delete target[name];
    }
  }, missing);
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`agent page: ${m.text()}`);
  });
  await page.goto(`${relay.url}/agent.html?camera=1&token=${TOKEN}`);
  await page.locator('#state[data-state="connected"]').waitFor({ timeout: 15000 });
  return { context, page };
}

const NO_PROCESSOR = [[[], "MediaStreamTrackProcessor"]];
const NO_FRAME_CALLBACK = [[["HTMLVideoElement", "prototype"], "requestVideoFrameCallback"]];

async function liveStream() {
  const { id } = await api.createStream({ ...SIZE, ...PASSTHROUGH });
  await until("the publisher to be live", async () => (await api.stream(id)).publisher?.state === "live");
  return id;
}

test("without the track processor, frames come back through a hidden video", async () => {
  const { context, page } = await openAgent(NO_PROCESSOR);
  const id = await liveStream();
  const source = startSource(api, id, { ...SIZE, fps: SIZE.frame_rate, markers });
  const sink = startSink(api, id, { markers, sentAt: source.stats.sentAt });
  try {
    assert.equal(await page.evaluate(() => typeof MediaStreamTrackProcessor), "undefined");
    await until("30 marker frames back", () => sink.stats.decoded.length >= 30, 45000);
    for (let i = 1; i < sink.stats.decoded.length; i++)
      assert.ok(sink.stats.decoded[i] >= sink.stats.decoded[i - 1], "markers out of order");
    assert.equal(sink.stats.width, SIZE.width);
    assert.equal(sink.stats.height, SIZE.height);
    assert.equal(await page.evaluate(() => document.querySelectorAll("video[aria-hidden]").length), 1);
    const stream = await api.stream(id);
    assert.equal(stream.player?.state, "live");
    assert.equal(stream.player?.error, null);
  } finally {
    source.stop();
    await sink.stop();
    await api.request("DELETE", `/v1/streams/${id}`);
    await context.close();
  }
});

test("with no way to read frames, the relay's Stream says why none come back", async () => {
  const { context } = await openAgent([...NO_PROCESSOR, ...NO_FRAME_CALLBACK]);
  const id = await liveStream();
  const source = startSource(api, id, { ...SIZE, fps: SIZE.frame_rate, markers: null });
  try {
    const { player } = await until("the player's error at the relay", async () => {
      const stream = await api.stream(id);
      return stream.player?.error ? stream : undefined;
    });
    assert.match(player.error, /^UNSUPPORTED: .*requestVideoFrameCallback/);
    // The connection itself is fine; only the frames are missing.
    const live = await until("the player to be live", async () => {
      const stream = await api.stream(id);
      return stream.player?.state === "live" ? stream : undefined;
    });
    assert.match(live.player.error ?? "", /^UNSUPPORTED/, "the error outlives the state change");
    assert.equal(live.frames.output_sequence, 0);
  } finally {
    source.stop();
    await api.request("DELETE", `/v1/streams/${id}`);
    await context.close();
  }
});
