// One relay event stream per browser instead of one per tab and per preview iframe. Browsers
// allow six HTTP/1.1 connections per host across all tabs; every open event stream holds one
// for good, so three ComfyUI tabs with a preview each would leave ComfyUI's own requests
// queued. A SharedWorker (live-worker.mjs) owns the one connection and fans its messages out
// to every page of the origin, same-origin iframes included. It lives while any page is
// connected, so closing the tab that started it hands nothing over and drops nothing.
//
// Where there is no SharedWorker, the worker script does not load, or workers have no
// EventSource, a page falls back to its own connection.

const WORKER_NAME = "rtc-node-live-1";

/**
 * @typedef {import("./event-feed.mjs").FeedSink} FeedSink
 * @typedef {import("./event-feed.mjs").Feed} Feed
 * @typedef {{request: (name: string, callback: () => unknown) => Promise<unknown>}} Locks
 */

/**
 * A page's end: subscribes to `url` through the shared worker.
 * @param {string} url
 * @param {FeedSink} sink
 * @param {{SharedWorkerImpl: typeof SharedWorker, workerUrl: string|URL, locks?: Locks|null,
 *   fallback: () => Feed}} deps `fallback` opens the page's own connection
 * @returns {Feed}
 */
export function openSharedFeed(url, sink, { SharedWorkerImpl, workerUrl, locks = null, fallback }) {
  let worker;
  try {
    worker = new SharedWorkerImpl(workerUrl, { type: "module", name: WORKER_NAME });
  } catch {
    // For instance a Content-Security-Policy without worker-src 'self'.
    return fallback();
  }
  const port = worker.port;
  let own = null;
  let closed = false;
  let subscribed = false;
  let release = () => {};

  function leave() {
    if (subscribed) port.postMessage({ type: "unsubscribe" });
    port.close();
    release();
  }
  function degrade() {
    if (own || closed) return;
    leave();
    own = fallback();
  }
  function subscribe(lock) {
    if (closed || own || subscribed) return;
    subscribed = true;
    port.postMessage({ type: "subscribe", url, lock });
  }

  worker.addEventListener("error", degrade);
  port.onmessage = ({ data }) => {
    if (own || closed) return;
    if (data?.type === "status") sink.status(data.status);
    else if (data?.type === "event") sink.event(data.event, data.data);
    else if (data?.type === "unsupported") degrade();
  };

  if (locks) {
    // Held for as long as this page subscribes: when the page goes away without saying so
    // (a crashed or killed tab), the worker gets the lock and drops the subscriber.
    const lock = `${WORKER_NAME}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2)}`;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    locks
      .request(lock, () => {
        subscribe(lock);
        return held;
      })
      .catch(() => subscribe(null));
  } else {
    subscribe(null);
  }

  return {
    close() {
      if (closed) return;
      if (own) own.close();
      else leave();
      closed = true;
    },
  };
}

/**
 * The worker's end: one feed per URL, shared by every subscribed port.
 * @param {(url: string, sink: FeedSink) => Feed} openFeed
 * @param {Locks|null} [locks]
 */
export function createFeedHub(openFeed, locks = null) {
  /** @type {Map<string, {feed: Feed, ports: Set<MessagePort>, status: string|null}>} */
  const feeds = new Map();
  /** @type {Map<MessagePort, string>} */
  const subscriptions = new Map();

  function drop(port) {
    const url = subscriptions.get(port);
    if (url === undefined) return;
    subscriptions.delete(port);
    const entry = feeds.get(url);
    entry.ports.delete(port);
    if (entry.ports.size > 0) return;
    entry.feed.close();
    feeds.delete(url);
  }

  function feedFor(url) {
    const existing = feeds.get(url);
    if (existing) return existing;
    const entry = { feed: null, ports: new Set(), status: null };
    const post = (message) => {
      for (const port of entry.ports) port.postMessage(message);
    };
    entry.feed = openFeed(url, {
      status(status) {
        entry.status = status;
        post({ type: "status", status });
      },
      event(event, data) {
        post({ type: "event", event, data });
      },
    });
    feeds.set(url, entry);
    return entry;
  }

  function subscribe(port, url, lock) {
    if (subscriptions.has(port)) return;
    let entry;
    try {
      entry = feedFor(url);
    } catch (err) {
      port.postMessage({ type: "unsupported", reason: String(err?.message ?? err) });
      return;
    }
    entry.ports.add(port);
    subscriptions.set(port, url);
    // A page that joins an open feed learns so at once, and fetches its snapshot.
    if (entry.status) port.postMessage({ type: "status", status: entry.status });
    if (lock && locks) locks.request(lock, () => drop(port)).catch(() => {});
  }

  return {
    /** @param {MessagePort} port */
    attach(port) {
      port.onmessage = ({ data }) => {
        if (data?.type === "subscribe" && typeof data.url === "string") {
          subscribe(port, data.url, typeof data.lock === "string" ? data.lock : null);
        } else if (data?.type === "unsubscribe") {
          drop(port);
        }
      };
    },
    /** Subscribers per open feed URL. */
    subscribers() {
      return new Map([...feeds].map(([url, entry]) => [url, entry.ports.size]));
    },
  };
}
