// Turns benchmark rows into the printed table, the README section and the PNG chart.
import { readFile, writeFile } from "node:fs/promises";

const fmt = (v, digits = 1) =>
  Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(digits)) : "–";

const range = (s) => (s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : "–");

/** How many times better than the baseline: >1 means better, whatever the direction. */
export function ratio(row) {
  if (!row.value || !row.baseline) return Number.NaN;
  const [v, b] = [row.value.median, row.baseline.median];
  return row.better === "lower" ? b / v : v / b;
}

export function tableLines(rows) {
  const header = ["#", "what", "measured, median (min–max)", "baseline", "× better", "budget", "ok"];
  const body = rows.map((r) => [
    r.id,
    r.what,
    r.error ? `error: ${r.error}` : `${range(r.value)} ${r.unit}`,
    r.baseline ? `${range(r.baseline)} ${r.unit} — ${r.baselineName}` : (r.baselineName ?? "–"),
    Number.isFinite(ratio(r)) ? `${fmt(ratio(r), 1)}×` : "–",
    r.budget,
    r.error ? "✗" : r.pass === undefined ? "–" : r.pass ? "✓" : "✗",
  ]);
  return [header, header.map(() => "---"), ...body].map((cells) => `| ${cells.join(" | ")} |`);
}

/** Replaces the text between the bench markers in README.md. */
export async function updateReadme(path, section) {
  const text = await readFile(path, "utf8");
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < 0) throw new Error(`README has no ${start} … ${end} section`);
  await writeFile(path, `${text.slice(0, i + start.length)}\n${section}\n${text.slice(j)}`);
}

/** An SVG bar chart: per row, measured vs baseline on a log scale, rendered to PNG by Chromium. */
export function chartSvg(rows) {
  const usable = rows.filter((r) => r.value && r.baseline);
  const width = 900;
  const rowH = 56;
  const height = 70 + usable.length * rowH;
  const left = 330;
  const span = width - left - 40;
  const all = usable.flatMap((r) => [r.value.median, r.baseline.median]).filter((v) => v > 0);
  const lo = Math.log10(Math.min(...all)) - 0.2;
  const hi = Math.log10(Math.max(...all)) + 0.2;
  const x = (v) => left + ((Math.log10(Math.max(v, 1e-9)) - lo) / (hi - lo)) * span;
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const bars = usable
    .map((r, i) => {
      const y = 50 + i * rowH;
      return `
      <text x="10" y="${y + 16}" font-size="13">${esc(`${r.id} ${r.what}`)}</text>
      <text x="10" y="${y + 34}" font-size="11" fill="#555">${esc(`${fmt(ratio(r))}× vs ${r.baselineName}`)}</text>
      <rect x="${left}" y="${y + 4}" width="${x(r.value.median) - left}" height="16" fill="#2a7de1"/>
      <text x="${x(r.value.median) + 4}" y="${y + 17}" font-size="11">${esc(`${fmt(r.value.median)} ${r.unit}`)}</text>
      <rect x="${left}" y="${y + 24}" width="${x(r.baseline.median) - left}" height="16" fill="#bbb"/>
      <text x="${x(r.baseline.median) + 4}" y="${y + 37}" font-size="11">${esc(`${fmt(r.baseline.median)} ${r.unit}`)}</text>`;
    })
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
    <rect width="100%" height="100%" fill="#fff"/>
    <text x="10" y="24" font-size="16" font-weight="bold">RTC Node benchmarks (blue: this project, grey: baseline; log scale)</text>
    ${bars}
  </svg>`;
}
