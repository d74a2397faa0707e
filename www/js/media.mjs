// The wasm package from a page: loading it and wrapping its agent and player in the small
// surface the pages use. The package mirrors Daydream's browser SDK: factories returning
// objects with `connect()`, `stop()`, `state` and `on(event, listener)` → unsubscribe, where
// `stateChange` carries `{state, previous}` and `error` an Error with a `code`.

import { jpegCodec } from "./jpeg.mjs";

export class MediaError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "MediaError";
    this.code = code;
  }
}

// The package sits beside `js/` wherever the pages are served from: the relay's `/pkg/`, the
// pack's `/rtc/ui/pkg/` inside ComfyUI.
const PACKAGE_URL = new URL("../pkg/", import.meta.url);

/**
 * Imports and instantiates the package under `pkgUrl` (a folder URL ending in "/").
 * @param {URL|string} [pkgUrl]
 * @returns {Promise<Record<string, any>>}
 */
export async function loadPackage(pkgUrl = PACKAGE_URL) {
  const wasm = await import(new URL("rtc_client.js", pkgUrl).href);
  await wasm.default({ module_or_path: new URL("rtc_client_bg.wasm", pkgUrl) });
  return wasm;
}

function factory(wasm, name) {
  if (typeof wasm?.[name] !== "function") {
    throw new MediaError(
      "unsupported",
      `The wasm package ${wasm?.version?.() ?? ""} has no ${name}(); rebuild it.`,
    );
  }
  return wasm[name];
}

function describe(err) {
  if (!err) return "unknown error";
  return err.code ? `${err.message} (${err.code})` : String(err.message ?? err);
}

/**
 * Plays a WHEP endpoint into `video`.
 * @param {Record<string, any>} wasm
 * @param {{whepUrl: string, video: HTMLVideoElement, onState?: (state: string) => void, onError?: (message: string) => void}} options
 */
export function openPlayer(wasm, { whepUrl, video, onState = () => {}, onError = () => {} }) {
  const player = factory(wasm, "createPlayer")(whepUrl, { reconnect: { enabled: false } });
  const offState = player.on("stateChange", (event) => {
    // A reconnect may come back on a new peer connection with a new stream: follow it.
    if (event.state === "live" && video.srcObject !== player.stream) video.srcObject = player.stream;
    onState(event.state);
  });
  const offError = player.on("error", (err) => onError(describe(err)));
  let closed = false;
  return {
    async connect() {
      await player.connect();
      // Browsers only autoplay muted video; the output carries no audio anyway.
      video.muted = true;
      video.srcObject = player.stream;
      await video.play().catch(() => {
        // Autoplay is allowed for muted video; a refusal only leaves the play button.
      });
    },
    async stop() {
      if (closed) return;
      closed = true;
      offState();
      offError();
      video.srcObject = null;
      try {
        await player.stop();
      } finally {
        player.free();
      }
    },
  };
}

/**
 * Starts the browser agent against the relay: it takes publish leases and reports state and
 * stats. Returns an observable summary for the UI.
 * @param {Record<string, any>} wasm
 * @param {{baseUrl: string, label: string, publish: boolean}} options `baseUrl`: the relay API
 */
export function startAgent(wasm, { baseUrl, label, publish }) {
  const agent = factory(wasm, "createAgent")({ baseUrl, label, publish, jpeg: jpegCodec });
  const listeners = new Set();
  let summary = { state: agent.state ?? "connecting", agentId: agent.agentId ?? null, error: null };
  const emit = (patch) => {
    summary = { ...summary, ...patch };
    for (const listener of listeners) listener(summary);
  };
  const offs = [
    agent.on("stateChange", (event) =>
      emit({ state: event.state, agentId: agent.agentId ?? summary.agentId }),
    ),
    agent.on("error", (err) => emit({ error: describe(err) })),
  ];
  const started = agent.connect().then(
    () => emit({ agentId: agent.agentId ?? summary.agentId, error: null }),
    (err) => emit({ state: "failed", error: describe(err) }),
  );
  return {
    started,
    get: () => summary,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      for (const off of offs) off();
      await agent.stop();
      agent.free();
    },
  };
}
