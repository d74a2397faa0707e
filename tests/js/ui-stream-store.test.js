// Applying relay snapshots and server-sent events to the UI state.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  counterRates,
  HISTORY_SAMPLES,
  initialState,
  LOG_ENTRIES,
  logEntry,
  publisherOwner,
  reduce,
  selectStream,
  streamFigures,
} from "../../www/js/stream-store.mjs";

const s1 = { id: "str_a", state: "live", created_at: "2026-01-01T00:00:00Z" };
const s2 = { id: "str_b", state: "starting", created_at: "2026-01-01T00:01:00Z" };

test("a snapshot replaces the streams and forgets stats of streams that are gone", () => {
  let state = reduce(initialState(), { type: "snapshot", streams: [s1, s2], current: "str_b" });
  state = reduce(state, { type: "stats", streams: [{ id: "str_a", player: { fps: 20 } }] });
  state = reduce(state, { type: "snapshot", streams: [s2], current: "str_b" });
  assert.deepEqual([...state.streams.keys()], ["str_b"]);
  assert.equal(state.stats.has("str_a"), false);
  assert.equal(state.history.has("str_a"), false);
  assert.equal(state.current, "str_b");
});

test("stream events add, update and move the current marker; removals clean up", () => {
  let state = reduce(initialState(), { type: "stream", stream: { ...s1, current: true } });
  assert.equal(state.current, "str_a");
  state = reduce(state, { type: "stream", stream: { ...s1, state: "error", current: false } });
  assert.equal(state.streams.get("str_a").state, "error");
  assert.equal(state.current, null);
  state = reduce(state, { type: "removed", id: "str_a" });
  assert.equal(state.streams.size, 0);
  const same = reduce(state, { type: "removed", id: "str_a" });
  assert.equal(same, state, "removing an unknown stream changes nothing");
});

test("malformed stream events are ignored", () => {
  const state = initialState();
  assert.equal(reduce(state, { type: "stream", stream: null }), state);
  assert.equal(reduce(state, { type: "stream", stream: { state: "live" } }), state);
});

test("stats feed a per-stream latency and fps history", () => {
  let state = reduce(initialState(), { type: "snapshot", streams: [s1], current: null });
  for (let i = 0; i < HISTORY_SAMPLES + 5; i += 1) {
    state = reduce(state, {
      type: "stats",
      streams: [{ id: "str_a", player: { stats: { latency_p50_ms: i, fps: 24 } } }],
    });
  }
  const latency = state.history.get("str_a").latency.values();
  assert.equal(latency.length, HISTORY_SAMPLES);
  assert.equal(latency.at(-1), HISTORY_SAMPLES + 4);
  assert.equal(state.history.get("str_a").fpsOut.values().at(-1), 24);
});

test("the log is bounded, newest last", () => {
  let state = initialState();
  for (let i = 0; i < LOG_ENTRIES + 3; i += 1)
    state = reduce(state, { type: "log", entry: logEntry(`m${i}`, i) });
  assert.equal(state.log.length, LOG_ENTRIES);
  assert.equal(state.log.at(-1).message, `m${LOG_ENTRIES + 2}`);
});

test("log payloads are normalised from strings and objects", () => {
  assert.deepEqual(logEntry("hello", 5), { at: 5, level: "info", message: "hello", streamId: null });
  const entry = logEntry(
    { level: "WARN", message: "slow", stream_id: "str_a", at: "2026-01-01T00:00:00Z" },
    5,
  );
  assert.equal(entry.level, "warn");
  assert.equal(entry.streamId, "str_a");
  assert.equal(entry.at, Date.parse("2026-01-01T00:00:00Z"));
});

test("the selected stream: user's choice, then current, then newest", () => {
  const state = reduce(initialState(), { type: "snapshot", streams: [s1, s2], current: "str_a" });
  assert.equal(selectStream(state, "str_b").id, "str_b");
  assert.equal(selectStream(state, "gone").id, "str_a");
  assert.equal(selectStream({ ...state, current: null }).id, "str_b");
  assert.equal(selectStream(initialState()), null);
  // A create's provisional entry is newer, but the newest existing stream is shown.
  const pending = {
    id: "pending_1",
    provisional: true,
    state: "starting",
    created_at: "2099-01-01T00:00:00Z",
  };
  const creating = reduce(state, { type: "stream", stream: pending });
  assert.equal(selectStream({ ...creating, current: null }).id, "str_b");
  const only = reduce(initialState(), { type: "stream", stream: pending });
  assert.equal(selectStream(only).id, "pending_1");
});

test("figures: in from the publisher, out from the player, latest stats win", () => {
  const stream = {
    publisher: { agent_id: "ag1", stats: { fps: 24, bitrate_kbps: 900, rtt_ms: 2 } },
    player: { stats: { fps: 23, latency_p50_ms: 30 } },
    frames: { received: 100, sent: 99, dropped: 1, queue_depth: 0 },
  };
  const figures = streamFigures(stream, {
    id: "x",
    player: { stats: { fps: 22, latency_p50_ms: 14, latency_p95_ms: 20 } },
  });
  assert.equal(figures.fpsIn, 24);
  assert.equal(figures.fpsOut, 22);
  assert.equal(figures.latencyMs, 14);
  assert.equal(figures.latencyP95Ms, 20);
  assert.equal(figures.rttMs, 2);
  assert.equal(figures.framesDropped, 1);
  assert.equal(streamFigures(undefined, undefined).fpsIn, null);
});

test("without agent figures, fps come from the relay's frame counters", () => {
  let state = reduce(initialState(), { type: "snapshot", streams: [s1], current: null });
  const tick = (at, received, output) =>
    reduce(state, {
      type: "stats",
      at,
      streams: [{ id: "str_a", frames: { received, output_sequence: output } }],
    });
  state = tick(1000, 100, 50);
  assert.equal(streamFigures(s1, state.stats.get("str_a")).fpsIn, null, "one sample gives no rate");
  state = tick(3000, 148, 96);
  const figures = streamFigures(s1, state.stats.get("str_a"));
  assert.equal(figures.fpsIn, 24);
  assert.equal(figures.fpsOut, 23);
  assert.equal(state.history.get("str_a").fpsOut.values().at(-1), 23);
  const withAgent = streamFigures({ publisher: { stats: { fps: 30 } } }, state.stats.get("str_a"));
  assert.equal(withAgent.fpsIn, 30, "the agent's own figure wins");
  assert.equal(
    counterRates({ at: 1000, frames: { received: 9 } }, { frames: { received: 3 } }, 2000).framesIn,
    null,
  );
});

test("the publishing tab is named relative to this tab", () => {
  const stream = { publisher: { agent_id: "ag1", label: "Chrome" } };
  assert.deepEqual(publisherOwner(stream, "ag1"), { kind: "self", text: "this tab (Chrome)" });
  assert.equal(publisherOwner(stream, "ag2").kind, "other");
  assert.equal(publisherOwner({ publisher: null }, "ag1").kind, "none");
  const remote = { publisher: { agent_id: "ag1", link: "jpeg" } };
  assert.equal(publisherOwner(remote, "ag2").text, "another tab: ag1, frames as JPEG");
});
