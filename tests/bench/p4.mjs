// P4: relay start-to-healthy and idle RSS, against a minimal Python HTTP server doing the
// same job (tests/bench/baseline_server.py).
import { python, root, runJson } from "./lib/proc.mjs";
import { summarize } from "./lib/stats.mjs";

export async function p4({ runs, relayRelease }) {
  const relay = await runJson(python, [
    "tests/bench/startup.py",
    String(runs),
    "--",
    relayRelease,
    "--addr",
    "127.0.0.1:{port}",
    "--state-dir",
    `${root}target/bench-state`,
  ]);
  const baseline = await runJson(python, [
    "tests/bench/startup.py",
    String(runs),
    "--",
    python,
    "tests/bench/baseline_server.py",
  ]);
  const start = summarize(relay.start_ms);
  const rss = summarize(relay.rss_mb);
  return [
    {
      id: "P4a",
      what: "relay start → healthy",
      unit: "ms",
      better: "lower",
      value: start,
      baseline: summarize(baseline.start_ms),
      baselineName: "Python aiohttp server",
      budget: "≤ 100 ms",
      pass: start.median <= 100,
    },
    {
      id: "P4b",
      what: "relay idle RSS",
      unit: "MB",
      better: "lower",
      value: rss,
      baseline: summarize(baseline.rss_mb),
      baselineName: "Python aiohttp server",
      budget: "≤ 20 MB",
      pass: rss.median <= 20,
    },
  ];
}
