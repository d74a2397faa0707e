// "Another machine" for browser tests: the network namespace and veth pair of tests/netns.py
// (one set-up for every test that needs it), and headless Chromium running inside it. Optional
// `shape` (`tc qdisc` arguments, e.g. ["netem", "delay", "15ms", "rate", "20mbit"]) emulates a
// remote link for benchmarks. Needs root; what is missing fails with what to do, never a skip.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chromiumArgs, chromiumBinary } from "./harness.mjs";

const root = new URL("../../", import.meta.url).pathname;
const helper = join(root, "tests", "netns.py");
const python = process.env.PYTHON ?? join(root, ".venv", "bin", "python");

/**
 * Creates the namespace; resolves `{name, hostIp, peerIp, hostIf, peerIf, launchBrowser,
 * remove}`. `remove()` undoes everything and may be called more than once.
 * @param {{shape?: string[]}} [options]
 */
export function createRemoteHost({ shape } = {}) {
  const args = [helper, "create", ...(shape ? ["--shape", shape.join(" ")] : [])];
  let created;
  try {
    created = JSON.parse(execFileSync(python, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
  } catch (err) {
    throw new Error(
      `cannot create the "remote machine" network namespace: ${(err.stderr || err.message).trim()}`,
    );
  }
  const scratch = mkdtempSync(join(tmpdir(), "rtc-remote-"));
  let removed = false;
  return {
    name: created.name,
    hostIf: created.host_if,
    peerIf: created.peer_if,
    hostIp: created.host_ip,
    peerIp: created.peer_ip,
    /** Headless Chromium running inside the namespace, driven by Playwright over its pipe. */
    launchBrowser({ args: extra = [] } = {}) {
      const wrapper = join(scratch, "chromium-in-netns");
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${created.name} ${chromiumBinary} "$@"\n`);
      chmodSync(wrapper, 0o755);
      return chromium.launch({ executablePath: wrapper, headless: true, args: [...chromiumArgs, ...extra] });
    },
    remove() {
      if (removed) return;
      removed = true;
      execFileSync(python, [helper, "remove", created.name], { stdio: "ignore" });
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
