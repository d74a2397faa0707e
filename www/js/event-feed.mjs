// One reconnecting connection to the relay's `/v1/events` server-sent events. EventSource
// retries by itself after a dropped connection but gives up when the server refuses outright
// (for instance the proxy's 502 while the relay restarts); then the feed reopens with backoff.

export const EVENT_TYPES = Object.freeze(["stream", "removed", "stats", "log"]);

const REOPEN_BASE_MS = 1000;
const REOPEN_MAX_MS = 30_000;

/**
 * @typedef {"open" | "reconnecting" | "offline"} FeedStatus
 * @typedef {{status: (status: FeedStatus) => void, event: (type: string, data: string) => void}} FeedSink
 * @typedef {{close: () => void}} Feed
 */

/**
 * Opens the event stream at `url` and reports to `sink` until closed.
 * @param {string} url
 * @param {FeedSink} sink
 * @param {{EventSourceImpl?: typeof EventSource}} [deps]
 * @returns {Feed}
 */
export function openEventFeed(url, sink, { EventSourceImpl = globalThis.EventSource } = {}) {
  let source = null;
  let reopenTimer = null;
  let attempt = 0;
  let closed = false;
  /** @type {FeedStatus | null} */
  let status = null;

  function report(next) {
    status = next;
    sink.status(next);
  }

  function open() {
    reopenTimer = null;
    const own = new EventSourceImpl(url, { withCredentials: true });
    source = own;
    own.addEventListener("open", () => {
      attempt = 0;
      report("open");
    });
    own.addEventListener("error", () => {
      if (own !== source) return;
      if (own.readyState !== EventSourceImpl.CLOSED) {
        // One failure is a blip; a failed retry means the relay is down.
        report(status === "open" ? "reconnecting" : "offline");
        return;
      }
      own.close();
      source = null;
      report("offline");
      if (closed) return;
      const delay = Math.min(REOPEN_MAX_MS, REOPEN_BASE_MS * 2 ** attempt);
      attempt += 1;
      reopenTimer = setTimeout(open, delay);
    });
    for (const type of EVENT_TYPES) {
      own.addEventListener(type, (event) => {
        if (own === source) sink.event(type, event.data);
      });
    }
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(reopenTimer);
      reopenTimer = null;
      source?.close();
      source = null;
    },
  };
}
