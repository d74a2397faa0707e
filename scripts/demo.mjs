// The full loop on the local backend, headless: starts the relay, opens the agent page in
// Debian Chromium, posts moving 512×512 frames with frame-number markers at 30 fps, reads the
// frames back and prints live figures once a second (effect stage off, so markers survive).
// Then it turns the local effect on, changes the prompt live, and writes side-by-side
// pictures of input and output before and after the change plus a contact sheet of the
// output, printing their paths. Run through scripts/demo.sh, which builds everything first.
// `--seconds N` sets the duration; `--out DIR` where the pictures go; `--open` keeps the
// relay up.

import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { launchBareChromium } from "../tests/e2e/bare-chromium.mjs";
import { startRelay } from "../tests/e2e/harness.mjs";
import {
  loadMarkers,
  PASSTHROUGH,
  quantile,
  RelayApi,
  startSink,
  startSource,
  until,
} from "../tests/e2e/loop.mjs";
import { tile, writePng } from "./png.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    fps: { type: "string", default: "30" },
    size: { type: "string", default: "512" },
    open: { type: "boolean", default: false },
    out: { type: "string", default: "target/demo" },
  },
});
const seconds = Number(values.seconds);
const fps = Number(values.fps);
const side = Number(values.size);

const token = randomBytes(16).toString("hex");
const markers = await loadMarkers();
const relay = await startRelay({ env: { RTC_RELAY_TOKEN: token } });
const api = new RelayApi(relay.url, token);
console.log(`relay: ${relay.url} (local backend)`);
// Not Playwright: with DevTools' network instrumentation on, Chromium copies every agent-socket
// frame into DevTools events, which adds its own delay to the loop being shown.
const browser = await launchBareChromium();
try {
  const page = await browser.open(`${relay.url}/agent.html?camera=1&token=${token}`);
  await page.waitFor(`document.querySelector("#state")?.dataset.state === "connected"`);
  console.log("agent page: connected");

  const stream = await api.createStream({ width: side, height: side, frame_rate: fps, ...PASSTHROUGH });
  await until(
    "the publisher to go live",
    async () => (await api.stream(stream.id)).publisher?.state === "live",
  );
  console.log(`stream ${stream.id}: publishing ${side}×${side} @ ${fps} fps through WHIP → local SFU → WHEP`);

  const source = startSource(api, stream.id, { width: side, height: side, fps, markers, moving: true });
  const sink = startSink(api, stream.id, { markers, sentAt: source.stats.sentAt });
  let last = { accepted: 0, frames: 0, latencies: 0 };
  for (let s = 1; s <= seconds; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    const info = await api.stream(stream.id);
    const recent = sink.stats.latenciesMs.slice(last.latencies);
    const bitrate = info.publisher?.stats?.bitrate_kbps;
    console.log(
      [
        `t=${String(s).padStart(3)}s`,
        `fps in ${String(source.stats.accepted - last.accepted).padStart(3)}`,
        `fps out ${String(sink.stats.frames - last.frames).padStart(3)}`,
        `glass-to-glass p50 ${quantile(recent, 0.5).toFixed(1)} ms p95 ${quantile(recent, 0.95).toFixed(1)} ms`,
        `bitrate ${bitrate === undefined ? "–" : `${Math.round(bitrate)} kbit/s`}`,
        `codec ${info.publisher?.stats?.codec ?? "–"}`,
      ].join("  "),
    );
    last = {
      accepted: source.stats.accepted,
      frames: sink.stats.frames,
      latencies: sink.stats.latenciesMs.length,
    };
  }
  source.stop();
  await sink.stop();
  const all = sink.stats.latenciesMs;
  console.log(
    `total: ${source.stats.accepted} frames in, ${sink.stats.frames} out, ${sink.stats.decoded.length} markers decoded; ` +
      `glass-to-glass p50 ${quantile(all, 0.5).toFixed(1)} ms, p95 ${quantile(all, 0.95).toFixed(1)} ms`,
  );
  const { publisher, player } = await api.stream(stream.id);
  const ms = (v) => (v === undefined ? "–" : `${v.toFixed(1)} ms`);
  const back = all.map((total, i) => total - sink.stats.toPlayerMs[i]);
  console.log(
    `breakdown (p50): source → relay → agent → WebRTC → player ${ms(quantile(sink.stats.toPlayerMs, 0.5))} ` +
      `(of it, per frame: encode ${ms(publisher?.stats?.encode_ms)}, jitter buffer ${ms(player?.stats?.jitter_buffer_ms)}, ` +
      `decode ${ms(player?.stats?.decode_ms)}); player → relay → workflow ${ms(quantile(back, 0.5))}`,
  );
  await showEffect(api, stream.id);
  if (values.open) {
    console.log(`relay stays up at ${relay.url}/agent.html?token=${token} until Ctrl-C`);
    await new Promise((resolve) => process.once("SIGINT", resolve));
  }
} finally {
  await browser.close();
  await relay.stop();
}

