// What the UI knows about the relay, kept up to date from `GET /v1/streams` and the
// `/v1/events` stream. `reduce` is pure: pages hold the state and re-render from it.

import { SampleWindow } from "./sparkline.mjs";

export const HISTORY_SAMPLES = 60;
export const LOG_ENTRIES = 200;

/**
 * @typedef {"connecting" | "open" | "reconnecting" | "offline"} Connection
 * @typedef {{at: number, level: string, message: string, streamId: string|null}} LogEntry
 */

export function initialState() {
  return {
    /** @type {Connection} */
    connection: "connecting",
    /** Streams by id, in the relay's order. */
    streams: new Map(),
    current: null,
    /** Latest 1 Hz figures by stream id: {publisher, player, frames}. */
    stats: new Map(),
    /** Per stream: glass-to-glass latency and output fps, one sample a second. */
    history: new Map(),
    /** @type {LogEntry[]} newest last */
    log: [],
  };
}

function withLog(log, entry) {
  const next = [...log, entry];
  return next.length > LOG_ENTRIES ? next.slice(next.length - LOG_ENTRIES) : next;
}

function historyFor(history, id) {
  return (
    history.get(id) ?? {
      latency: new SampleWindow(HISTORY_SAMPLES),
      fpsOut: new SampleWindow(HISTORY_SAMPLES),
    }
  );
}

/** Normalises a `log` event payload, which may be a bare string or an object. */
export function logEntry(payload, now) {
  if (typeof payload === "string") return { at: now, level: "info", message: payload, streamId: null };
  const at = Date.parse(payload?.at ?? payload?.time ?? "");
  return {
    at: Number.isFinite(at) ? at : now,
    level: typeof payload?.level === "string" ? payload.level.toLowerCase() : "info",
    message: typeof payload?.message === "string" ? payload.message : JSON.stringify(payload),
    streamId: payload?.stream_id ?? payload?.id ?? null,
  };
}

/**
 * Applies one action. Actions: `connection {state}`, `snapshot {streams, current}`,
 * `stream {stream}`, `removed {id}`, `stats {streams, at}` (`at`: arrival time, ms),
 * `log {entry}`.
 */
export function reduce(state, action) {
  switch (action.type) {
    case "connection":
      return state.connection === action.state ? state : { ...state, connection: action.state };
    case "snapshot": {
      const streams = new Map();
      for (const stream of action.streams ?? []) streams.set(stream.id, stream);
      const keep = (map) => new Map([...map].filter(([id]) => streams.has(id)));
      return {
        ...state,
        streams,
        current: action.current ?? null,
        stats: keep(state.stats),
        history: keep(state.history),
      };
    }
    case "stream": {
      const stream = action.stream;
      if (!stream?.id) return state;
      const streams = new Map(state.streams);
      streams.set(stream.id, stream);
      let current = state.current;
      if (stream.current === true) current = stream.id;
      else if (stream.current === false && current === stream.id) current = null;
      return { ...state, streams, current };
    }
    case "removed": {
      if (!state.streams.has(action.id)) return state;
      const streams = new Map(state.streams);
      streams.delete(action.id);
      const stats = new Map(state.stats);
      stats.delete(action.id);
      const history = new Map(state.history);
      history.delete(action.id);
      return {
        ...state,
        streams,
        stats,
        history,
        current: state.current === action.id ? null : state.current,
      };
    }
    case "stats": {
      const stats = new Map(state.stats);
      const history = new Map(state.history);
      for (const raw of action.streams ?? []) {
        if (!raw?.id) continue;
        const entry = {
          ...raw,
          at: action.at ?? null,
          rates: counterRates(state.stats.get(raw.id), raw, action.at),
        };
        stats.set(entry.id, entry);
        const figures = streamFigures(state.streams.get(entry.id), entry);
        const h = historyFor(history, entry.id);
        h.latency.push(figures.latencyMs);
        h.fpsOut.push(figures.fpsOut);
        history.set(entry.id, h);
      }
      return { ...state, stats, history };
    }
    case "log":
      return { ...state, log: withLog(state.log, action.entry) };
    default:
      return state;
  }
}

