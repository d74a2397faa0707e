// P1: frame hand-off from the Python node code through the relay and the agent socket into
// VideoFrames in the page (counted by the agent), against the original's PNG + base64 JSON
// POST to a Python server. P3: processed frame → Frame Output tensor, against the original's
// PNG + base64 GET. Both use the pack's own conversion and relay client.
import { randomBytes } from "node:crypto";
import { startRelay } from "../e2e/harness.mjs";
import { python, runJson } from "./lib/proc.mjs";
import { startPython } from "./lib/servers.mjs";
import { quantile, summarize } from "./lib/stats.mjs";

const SIZES = [
  { width: 512, height: 512, budget: 200 },
  { width: 1280, height: 720, budget: 60 },
];

async function json(url, token, method, path, body) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body && JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function until(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** VideoFrames per second the page's agent made from frames the Python side posted. */
async function productRun({ browser, seconds }, { width, height }) {
  const token = randomBytes(16).toString("hex");
  const relay = await startRelay({ env: { RTC_RELAY_TOKEN: token } });
  const page = await browser.newPage();
  try {
    await page.goto(`${relay.url}/agent.html?camera=1&token=${token}`);
    await page.locator('#state[data-state="connected"]').waitFor({ timeout: 15000 });
    const stream = await json(relay.url, token, "POST", "/v1/streams", {
      name: "bench",
      width,
      height,
      frame_rate: 30,
    });
    await until("the publisher", async () => {
      const s = await json(relay.url, token, "GET", `/v1/streams/${stream.id}`);
      return s.publisher?.state === "live";
    });
    const framesIn = () =>
      page.evaluate((id) => window.agent.streams().find((s) => s.streamId === id)?.framesIn ?? 0, stream.id);
    const before = await framesIn();
    const t0 = performance.now();
    const pushed = await runJson(python, [
      "tests/bench/frame_path.py",
      "push",
      relay.url,
      token,
      stream.id,
      String(width),
      String(height),
      String(seconds),
    ]);
    const fps = ((await framesIn()) - before) / ((performance.now() - t0) / 1000);
    return { fps, posted: pushed.posted_fps };
  } finally {
    await page.close();
    await relay.stop();
  }
}

export async function p1(ctx) {
  const rows = [];
  for (const size of SIZES) {
    const product = [];
    const posted = [];
    const baseline = [];
    for (let i = 0; i < ctx.runs; i++) {
      const run = await productRun(ctx, size);
      product.push(run.fps);
      posted.push(run.posted);
      const server = await startPython("baseline_server.py");
      try {
        const out = await runJson(python, [
          "tests/bench/p1_baseline.py",
          server.url,
          String(size.width),
          String(size.height),
          String(Math.min(ctx.seconds, 8)),
        ]);
        baseline.push(out.fps);
      } finally {
        await server.stop();
      }
    }
    const value = summarize(product);
    const base = summarize(baseline);
    rows.push({
      id: `P1-${size.width}x${size.height}`,
      what: `node → relay → VideoFrame, ${size.width}×${size.height}`,
      unit: "fps",
      better: "higher",
      value,
      baseline: base,
      baselineName: `PNG + base64 JSON POST (node side posted ${summarize(posted).median.toFixed(0)}/s)`,
      budget: `≥ ${size.budget} fps and ≥ 50×`,
      pass: value.median >= size.budget && value.median >= 50 * base.median,
    });
  }
  return rows;
}

export async function p3(ctx) {
  const token = randomBytes(16).toString("hex");
  const product = [];
  const baseline = [];
  for (let i = 0; i < ctx.runs; i++) {
    const relay = await startRelay({ env: { RTC_RELAY_TOKEN: token } });
    try {
      const out = await runJson(python, [
        "tests/bench/frame_path.py",
        "output",
        relay.url,
        token,
        "512",
        "512",
        "40",
      ]);
      product.push(quantile(out.latency_ms, 0.5));
    } finally {
      await relay.stop();
    }
    const server = await startPython("baseline_server.py");
    try {
      const out = await runJson(python, ["tests/bench/p3_baseline.py", server.url, "512", "512", "20"]);
      baseline.push(quantile(out.latency_ms, 0.5));
    } finally {
      await server.stop();
    }
  }
  const value = summarize(product);
  return [
    {
      id: "P3",
      what: "processed frame → Frame Output tensor p50, 512×512",
      unit: "ms",
      better: "lower",
      value,
      baseline: summarize(baseline),
      baselineName: "PNG + base64 GET",
      budget: "≤ 10 ms",
      pass: value.median <= 10,
    },
  ];
}
