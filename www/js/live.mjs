// Live state from the relay: one snapshot, then the `/v1/events` server-sent events. After
// every (re)connection of the event stream the snapshot is fetched again, so nothing missed
// while disconnected stays stale. The event stream is shared by every page of the browser
// where it can be (shared-feed.mjs).

import { openEventFeed } from "./event-feed.mjs";
import { openSharedFeed } from "./shared-feed.mjs";
import { initialState, logEntry, reduce } from "./stream-store.mjs";

const WORKER_URL = new URL("./live-worker.mjs", import.meta.url);

/**
 * @param {ReturnType<import("./relay-client.mjs").createRelayClient>} client
 * @param {{EventSourceImpl?: typeof EventSource, SharedWorkerImpl?: typeof SharedWorker,
 *   locks?: import("./shared-feed.mjs").Locks | null, now?: () => number}} [deps]
 */
export function createLiveState(
  client,
  {
    EventSourceImpl = globalThis.EventSource,
    SharedWorkerImpl = globalThis.SharedWorker,
    locks = globalThis.navigator?.locks ?? null,
    now = Date.now,
  } = {},
) {
  let state = initialState();
  const listeners = new Set();
  let feed = null;

  function dispatch(action) {
    const previous = state;
    state = reduce(state, action);
    if (state === previous) return;
    for (const listener of listeners) listener(state, previous, action);
  }

  async function refresh() {
    try {
      const { streams, current } = await client.listStreams();
      dispatch({ type: "snapshot", streams, current });
      return true;
    } catch (err) {
      dispatch({
        type: "log",
        entry: { at: now(), level: "error", message: `GET /v1/streams: ${err.message}`, streamId: null },
      });
      if (err.code === "network_error" || err.status >= 500)
        dispatch({ type: "connection", state: "offline" });
      return false;
    }
  }

  function parse(type, data) {
    try {
      return JSON.parse(data);
    } catch {
      dispatch({
        type: "log",
        entry: { at: now(), level: "warn", message: `unreadable ${type} event`, streamId: null },
      });
      return undefined;
    }
  }

  const sink = {
    status(status) {
      if (status !== "open") {
        dispatch({ type: "connection", state: status });
        return;
      }
      const own = feed;
      refresh().then((ok) => ok && own === feed && dispatch({ type: "connection", state: "open" }));
    },
    event(type, data) {
      const body = parse(type, data);
      if (body === undefined) return;
      if (type === "stream") dispatch({ type: "stream", stream: body });
      else if (type === "removed") {
        if (body?.id) dispatch({ type: "removed", id: body.id });
      } else if (type === "stats") dispatch({ type: "stats", streams: body?.streams, at: now() });
      else if (type === "log") dispatch({ type: "log", entry: logEntry(body, now()) });
    },
  };

  function openFeed() {
    const url = client.eventsUrl();
    const own = () => openEventFeed(url, sink, { EventSourceImpl });
    if (!SharedWorkerImpl) return own();
    return openSharedFeed(url, sink, { SharedWorkerImpl, workerUrl: WORKER_URL, locks, fallback: own });
  }

  function start() {
    feed ??= openFeed();
  }

  return {
    get state() {
      return state;
    },
    /** Calls `listener(state, previous, action)` on every change; returns an unsubscribe function. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    dispatch,
    refresh,
    start,
    /** Closes the event stream; the state stays readable. */
    stop() {
      feed?.close();
      feed = null;
    },
  };
}
