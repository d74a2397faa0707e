// The full loop through the real relay and its local backend: frames with markers posted to
// the relay → agent page → WHIP publisher → local media server → WHEP player →
// frames back at the relay. Checks content and order, the 1 Hz stats (with the agent's own
// marker latency, and none for a source without markers), a lease moving to another tab when
// the publishing tab closes, and the agent surviving a relay restart.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startRelay } from "./harness.mjs";
import {
  loadMarkers,
  PASSTHROUGH,
  quantile,
  RelayApi,
  startSink,
  startSource,
  until,
  untilEvent,
} from "./loop.mjs";

const TOKEN = "agent-loop-token";
const SIZE = { width: 512, height: 512, frame_rate: 30 };

let relay;
let api;
let browser;
let markers;

before(async () => {
  markers = await loadMarkers();
  relay = await startRelay({ env: { RTC_RELAY_TOKEN: TOKEN } });
  api = new RelayApi(relay.url, TOKEN);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

async function openAgent() {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.log(`agent page: ${m.text()}`);
  });
  await page.goto(`${relay.url}/agent.html?camera=1&token=${TOKEN}`);
  await page.locator('#state[data-state="connected"]').waitFor({ timeout: 15000 });
  return page;
}

// Each loop continues the numbering, so a frame left over from the previous loop is told apart.
let nextMarker = 0;

/** Runs frames through the loop until `count` markers came back; returns what the sink saw. */
async function loop(streamId, count) {
  const firstMarker = nextMarker;
  nextMarker += 10000;
  const source = startSource(api, streamId, {
    width: SIZE.width,
    height: SIZE.height,
    fps: SIZE.frame_rate,
    markers,
    firstMarker,
  });
  const sink = startSink(api, streamId, { markers, sentAt: source.stats.sentAt });
  try {
    await until(
      `${count} marker frames back from ${streamId}`,
      () => sink.stats.decoded.length >= count,
      45000,
    );
  } finally {
    source.stop();
    await sink.stop();
  }
  return { source: source.stats, sink: sink.stats };
}

function assertInOrder(decoded) {
  for (let i = 1; i < decoded.length; i++) {
    assert.ok(decoded[i] >= decoded[i - 1], `marker ${decoded[i]} came after ${decoded[i - 1]}`);
  }
}

let firstPage;
let streamId;

