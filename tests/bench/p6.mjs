// P6: concurrent streams through the local backend's SFU (relay/benches/media_sfu.rs: str0m
// publishers and viewers over real UDP, 512×512-sized H.264 at 24 fps, one viewer each).
import { spawn } from "node:child_process";
import { root } from "./lib/proc.mjs";
import { summarize } from "./lib/stats.mjs";

const STREAMS = 8;

function sfuRun(seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn("cargo", ["bench", "--quiet", "-p", "rtc-relay", "--bench", "media_sfu"], {
      cwd: root,
      env: { ...process.env, MEDIA_BENCH_STREAMS: String(STREAMS), MEDIA_BENCH_SECONDS: String(seconds) },
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", () => {});
    child.on("exit", (code) => {
      const loss = out.match(/frame loss: (\d+)\/(\d+)/);
      const cpu = out.match(/server CPU: ([\d.]+) %/);
      if (code !== 0 || !loss || !cpu)
        return reject(new Error(`media_sfu bench failed (${code}): ${out.slice(-500)}`));
      resolve({ lossPct: (100 * Number(loss[1])) / Number(loss[2]), cpu: Number(cpu[1]) });
    });
  });
}

export async function p6({ runs, seconds }) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await sfuRun(Math.min(seconds, 10)));
  const loss = summarize(samples.map((s) => s.lossPct));
  const cpu = summarize(samples.map((s) => s.cpu));
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
  ];
}
