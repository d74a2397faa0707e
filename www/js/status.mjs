// Maps a relay Stream object (docs/ARCHITECTURE.md, "Stream object") to the badge the UI shows.
// One table for every page so the sidebar, the studio and the preview never disagree.

/** Badge kinds: label, colour tone (a CSS class suffix) and whether the dot pulses. */
export const BADGES = Object.freeze({
  offline: { label: "RELAY OFFLINE", tone: "error", pulse: false },
  idle: { label: "NO STREAM", tone: "idle", pulse: false },
  starting: { label: "STARTING", tone: "info", pulse: true },
  waiting: { label: "WAITING FOR A TAB", tone: "warning", pulse: true },
  connecting: { label: "CONNECTING", tone: "info", pulse: true },
  loading: { label: "PIPELINE LOADING", tone: "info", pulse: true },
  live: { label: "LIVE", tone: "live", pulse: true },
  degraded: { label: "DEGRADED", tone: "warning", pulse: true },
  reconnecting: { label: "RECONNECTING", tone: "warning", pulse: true },
  unreachable: { label: "MEDIA UNREACHABLE", tone: "error", pulse: true },
  stopping: { label: "STOPPING", tone: "info", pulse: true },
  error: { label: "ERROR", tone: "error", pulse: false },
});

const REMOTE_DETAIL = {
  LOADING: "The pipeline is warming up; output follows shortly.",
  ONLINE: "The pipeline is processing frames.",
  OFFLINE: "The remote pipeline reports no input.",
  DEGRADED_INPUT: "The remote pipeline receives too few frames.",
  DEGRADED_INFERENCE: "The remote pipeline is falling behind.",
  ERROR: "The remote pipeline reports an error.",
};

/** The text of a stream's `error` field, whatever shape it came in. */
export function errorText(error) {
  if (error == null) return "";
  if (typeof error === "string") return error;
  if (typeof error === "object") {
    const message = typeof error.message === "string" ? error.message : "";
    const code = typeof error.code === "string" ? error.code : "";
    if (message && code) return `${message} (${code})`;
    return message || code || JSON.stringify(error);
  }
  return String(error);
}

/**
 * Why the publishing browser's media connection keeps failing, as its agent reported it, or
 * "" (e.g. `MEDIA_UNREACHABLE: … at 127.0.0.1:40000 (UDP) …` with what to do).
 */
export function publisherError(stream) {
  return errorText(stream?.publisher?.error);
}

/** Whether `text` (an agent's error summary) says the browser cannot reach the media server. */
export function isUnreachable(text) {
  return text.startsWith("MEDIA_UNREACHABLE");
}

function badge(key, detail) {
  return { key, ...BADGES[key], detail };
}

/**
 * Describes what the user should see for `stream`.
 * @param {object|null|undefined} stream the relay's Stream object, or nothing when none exists
 * @param {{relayReachable?: boolean}} [context]
 * @returns {{key: string, label: string, tone: string, pulse: boolean, detail: string}}
 */
export function describeStream(stream, { relayReachable = true } = {}) {
  if (!relayReachable)
    return badge("offline", "The relay does not answer; live updates resume when it is back.");
  if (!stream) return badge("idle", "No stream. Start one here or run a workflow with Start RTC Stream.");
  const remote = stream.remote?.state ?? null;
  const remoteDetail = REMOTE_DETAIL[remote] ?? "";
  switch (stream.state) {
    case "error":
      return badge("error", errorText(stream.error) || remoteDetail || "The stream failed.");
    case "stopping":
      return badge("stopping", "Tearing down the stream.");
    case "reconnecting": {
      const why = publisherError(stream);
      if (isUnreachable(why)) return badge("unreachable", why);
      return badge(
        "reconnecting",
        why ? `Retrying with backoff: ${why}` : "The connection dropped; retrying with backoff.",
      );
    }
    case "starting":
      return badge("starting", "Creating the stream.");
    case "waiting_for_publisher":
      return badge("waiting", "No browser tab holds the publish lease yet: keep a ComfyUI tab open.");
    case "connecting":
      return badge("connecting", "Negotiating WebRTC with the backend.");
    case "live":
      if (remote === "ERROR") return badge("error", errorText(stream.error) || remoteDetail);
      // The agent's player connects but cannot hand frames back (e.g. a browser without the
      // frame APIs): Frame Output would wait in vain, so say why.
      if (stream.player?.error) {
        return badge("degraded", `Processed frames do not come back: ${errorText(stream.player.error)}`);
      }
      if (remote === "LOADING") return badge("loading", remoteDetail);
      if (remote === "OFFLINE" || remote === "DEGRADED_INPUT" || remote === "DEGRADED_INFERENCE") {
        return badge("degraded", remoteDetail);
      }
      return badge("live", remoteDetail || "Media is flowing.");
    default:
      return {
        key: "unknown",
        label: String(stream.state ?? "UNKNOWN").toUpperCase(),
        tone: "idle",
        pulse: false,
        detail: "",
      };
  }
}

/** Whether a stream still holds resources that Stop would release. */
export function isStoppable(stream) {
  // A create's provisional entry has no stream to stop yet; the created one replaces it.
  return Boolean(stream) && !stream.provisional && stream.state !== "stopping";
}
