// A browser the pack's proxy sees as remote (the stand-in proxy acts as if behind a reverse
// proxy): the relay gives its agent a JPEG link, frames go to the page and back as JPEG, and
// Frame Output's route still returns the frames in order with their markers readable.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startPackProxy } from "./comfy-shim.mjs";
import { launchBrowser, startRelay } from "./harness.mjs";
import { loadMarkers, RelayApi, startSink, startSource, until } from "./loop.mjs";

const TOKEN = "agent-link-token";
const SIZE = { width: 512, height: 512, frame_rate: 30 };

let relay;
let pack;
let api;
let browser;
let markers;

before(async () => {
  markers = await loadMarkers();
  relay = await startRelay({ env: { RTC_RELAY_TOKEN: TOKEN } });
  pack = await startPackProxy({ relayUrl: relay.url, token: TOKEN, clientsRemote: true });
  api = new RelayApi(relay.url, TOKEN);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pack?.stop();
  await relay?.stop();
});

test("a remote browser publishes and plays back through JPEG, and Frame Output gets the frames", async () => {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.log(`agent page: ${m.text()}`);
  });
  await page.goto(`${pack.url}/rtc/ui/agent.html?camera=1`);
  await page.locator('#state[data-state="connected"]').waitFor({ timeout: 15000 });

  const { id } = await api.createStream(SIZE);
  const live = await until("the publisher to be live", async () => {
    const s = await api.stream(id);
    return s.publisher?.state === "live" ? s : undefined;
  });
  assert.equal(live.publisher.link, "jpeg");

  const source = startSource(api, id, { ...SIZE, fps: SIZE.frame_rate, markers, firstMarker: 0 });
  const sink = startSink(api, id, { markers, sentAt: source.stats.sentAt });
  try {
    await until("40 marker frames back through the JPEG link", () => sink.stats.decoded.length >= 40, 45000);
  } finally {
    source.stop();
    await sink.stop();
  }
  const { decoded } = sink.stats;
  for (let i = 1; i < decoded.length; i++) {
    assert.ok(decoded[i] >= decoded[i - 1], `marker ${decoded[i]} came after ${decoded[i - 1]}`);
  }
  assert.equal(sink.stats.width, SIZE.width);
  assert.equal(sink.stats.height, SIZE.height);
  const stream = await api.stream(id);
  assert.equal(stream.player.link, "jpeg");
  const { sent, sent_bytes: down, output_sequence: back, output_bytes: up } = stream.frames;
  const raw = SIZE.width * SIZE.height * 1.5;
  console.log(
    `JPEG link, bytes per frame: to the page ${(down / sent).toFixed(0)}, back ${(up / back).toFixed(0)} (raw I420 ${raw})`,
  );
  assert.ok(down / sent < raw / 4 && up / back < raw / 4, JSON.stringify(stream.frames));
  const [info] = await page.evaluate(() => window.agent.streams());
  assert.ok(info.framesIn > 0 && info.framesOut > 0, JSON.stringify(info));
  assert.equal(info.badFrames, 0);
  await page.close();
});
