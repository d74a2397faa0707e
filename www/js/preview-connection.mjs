// Connection policy of the preview player, as a pure state machine. The page performs the
// effects (connect, disconnect, schedule a retry) and feeds results back as events.
//
// Rules: auto-connect connects whenever output is available; a manual Disconnect stays
// disconnected until the user clicks Connect or turns auto-connect back on (the original
// re-connected by itself within 8 s); failures retry with exponential backoff while
// auto-connect is on.

export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 15000;

/** Delay before retry number `attempt` (0-based). */
export function retryDelayMs(attempt) {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt));
}

/**
 * @typedef {"idle" | "connecting" | "connected" | "error"} Phase
 * @typedef {{phase: Phase, autoConnect: boolean, userDisconnected: boolean, available: boolean,
 *   attempt: number, error: string|null}} ConnectionState
 * @typedef {{type: "connect"} | {type: "disconnect"} | {type: "retry", delayMs: number} | {type: "cancelRetry"}} Effect
 */

/** @returns {ConnectionState} */
export function initialConnection({ autoConnect = true } = {}) {
  return { phase: "idle", autoConnect, userDisconnected: false, available: false, attempt: 0, error: null };
}

const CONNECT = Object.freeze({ type: "connect" });
const DISCONNECT = Object.freeze({ type: "disconnect" });
const CANCEL_RETRY = Object.freeze({ type: "cancelRetry" });

function wantsAuto(s) {
  return s.autoConnect && !s.userDisconnected && s.available;
}

/**
 * @param {ConnectionState} s
 * @param {{type: string, value?: boolean, error?: string}} event
 * @returns {{state: ConnectionState, effects: Effect[]}}
 */
export function step(s, event) {
  switch (event.type) {
    case "userConnect":
      if (s.phase === "connecting" || s.phase === "connected")
        return { state: { ...s, userDisconnected: false }, effects: [] };
      return {
        state: { ...s, phase: "connecting", userDisconnected: false, error: null },
        effects: [CANCEL_RETRY, CONNECT],
      };
    case "userDisconnect":
      return {
        state: { ...s, phase: "idle", userDisconnected: true, attempt: 0, error: null },
        effects: [CANCEL_RETRY, DISCONNECT],
      };
    case "autoConnect": {
      const next = {
        ...s,
        autoConnect: Boolean(event.value),
        userDisconnected: event.value ? false : s.userDisconnected,
      };
      if (wantsAuto(next) && (next.phase === "idle" || next.phase === "error")) {
        return { state: { ...next, phase: "connecting", error: null }, effects: [CANCEL_RETRY, CONNECT] };
      }
      return { state: next, effects: event.value ? [] : [CANCEL_RETRY] };
    }
    case "available": {
      const next = { ...s, available: Boolean(event.value) };
      if (!next.available) {
        if (s.phase === "idle") return { state: next, effects: [] };
        return { state: { ...next, phase: "idle", attempt: 0 }, effects: [CANCEL_RETRY, DISCONNECT] };
      }
      if (wantsAuto(next) && next.phase === "idle") {
        return { state: { ...next, phase: "connecting", error: null }, effects: [CONNECT] };
      }
      return { state: next, effects: [] };
    }
    case "connected":
      if (s.phase !== "connecting") return { state: s, effects: [DISCONNECT] };
      return { state: { ...s, phase: "connected", attempt: 0, error: null }, effects: [] };
    case "failed":
    case "lost": {
      if (s.userDisconnected || s.phase === "idle") return { state: s, effects: [] };
      const next = { ...s, phase: "error", error: event.error ?? "connection lost" };
      if (wantsAuto(next)) {
        return {
          state: { ...next, attempt: s.attempt + 1 },
          effects: [DISCONNECT, { type: "retry", delayMs: retryDelayMs(s.attempt) }],
        };
      }
      return { state: next, effects: [DISCONNECT] };
    }
    case "retry":
      if (s.phase !== "error" || !wantsAuto(s)) return { state: s, effects: [] };
      return { state: { ...s, phase: "connecting" }, effects: [CONNECT] };
    default:
      return { state: s, effects: [] };
  }
}

/** Whether a relay Stream has output a viewer can play. */
export function hasOutput(stream) {
  return Boolean(stream?.whep_url) && stream.state !== "stopping" && stream.state !== "error";
}
