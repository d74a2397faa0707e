// The agent's player, the studio's player and a preview play one stream side by side for 30 s,
// each with its own WHEP session: the agent's output keeps rising and no player freezes (before
// sessions per client, a new viewer knocked the others off). One test file per route
// (players-direct, players-proxy), so that each stays within the suite's per-file timeout.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { keepReading, RelayApi } from "./loop.mjs";
import {
  openPreview,
  PREVIEW_VIDEO,
  STUDIO_VIDEO,
  startStack,
  startStudio,
  stopStudio,
  untilViewers,
  videoProgress,
} from "./players.mjs";

const PLAY_SECONDS = 30;
const SAMPLE_EVERY_MS = 5000;

/** Registers the test for the pages reached by route `name` of `startStack`'s routes. */
export function playTogether(name) {
  let stack;

  before(async () => {
    stack = await startStack();
  });

  after(async () => {
    await stack?.stop();
  });

  test(`${name}: the agent's player, the studio's player and a preview play one stream together for ${PLAY_SECONDS} s`, async () => {
    const { relay, routes } = stack;
    const studio = await startStudio(relay, routes[name]);
    const preview = await openPreview(routes[name]);
    const { streamId } = studio;
    // A reader, as a Frame Output node: without one the agent's player holds frames back.
    const reader = keepReading(new RelayApi(relay.url, relay.token), streamId);
    try {
      // One WHEP session per player.
      await untilViewers(relay, streamId, 3);
      const sample = async () => ({
        output: (await relay.api(`/v1/streams/${streamId}`)).frames.output_sequence,
        studio: await videoProgress(studio.page, STUDIO_VIDEO),
        preview: await videoProgress(preview.page, PREVIEW_VIDEO),
      });
      let previous = await sample();
      const samples = [previous];
      const end = Date.now() + PLAY_SECONDS * 1000;
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, SAMPLE_EVERY_MS));
        const now = await sample();
        samples.push(now);
        const trace = JSON.stringify(samples);
        assert.ok(now.output > previous.output, `the agent's output stalled: ${trace}`);
        for (const viewer of ["studio", "preview"]) {
          assert.ok(now[viewer].frames > previous[viewer].frames, `the ${viewer} player froze: ${trace}`);
          assert.ok(now[viewer].time > previous[viewer].time, `the ${viewer} player stopped: ${trace}`);
        }
        previous = now;
      }
      assert.equal(await preview.page.getAttribute("#preview", "data-phase"), "connected");
      assert.equal(await studio.page.getAttribute("#studio", "data-output"), "connected");
      assert.equal((await relay.api(`/v1/streams/${streamId}`)).player?.state, "live");
      await untilViewers(relay, streamId, 3);
      assert.deepEqual([...studio.errors, ...preview.errors], []);
    } finally {
      await reader.stop();
      await preview.context.close();
      await stopStudio(relay, studio);
      await studio.context.close();
    }
  });
}
