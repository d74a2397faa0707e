// Runs a helper process and parses the JSON it prints on stdout.
import { spawn } from "node:child_process";

export const root = new URL("../../../", import.meta.url).pathname;
export const python = `${root}.venv/bin/python`;

export function runJson(command, args, { env = {}, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, cwd: root });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0)
        return reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${err.slice(-2000)}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`bad JSON from ${command}: ${e.message}: ${out.slice(0, 500)}`));
      }
    });
  });
}