test("frames go round the loop with their markers intact and in order, paced by the Worker timer", async () => {
  firstPage = await openAgent();

  ({ id: streamId } = await api.createStream({ ...SIZE, ...PASSTHROUGH }));
  await until(
    "the publisher to be live",
    async () => (await api.stream(streamId)).publisher?.state === "live",
  );
  const { source, sink } = await loop(streamId, 60);
  console.log(
    `relay-to-relay latency seen from Node: p50 ${quantile(sink.latenciesMs, 0.5).toFixed(1)} ms, p95 ${quantile(sink.latenciesMs, 0.95).toFixed(1)} ms`,
  );

  assertInOrder(sink.decoded);
  assert.ok(
    sink.decoded.at(-1) - sink.decoded[0] >= 40,
    `markers span ${sink.decoded[0]}..${sink.decoded.at(-1)}`,
  );
  assert.equal(sink.width, SIZE.width);
  assert.equal(sink.height, SIZE.height);
  assert.ok(source.accepted > 0);

  const info = await firstPage.evaluate(() => window.agent.streams());
  assert.equal(info.length, 1);
  assert.equal(info[0].publisher, "live");
  assert.equal(info[0].player, "live");
  assert.equal(info[0].usesGenerator, true);
  assert.equal(info[0].pacedByWorker, true);
  assert.ok(info[0].framesIn > 0 && info[0].framesOut > 0);

  let last;
  const stream = await until("1 Hz stats at the relay", async () => {
    last = await api.stream(streamId);
    return last.publisher?.stats?.frames > 0 && last.player?.stats?.frames > 0 ? last : undefined;
  }).catch((err) => {
    throw new Error(
      `${err.message}: ${JSON.stringify({ publisher: last?.publisher, player: last?.player })}`,
    );
  });
  assert.match(stream.publisher.stats.codec ?? "", /H264/i);

  // The agent times the markers itself between the frames it publishes and the ones it plays
  // back; the figure reaches the relay with the player's stats. Frames keep flowing here so a
  // report with samples in its window is due.
  const marked = startSource(api, streamId, {
    ...SIZE,
    fps: SIZE.frame_rate,
    markers,
    firstMarker: nextMarker,
  });
  nextMarker += 10000;
  try {
    const { player } = await until("marker latency in the player's stats", async () => {
      const s = await api.stream(streamId);
      return s.player?.stats?.latency_p50_ms !== undefined ? s : undefined;
    });
    const { latency_p50_ms: p50, latency_p95_ms: p95 } = player.stats;
    console.log(`agent-measured glass-to-glass latency: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
    assert.ok(p50 > 0 && p50 < 1000, `p50 ${p50} ms`);
    assert.ok(p95 >= p50 && p95 < 2000, `p95 ${p95} ms, p50 ${p50} ms`);
    // The same figures reach the pages through the 1 Hz `stats` event.
    const viaEvents = await untilEvent(api, "latency in a stats event", (name, data) =>
      name === "stats" ? data.streams.find((s) => s.id === streamId)?.player?.latency_p50_ms : undefined,
    );
    assert.ok(viaEvents > 0 && viaEvents < 1000, `p50 ${viaEvents} ms in /v1/events`);
  } finally {
    marked.stop();
  }
});

test("a source without markers reports no latency", async () => {
  const { id } = await api.createStream({ ...SIZE, ...PASSTHROUGH });
  await until("the publisher to be live", async () => (await api.stream(id)).publisher?.state === "live");
  const source = startSource(api, id, { ...SIZE, fps: SIZE.frame_rate, markers: null });
  try {
    // Reports keep coming while unmarked frames go round; every one must lack the figure.
    // 90 decoded frames at 30 fps span several 1 Hz reports and a whole latency window.
    const seen = [];
    await until(
      "stats for 90 unmarked frames played back",
      async () => {
        const { player } = await api.stream(id);
        if (player?.stats) seen.push(player.stats);
        return player?.stats?.frames >= 90;
      },
      45000,
    );
    assert.ok(seen.length > 0);
    for (const stats of seen) {
      assert.equal(stats.latency_p50_ms, undefined, JSON.stringify(stats));
      assert.equal(stats.latency_p95_ms, undefined, JSON.stringify(stats));
    }
  } finally {
    source.stop();
    await api.request("DELETE", `/v1/streams/${id}`);
  }
});

test("the tab sends frames back only while something reads them, and resumes on the next read", async () => {
  const { id } = await api.createStream({ ...SIZE, ...PASSTHROUGH });
  await until("the publisher to be live", async () => (await api.stream(id)).publisher?.state === "live");
  const source = startSource(api, id, { ...SIZE, fps: SIZE.frame_rate, markers, firstMarker: nextMarker });
  nextMarker += 10000;
  const frames = async () => (await api.stream(id)).frames;
  try {
    // Nobody has read this stream's output: the player plays, but holds its frames back.
    await until(
      "the player to be live",
      async () => (await api.stream(id)).player?.stats?.frames > 30,
      45000,
    );
    const idle = await frames();
    assert.equal(idle.output_wanted, false);
    // The page still times its markers from the frames it plays.
    await until(
      "marker latency while idle",
      async () => (await api.stream(id)).player?.stats?.latency_p50_ms > 0,
    );
    const stillIdle = await frames();
    assert.equal(stillIdle.output_sequence, idle.output_sequence, "no frame came back unasked");

    const sink = startSink(api, id, { markers, sentAt: source.stats.sentAt });
    try {
      await until("frames back once something reads", () => sink.stats.decoded.length >= 10, 15000);
      assert.equal((await frames()).output_wanted, true);
    } finally {
      await sink.stop();
    }
    // Some seconds after the last read the frames are held back again.
    await until(
      "the output to be unwanted again",
      async () => (await frames()).output_wanted === false,
      15000,
    );
    const quiet = (await frames()).output_sequence;
    const played = (await api.stream(id)).player.stats.frames;
    await until("30 more frames played while unread", async () => {
      return (await api.stream(id)).player?.stats?.frames >= played + 30;
    });
    const endFrames = await frames();
    assert.ok(
      endFrames.output_sequence <= quiet + 2,
      `at most the frames in flight came back: ${quiet} then ${JSON.stringify(endFrames)}`,
    );
  } finally {
    source.stop();
    await api.request("DELETE", `/v1/streams/${id}`);
  }
});

test("the lease moves to another tab when the publishing tab closes", async () => {
  const second = await openAgent();
  const secondId = await second.evaluate(() => window.agent.agentId);
  await firstPage.close();
  await until("the lease to move", async () => {
    const s = await api.stream(streamId);
    return s.publisher?.agent_id === secondId && s.publisher?.state === "live";
  });
  const { sink } = await loop(streamId, 30);
  assertInOrder(sink.decoded);
  firstPage = second;
});

test("the agent reconnects after a relay restart and serves new streams", async () => {
  const port = new URL(relay.url).port;
  const stateDir = relay.stateDir;
  await relay.stop();
  await until("the agent to notice", () =>
    firstPage.evaluate(() => window.agent.state === "reconnecting" || window.agent.state === "connecting"),
  );
  relay = await startRelay({
    addr: `127.0.0.1:${port}`,
    env: { RTC_RELAY_TOKEN: TOKEN, RTC_RELAY_STATE_DIR: stateDir },
  });
  api = new RelayApi(relay.url, TOKEN);
  await until(
    "the agent to reconnect",
    () => firstPage.evaluate(() => window.agent.state === "connected"),
    30000,
  );

  ({ id: streamId } = await api.createStream({ ...SIZE, ...PASSTHROUGH }));
  await until(
    "the publisher to be live again",
    async () => (await api.stream(streamId)).publisher?.state === "live",
  );
  const { sink } = await loop(streamId, 30);
  assertInOrder(sink.decoded);
});
