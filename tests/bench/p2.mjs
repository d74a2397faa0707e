// P2: glass-to-glass latency through the local backend, with its floor (two peer connections
// in one page) and a decode/re-encode aiortc relay as baselines, all measured in this run.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { targetDir, whenListening } from "../e2e/harness.mjs";
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

/**
 * The product: wasm publisher and player through the local backend's media server, a fresh one
 * per run. The relay hands its stream keys to no one, so the media server runs on its own here
 * (relay/examples/local_media.rs: the relay's media code, WHIP/WHEP on loopback).
 */
export async function p2Product({ browser, pages, runs, seconds }) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const media = await startMediaServer();
    try {
      const key = `stk_bench_${randomBytes(8).toString("hex")}`;
      // Markers time the transport: the effect stage stays off (P7 measures it on its own).
      const opened = await fetch(`${media.url}/streams/${key}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ skip_diffusion: true }),
      });
      if (opened.status !== 204) throw new Error(`open stream: ${opened.status} ${await opened.text()}`);
      const page = await browser.newPage();
      await page.goto(`${pages.url}/product.html`);
      await page.waitForFunction(() => window.benchReady === true);
      samples.push(
        await page.evaluate((opts) => window.runProduct(opts), {
          whipUrl: `${media.url}/local/live/video-to-video/${key}/whip`,
          whepUrl: `${media.url}/local/live/video-to-video/${key}-out/whep`,
          width: 512,
          height: 512,
          fps: 30,
          seconds,
          warmupMs: 2000,
        }),
      );
      await page.close();
    } finally {
      await media.stop();
    }
  }
  return samples;
}

function startMediaServer() {
  const binary = process.env.LOCAL_MEDIA_BIN ?? join(targetDir, "release", "examples", "local_media");
  const child = spawn(binary, [], { stdio: ["ignore", "pipe", "inherit"] });
  return whenListening(child, child.stdout, "media server", (c) => c.kill("SIGTERM"));
}
