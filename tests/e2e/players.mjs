// Shared pieces of the many-clients tests: the relay with the pack's own proxy behind the
// ComfyUI stand-in, the pages reached directly or through that proxy, and what the players show.
import { startComfyShim, startPackProxy } from "./comfy-shim.mjs";
import { launchBrowser } from "./harness.mjs";
import { until } from "./loop.mjs";
import { grantMedia, openRelayPage, startTokenRelay, WAIT_MS } from "./pages.mjs";

export const STUDIO_VIDEO = 'video[aria-label="Processed output"]';
export const PREVIEW_VIDEO = "#preview video";

/** A relay, the pack's proxy in front of it, the ComfyUI stand-in using it, and Chromium. */
export async function startStack() {
  const relay = await startTokenRelay();
  const packProxy = await startPackProxy({ relayUrl: relay.url, token: relay.token });
  const shim = await startComfyShim({ relayUrl: relay.url, token: relay.token, packProxy: packProxy.url });
  const browser = await launchBrowser();
  const routes = {
    direct: (path) => openRelayPage(browser, relay, path),
    // The pages as ComfyUI shows them: served by the pack under /rtc/ui/, every call through
    // its proxy /rtc/api/.
    "ComfyUI's proxy": async (path) => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await grantMedia(context);
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (err) => errors.push(err));
      await page.goto(`${shim.url}/rtc/ui/${path.replace(/^\//, "") || "index.html"}`);
      return { page, context, errors };
    },
  };
  return {
    relay,
    shim,
    browser,
    routes,
    stop: async () => {
      await browser.close();
      await shim.stop();
      await packProxy.stop();
      await relay.stop();
    },
  };
}

/** Viewers (WHEP sessions) the local backend's media server holds for the stream, as the
 * relay's last status poll saw them (the local backend's REST takes only the relay's key). */
export async function viewers(relay, streamId) {
  const stream = await relay.api(`/v1/streams/${streamId}`);
  return stream.remote.status?.inference_status?.viewers ?? 0;
}

/** Waits until the relay's view of the stream counts `count` viewers (it polls the status). */
export function untilViewers(relay, streamId, count) {
  return until(`${count} viewers`, async () => (await viewers(relay, streamId)) === count, WAIT_MS);
}

/** Frames the page's `<video>` matching `selector` has decoded, and its playback position. */
export function videoProgress(page, selector) {
  return page.evaluate((s) => {
    const video = document.querySelector(s);
    return { frames: video.getVideoPlaybackQuality().totalVideoFrames, time: video.currentTime };
  }, selector);
}

/** The studio page streaming its test pattern (its agent publishes and plays the stream). */
export async function startStudio(relay, open) {
  const studio = await open("/");
  const { page } = studio;
  await page.locator('#wasm-version[data-state="ready"]').waitFor({ timeout: WAIT_MS });
  await page.click('[data-action="start"]');
  await page.waitForFunction(
    () => document.getElementById("studio").dataset.stream?.startsWith("str_"),
    null,
    {
      timeout: WAIT_MS,
    },
  );
  const streamId = await page.getAttribute("#studio", "data-stream");
  await page.locator('#studio[data-output="connected"]').waitFor({ timeout: WAIT_MS });
  await until(
    "the agent's player to be live",
    async () => (await relay.api(`/v1/streams/${streamId}`)).player?.state === "live",
    WAIT_MS,
  );
  return { ...studio, streamId };
}

/** A preview page that has auto-connected to the stream and decodes frames. */
export async function openPreview(open) {
  const preview = await open("/preview.html");
  await preview.page.locator('#preview[data-phase="connected"]').waitFor({ timeout: WAIT_MS });
  await preview.page.waitForFunction(
    (s) => document.querySelector(s).getVideoPlaybackQuality().totalVideoFrames > 0,
    PREVIEW_VIDEO,
    { timeout: WAIT_MS },
  );
  return preview;
}

/** Stop in the studio, which deletes the stream. */
export async function stopStudio(relay, studio) {
  await studio.page.click('[data-action="stop"]');
  await until(
    "the stream to be deleted",
    async () => !(await relay.api("/v1/streams")).streams.some((s) => s.id === studio.streamId),
    WAIT_MS,
  );
}