/**
 * Frames per second from the relay's own counters between two `stats` events: what the UI
 * shows when an agent's getStats figures are missing (browsers differ in what they report).
 */
export function counterRates(previous, next, at) {
  const seconds = (at - previous?.at) / 1000;
  if (!previous?.frames || !next?.frames || !(seconds > 0)) return null;
  const rate = (key) => {
    const delta = next.frames[key] - previous.frames[key];
    return Number.isFinite(delta) && delta >= 0 ? delta / seconds : null;
  };
  return { framesIn: rate("received"), framesOut: rate("output_sequence") };
}

/**
 * The stream the UI should show: the user's choice while it exists, otherwise the relay's
 * current stream, otherwise the newest one that exists (a create's provisional entry only
 * while there is nothing else).
 */
export function selectStream(state, preferredId = null) {
  if (preferredId && state.streams.has(preferredId)) return state.streams.get(preferredId);
  if (state.current && state.streams.has(state.current)) return state.streams.get(state.current);
  let newest = null;
  const rank = (stream) => [stream.provisional ? 0 : 1, String(stream.created_at ?? "")];
  for (const stream of state.streams.values()) {
    if (!newest) {
      newest = stream;
      continue;
    }
    const [a, b] = [rank(stream), rank(newest)];
    if (a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1])) newest = stream;
  }
  return newest;
}

function roleStats(role) {
  if (!role || typeof role !== "object") return {};
  return role.stats && typeof role.stats === "object" ? role.stats : role;
}

/**
 * The figures the panels show, from a Stream and its latest `stats` event entry (either may
 * be missing). "In" is what the publisher sends to the backend, "out" what the player gets back.
 */
export function streamFigures(stream, stats) {
  const publisher = { ...roleStats(stream?.publisher), ...roleStats(stats?.publisher) };
  const player = { ...roleStats(stream?.player), ...roleStats(stats?.player) };
  const frames = { ...(stream?.frames ?? {}), ...(stats?.frames ?? {}) };
  return {
    fpsIn: publisher.fps ?? stats?.rates?.framesIn ?? null,
    fpsOut: player.fps ?? stats?.rates?.framesOut ?? null,
    bitrateInKbps: publisher.bitrate_kbps ?? null,
    bitrateOutKbps: player.bitrate_kbps ?? null,
    rttMs: publisher.rtt_ms ?? player.rtt_ms ?? null,
    latencyMs: player.latency_p50_ms ?? publisher.latency_p50_ms ?? null,
    latencyP95Ms: player.latency_p95_ms ?? publisher.latency_p95_ms ?? null,
    codec: publisher.codec ?? player.codec ?? null,
    framesReceived: frames.received ?? null,
    framesSent: frames.sent ?? null,
    framesDropped: frames.dropped ?? null,
    queueDepth: frames.queue_depth ?? null,
  };
}

/**
 * Who publishes the stream, as the sidebar says it: this tab, another tab, or nobody.
 * @param {object|undefined} stream
 * @param {string|null} ownAgentId the agent id the relay gave this tab
 */
export function publisherOwner(stream, ownAgentId) {
  const agent = stream?.publisher?.agent_id ?? null;
  if (!agent) return { kind: "none", text: "no tab publishes this stream" };
  // A JPEG link means the tab is across a network: worth knowing when frames are slow.
  const label =
    (stream.publisher.label ? ` (${stream.publisher.label})` : "") +
    (stream.publisher.link === "jpeg" ? ", frames as JPEG" : "");
  if (ownAgentId && agent === ownAgentId) return { kind: "self", text: `this tab${label}` };
  return { kind: "other", text: `another tab: ${agent}${label}` };
}
