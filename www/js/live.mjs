// Live state from the relay: one snapshot, then the `/v1/events` server-sent events. After
// every (re)connection of the event stream the snapshot is fetched again, so nothing missed
// while disconnected stays stale.

import { initialState, logEntry, reduce } from "./stream-store.mjs";

const REOPEN_BASE_MS = 1000;
const REOPEN_MAX_MS = 30_000;

/**
 * @param {ReturnType<import("./relay-client.mjs").createRelayClient>} client
 * @param {{EventSourceImpl?: typeof EventSource, now?: () => number}} [deps]
 */
export function createLiveState(client, { EventSourceImpl = globalThis.EventSource, now = Date.now } = {}) {
  let state = initialState();
  const listeners = new Set();
  let source = null;
  let reopenTimer = null;
  let reopenAttempt = 0;
  let running = false;

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

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch {
      dispatch({
        type: "log",
        entry: { at: now(), level: "warn", message: `unreadable ${event.type} event`, streamId: null },
      });
      return undefined;
    }
  }

  function open() {
    reopenTimer = null;
    source = new EventSourceImpl(client.eventsUrl(), { withCredentials: true });
    const own = source;
    source.addEventListener("open", () => {
      reopenAttempt = 0;
      refresh().then((ok) => ok && own === source && dispatch({ type: "connection", state: "open" }));
    });
    source.addEventListener("error", () => {
      if (own !== source) return;
      if (own.readyState !== EventSourceImpl.CLOSED) {
        // EventSource retries by itself. One failure is a blip; a failed retry means the
        // relay is down.
        dispatch({ type: "connection", state: state.connection === "open" ? "reconnecting" : "offline" });
        return;
      }
      // Refused outright (for instance the proxy's 502 while the relay restarts):
      // EventSource gives up, so reopen with backoff.
      own.close();
      source = null;
      dispatch({ type: "connection", state: "offline" });
      if (running) {
        const delay = Math.min(REOPEN_MAX_MS, REOPEN_BASE_MS * 2 ** reopenAttempt);
        reopenAttempt += 1;
        reopenTimer = setTimeout(open, delay);
      }
    });
    source.addEventListener("stream", (event) => {
      const stream = parse(event);
      if (stream !== undefined) dispatch({ type: "stream", stream });
    });
    source.addEventListener("removed", (event) => {
      const body = parse(event);
      if (body?.id) dispatch({ type: "removed", id: body.id });
    });
    source.addEventListener("stats", (event) => {
      const body = parse(event);
      if (body !== undefined) dispatch({ type: "stats", streams: body.streams, at: now() });
    });
    source.addEventListener("log", (event) => {
      const body = parse(event);
      if (body !== undefined) dispatch({ type: "log", entry: logEntry(body, now()) });
    });
  }

  function start() {
    if (running) return;
    running = true;
    open();
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
      running = false;
      clearTimeout(reopenTimer);
      reopenTimer = null;
      source?.close();
      source = null;
    },
  };
}
