// P2: glass-to-glass latency through the local backend, with its floor (two peer connections
// in one page) and a decode/re-encode aiortc relay as baselines, all measured in this run.
import { randomBytes } from "node:crypto";
import { startRelay } from "../e2e/harness.mjs";
import { latencyRow } from "./lib/latency.mjs";

export async function p2Floor({ browser, pages, runs, seconds }) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage();
    await page.goto(`${pages.url}/loopback.html`);
    await page.waitForFunction(() => window.benchReady === true);
    samples.push(
      await page.evaluate((opts) => window.runLoopback(opts), {
        width: 512,
        height: 512,
        fps: 30,
        seconds,
        warmupMs: 2000,
      }),
    );
    await page.close();
  }
  return samples;
}

export { latencyRow };

/** Runs the WHIP→WHEP page against a server started by `start()` (fresh per run). */
export async function p2Server({ browser, pages, runs, seconds }, start) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const server = await start();
    try {
      const page = await browser.newPage();
      await page.goto(`${pages.url}/whip-whep.html`);
      await page.waitForFunction(() => window.benchReady === true);
      samples.push(
        await page.evaluate((opts) => window.runWhipWhep(opts), {
          whipUrl: server.whipUrl,
          whepUrl: server.whepUrl,
          width: 512,
          height: 512,
          fps: 30,
          seconds,
          warmupMs: 2000,
        }),
      );
      await page.close();
    } finally {
      await server.stop();
    }
  }
  return samples;
}

/** The product: wasm publisher and player through a fresh relay's local backend per run. */
export async function p2Product({ browser, pages, runs, seconds }) {
  const token = randomBytes(16).toString("hex");
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const relay = await startRelay({ env: { RTC_RELAY_TOKEN: token } });
    try {
      const created = await fetch(`${relay.url}/v1/streams`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        // Markers time the transport: the effect stage stays off (P7 measures it on its own).
        body: JSON.stringify({
          name: "bench",
          width: 512,
          height: 512,
          frame_rate: 30,
          pipeline_config: { params: { model_id: "stabilityai/sdxl-turbo", skip_diffusion: true } },
        }),
      });
      if (created.status !== 201) throw new Error(`create stream: ${created.status} ${await created.text()}`);
      const { whip_url: whipUrl } = await created.json();
      const page = await browser.newPage();
      await page.goto(`${pages.url}/product.html`);
      await page.waitForFunction(() => window.benchReady === true);
      samples.push(
        await page.evaluate((opts) => window.runProduct(opts), {
          whipUrl,
          // The local backend's documented egress path for the same stream key.
          whepUrl: whipUrl.replace(/\/whip$/, "-out/whep"),
          width: 512,
          height: 512,
          fps: 30,
          seconds,
          warmupMs: 2000,
        }),
      );
      await page.close();
    } finally {
      await relay.stop();
    }
  }
  return samples;
}