/** The newest output frame after sequence `after`, as rgb8. */
async function outputAfter(api, streamId, after) {
  for (;;) {
    const res = await api.request(
      "GET",
      `/v1/streams/${streamId}/output?after=${after}&wait_ms=1000&format=rgb8`,
    );
    const pixels = new Uint8Array(await res.arrayBuffer());
    if (res.status === 200) {
      return {
        pixels,
        sequence: Number(res.headers.get("x-frame-sequence")),
        width: Number(res.headers.get("x-frame-width")),
        height: Number(res.headers.get("x-frame-height")),
      };
    }
    if (res.status !== 204) throw new Error(`GET output: HTTP ${res.status}`);
  }
}

/** Waits for `count` more output frames; returns the last one with the input posted then. */
async function settle(api, streamId, source, count) {
  let frame = await outputAfter(api, streamId, 0);
  for (let i = 0; i < count; i++) frame = await outputAfter(api, streamId, frame.sequence);
  return { input: source.stats.last, output: frame };
}

/** Turns the effect on, changes the prompt live and writes the pictures. */
async function showEffect(api, streamId) {
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const source = startSource(api, streamId, { width: side, height: side, fps, markers: null, moving: true });
  const patch = (params) => api.json("PATCH", `/v1/streams/${streamId}`, { json: { params } });
  try {
    await patch({ skip_diffusion: false, prompt: "neon city at night", width: side, height: side });
    const before = await settle(api, streamId, source, 45);
    console.log('effect on, prompt "neon city at night"; changing it live to "forest at dawn"');
    const changedAt = performance.now();
    await patch({ prompt: "forest at dawn", t_index_list: [8, 20, 32] });
    const sheet = [];
    let frame = await outputAfter(api, streamId, before.output.sequence);
    console.log(`first frame after the change: ${(performance.now() - changedAt).toFixed(0)} ms`);
    while (sheet.length < 8) {
      frame = await outputAfter(api, streamId, frame.sequence);
      if (frame.sequence % 4 === 0) sheet.push(frame.pixels);
    }
    const after = { input: source.stats.last, output: frame };
    const { width, height } = frame;
    if (width !== side || height !== side)
      throw new Error(`output is ${width}×${height}, expected ${side}×${side}`);
    const grid = tile([before.input, before.output.pixels, after.input, after.output.pixels], side, side, 2);
    const sidePath = join(out, "effect-before-after.png");
    writePng(sidePath, grid.pixels, grid.width, grid.height);
    const contact = tile(sheet, side, side, 4);
    const sheetPath = join(out, "effect-contact-sheet.png");
    writePng(sheetPath, contact.pixels, contact.width, contact.height);
    console.log(`input | output, before (top) and after (bottom) the prompt change: ${sidePath}`);
    console.log(`output after the change, every 4th frame: ${sheetPath}`);
  } finally {
    source.stop();
  }
}
