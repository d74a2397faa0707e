// Badge mapping and number formatting shared by the sidebar, the studio and the preview.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  backendChoice,
  backendLabel,
  backendRequest,
  describeBackendSwitch,
  describeCredentials,
  describeSignIn,
  parseSignInAddress,
} from "../../www/js/credentials-panel.mjs";
import {
  formatAge,
  formatBitrate,
  formatCount,
  formatFps,
  formatFrameSettings,
  formatMs,
  MISSING,
  playbackLink,
  shortId,
} from "../../www/js/format.mjs";
import { describeStream, errorText, isStoppable } from "../../www/js/status.mjs";

const stream = (state, remote = null, extra = {}) => ({
  id: "str_1",
  state,
  remote: remote ? { state: remote } : undefined,
  ...extra,
});

test("an unreachable relay outranks everything else", () => {
  assert.equal(describeStream(stream("live", "ONLINE"), { relayReachable: false }).key, "offline");
});

test("no stream shows the idle badge", () => {
  const badge = describeStream(null);
  assert.equal(badge.key, "idle");
  assert.equal(badge.pulse, false);
});

test("relay states map to their badges", () => {
  const cases = {
    starting: "starting",
    waiting_for_publisher: "waiting",
    connecting: "connecting",
    reconnecting: "reconnecting",
    stopping: "stopping",
    error: "error",
  };
  for (const [state, key] of Object.entries(cases))
    assert.equal(describeStream(stream(state)).key, key, state);
});

test("a live stream is qualified by the remote pipeline state", () => {
  assert.equal(describeStream(stream("live", "ONLINE")).key, "live");
  assert.equal(describeStream(stream("live")).key, "live");
  assert.equal(describeStream(stream("live", "LOADING")).key, "loading");
  assert.equal(describeStream(stream("live", "DEGRADED_INFERENCE")).key, "degraded");
  assert.equal(describeStream(stream("live", "OFFLINE")).key, "degraded");
  assert.equal(describeStream(stream("live", "ERROR")).key, "error");
});

test("a live stream whose player cannot hand frames back says why", () => {
  const player = { state: "live", error: "UNSUPPORTED: frames cannot be read back" };
  const badge = describeStream(stream("live", "ONLINE", { player }));
  assert.equal(badge.key, "degraded");
  assert.match(badge.detail, /do not come back: UNSUPPORTED: frames cannot be read back$/);
  assert.equal(
    describeStream(stream("live", "ONLINE", { player: { state: "live", error: null } })).key,
    "live",
  );
});

test("the error badge carries the stream's error message in either shape", () => {
  assert.equal(describeStream(stream("error", null, { error: "WHIP refused" })).detail, "WHIP refused");
  assert.equal(
    describeStream(
      stream("error", null, { error: { code: "upstream_5xx", message: "Daydream answered 503" } }),
    ).detail,
    "Daydream answered 503 (upstream_5xx)",
  );
  assert.equal(errorText(null), "");
});

test("an unknown state is shown as itself rather than hidden", () => {
  const badge = describeStream(stream("paused"));
  assert.equal(badge.label, "PAUSED");
});

test("only a created stream that is not already stopping can be stopped", () => {
  assert.equal(isStoppable(stream("live")), true);
  assert.equal(isStoppable({ ...stream("starting"), provisional: true }), false);
  assert.equal(isStoppable(stream("error")), true);
  assert.equal(isStoppable(stream("stopping")), false);
  assert.equal(isStoppable(null), false);
});

test("figures format with units, and missing figures as a dash rather than zero", () => {
  assert.equal(formatFps(23.96), "24.0 fps");
  assert.equal(formatFps(undefined), MISSING);
  assert.equal(formatFps(0), "0.0 fps");
  assert.equal(formatBitrate(850.4), "850 kbps");
  assert.equal(formatBitrate(2500), "2.50 Mbps");
  assert.equal(formatBitrate(Number.NaN), MISSING);
  assert.equal(formatMs(4.26), "4.3 ms");
  assert.equal(formatMs(23.6), "24 ms");
  assert.equal(formatMs(null), MISSING);
  assert.equal(formatCount(1234567), "1,234,567");
  assert.equal(formatFrameSettings({ width: 512, height: 512, frame_rate: 24 }), "512×512 @ 24 fps");
  assert.equal(formatFrameSettings({}), MISSING);
});

test("ages and ids shorten for narrow panels", () => {
  const created = "2026-01-01T00:00:00Z";
  const t0 = Date.parse(created);
  assert.equal(formatAge(created, t0 + 42_000), "42 s");
  assert.equal(formatAge(created, t0 + 3 * 60_000), "3 min");
  assert.equal(formatAge(created, t0 + 125 * 60_000), "2 h 5 min");
  assert.equal(formatAge("not a date", t0), MISSING);
  assert.equal(shortId("str_short"), "str_short");
  assert.equal(shortId("str_0123456789abcdefghij"), "str_0123…cdefghij");
});

