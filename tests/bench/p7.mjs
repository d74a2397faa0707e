// P7: the local backend's effect stage per 512² frame (relay/benches/effect_stage.rs):
// decode + effect + encode against decode + encode alone in the same run, and the effect's
// own kernels.
import { spawn } from "node:child_process";
import { root } from "./lib/proc.mjs";
import { summarize } from "./lib/stats.mjs";

const UNITS = { ns: 1e-6, µs: 1e-3, us: 1e-3, ms: 1, s: 1000 };

/** Criterion's middle estimate for `name`, in ms. */
function estimate(out, name) {
  const match = out.match(new RegExp(`${name}\\s+time:\\s+\\[\\S+ \\S+ ([\\d.]+) (ns|µs|us|ms|s)`));
  return match ? Number(match[1]) * UNITS[match[2]] : undefined;
}

function stageRun() {
  return new Promise((resolve, reject) => {
    const args = ["bench", "--quiet", "-p", "rtc-relay", "--bench", "effect_stage", "--", "--noplot"];
    const child = spawn("cargo", args, { cwd: root });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", () => {});
    child.on("exit", (code) => {
      const figures = {
        codec: estimate(out, "decode_encode"),
        stage: estimate(out, "decode_effect_encode"),
        effect: estimate(out, "effect_only"),
      };
      if (code !== 0 || Object.values(figures).some((v) => v === undefined))
        return reject(new Error(`effect_stage bench failed (${code}): ${out.slice(-500)}`));
      resolve(figures);
    });
  });
}

export async function p7({ runs }) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await stageRun());
  const stage = summarize(samples.map((s) => s.stage));
  const codec = summarize(samples.map((s) => s.codec));
  const effect = summarize(samples.map((s) => s.effect));
  return [
    {
      id: "P7-stage",
      what: "effect stage per 512² frame: decode + effect + encode",
      unit: "ms",
      better: "lower",
      value: stage,
      baselineName: `${codec.median.toFixed(1)} ms — decode + encode alone (the effect adds ${(100 * (stage.median / codec.median - 1)).toFixed(0)} %)`,
      budget: "reference",
    },
    {
      id: "P7-effect",
      what: "effect kernels per 512² frame (4 passes, edges, depth)",
      unit: "ms",
      better: "lower",
      value: effect,
      baselineName: `${((100 * effect.median) / codec.median).toFixed(0)} % of the codec's cost`,
      budget: "≤ 5 ms",
      pass: effect.median <= 5,
    },
  ];
}
