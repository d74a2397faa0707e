// The full loop driven from Node: a synthetic source with frame-number markers posted to the
// relay (no Python), and a reader of the relay's output that decodes the markers and times
// them against their send times. Shared by tests/e2e/agent-loop.test.js and scripts/demo.mjs.
import { readFileSync } from "node:fs";

const pkg = new URL("../../www/pkg/", import.meta.url);

/** The marker functions of the wasm package, loaded into Node. */
export async function loadMarkers() {
  const wasm = await import(new URL("rtc_client.js", pkg));
  wasm.initSync({ module: readFileSync(new URL("rtc_client_bg.wasm", pkg)) });
  return { drawMarker: wasm.drawMarker, readMarker: wasm.readMarker };
}

/** Authenticated calls to the relay's HTTP API. */
export class RelayApi {
  constructor(url, token) {
    this.url = url;
    this.token = token;
  }

  async request(method, path, { json, body, headers = {}, signal } = {}) {
    const init = { method, signal, headers: { Authorization: `Bearer ${this.token}`, ...headers } };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    } else if (body !== undefined) {
      init.body = body;
    }
    return fetch(`${this.url}${path}`, init);
  }

  async json(method, path, options) {
    const res = await this.request(method, path, options);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  createStream(settings) {
    return this.json("POST", "/v1/streams", { json: { name: "loop", ...settings } });
  }

  stream(id) {
    return this.json("GET", `/v1/streams/${id}`);
  }
}

/**
 * Reads the relay's server-sent events until `check(name, data)` returns something truthy for
 * one of them; fails after `timeoutMs`.
 */
export async function untilEvent(api, what, check, timeoutMs = 30000) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await api.request("GET", "/v1/events", { signal: abort.signal });
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk, { stream: true });
      let end = buffered.indexOf("\n\n");
      while (end >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf("\n\n");
        const field = (key) =>
          block
            .split("\n")
            .filter((line) => line.startsWith(`${key}:`))
            .map((line) => line.slice(key.length + 1).trim())
            .join("\n");
        const data = field("data");
        const found = data && check(field("event"), JSON.parse(data));
        if (found) return found;
      }
    }
    throw new Error("the event stream ended");
  } catch (err) {
    if (abort.signal.aborted) throw new Error(`timed out waiting for ${what} in /v1/events`);
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** Polls `check` until it returns something truthy. */
export async function until(what, check, timeoutMs = 30000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Posts rgb8 frames with markers at `fps`. Frames carry consecutive markers from
 * `firstMarker` (mod 65536); `sentAt` maps a marker to its send time (ms, performance.now()).
 * With `markers: null` the frames carry none (the top band stays mid-grey).
 */
export function startSource(api, streamId, { width, height, fps, markers, firstMarker = 0 }) {
  const base = new Uint8Array(width * height * 3);
  for (let i = 0; i < base.length; i += 3) {
    base[i] = (i / 3) % 251;
    base[i + 1] = 90;
    base[i + 2] = 170;
  }
  // One POST at a time: concurrent requests could reach the relay out of order. A tick that
  // finds the previous POST still running is skipped, like a workflow that is slower.
  const stats = { posted: 0, accepted: 0, rejected: 0, skipped: 0, sentAt: new Map(), lastStatus: 0 };
  let inFlight = false;
  let n = firstMarker;
  const headers = {
    "Content-Type": "application/octet-stream",
    "X-Frame-Width": String(width),
    "X-Frame-Height": String(height),
    "X-Frame-Format": "rgb8",
  };
  const timer = setInterval(() => {
    if (inFlight) {
      stats.skipped += 1;
      return;
    }
    inFlight = true;
    const marker = n % 65536;
    n += 1;
    const pixels = base.slice();
    if (markers) {
      markers.drawMarker(pixels, width, height, 3, marker);
      stats.sentAt.set(marker, performance.now());
    }
    stats.posted += 1;
    api
      .request("POST", `/v1/streams/${streamId}/frames`, { body: pixels, headers })
      .then(async (res) => {
        await res.arrayBuffer();
        stats.lastStatus = res.status;
        if (res.status === 202) stats.accepted += 1;
        else stats.rejected += 1;
      })
      .catch(() => {
        stats.rejected += 1;
      })
      .finally(() => {
        inFlight = false;
      });
  }, 1000 / fps);
  return { stats, stop: () => clearInterval(timer) };
}

/** Reads processed frames as they come and decodes their markers. */
export function startSink(api, streamId, { markers, sentAt }) {
  // `stale` counts frames whose marker this source did not send (left over from before).
  // `toPlayerMs` splits each latency at the moment the page sent the played-back frame (its
  // capture time, same machine clock): source → relay → publisher → WebRTC → player, and
  // the rest is the way back to the workflow.
  const stats = {
    frames: 0,
    decoded: [],
    latenciesMs: [],
    toPlayerMs: [],
    undecodable: 0,
    stale: 0,
    errors: 0,
    width: 0,
    height: 0,
  };
  let running = true;
  let after = 0;
  const loop = (async () => {
    while (running) {
      try {
        const res = await api.request(
          "GET",
          `/v1/streams/${streamId}/output?after=${after}&wait_ms=1000&format=rgb8`,
        );
        if (res.status === 204) continue;
        const pixels = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200) {
          stats.errors += 1;
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        const now = performance.now();
        after = Number(res.headers.get("x-frame-sequence"));
        const width = Number(res.headers.get("x-frame-width"));
        const height = Number(res.headers.get("x-frame-height"));
        stats.frames += 1;
        stats.width = width;
        stats.height = height;
        const marker = markers.readMarker(pixels, width, height, 3);
        if (marker === undefined) {
          stats.undecodable += 1;
          continue;
        }
        const sent = sentAt.get(marker);
        if (sent === undefined) {
          stats.stale += 1;
          continue;
        }
        stats.decoded.push(marker);
        stats.latenciesMs.push(now - sent);
        const pageSentMs = Number(res.headers.get("x-frame-capture-us")) / 1000;
        stats.toPlayerMs.push(pageSentMs - (performance.timeOrigin + sent));
      } catch {
        stats.errors += 1;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  return {
    stats,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** The q-quantile (0..1) of `values`. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
