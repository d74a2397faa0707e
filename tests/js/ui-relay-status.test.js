// The relay's status in words, and when a change is worth one toast and one console line.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeHeadless, describeRelayStatus, isNewRelayStatus } from "../../www/js/relay-status.mjs";

const missing = {
  state: "failed",
  reason: "rtc-relay binary not found (looked in: PATH). Install the pack's requirements.",
  log_tail: [],
};

test("each state reads as a sentence; the supervisor's reason is the detail", () => {
  assert.deepEqual(describeRelayStatus({ state: "running", reason: null }), {
    key: "running\n",
    summary: "The RTC relay is running.",
    detail: "",
    severity: "success",
  });
  const failed = describeRelayStatus(missing);
  assert.equal(failed.summary, "The RTC relay is not running.");
  assert.equal(failed.detail, missing.reason);
  assert.equal(failed.severity, "error");
  assert.equal(
    describeRelayStatus({ state: "restarting", reason: "rtc-relay exited with status 1" }).severity,
    "warn",
  );
  assert.match(describeRelayStatus({ state: "stopped" }).detail, /starts with ComfyUI/);
  // ComfyUI did not answer, or answered something else: said so, never a blank.
  for (const odd of [
    {},
    { state: "bogus" },
    { state: "toString" },
    { state: "unknown", reason: "GET /rtc/relay: 500" },
  ]) {
    const words = describeRelayStatus(odd);
    assert.equal(words.summary, "ComfyUI did not say how the RTC relay is doing.");
    assert.notEqual(words.detail, "");
  }
  // Before the first answer.
  assert.equal(describeRelayStatus(null).summary, "Checking the RTC relay…");
  assert.equal(isNewRelayStatus(undefined, null), false);
});

test("a change is said once; retries that fail the same way and starts in progress are not news", () => {
  const running = { state: "running", reason: null };
  // The first look: only trouble is news.
  assert.equal(isNewRelayStatus(undefined, running), false);
  assert.equal(isNewRelayStatus(undefined, { state: "starting" }), false);
  assert.equal(isNewRelayStatus(undefined, missing), true);
  // A retry (restarting) that fails for the same reason says nothing new.
  assert.equal(isNewRelayStatus(missing, { state: "restarting", reason: missing.reason }), false);
  assert.equal(isNewRelayStatus(missing, { ...missing, log_tail: ["other line"] }), false);
  // Another reason, a recovery, a crash of a running relay are news.
  assert.equal(isNewRelayStatus(missing, { state: "failed", reason: "wrong version" }), true);
  assert.equal(isNewRelayStatus(missing, running), true);
  assert.equal(
    isNewRelayStatus(running, { state: "restarting", reason: "rtc-relay exited with status -9" }),
    true,
  );
  assert.equal(isNewRelayStatus(running, running), false);
});

test("the headless agent's state is one line naming the browser or what to do", () => {
  assert.deepEqual(describeHeadless(null), { state: "unknown", text: "" });
  assert.match(describeHeadless({ state: "off", mode_source: "env" }).text, /RTC_HEADLESS_AGENT=off/);
  assert.match(describeHeadless({ state: "off", mode_source: "setting" }).text, /RTC Node settings/);
  assert.match(describeHeadless({ state: "idle" }).text, /standby/);
  const running = describeHeadless({ state: "running", browser: "/usr/bin/chromium", pid: 42 });
  assert.deepEqual(running, {
    state: "running",
    text: "Headless browser: /usr/bin/chromium (pid 42) publishes the streams no tab holds.",
  });
  const failed = describeHeadless({
    state: "failed",
    reason: "no Chromium, Chrome or Edge found: set RTC_BROWSER",
  });
  assert.equal(failed.text, "Headless browser: failed: no Chromium, Chrome or Edge found: set RTC_BROWSER");
});
