// Shared pieces of the end-to-end suite: a real relay process and headless Debian Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const root = new URL("../../", import.meta.url).pathname;
export const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, "target");

export const relayBinary = process.env.RTC_RELAY_BIN ?? join(targetDir, "debug", "rtc-relay");

/**
 * Starts rtc-relay on a free loopback port (or `addr`, to restart on the same one); resolves
 * once it logs its address. It serves this checkout's pages and wasm package (`www/`,
 * `www/pkg/`) whichever checkout the binary was built from.
 */
export function startRelay({ args = [], env = {}, addr = "127.0.0.1:0" } = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), "rtc-relay-"));
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("DAYDREAM_") && !k.startsWith("RTC_")),
  );
  // The relay exits when this process does (its stdin closes), so a test file that times out
  // and skips its `after` hooks leaves no relay behind.
  const child = spawn(relayBinary, ["--addr", addr, "--exit-with-parent", ...args], {
    env: { ...clean, RTC_RELAY_STATE_DIR: stateDir, RTC_RELAY_WWW_DIR: join(root, "www"), ...env },
    stdio: ["pipe", "ignore", "pipe"],
  });
  return whenListening(child, child.stderr, "relay", (c) => c.kill("SIGTERM")).then((relay) => ({
    ...relay,
    stateDir,
  }));
}

/**
 * Resolves with `{url, log, stop}` once `child` prints `listening on http://ADDR` on `output`
 * (the relay, the media-server example and the pack's proxy all announce themselves so, which
 * lets them bind port 0). `stop` ends the child with `end` and waits for its exit.
 * @param {import("node:child_process").ChildProcess} child
 * @param {import("node:stream").Readable} output
 * @param {string} what named in errors
 * @param {(child: import("node:child_process").ChildProcess) => void} end
 */
export function whenListening(child, output, what, end) {
  let log = "";
  return new Promise((resolve, reject) => {
    output.setEncoding("utf8");
    output.on("data", (chunk) => {
      log += chunk;
      const match = log.match(/listening on (http:\/\/[\d.:]+)/);
      if (match) {
        resolve({
          url: match[1],
          log: () => log,
          stop: () =>
            new Promise((done) => {
              child.once("exit", done);
              end(child);
            }),
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`${what} exited with ${code} before listening:\n${log}`)));
    child.once("error", (err) => reject(new Error(`cannot start ${what}: ${err.message}`)));
  });
}

export const chromiumBinary = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

/** The flags WebRTC needs in headless Chromium on a loopback-only network. */
export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--allow-loopback-in-peer-connection",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
];

/** Headless Chromium from Debian, driven by Playwright. */
export function launchBrowser() {
  return chromium.launch({ executablePath: chromiumBinary, headless: true, args: chromiumArgs });
}
