// Streams a video file through create → WHIP → backend → WHEP without ComfyUI: starts a relay,
// opens the studio page in headless Chromium with the file as its source (the page posts the
// frames to the relay, its agent publishes them and plays the output back) and prints live
// figures once a second. Run through scripts/stream-file.sh, which builds everything first.
//
//   stream-file.mjs VIDEO [--loop] [--seconds N] [--backend local|daydream]
//
// Without --seconds it streams until the file ends (with --loop, until Ctrl-C). The Daydream
// backend takes its key from DAYDREAM_API_KEY in the environment, never from the arguments.
import { existsSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import { launchBareChromium } from "../tests/e2e/bare-chromium.mjs";
import { keepReading, RelayApi, until } from "../tests/e2e/loop.mjs";
import { startTokenRelay } from "../tests/e2e/pages.mjs";

const usage = "usage: stream-file.sh VIDEO [--loop] [--seconds N] [--backend local|daydream]";
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    loop: { type: "boolean", default: false },
    seconds: { type: "string" },
    backend: { type: "string", default: "local" },
  },
});
const fail = (message) => {
  console.error(`stream-file: ${message}\n${usage}`);
  process.exit(2);
};
if (positionals.length !== 1) fail("give exactly one video file");
const video = resolve(positionals[0]);
if (!existsSync(video) || !statSync(video).isFile()) fail(`${video} is not a file`);
const seconds = values.seconds === undefined ? Number.POSITIVE_INFINITY : Number(values.seconds);
if (!(seconds > 0)) fail(`--seconds must be a positive number, not ${values.seconds}`);
if (!["local", "daydream"].includes(values.backend)) fail(`unknown backend ${values.backend}`);

// The relay gets the key through its environment, like every other way of starting it.
const daydreamEnv = {};
if (values.backend === "daydream") {
  if (!process.env.DAYDREAM_API_KEY) fail("--backend daydream needs DAYDREAM_API_KEY in the environment");
  for (const name of ["DAYDREAM_API_KEY", "DAYDREAM_API_URL", "DAYDREAM_ALLOW_API_HOST"]) {
    if (process.env[name]) daydreamEnv[name] = process.env[name];
  }
}

const relay = await startTokenRelay({ env: { RTC_BACKEND: values.backend, ...daydreamEnv } });
console.log(`relay: ${relay.url} (${values.backend} backend)`);
const browser = await launchBareChromium();
let stopped = false;
process.once("SIGINT", () => {
  stopped = true;
});
try {
  const page = await browser.open(`${relay.url}/?token=${relay.token}`);
  await page.waitFor(`document.querySelector("#wasm-version")?.dataset.state === "ready"`, 30000);
  // On a machine whose only network is loopback, Chromium gathers ICE candidates only for
  // pages that had media permission (the browser is started with a fake camera).
  await page.evaluate(
    "navigator.mediaDevices.getUserMedia({ video: true }).then((s) => s.getTracks().forEach((t) => t.stop()))",
  );
  await page.evaluate(`(() => {
    const select = document.querySelector('select[name="source"]');
    select.value = "file";
    select.dispatchEvent(new Event("change"));
    document.querySelector('input[name="loop"]').checked = ${values.loop};
  })()`);
  const { result } = await page.send("Runtime.evaluate", {
    expression: `document.querySelector('input[name="file"]')`,
  });
  await page.send("DOM.setFileInputFiles", { files: [video], objectId: result.objectId });
  await page.evaluate(`document.querySelector('[data-action="start"]').click()`);
  const started = await page.waitFor(
    `(() => {
      const stream = document.getElementById("studio").dataset.stream;
      const message = document.querySelector(".rtc-form-message").textContent;
      return stream?.startsWith("str_") ? { stream } : message ? { message } : null;
    })()`,
    30000,
  );
  if (started.message) throw new Error(`the studio refused to start: ${started.message}`);
  const streamId = started.stream;
  const first = await relay.api(`/v1/streams/${streamId}`);
  const { width, height, frame_rate: fps } = first.settings;
  console.log(
    `stream ${streamId}: ${basename(video)} at ${width}×${height} @ ${fps} fps through WHIP → ${values.backend} → WHEP`,
  );

  // Read the output as Frame Output does: the agent sends frames back only while read.
  const reader = keepReading(new RelayApi(relay.url, relay.token), streamId);
  let last = { posted: 0, published: 0, returned: 0 };
  for (let s = 1; s <= seconds && !stopped; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    const info = await relay.api(`/v1/streams/${streamId}`);
    const now = {
      posted: info.frames.received,
      published: info.publisher?.stats?.frames ?? 0,
      returned: info.frames.output_sequence,
    };
    const bitrate = info.publisher?.stats?.bitrate_kbps;
    console.log(
      [
        `t=${String(s).padStart(3)}s`,
        `posted ${String(now.posted - last.posted).padStart(3)}`,
        `published ${String(now.published - last.published).padStart(3)}`,
        `returned ${String(now.returned - last.returned).padStart(3)}`,
        `bitrate ${bitrate === undefined ? "–" : `${Math.round(bitrate)} kbit/s`}`,
        `codec ${info.publisher?.stats?.codec ?? "–"}`,
        `output ${info.player?.state ?? "–"}`,
      ].join("  "),
    );
    last = now;
    if ((await page.evaluate(`document.getElementById("studio").dataset.source`)) === "ended") {
      console.log("the video file ended");
      break;
    }
  }
  await reader.stop();
  const { frames } = await relay.api(`/v1/streams/${streamId}`);
  console.log(
    `total: ${frames.received} frames posted, ${frames.sent} handed to the publisher, ${frames.output_sequence} returned over WHEP`,
  );
  await page.evaluate(`document.querySelector('[data-action="stop"]').click()`);
  await until("the stream to be deleted", async () => {
    const { streams } = await relay.api("/v1/streams");
    return !streams.some((s) => s.id === streamId);
  });
} catch (err) {
  console.error(`stream-file: ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  await relay.stop();
}
