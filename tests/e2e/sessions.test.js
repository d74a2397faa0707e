// Sessions and leases through the real relay: a preview's WHEP session DELETE through the
// pack's own proxy (comfy_extension/rtc_node/proxy.py) behind the ComfyUI stand-in ends exactly
// that session; two agent tabs whose sockets drop settle on one publisher.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { keepReading, PASSTHROUGH, RelayApi, startSource, until } from "./loop.mjs";
import { openRelayPage, WAIT_MS } from "./pages.mjs";
import {
  openPreview,
  PREVIEW_VIDEO,
  startStack,
  startStudio,
  stopStudio,
  untilViewers,
  videoProgress,
  viewers,
} from "./players.mjs";

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
});

test("a preview's session DELETE through ComfyUI's proxy reaches the relay and ends only that session", async () => {
  const { relay, shim, routes } = stack;
  const open = routes["ComfyUI's proxy"];
  const studio = await startStudio(relay, open);
  const { streamId } = studio;
  const first = await openPreview(open);
  const second = await openPreview(open);
  try {
    // The agent's player, the studio's and the two previews.
    await until("four viewers", async () => (await viewers(relay, streamId)) === 4, WAIT_MS);
    const seen = shim.apiRequests.length;
    await first.page.click('[data-action="disconnect"]');
    await first.page.locator('#preview[data-phase="idle"]').waitFor({ timeout: WAIT_MS });

    const deletes = await until("the session DELETE through the proxy", () => {
      const found = shim.apiRequests.slice(seen).filter((r) => r.method === "DELETE" && r.status !== 0);
      return found.length > 0 ? found : undefined;
    });
    assert.equal(deletes.length, 1, JSON.stringify(deletes));
    assert.match(deletes[0].path, new RegExp(`^/rtc/api/v1/streams/${streamId}/whep/[0-9a-f]{32}$`));
    assert.equal(deletes[0].status, 200, "the relay knew the session and ended it");
    await until(
      "the media server to drop that viewer",
      async () => (await viewers(relay, streamId)) === 3,
      5000,
    );

    // The other preview keeps playing.
    const played = await videoProgress(second.page, PREVIEW_VIDEO);
    await second.page.waitForFunction(
      ([s, frames]) => document.querySelector(s).getVideoPlaybackQuality().totalVideoFrames > frames + 30,
      [PREVIEW_VIDEO, played.frames],
      { timeout: WAIT_MS },
    );
    assert.equal(await second.page.getAttribute("#preview", "data-phase"), "connected");
    await untilViewers(relay, streamId, 3);
    assert.deepEqual([...first.errors, ...second.errors], []);
  } finally {
    await first.context.close();
    await second.context.close();
    await stopStudio(relay, studio);
    await studio.context.close();
  }
});

test("two agent tabs whose sockets drop settle on one publisher and the output keeps flowing", async () => {
  const { relay, browser } = stack;
  const api = new RelayApi(relay.url, relay.token);
  const openAgent = async () => {
    const { page, context, errors } = await openRelayPage(browser, relay, "/agent.html?camera=1");
    // Lets the test cut the agent's socket as a network drop would, without touching the page.
    await page.addInitScript(() => {
      const Native = window.WebSocket;
      window.openSockets = [];
      window.WebSocket = class extends Native {
        constructor(...args) {
          super(...args);
          window.openSockets.push(this);
        }
      };
    });
    await page.reload();
    await page.locator('#state[data-state="connected"]').waitFor({ timeout: WAIT_MS });
    return { page, context, errors };
  };
  const tabs = [await openAgent(), await openAgent()];
  const { id: streamId } = await api.createStream({
    width: 256,
    height: 256,
    frame_rate: 15,
    ...PASSTHROUGH,
  });
  const source = startSource(api, streamId, { width: 256, height: 256, fps: 15, markers: null });
  // A reader, as a Frame Output node: without one the publisher's player holds frames back.
  const reader = keepReading(api, streamId);

  /** Each tab's agent id (new on every reconnect), socket state and publisher state. */
  const look = () =>
    Promise.all(
      tabs.map((t) =>
        t.page.evaluate(
          (id) => ({
            agentId: window.agent.agentId,
            state: window.agent.state,
            publisher: window.agent.streams().find((s) => s.streamId === id)?.publisher ?? "none",
          }),
          streamId,
        ),
      ),
    );
  const publishing = (seen) => seen.filter((t) => !["none", "ended", "failed", "idle"].includes(t.publisher));

  /**
   * Waits until both tabs are connected (the `dropped` one again, under a new agent id) and
   * exactly one publishes live, the lease holder; returns the index of that tab.
   */
  const settled = async (what, dropped) => {
    let last;
    return until(
      what,
      async () => {
        const stream = await api.stream(streamId);
        const seen = await look();
        last = { lease: stream.lease, publisher: stream.publisher?.state, tabs: seen };
        const active = publishing(seen);
        const one =
          active.length === 1 && active[0].agentId === stream.lease && active[0].publisher === "live";
        const connected = seen.every((t) => t.state === "connected");
        const back = !dropped || seen[dropped.tab].agentId !== dropped.agentId;
        return one && connected && back && stream.publisher?.state === "live"
          ? seen.indexOf(active[0]) + 1
          : undefined;
      },
      WAIT_MS,
    )
      .then((n) => n - 1)
      .catch((err) => {
        throw new Error(`${err.message}: ${JSON.stringify(last)}`);
      });
  };

  /** The output keeps rising for a few seconds while the holder stays the one publisher. */
  const flowing = async (holder) => {
    const { agentId } = (await look())[holder];
    let last = (await api.stream(streamId)).frames.output_sequence;
    for (let i = 0; i < 3; i++) {
      const from = last;
      last = await until(
        "the output to rise",
        async () => {
          const seq = (await api.stream(streamId)).frames.output_sequence;
          return seq > from + 10 ? seq : undefined;
        },
        WAIT_MS,
      );
      const stream = await api.stream(streamId);
      assert.equal(stream.lease, agentId, "the lease moved without a drop");
      const active = publishing(await look());
      assert.deepEqual(
        active.map((t) => t.agentId),
        [agentId],
        "exactly one tab publishes",
      );
    }
  };

  try {
    let holder = await settled("the first publisher");
    await flowing(holder);
    for (let drop = 1; drop <= 2; drop++) {
      const { agentId } = (await look())[holder];
      await tabs[holder].page.evaluate(() => {
        for (const socket of window.openSockets) socket.close();
      });
      holder = await settled(`one publisher after drop ${drop}`, { tab: holder, agentId });
      await flowing(holder);
    }
    for (const tab of tabs) assert.deepEqual(tab.errors, []);
  } finally {
    source.stop();
    await reader.stop();
    await api.request("DELETE", `/v1/streams/${streamId}`);
    for (const tab of tabs) await tab.context.close();
  }
});
