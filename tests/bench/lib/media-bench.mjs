// One run of relay/benches/media_sfu.rs: str0m publishers and viewers over real UDP through
// the local backend, either forwarded (SFU) or through the effect stage.
import { spawn } from "node:child_process";
import { root } from "./proc.mjs";

/** Runs the bench; resolves with loss %, CPU (% of a core, total and effect threads) and p50 delays (ms). */
export function mediaRun({ streams, seconds, effect = false }) {
  return new Promise((resolve, reject) => {
    const child = spawn("cargo", ["bench", "--quiet", "-p", "rtc-relay", "--bench", "media_sfu"], {
      cwd: root,
      env: {
        ...process.env,
        MEDIA_BENCH_STREAMS: String(streams),
        MEDIA_BENCH_SECONDS: String(seconds),
        MEDIA_BENCH_EFFECT: effect ? "1" : "0",
      },
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", () => {});
    child.on("exit", (code) => {
      const loss = out.match(/frame loss: (\d+)\/(\d+)/);
      const cpu = out.match(/server CPU: ([\d.]+) %/);
      const effectCpu = out.match(/of which effect threads: ([\d.]+) % of one core, ([\d.]+) % per stream/);
      const delay = (label) => out.match(new RegExp(`${label} \\(µs, \\d+ frames\\): p50 (\\d+)`));
      const last = delay("last packet in -> out");
      const first = delay("first packet in -> out");
      if (code !== 0 || !loss || !cpu || !effectCpu || !last || !first)
        return reject(new Error(`media_sfu bench failed (${code}): ${out.slice(-500)}`));
      resolve({
        lossPct: (100 * Number(loss[1])) / Number(loss[2]),
        cpu: Number(cpu[1]),
        cpuPerStream: Number(cpu[1]) / streams,
        lastPacketMs: Number(last[1]) / 1000,
        firstPacketMs: Number(first[1]) / 1000,
      });
    });
  });
}
