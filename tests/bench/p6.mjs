// P6: concurrent streams through the local backend (relay/benches/media_sfu.rs: str0m
// publishers and viewers over real UDP, 512×512 H.264 at 24 fps, one viewer each): forwarded
// unchanged, then again through the effect stage.
import { mediaRun } from "./lib/media-bench.mjs";
import { summarize } from "./lib/stats.mjs";

const STREAMS = 8;

export async function p6({ runs, seconds }) {
  const sfu = [];
  const effect = [];
  for (let i = 0; i < runs; i++) {
    sfu.push(await mediaRun({ streams: STREAMS, seconds: Math.min(seconds, 10) }));
    effect.push(await mediaRun({ streams: STREAMS, seconds: Math.min(seconds, 10), effect: true }));
  }
  const loss = summarize(sfu.map((s) => s.lossPct));
  const cpu = summarize(sfu.map((s) => s.cpu));
  const effectLoss = summarize(effect.map((s) => s.lossPct));
  const effectCpu = summarize(effect.map((s) => s.cpu));
  return [
    {
      id: "P6-loss",
      what: `${STREAMS} streams, 512×512 @ 24 fps: frames lost`,
      unit: "%",
      better: "lower",
      value: loss,
      baselineName: "no baseline (str0m synthetic peers)",
      budget: "< 1 %",
      pass: loss.median < 1,
    },
    {
      id: "P6-cpu",
      what: `${STREAMS} streams: relay media CPU`,
      unit: "% of a core",
      better: "lower",
      value: cpu,
      baselineName: "no baseline",
      budget: "≤ 25 %",
      pass: cpu.median <= 25,
    },
    {
      id: "P6-effect-loss",
      what: `${STREAMS} streams through the effect stage: frames not delivered`,
      unit: "%",
      better: "lower",
      value: effectLoss,
      baselineName: `${loss.median.toFixed(1)} % forwarded unchanged, same run`,
      budget: "reference",
    },
    {
      id: "P6-effect-cpu",
      what: `${STREAMS} streams through the effect stage: relay CPU`,
      unit: "% of a core",
      better: "lower",
      value: effectCpu,
      baselineName: `${cpu.median.toFixed(1)} % forwarded unchanged, same run`,
      budget: "reference",
    },
  ];
}
