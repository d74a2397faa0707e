// Preview connection policy: auto-connect, manual disconnect that sticks, backoff on failure.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  hasOutput,
  initialConnection,
  RETRY_MAX_MS,
  retryDelayMs,
  step,
} from "../../www/js/preview-connection.mjs";

function run(state, ...events) {
  const effects = [];
  for (const event of events) {
    const out = step(state, event);
    state = out.state;
    effects.push(...out.effects.map((e) => e.type));
  }
  return { state, effects };
}

test("auto-connect connects as soon as output is available", () => {
  const { state, effects } = run(initialConnection(), { type: "available", value: true });
  assert.equal(state.phase, "connecting");
  assert.deepEqual(effects, ["connect"]);
});

test("without auto-connect nothing happens until the user clicks Connect", () => {
  let { state, effects } = run(initialConnection({ autoConnect: false }), { type: "available", value: true });
  assert.deepEqual(effects, []);
  ({ state, effects } = run(state, { type: "userConnect" }, { type: "connected" }));
  assert.equal(state.phase, "connected");
  assert.ok(effects.includes("connect"));
});

test("a manual disconnect stays disconnected whatever the stream does", () => {
  let { state } = run(initialConnection(), { type: "available", value: true }, { type: "connected" });
  let effects;
  ({ state, effects } = run(state, { type: "userDisconnect" }));
  assert.deepEqual(effects, ["cancelRetry", "disconnect"]);
  ({ state, effects } = run(
    state,
    { type: "available", value: false },
    { type: "available", value: true },
    { type: "retry" },
    { type: "lost" },
  ));
  assert.equal(state.phase, "idle");
  assert.deepEqual(effects, []);
});

test("Connect after a manual disconnect, or re-enabling auto-connect, connects again", () => {
  const base = run(
    initialConnection(),
    { type: "available", value: true },
    { type: "connected" },
    { type: "userDisconnect" },
  );
  assert.deepEqual(run(base.state, { type: "userConnect" }).effects, ["cancelRetry", "connect"]);
  const toggled = run(
    base.state,
    { type: "autoConnect", value: false },
    { type: "autoConnect", value: true },
  );
  assert.equal(toggled.state.phase, "connecting");
  assert.ok(toggled.effects.includes("connect"));
});

test("a lost connection retries with growing delays, and succeeds", () => {
  let { state } = run(initialConnection(), { type: "available", value: true }, { type: "connected" });
  const delays = [];
  for (let i = 0; i < 3; i += 1) {
    const lost = step(state, { type: "lost" });
    delays.push(lost.effects.find((e) => e.type === "retry").delayMs);
    ({ state } = run(lost.state, { type: "retry" }));
    assert.equal(state.phase, "connecting");
  }
  assert.deepEqual(delays, [1000, 2000, 4000]);
  ({ state } = run(state, { type: "connected" }));
  assert.equal(state.attempt, 0);
});

test("a failure without auto-connect shows the error and waits for the user", () => {
  const { state, effects } = run(
    initialConnection({ autoConnect: false }),
    { type: "available", value: true },
    { type: "userConnect" },
    { type: "failed", error: "WHEP 409" },
  );
  assert.equal(state.phase, "error");
  assert.equal(state.error, "WHEP 409");
  assert.ok(!effects.includes("retry"));
});

test("the stream going away disconnects without counting as the user's choice", () => {
  const { state, effects } = run(
    initialConnection(),
    { type: "available", value: true },
    { type: "connected" },
    { type: "available", value: false },
    { type: "available", value: true },
  );
  assert.deepEqual(effects, ["connect", "cancelRetry", "disconnect", "connect"]);
  assert.equal(state.phase, "connecting");
});

test("a late 'connected' after the user gave up is torn down", () => {
  const { state, effects } = run(
    initialConnection(),
    { type: "available", value: true },
    { type: "userDisconnect" },
    { type: "connected" },
  );
  assert.equal(state.phase, "idle");
  assert.equal(effects.at(-1), "disconnect");
});

test("backoff is capped", () => {
  assert.equal(retryDelayMs(0), 1000);
  assert.equal(retryDelayMs(30), RETRY_MAX_MS);
});

test("output is playable once the relay knows a WHEP URL and the stream is not ending", () => {
  assert.equal(hasOutput({ state: "live", whep_url: "/v1/streams/s/whep" }), true);
  assert.equal(hasOutput({ state: "connecting", whep_url: null }), false);
  assert.equal(hasOutput({ state: "stopping", whep_url: "/v1/streams/s/whep" }), false);
  assert.equal(hasOutput({ state: "error", whep_url: "/v1/streams/s/whep" }), false);
  assert.equal(hasOutput(null), false);
});
