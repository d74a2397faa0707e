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
/**
 * Stream settings that make the local backend forward frames unchanged (`skip_diffusion`):
 * marker, pixel and latency checks need the input back, not the effect's picture.
 */
export const PASSTHROUGH = {
  pipeline_config: { params: { model_id: "stabilityai/sdxl-turbo", skip_diffusion: true } },
};

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

  /** Creates a stream; `settings` may carry `pipeline_config` (see {@link PASSTHROUGH}). */
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
 * With `markers: null` the frames carry none (the top band stays mid-grey). `moving: true`
 * draws a scrolling, textured picture instead of the still ramp, so the video's bitrate is
 * that of real video; `stats.last` holds the newest frame posted.
 */
export function startSource(api, streamId, { width, height, fps, markers, firstMarker = 0, moving = false }) {
  const base = new Uint8Array(width * height * 3);
  for (let i = 0; i < base.length; i += 3) {
    base[i] = (i / 3) % 251;
    base[i + 1] = 90;
    base[i + 2] = 170;
  }
  // One POST at a time: concurrent requests could reach the relay out of order. A tick that
  // finds the previous POST still running is skipped, like a workflow that is slower.
  const stats = {
    posted: 0,
    accepted: 0,
    rejected: 0,
    skipped: 0,
    sentAt: new Map(),
    lastStatus: 0,
    last: null,
  };
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
    const pixels = moving ? texturedFrame(width, height, n) : base.slice();
    stats.last = pixels;
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

/** Frame `n` of a scrolling checkerboard over diagonal colour ramps, with a moving disc. */
function texturedFrame(width, height, n) {
  const pixels = new Uint8Array(width * height * 3);
  const cx = width / 2 + (width / 4) * Math.cos(n / 20);
  const cy = height / 2 + (height / 4) * Math.sin(n / 20);
  const radius2 = (Math.min(width, height) / 8) ** 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const checker = (((x + 3 * n) >> 5) + (y >> 5)) % 2 === 0 ? 40 : 0;
      const disc = (x - cx) ** 2 + (y - cy) ** 2 < radius2;
      pixels[i] = disc ? 240 : 60 + ((x * 140) / width + checker);
      pixels[i + 1] = disc ? 200 : 50 + ((y * 120) / height + checker);
      pixels[i + 2] = disc ? 40 : 90 + (((x + y) * 80) / (width + height) + checker);
    }
  }
  return pixels;
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

/**
 * Asks for a processed frame twice a second, as a Frame Output node in a running workflow
 * does, which keeps the player sending them; counts what came back. Lighter than `startSink`
 * where only the demand matters.
 */
export function keepReading(api, streamId) {
  const stats = { frames: 0, errors: 0 };
  let running = true;
  let after = 0;
  const loop = (async () => {
    while (running) {
      const res = await api
        .request("GET", `/v1/streams/${streamId}/output?after=${after}&wait_ms=1000&format=i420`)
        .catch(() => null);
      if (res?.status === 200) {
        await res.arrayBuffer();
        after = Number(res.headers.get("x-frame-sequence"));
        stats.frames += 1;
      } else if (res?.status !== 204) {
        stats.errors += 1;
      }
      await new Promise((r) => setTimeout(r, 500));
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
