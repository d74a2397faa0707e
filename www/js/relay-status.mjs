// What ComfyUI's relay supervisor says about the relay (`GET /rtc/relay`), in words, and the
// panel the sidebar shows while the relay is not running: the reason, the relay's last log
// lines and a Restart button. Served by ComfyUI, so it works when the relay does not.

import { createBadge } from "./badge.mjs";
import { h, replaceChildren, setText } from "./dom.mjs";

/**
 * @typedef {{state: string, reason?: string|null, log_tail?: string[], restarts?: number}} RelayStatus
 *   `state`: running, starting, restarting, failed, stopped; or `unknown` when ComfyUI itself
 *   did not answer (`reason` then says why). Null before the first answer.
 */

const SUMMARIES = {
  running: "The RTC relay is running.",
  starting: "The RTC relay is starting…",
  restarting: "The RTC relay is restarting…",
  failed: "The RTC relay is not running.",
  stopped: "The RTC relay has not started yet.",
  checking: "Checking the RTC relay…",
  unknown: "ComfyUI did not say how the RTC relay is doing.",
};

/** @param {RelayStatus|null|undefined} status */
function stateOf(status) {
  if (status === null || status === undefined) return "checking";
  return Object.hasOwn(SUMMARIES, status.state) && status.state !== "checking" ? status.state : "unknown";
}

const TONES = { running: "live", starting: "info", restarting: "warning", failed: "error", unknown: "error" };

/**
 * The status in words: a one-line summary and the supervisor's reason (what failed and what
 * to install or run), for the panel, the toasts and the console alike.
 * @param {RelayStatus|null} status
 * @returns {{key: string, summary: string, detail: string, severity: string}}
 */
export function describeRelayStatus(status) {
  const state = stateOf(status);
  let detail = typeof status?.reason === "string" ? status.reason.trim() : "";
  if (!detail && state === "stopped") detail = "It starts with ComfyUI, or when a node needs it.";
  if (!detail && state === "unknown") detail = "No answer from /rtc/relay.";
  const severity =
    { running: "success", checking: "info", failed: "error", unknown: "error" }[state] ?? "warn";
  return { key: `${state}\n${detail}`, summary: SUMMARIES[state], detail, severity };
}

/**
 * Whether `status` is news after the one last said (`announced`, undefined at first), worth one
 * toast and one console line. Starts in progress are shown in the panel only, except a restart
 * right after running (a crash); a retry that fails again for the same reason says nothing new.
 * @param {RelayStatus|null|undefined} announced
 * @param {RelayStatus|null} status
 */
export function isNewRelayStatus(announced, status) {
  const state = stateOf(status);
  if (
    state === "checking" ||
    state === "starting" ||
    (state === "restarting" && announced?.state !== "running")
  )
    return false;
  const now = describeRelayStatus(status);
  if (announced === undefined) return now.severity !== "success";
  return describeRelayStatus(announced).key !== now.key;
}

/**
 * @typedef {{state: string, reason?: string|null, mode?: string, mode_source?: string,
 *   browser?: string|null, pid?: number|null}} HeadlessStatus
 *   The pack's headless agent (`headless` in `GET /rtc/relay`): `off`, `idle`, `starting`,
 *   `running` or `failed` (`reason` says why and what to do).
 */

/**
 * The headless agent in one line for the sidebar; empty when the pack did not say.
 * @param {HeadlessStatus|null|undefined} status
 * @returns {{state: string, text: string}}
 */
export function describeHeadless(status) {
  const state = status?.state ?? "unknown";
  const browser = status?.browser ?? "the browser";
  const off =
    status?.mode_source === "env"
      ? "off (RTC_HEADLESS_AGENT=off): a workflow queued with no tab open gets no publisher."
      : "off (RTC Node settings): a workflow queued with no tab open gets no publisher.";
  const text = {
    off,
    idle: "on standby; it starts when a stream has no tab to publish it.",
    starting: `starting ${browser}…`,
    running: `${browser} (pid ${status?.pid ?? "?"}) publishes the streams no tab holds.`,
    failed: `failed: ${status?.reason ?? "no reason given"}`,
  }[state];
  return { state, text: text ? `Headless browser: ${text}` : "" };
}

/**
 * Mounts the relay-down panel in `root`.
 * @param {HTMLElement} root
 * @param {{restart: () => Promise<RelayStatus>}} actions `restart` asks ComfyUI to restart the
 *   relay and resolves with the new status; it rejects with an Error whose message is shown
 * @returns {{update(status: RelayStatus|null): void, unmount(): void}}
 */
export function mountRelayStatus(root, { restart }) {
  const badge = createBadge();
  const summary = h("p", { className: "rtc-detail", dataset: { field: "relay-summary" } });
  const reason = h("pre", { className: "rtc-relay-reason", dataset: { field: "relay-reason" } });
  const log = h("pre", { className: "rtc-relay-log", dataset: { field: "relay-log" } });
  const logBox = h(
    "details",
    { className: "rtc-relay-log-box" },
    h("summary", {}, "Last relay log lines"),
    log,
  );
  const message = h("p", { className: "rtc-form-message", role: "alert" });
  const button = h(
    "button",
    { type: "button", className: "rtc-button rtc-primary", dataset: { action: "restart-relay" } },
    "Restart relay",
  );
  const box = h(
    "div",
    { className: "rtc-root rtc-sidebar", dataset: { state: "unavailable" } },
    h("div", { className: "rtc-title" }, h("h2", {}, "RTC Stream"), badge.element),
    summary,
    reason,
    logBox,
    h("div", { className: "rtc-actions" }, button),
    message,
  );
  let current = null;

  function update(status) {
    current = status;
    const words = describeRelayStatus(status);
    const state = stateOf(status);
    badge.update({
      key: state,
      label: `relay ${state}`,
      tone: TONES[state] ?? "idle",
      pulse: state.endsWith("ing"),
      detail: words.detail,
    });
    box.dataset.relayState = state;
    setText(summary, words.summary);
    setText(reason, words.detail);
    reason.hidden = !words.detail;
    const lines = status?.log_tail ?? [];
    replaceChildren(log, lines.join("\n"));
    logBox.hidden = lines.length === 0;
    button.disabled = ["checking", "starting", "restarting"].includes(state);
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    setText(message, "");
    try {
      update(await restart());
    } catch (err) {
      setText(message, `Restart refused: ${err.message}`);
      update(current);
    }
  });

  root.append(box);
  return {
    update,
    unmount: () => box.remove(),
  };
}
