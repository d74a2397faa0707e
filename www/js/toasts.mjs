// Which changes deserve a toast, and how a toast request from the pack is cleaned up.

import { errorText, isUnreachable, publisherError } from "./status.mjs";

const SEVERITIES = new Set(["success", "info", "warn", "error"]);
const LIFE_MS = { success: 3500, info: 3500, warn: 6000, error: 10000 };

/** A toast as ComfyUI's `toast.add` takes it. */
export function makeToast(severity, summary, detail = "") {
  const level = SEVERITIES.has(severity) ? severity : "info";
  return { severity: level, summary: String(summary), detail: String(detail ?? ""), life: LIFE_MS[level] };
}

/**
 * The pack's `rtc-stream-notification` server event (`{severity, summary, detail?}`), sent by the nodes:
 * stream started, update applied or failed, errors. Returns null for malformed payloads.
 */
export function toastFromServerEvent(payload) {
  if (!payload || typeof payload.summary !== "string" || payload.summary.trim() === "") return null;
  return makeToast(
    payload.severity,
    payload.summary,
    typeof payload.detail === "string" ? payload.detail : "",
  );
}

function label(stream) {
  return stream.name ? `${stream.name} (${stream.id})` : stream.id;
}

/** Toast for a stream update seen on the event stream, or null when it is not news. */
export function toastForStreamChange(previous, stream) {
  if (!stream?.id) return null;
  const was = previous?.state ?? null;
  // Said once when it first appears: the agent keeps retrying without repeating it.
  const why = publisherError(stream);
  if (stream.state === "reconnecting" && isUnreachable(why) && why !== publisherError(previous)) {
    return makeToast("error", "Media unreachable", `${label(stream)}: ${why}`);
  }
  if (stream.state === was) return null;
  switch (stream.state) {
    case "live":
      return makeToast("success", "Stream live", label(stream));
    case "reconnecting":
      return makeToast("warn", "Stream reconnecting", label(stream));
    case "error":
      return makeToast(
        "error",
        "Stream failed",
        `${label(stream)}: ${errorText(stream.error) || "unknown error"}`,
      );
    default:
      return null;
  }
}

/**
 * Toast for a stream that disappeared, or null for a create's provisional entry: it gives
 * way to the created stream, and a failed create is reported where it was asked for.
 */
export function toastForRemoval(previous) {
  if (previous?.provisional) return null;
  return makeToast("info", "Stream stopped", previous ? label(previous) : "");
}

/** Every toast a state change warrants, across all streams (see stream-store.mjs). */
export function streamToasts(state, previous) {
  const toasts = [];
  for (const [id, stream] of state.streams) {
    const toast = toastForStreamChange(previous.streams.get(id), stream);
    if (toast) toasts.push(toast);
  }
  for (const [id, stream] of previous.streams) {
    const toast = state.streams.has(id) ? null : toastForRemoval(stream);
    if (toast) toasts.push(toast);
  }
  return toasts;
}
