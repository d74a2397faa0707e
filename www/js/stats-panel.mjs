// The live figures block, shared by the sidebar, the studio and the preview's info panel.

import { h, setText, svg } from "./dom.mjs";
import { formatBitrate, formatCount, formatFps, formatMs } from "./format.mjs";
import { sparklinePath } from "./sparkline.mjs";

const SPARK_WIDTH = 120;
const SPARK_HEIGHT = 28;

const ROWS = [
  ["fpsIn", "FPS in", (f) => formatFps(f.fpsIn)],
  ["fpsOut", "FPS out", (f) => formatFps(f.fpsOut)],
  ["bitrate", "Bitrate", (f) => `${formatBitrate(f.bitrateInKbps)} ↑ · ${formatBitrate(f.bitrateOutKbps)} ↓`],
  ["rtt", "RTT", (f) => formatMs(f.rttMs)],
  ["latency", "Glass-to-glass", (f) => `${formatMs(f.latencyMs)} p50 · ${formatMs(f.latencyP95Ms)} p95`],
  ["frames", "Frames", (f) => `${formatCount(f.framesSent)} sent · ${formatCount(f.framesDropped)} dropped`],
  ["queue", "Queue", (f) => formatCount(f.queueDepth)],
  ["codec", "Codec", (f) => f.codec ?? "—"],
];

/** @returns {{element: HTMLElement, update: (figures: object, history?: {latency: {values(): (number|null)[], capacity: number}}) => void}} */
export function createStatsPanel() {
  const cells = new Map();
  const grid = h("dl", { className: "rtc-stats" });
  for (const [key, label] of ROWS) {
    const value = h("dd", { dataset: { stat: key } }, "—");
    cells.set(key, value);
    grid.append(h("dt", {}, label), value);
  }
  const line = svg("path", { d: "", class: "rtc-spark-line" });
  const spark = svg(
    "svg",
    {
      class: "rtc-spark",
      viewBox: `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`,
      preserveAspectRatio: "none",
      role: "img",
    },
    line,
  );
  const sparkLabel = h("span", { className: "rtc-spark-label" }, "latency, last 60 s");
  const element = h(
    "div",
    { className: "rtc-stats-panel" },
    grid,
    h("div", { className: "rtc-spark-box" }, spark, sparkLabel),
  );

  function update(figures, history) {
    for (const [key, , format] of ROWS) setText(cells.get(key), format(figures));
    const values = history?.latency?.values() ?? [];
    line.setAttribute(
      "d",
      sparklinePath(values, {
        width: SPARK_WIDTH,
        height: SPARK_HEIGHT,
        capacity: history?.latency?.capacity ?? 60,
      }),
    );
    const numbers = values.filter((v) => v !== null);
    spark.setAttribute(
      "aria-label",
      numbers.length
        ? `latency from ${Math.min(...numbers).toFixed(0)} to ${Math.max(...numbers).toFixed(0)} ms`
        : "no latency data",
    );
    spark.dataset.samples = String(numbers.length);
  }

  return { element, update };
}
