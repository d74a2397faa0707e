// Summaries of marker-based latency runs: p50/p95 per run, then median across runs.
import { quantile, summarize } from "./stats.mjs";

export function perRun(samples) {
  return {
    p50: summarize(samples.map((s) => quantile(s.latencies, 0.5))),
    p95: summarize(samples.map((s) => quantile(s.latencies, 0.95))),
    lost: summarize(samples.map((s) => s.sent - s.received)),
    sent: summarize(samples.map((s) => s.sent)),
    breakdown: Object.fromEntries(
      ["encode_ms", "pacer_ms", "jitter_buffer_ms", "decode_ms", "processing_ms"].map((k) => [
        k,
        summarize(samples.map((s) => s.breakdown?.[k])).median,
      ]),
    ),
  };
}

export function latencyRow(id, what, measured, baseline, baselineName, budget, pass) {
  return {
    id,
    what,
    unit: "ms",
    better: "lower",
    value: measured,
    baseline,
    baselineName,
    budget,
    pass,
  };
}
