// "Another machine" for browser tests: the network namespace and veth pair of tests/netns.py
// (one set-up for every test that needs it), and headless Chromium running inside it. Optional
// `emulate` ({rate: "20mbit", rttMs: 30}) puts the pair behind an emulated remote link for
// benchmarks: rate-limited both ways, and host ports reached over it with the round trip at the
// address `forward(port)` returns (a delay line in the namespace; TCP only). `shape` (`tc qdisc`
// arguments, e.g. ["netem", "delay", "15ms"]) is for kernels with netem. Needs root; what is
// missing fails with what to do, never a skip.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chromiumArgs, chromiumBinary } from "./harness.mjs";

const root = new URL("../../", import.meta.url).pathname;
const helper = join(root, "tests", "netns.py");
const python = process.env.PYTHON ?? join(root, ".venv", "bin", "python");

/** Runs tests/netns.py with `args`; its JSON answer, or an error that says `what` failed. */
function netnsHelper(args, what) {
  try {
    return JSON.parse(
      execFileSync(python, [helper, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
    );
  } catch (err) {
    throw new Error(`cannot ${what}: ${(err.stderr || err.message).trim()}`);
  }
}

/**
 * Creates the namespace; resolves `{name, hostIp, peerIp, hostIf, peerIf, forward,
 * browserExecutable, launchBrowser, remove}`. `remove()` undoes everything and may be called more than once.
 * @param {{shape?: string[], emulate?: {rate: string, rttMs: number}}} [options]
 */
export function createRemoteHost({ shape, emulate } = {}) {
  const args = ["create"];
  if (shape) args.push("--shape", shape.join(" "));
  if (emulate) args.push("--emulate", `${emulate.rate},${emulate.rttMs}ms`);
  const created = netnsHelper(args, 'create the "remote machine" network namespace');
  const scratch = mkdtempSync(join(tmpdir(), "rtc-remote-"));
  let removed = false;
  const browserExecutable = () => {
    const wrapper = join(scratch, "chromium-in-netns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${created.name} ${chromiumBinary} "$@"\n`);
    chmodSync(wrapper, 0o755);
    return wrapper;
  };
  return {
    name: created.name,
    hostIf: created.host_if,
    peerIf: created.peer_if,
    hostIp: created.host_ip,
    peerIp: created.peer_ip,
    /**
     * The `ip:port` a process in the namespace uses to reach `hostIp:port` over the emulated
     * link (needs `emulate`).
     * @param {number} port
     */
    forward(port) {
      if (!emulate) throw new Error("forward() needs a remote host created with `emulate`");
      const forwarded = netnsHelper(
        ["forward", created.name, "--rtt-ms", String(emulate.rttMs), String(port)],
        `forward port ${port} over the emulated link`,
      );
      return forwarded[String(port)];
    },
    /** A script that starts Chromium inside the namespace, for launchers that take a path. */
    browserExecutable,
    /** Headless Chromium running inside the namespace, driven by Playwright over its pipe. */
    launchBrowser({ args: extra = [] } = {}) {
      const executablePath = browserExecutable();
      return chromium.launch({ executablePath, headless: true, args: [...chromiumArgs, ...extra] });
    },
    remove() {
      if (removed) return;
      removed = true;
      execFileSync(python, [helper, "remove", created.name], { stdio: "ignore" });
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