test("playback links go to lvpr.tv for Daydream streams, else to the preview page", () => {
  const stream = { id: "str_a", playback_id: "pb 1" };
  assert.deepEqual(playbackLink(stream, { backend: "daydream", previewUrl: "http://h/preview.html" }), {
    href: "https://lvpr.tv/?v=pb%201",
    text: "lvpr.tv",
  });
  assert.equal(
    playbackLink(stream, { backend: "local", previewUrl: "http://h/rtc/api/preview.html" }).href,
    "http://h/rtc/api/preview.html?stream=str_a",
  );
});

test("credentials are described without ever showing the key", () => {
  assert.equal(describeCredentials({ has_api_key: false, source: "none" }), "not set");
  assert.equal(describeCredentials({ has_api_key: true, source: "env" }), "set (from the environment)");
  assert.equal(describeCredentials({ has_api_key: true, source: "file" }), "set (saved on the relay)");
  assert.equal(describeCredentials(null), "unknown");
});

test("the backend choice maps to the relay's view and request, and a switch says who keeps what", () => {
  assert.equal(backendChoice({ backend: "local", backend_source: "key" }), "auto");
  assert.equal(backendChoice({ backend: "local", backend_source: "setting" }), "local");
  assert.equal(backendChoice({ backend: "daydream", backend_source: "env" }), "daydream");
  assert.equal(backendChoice(null), "auto");
  assert.deepEqual(backendRequest("auto"), { backend: null });
  assert.deepEqual(backendRequest("daydream"), { backend: "daydream" });
  assert.match(backendLabel("local"), /stand-in effect/);
  assert.equal(backendLabel("other"), "unknown");

  assert.equal(describeBackendSwitch("local", []), `New streams use ${backendLabel("local")}.`);
  const running = [
    { id: "a", backend: "daydream", state: "live" },
    { id: "b", backend: "daydream", state: "stopping" },
    { id: "c", backend: "local", state: "live" },
  ];
  assert.equal(
    describeBackendSwitch("local", running),
    `New streams use ${backendLabel("local")}. 1 running stream keeps the backend it started on (Daydream (cloud)).`,
  );
  assert.match(describeBackendSwitch("daydream", running), /1 running stream keeps .*Local/);
  assert.match(
    describeBackendSwitch("daydream", [...running, { backend: "local", state: "live" }]),
    /2 running streams keep/,
  );
});

test("the sign-in progress says what the relay is waiting for, and why it failed", () => {
  assert.deepEqual(describeSignIn({ status: "waiting", timeout_ms: 300_000 }), {
    state: "waiting",
    text: "Waiting for you to sign in on the Daydream page (up to 5 min)…",
  });
  assert.equal(describeSignIn({ status: "waiting", timeout_ms: 300 }).text.includes("up to 1 min"), true);
  assert.equal(describeSignIn({ status: "signed_in" }).state, "signed_in");
  assert.deepEqual(describeSignIn({ status: "failed", message: "no sign-in arrived within 300s" }), {
    state: "failed",
    text: "Sign-in failed: no sign-in arrived within 300s",
  });
  assert.equal(describeSignIn({ status: "failed" }).text, "Sign-in failed: no reason given");
  assert.deepEqual(describeSignIn(null), { state: "idle", text: "" });
});

test("a pasted callback address yields its token and state; anything else is refused", () => {
  assert.deepEqual(parseSignInAddress(" http://localhost:53117/callback?token=a.b.c&state=S1 "), {
    token: "a.b.c",
    state: "S1",
  });
  assert.throws(() => parseSignInAddress("token=a.b.c&state=S1"), /whole address/);
  assert.throws(() => parseSignInAddress("http://localhost:1/callback?state=S1"), /no token and state/);
});

test("a stream whose browser cannot reach the media server says so and what to do", () => {
  const why =
    "MEDIA_UNREACHABLE: this browser cannot reach the media server at 127.0.0.1:40000 (UDP). Open UDP port 40000";
  const publisher = { state: "reconnecting", error: why };
  const badge = describeStream(stream("reconnecting", "ONLINE", { publisher }));
  assert.equal(badge.key, "unreachable");
  assert.equal(badge.label, "MEDIA UNREACHABLE");
  assert.equal(badge.detail, why);
  const other = describeStream(
    stream("reconnecting", null, { publisher: { state: "reconnecting", error: "SERVER_ERROR: 502" } }),
  );
  assert.equal(other.key, "reconnecting");
  assert.match(other.detail, /retrying with backoff: SERVER_ERROR: 502$/i);
  assert.match(describeStream(stream("reconnecting")).detail, /connection dropped/);
});
