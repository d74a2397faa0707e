// The full loop on the local backend, headless: starts the relay, opens the agent page in
// Debian Chromium, posts 512×512 frames with frame-number markers at 30 fps, reads the
// processed frames back and prints live figures once a second. Run through scripts/demo.sh,
// which builds everything first. `--seconds N` sets the duration; `--open` keeps the relay up.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { launchBareChromium } from "../tests/e2e/bare-chromium.mjs";
import { startRelay } from "../tests/e2e/harness.mjs";
import { loadMarkers, quantile, RelayApi, startSink, startSource, until } from "../tests/e2e/loop.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    fps: { type: "string", default: "30" },
    size: { type: "string", default: "512" },
    open: { type: "boolean", default: false },
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

  const stream = await api.createStream({ width: side, height: side, frame_rate: fps });
  await until(
    "the publisher to go live",
    async () => (await api.stream(stream.id)).publisher?.state === "live",
  );
  console.log(`stream ${stream.id}: publishing ${side}×${side} @ ${fps} fps through WHIP → local SFU → WHEP`);

  const source = startSource(api, stream.id, { width: side, height: side, fps, markers });
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
  if (values.open) {
    console.log(`relay stays up at ${relay.url}/agent.html?token=${token} until Ctrl-C`);
    await new Promise((resolve) => process.once("SIGINT", resolve));
  }
} finally {
  await browser.close();
  await relay.stop();
}
