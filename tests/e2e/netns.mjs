// "Another machine" for browser tests: a network namespace joined to this host by a veth pair,
// so a browser inside it reaches the host only through the pair's addresses (never its
// loopback), like a laptop on the LAN. Optional traffic shaping on both ends of the pair
// (`shape`, `tc qdisc` arguments such as ["netem", "delay", "15ms", "rate", "20mbit"]) emulates
// a remote link for benchmarks. Needs root (CI runs as root); anything missing fails with what
// to do, never a silent skip.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chromiumArgs, chromiumBinary } from "./harness.mjs";

function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const why = err.code === "ENOENT" ? "not installed" : (err.stderr || err.message).trim();
    throw new Error(`${command} ${args.join(" ")}: ${why}`);
  }
}

/**
 * Creates the namespace and the pair: `hostIp` on this side, `peerIp` inside (a /24 picked per
 * run unless `subnet` names one, e.g. "10.77.0"). Returns what tests need and `remove()`,
 * which undoes everything and may be called more than once.
 * @param {{subnet?: string, shape?: string[]}} [options]
 */
export function createRemoteHost({ subnet, shape } = {}) {
  const id = randomBytes(3).toString("hex");
  const name = `rtc-remote-${id}`;
  // Interface names are limited to 15 characters.
  const hostIf = `rtc${id}h`;
  const peerIf = `rtc${id}p`;
  const net = subnet ?? `10.77.${1 + (randomBytes(1)[0] % 250)}`;
  const hostIp = `${net}.1`;
  const peerIp = `${net}.2`;
  const scratch = mkdtempSync(join(tmpdir(), "rtc-remote-"));
  let created = false;
  const remote = {
    name,
    hostIf,
    peerIf,
    hostIp,
    peerIp,
    /** Runs `command` inside the namespace; returns its standard output. */
    exec: (command, args = []) => run("ip", ["netns", "exec", name, command, ...args]),
    /** Shapes both directions of the link (`tc qdisc` arguments). */
    shape(qdisc) {
      try {
        run("tc", ["qdisc", "replace", "dev", hostIf, "root", ...qdisc]);
        remote.exec("tc", ["qdisc", "replace", "dev", peerIf, "root", ...qdisc]);
      } catch (err) {
        throw new Error(
          `cannot shape the link with "tc qdisc ... ${qdisc.join(" ")}": ${err.message} ` +
            "(netem needs a kernel with CONFIG_NET_SCH_NETEM; tbf and htb only limit the rate)",
        );
      }
    },
    /** Headless Chromium running inside the namespace, driven by Playwright over its pipe. */
    async launchBrowser({ args = [] } = {}) {
      const wrapper = join(scratch, "chromium-in-netns");
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${name} ${chromiumBinary} "$@"\n`);
      chmodSync(wrapper, 0o755);
      return chromium.launch({ executablePath: wrapper, headless: true, args: [...chromiumArgs, ...args] });
    },
    remove() {
      if (created) {
        // Deleting one end deletes the pair; the namespace goes with its last process.
        for (const [command, args] of [
          ["ip", ["link", "del", hostIf]],
          ["ip", ["netns", "del", name]],
        ]) {
          try {
            run(command, args);
          } catch {
            // Already gone.
          }
        }
        created = false;
      }
      rmSync(scratch, { recursive: true, force: true });
    },
  };
  try {
    run("ip", ["netns", "add", name]);
    created = true;
    run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peerIf]);
    run("ip", ["link", "set", peerIf, "netns", name]);
    run("ip", ["addr", "add", `${hostIp}/24`, "dev", hostIf]);
    run("ip", ["link", "set", hostIf, "up"]);
    remote.exec("ip", ["addr", "add", `${peerIp}/24`, "dev", peerIf]);
    remote.exec("ip", ["link", "set", peerIf, "up"]);
    remote.exec("ip", ["link", "set", "lo", "up"]);
    if (shape) remote.shape(shape);
  } catch (err) {
    remote.remove();
    throw new Error(
      `cannot create the "remote machine" network namespace: ${err.message}. This test runs a ` +
        "browser in its own network namespace and needs root with iproute2 (ip netns, veth).",
    );
  }
  return remote;
}
