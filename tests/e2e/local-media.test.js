// Headless Chromium publishes over WHIP and views over WHEP through the local media server
// (str0m SFU), with plain browser WebRTC in the page.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser, whenListening } from "./harness.mjs";

const root = new URL("../../", import.meta.url).pathname;
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const serverBinary = process.env.LOCAL_MEDIA_BIN ?? join(targetDir, "debug", "examples", "local_media");
const pageScript = new URL("./local-media-page.js", import.meta.url).pathname;

let server;
let browser;

/** Starts the media server example; resolves with its URL once it prints it. */
function startServer() {
  if (!existsSync(serverBinary)) {
    throw new Error(`${serverBinary} is missing: run cargo build -p rtc-relay --example local_media`);
  }
  const child = spawn(serverBinary, [], { stdio: ["ignore", "pipe", "inherit"] });
  return whenListening(child, child.stdout, "media server", (c) => c.kill("SIGTERM"));
}

async function openStream(key) {
  // Marker checks need the input back unchanged: no effect stage.
  const response = await fetch(`${server.url}/streams/${key}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ skip_diffusion: true }),
  });
  assert.equal(response.status, 204);
}

async function streamStatus(key) {
  return (await fetch(`${server.url}/streams/${key}`)).json();
}

/** Polls the stream status until `check` holds (or fails after `timeoutMs`). */
async function waitForStatus(key, what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let status;
  while (Date.now() < deadline) {
    status = await streamStatus(key);
    if (check(status)) return status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}: ${JSON.stringify(status)}`);
}

async function newPage() {
  const page = await browser.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(`${server.url}/`);
  await page.addScriptTag({ path: pageScript });
  return page;
}

function assertPattern(sample) {
  const [lr, lg, lb] = sample.left;
  const [rr, rg, rb] = sample.right;
  assert.ok(lr > 150 && lg < 90 && lb < 90, `left half should be red: ${sample.left}`);
  assert.ok(rb > 150 && rr < 90 && rg < 90, `right half should be blue: ${sample.right}`);
}

/**
 * The viewer's picture once it shows the pattern. On a loaded machine the first frames after
 * a join can be the decoder's concealment of a picture it joined mid-GOP, until the keyframe
 * the server asked for arrives; the pattern must show within 3 s.
 */
async function patternOf(page, name) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const sample = await page.evaluate((viewer) => window.sample(viewer), name);
    try {
      assertPattern(sample);
      return sample;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a browser publishes over WHIP and two browsers view over WHEP", async () => {
  const key = "stk_chromium";
  await openStream(key);
  const whip = `${server.url}/local/live/video-to-video/${key}/whip`;
  const publisherPage = await newPage();
  const session = await publisherPage.evaluate((url) => window.publish(url), whip);
  assert.equal(session.playbackUrl, `${server.url}/local/live/video-to-video/${key}-out/whep`);
  await waitForStatus(key, "media flowing", (s) => s.media_flowing);

  const viewerPage = await newPage();
  const first = await viewerPage.evaluate((url) => window.view(url, "first"), session.playbackUrl);
  await patternOf(viewerPage, "first");

  // A viewer joining mid-stream shows video within a second (the server asks the
  // publisher for a keyframe when it connects).
  const second = await viewerPage.evaluate((url) => window.view(url, "second"), session.playbackUrl);
  assert.ok(second.joinToFirstFrameMs < 1000, `second viewer waited ${second.joinToFirstFrameMs} ms`);
  const picture = await patternOf(viewerPage, "second");
  assert.equal(picture.width, 320);
  assert.equal(picture.height, 240);
  assert.ok(first.joinToFirstFrameMs > 0);

  // Every packet from the publisher now goes out twice, once per viewer.
  const before = await waitForStatus(key, "two viewers", (s) => s.viewers === 2);
  const later = await waitForStatus(key, "more packets", (s) => s.packets_in >= before.packets_in + 20);
  const fanOut = (later.packets_out - before.packets_out) / (later.packets_in - before.packets_in);
  assert.ok(fanOut >= 1.5 && fanOut <= 2.5, `fan-out ${fanOut}: ${JSON.stringify([before, later])}`);

  // The publisher leaves: both viewers see the stream end and the stream goes offline.
  const ended = viewerPage.evaluate(() =>
    Promise.all([window.viewerEnded("first"), window.viewerEnded("second")]),
  );
  assert.equal(await publisherPage.evaluate(() => window.publisher.stop()), 200);
  const states = await ended;
  assert.equal(states.length, 2);
  await waitForStatus(key, "offline", (s) => !s.publisher_connected && !s.media_flowing && s.viewers === 0);

  // A second DELETE of the publisher's session is 404.
  const again = await fetch(`${server.url}${session.location}`, { method: "DELETE" });
  assert.equal(again.status, 404);
  await publisherPage.close();
  await viewerPage.close();
});

test("a browser viewer arriving before there is output gets 404 with Retry-After", async () => {
  const key = "stk_early_browser";
  await openStream(key);
  const page = await newPage();
  const result = await page.evaluate(async (url) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
    pc.close();
    return { status: response.status, retryAfter: response.headers.get("retry-after") };
  }, `${server.url}/local/live/video-to-video/${key}-out/whep`);
  assert.deepEqual(result, { status: 404, retryAfter: "1" });
  await page.close();
});
