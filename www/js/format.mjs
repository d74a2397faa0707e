// Number formatting for the stats panels. Missing figures show as an em dash, never as 0,
// so "no data" and "zero" stay distinguishable.

export const MISSING = "—";

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** "24.0 fps". */
export function formatFps(fps) {
  return isNumber(fps) ? `${fps.toFixed(1)} fps` : MISSING;
}

/** Kilobits per second as "850 kbps" or "2.50 Mbps". */
export function formatBitrate(kbps) {
  if (!isNumber(kbps)) return MISSING;
  if (kbps >= 1000) return `${(kbps / 1000).toFixed(2)} Mbps`;
  return `${Math.round(kbps)} kbps`;
}

/** Milliseconds; one decimal under 10 ms, where the decimal still means something. */
export function formatMs(ms) {
  if (!isNumber(ms)) return MISSING;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** Integer counters with thousands separators. */
export function formatCount(count) {
  return isNumber(count) ? grouped.format(count) : MISSING;
}

/** "512×512 @ 24 fps" from a Stream's `settings`. */
export function formatFrameSettings(settings) {
  if (!settings || !isNumber(settings.width) || !isNumber(settings.height)) return MISSING;
  const rate = isNumber(settings.frame_rate) ? ` @ ${settings.frame_rate} fps` : "";
  return `${settings.width}×${settings.height}${rate}`;
}

/** How long ago `iso` was, relative to `now` (ms since epoch): "42 s", "3 min", "2 h 5 min". */
export function formatAge(iso, now) {
  const then = Date.parse(iso ?? "");
  if (!Number.isFinite(then) || !isNumber(now)) return MISSING;
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Shortens long ids for narrow panels while keeping both ends recognisable. */
export function shortId(id, keep = 8) {
  if (typeof id !== "string") return MISSING;
  return id.length <= keep * 2 + 1 ? id : `${id.slice(0, keep)}…${id.slice(-keep)}`;
}

/**
 * Where a user can watch a stream: Livepeer's player for Daydream streams with a playback
 * id, otherwise the preview page for that stream.
 * @param {object} stream
 * @param {{backend?: string, previewUrl: string}} context
 */
export function playbackLink(stream, { backend, previewUrl }) {
  if (backend === "daydream" && stream?.playback_id) {
    return { href: `https://lvpr.tv/?v=${encodeURIComponent(stream.playback_id)}`, text: "lvpr.tv" };
  }
  const url = new URL(previewUrl);
  url.searchParams.set("stream", stream.id);
  return { href: url.href, text: "preview" };
}
