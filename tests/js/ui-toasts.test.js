// Toast decisions for stream changes and for the pack's node events.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  makeToast,
  streamToasts,
  toastForRemoval,
  toastForStreamChange,
  toastFromServerEvent,
} from "../../www/js/toasts.mjs";

test("state changes that matter raise one toast each", () => {
  const s = (state, extra = {}) => ({ id: "str_a", name: "demo", state, ...extra });
  assert.equal(toastForStreamChange(s("connecting"), s("live")).summary, "Stream live");
  assert.equal(toastForStreamChange(s("live"), s("live")), null, "repeats are not news");
  assert.equal(toastForStreamChange(s("live"), s("reconnecting")).severity, "warn");
  const failed = toastForStreamChange(
    s("live"),
    s("error", { error: { code: "x", message: "WHIP refused" } }),
  );
  assert.equal(failed.severity, "error");
  assert.match(failed.detail, /WHIP refused/);
  assert.equal(toastForStreamChange(undefined, s("starting")), null);
  assert.equal(toastForRemoval(s("live")).detail, "demo (str_a)");
  assert.equal(toastForRemoval(s("starting", { provisional: true })), null, "a create's placeholder");
});

test("server events are validated and given a lifetime by severity", () => {
  assert.deepEqual(
    toastFromServerEvent({ severity: "success", summary: "Stream started", detail: "str_a" }),
    {
      severity: "success",
      summary: "Stream started",
      detail: "str_a",
      life: 3500,
    },
  );
  assert.equal(toastFromServerEvent({ severity: "bogus", summary: "x" }).severity, "info");
  assert.equal(toastFromServerEvent({ severity: "error" }), null);
  assert.equal(toastFromServerEvent(null), null);
  assert.ok(makeToast("error", "x").life > makeToast("info", "x").life);
});

test("a state change yields toasts for every stream that changed and every one removed", () => {
  const before = {
    streams: new Map([
      ["a", { id: "a", state: "connecting" }],
      ["b", { id: "b", state: "live" }],
    ]),
  };
  const after = { streams: new Map([["a", { id: "a", state: "live" }]]) };
  const toasts = streamToasts(after, before);
  assert.deepEqual(
    toasts.map((t) => t.summary),
    ["Stream live", "Stream stopped"],
  );
  assert.deepEqual(streamToasts(after, after), []);
});

test("an unreachable media server is toasted once, when the agent first reports it", () => {
  const why = "MEDIA_UNREACHABLE: this browser cannot reach the media server at 127.0.0.1:40000 (UDP)";
  const s = (state, error) => ({ id: "str_a", name: "demo", state, publisher: error ? { error } : null });
  const first = toastForStreamChange(s("connecting"), s("reconnecting", why));
  assert.equal(first.severity, "error");
  assert.equal(first.summary, "Media unreachable");
  assert.match(first.detail, /^demo \(str_a\): MEDIA_UNREACHABLE: .*127\.0\.0\.1:40000/);
  assert.equal(
    toastForStreamChange(s("reconnecting", why), s("reconnecting", why)),
    null,
    "retries stay quiet",
  );
  assert.equal(
    toastForStreamChange(s("reconnecting"), s("reconnecting", why)).summary,
    "Media unreachable",
    "a stream already reconnecting still hears why",
  );
  assert.equal(toastForStreamChange(s("reconnecting", why), s("live")).summary, "Stream live");
});
