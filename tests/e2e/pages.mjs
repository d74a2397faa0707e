// Shared pieces of the page tests: a relay with a known token, authenticated API calls, pages
// that have done the `?token=` cookie exchange, and screenshots for the docs.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRelay } from "./harness.mjs";

/**
 * Where screenshots go: a scratch folder, so test runs leave the tracked tree alone;
 * `scripts/screenshots.sh` points it at `docs/` to refresh the README's pictures.
 */
const screenshotDir = process.env.RTC_SCREENSHOT_DIR ?? join(tmpdir(), "rtc-node-screenshots");
export const WAIT_MS = 30_000;

/**
 * A sidebar row of a stream that exists: a create is listed under a provisional
 * `pending_…` id (not yet stoppable) until the backend answers.
 */
export const CREATED_STREAM_ROW = '#sidebar li[data-stream-id]:not([data-stream-id^="pending_"])';

/** A relay on the local backend whose token the test knows. */
export async function startTokenRelay(options = {}) {
  const token = randomBytes(16).toString("hex");
  const env = { RTC_RELAY_TOKEN: token, ...(options.env ?? {}) };
  const relay = await startRelay({ ...options, env });
  const api = async (path, init = {}) => {
    const response = await fetch(new URL(path, relay.url), {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body ? { "content-type": "application/json" } : {}),
        ...init.headers,
      },
    });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    if (!response.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${response.status} ${text}`);
    return body;
  };
  return { ...relay, token, api };
}

/** A page in a fresh context that holds the relay cookie, then opened at `path`. */
export async function openRelayPage(browser, relay, path) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await grantMedia(context);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  await page.goto(`${relay.url}/?token=${relay.token}`);
  await page.goto(new URL(path, relay.url).href);
  return { page, context, errors };
}

/**
 * Chromium gathers no ICE candidates on a loopback-only network until the page has had
 * camera permission (docs: TOOLCHAIN.md): take it once, at document start, in every page.
 */
export async function grantMedia(context) {
  await context.addInitScript(() => {
    navigator.mediaDevices?.getUserMedia({ video: true }).then(
      (stream) => {
        for (const track of stream.getTracks()) track.stop();
      },
      () => {},
    );
  });
}

export async function screenshot(target, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await target.screenshot({ path: join(screenshotDir, name) });
}
