// Runs the benchmark suite (DESIGN P1–P7) with baselines measured in the same run, prints the
// table, and writes docs/benchmarks.json, docs/benchmarks.png and the README section.
// Usage: node tests/bench/run.mjs [--runs N] [--seconds S] [--only P2,P4] [--proxy-host ADDR]
//        node tests/bench/run.mjs --only P1L,P3L --emulate 20mbit,30ms
import { writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { launchBrowser } from "../e2e/harness.mjs";
import { createRemoteHost } from "../e2e/netns.mjs";
import { perRun } from "./lib/latency.mjs";
import { root } from "./lib/proc.mjs";
import { chartSvg, tableLines, updateReadme } from "./lib/report.mjs";
import { startPython } from "./lib/servers.mjs";
import { servePages } from "./lib/static-server.mjs";
import { p1, p1Links, p3, p3Links } from "./p1.mjs";
import { p2Floor, p2Product, p2Server } from "./p2.mjs";
import { p4 } from "./p4.mjs";
import { p5 } from "./p5.mjs";
import { p6 } from "./p6.mjs";
import { p7 } from "./p7.mjs";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    seconds: { type: "string", default: "15" },
    only: { type: "string", default: "" },
    "no-write": { type: "boolean", default: false },
    // Address the pack's proxy listens on for P1L and P3L (the page and the agent reach the
    // relay through it): point it at an interface a browser in another network namespace
    // reaches, to measure across a link.
    "proxy-host": { type: "string", default: "127.0.0.1" },
    // RATE,RTTms: P1L and P3L from a host behind an emulated link (tests/e2e/netns.mjs, root):
    // the browser and the agent there, the pack's proxy on this side of the link.
    emulate: { type: "string" },
  },
});
const runs = Math.max(3, Number(values.runs));
const seconds = Number(values.seconds);
const only = values.only ? new Set(values.only.split(",")) : null;
const wanted = (id) => !only || only.has(id);

const [rate, rtt] = values.emulate?.split(",") ?? [];
const remote = values.emulate ? createRemoteHost({ emulate: { rate, rttMs: Number.parseFloat(rtt) } }) : null;
const ctx = {
  runs,
  seconds,
  remote,
  emulate: values.emulate,
  proxyHost: remote?.hostIp ?? values["proxy-host"],
  relayRelease: process.env.RTC_RELAY_BIN ?? `${root}target/release/rtc-relay`,
  pages: await servePages(),
  browser: await launchBrowser(),
};

const rows = [];
const notes = [];
const breakdownNote = (name, b) =>
  `P2 ${name} breakdown (ms/frame): ${[
    ["encode", b.encode_ms],
    ["pacer", b.pacer_ms],
    ["jitter buffer", b.jitter_buffer_ms],
    ["decode", b.decode_ms],
  ]
    .map(([what, ms]) => `${what} ${Number.isFinite(ms) ? ms.toFixed(1) : "n/a"}`)
    .join(", ")}`;
async function measure(id, fn) {
  if (!wanted(id)) return;
  const t0 = Date.now();
  process.stderr.write(`${id}: running…\n`);
  try {
    const measured = await fn();
    rows.push(...measured);
    notes.push(...measured.flatMap((row) => (row.note ? [row.note] : [])));
  } catch (err) {
    rows.push({ id, what: "", error: err.message.split("\n")[0], budget: "" });
    process.stderr.write(`${id}: ${err.stack}\n`);
  }
  process.stderr.write(`${id}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

try {
  await measure("P1", () => p1(ctx));
  await measure("P1L", () => p1Links(ctx));
  await measure("P2", async () => {
    const floor = perRun(await p2Floor(ctx));
    notes.push(breakdownNote("floor", floor.breakdown));
    const aiortc = perRun(
      await p2Server(ctx, async () => {
        const server = await startPython("aiortc_relay.py");
        return { ...server, whipUrl: `${server.url}/whip`, whepUrl: `${server.url}/whep` };
      }),
    );
    notes.push(
      `P2 aiortc relay: p50 ${aiortc.p50.median.toFixed(1)} ms, p95 ${aiortc.p95.median.toFixed(1)} ms, lost ${aiortc.lost.median}/${aiortc.sent.median}`,
    );
    const productRuns = await p2Product(ctx);
    const product = perRun(productRuns);
    notes.push(breakdownNote("product", product.breakdown));
    notes.push(
      `P2 product publisher pacing (frames per run, pushed/written/dropped/repeated): ${productRuns
        .map(({ publisher: p }) => `${p.pushed}/${p.written}/${p.dropped}/${p.repeated}`)
        .join(", ")}`,
    );
    const budgetP50 = floor.p50.median + 5;
    return [
      {
        id: "P2-floor",
        what: "in-page loopback p50 (floor)",
        unit: "ms",
        better: "lower",
        value: floor.p50,
        budget: "reference",
        baselineName: `p95 ${floor.p95.median.toFixed(1)} ms, lost ${floor.lost.median}/${floor.sent.median}`,
      },
      {
        id: "P2-p50",
        what: "glass-to-glass p50, wasm → local SFU → wasm",
        unit: "ms",
        better: "lower",
        value: product.p50,
        baseline: aiortc.p50,
        baselineName: "aiortc decode/re-encode relay",
        budget: `≤ floor + 5 = ${budgetP50.toFixed(1)} ms`,
        pass: product.p50.median <= budgetP50,
      },
      {
        id: "P2-p95",
        what: "glass-to-glass p95",
        unit: "ms",
        better: "lower",
        value: product.p95,
        baseline: aiortc.p95,
        baselineName: "aiortc decode/re-encode relay",
        budget: "≤ 35 ms",
        pass: product.p95.median <= 35,
      },
      {
        id: "P2-loss",
        what: `frames lost of ${product.sent.median} (${seconds} s)`,
        unit: "frames",
        better: "lower",
        value: product.lost,
        budget: "0",
        baselineName: `aiortc relay lost ${aiortc.lost.median}`,
        pass: product.lost.max === 0,
      },
    ];
  });
  await measure("P3", () => p3(ctx));
  await measure("P3L", () => p3Links(ctx));
  await measure("P4", () => p4(ctx));
  await measure("P5", () => p5(ctx));
  await measure("P6", () => p6(ctx));
  await measure("P7", () => p7(ctx));
} finally {
  await ctx.browser.close();
  ctx.pages.close();
  remote?.remove();
}

const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GB, ${process.platform}`;
const lines = tableLines(rows);
console.log(lines.join("\n"));
for (const note of notes) console.log(note);
console.log(`machine: ${machine}; ${runs} runs per figure, medians with min–max`);

if (!values["no-write"] && !only && !remote) {
  const stamp = new Date().toISOString().slice(0, 10);
  await writeFile(
    `${root}docs/benchmarks.json`,
    JSON.stringify({ date: stamp, machine, runs, rows, notes }, null, 2),
  );
  const page = await (await launchBrowser()).newPage();
  await page.setContent(chartSvg(rows));
  await page.locator("svg").screenshot({ path: `${root}docs/benchmarks.png` });
  await page.context().browser().close();
  await updateReadme(
    `${root}README.md`,
    [
      `Measured ${stamp} on ${machine} with \`./scripts/bench.sh\` (${runs} runs per figure).`,
      "",
      ...lines,
      "",
      ...notes.map((n) => `- ${n}`),
      "",
      "![benchmark chart](docs/benchmarks.png)",
    ].join("\n"),
  );
}
