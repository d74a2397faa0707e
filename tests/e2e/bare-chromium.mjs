// Headless Chromium driven over a bare DevTools pipe that uses only the Target, Page and
// Runtime domains. Playwright enables the Network domain on every page it controls, and with
// it Chromium copies every WebSocket message, base64-encoded, into DevTools events: at about
// 1 MB per frame that copy, not the product, caps the agent socket (9–56 against 140–210
// messages/s of 786 KB measured on the benchmark machine). Pages whose socket throughput is
// measured run here instead, as they run in a user's tab.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromiumArgs, chromiumBinary } from "./harness.mjs";

/** `executable`: another way to start Chromium (e.g. inside a network namespace). */
export async function launchBareChromium({ executable = chromiumBinary } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "rtc-bench-chromium-"));
  const child = spawn(
    executable,
    [
      "--headless=new",
      "--remote-debugging-pipe",
      `--user-data-dir=${profile}`,
      ...chromiumArgs,
      "about:blank",
    ],
    // Its own process group, so that closing it ends the helper processes too.
    { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"], detached: true },
  );
  const [toBrowser, fromBrowser] = [child.stdio[3], child.stdio[4]];
  const pending = new Map();
  let lastId = 0;
  let buffered = "";
  fromBrowser.setEncoding("utf8");
  fromBrowser.on("data", (chunk) => {
    buffered += chunk;
    for (let end = buffered.indexOf("\0"); end >= 0; end = buffered.indexOf("\0")) {
      const message = JSON.parse(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      const waiter = pending.get(message.id);
      if (!waiter) continue;
      pending.delete(message.id);
      if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
      else waiter.resolve(message.result);
    }
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error("Chromium exited"));
    pending.clear();
  });
  const send = (method, params = {}, sessionId = undefined) =>
    new Promise((resolve, reject) => {
      const id = ++lastId;
      pending.set(id, { resolve, reject, method });
      toBrowser.write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    });

  return {
    /** Opens `url` in a new tab; resolves once its `load` event fired. */
    async open(url) {
      const { targetId } = await send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
      const evaluate = async (expression) => {
        const { result, exceptionDetails } = await send(
          "Runtime.evaluate",
          { expression, awaitPromise: true, returnByValue: true },
          sessionId,
        );
        if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.exception?.description}`);
        return result.value;
      };
      await send("Page.navigate", { url }, sessionId);
      return {
        evaluate,
        /** A DevTools command in this tab (for profiling; never the Network domain). */
        send: (method, params) => send(method, params, sessionId),
        /** Resolves with the first truthy value of `expression`, polled every 100 ms. */
        async waitFor(expression, timeoutMs = 15000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const value = await evaluate(expression).catch(() => undefined);
            if (value) return value;
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        },
        close: () => send("Target.closeTarget", { targetId }),
      };
    },
    async close() {
      await Promise.race([send("Browser.close").catch(() => {}), exited]);
      const timer = setTimeout(() => process.kill(-child.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
