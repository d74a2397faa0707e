// The relay's HTTP API (docs/ARCHITECTURE.md, "Relay HTTP API"), for pages. Errors become
// `RelayError`s carrying the relay's `{"error": {"code", "message"}}` so the UI can branch on
// `code` and show `message`.

export const DEFAULT_TIMEOUT_MS = 10_000;
// Creating a stream waits for the backend; the original's 1.5 s limit reported failures for
// streams that were in fact created.
export const CREATE_TIMEOUT_MS = 90_000;

export class RelayError extends Error {
  /**
   * @param {string} code stable machine code (the relay's, or `network_error`, `timeout`, `bad_response`)
   * @param {string} message what to tell the user
   * @param {number} [status] HTTP status, 0 when no response arrived
   */
  constructor(code, message, status = 0) {
    super(message);
    this.name = "RelayError";
    this.code = code;
    this.status = status;
  }
}

/** Builds a RelayError from a non-2xx response. */
export async function errorFromResponse(response) {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body?.error && typeof body.error.message === "string") {
      return new RelayError(String(body.error.code ?? "error"), body.error.message, response.status);
    }
  } catch {
    // Not JSON: a proxy or a crashed upstream; fall through to the status line.
  }
  const detail = text.trim().slice(0, 200);
  return new RelayError(
    `http_${response.status}`,
    `${response.status} ${response.statusText || "error"}${detail ? `: ${detail}` : ""}`,
    response.status,
  );
}

/**
 * @param {string} baseUrl absolute URL ending in "/" (see api-base.mjs)
 * @param {{fetchImpl?: typeof fetch, timeoutMs?: number}} [options] `timeoutMs`: default per request
 */
export function createRelayClient(
  baseUrl,
  { fetchImpl = globalThis.fetch.bind(globalThis), timeoutMs: defaultTimeoutMs = DEFAULT_TIMEOUT_MS } = {},
) {
  const base = new URL(baseUrl);

  async function request(method, path, { body, raw, headers = {}, timeoutMs = defaultTimeoutMs } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response;
    try {
      response = await fetchImpl(new URL(path, base), {
        method,
        credentials: "same-origin",
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) {
        throw new RelayError(
          "timeout",
          `The relay did not answer ${method} ${path} within ${timeoutMs / 1000} s`,
        );
      }
      throw new RelayError("network_error", `Cannot reach the relay: ${err?.message ?? err}`);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return null;
    try {
      return await response.json();
    } catch {
      throw new RelayError(
        "bad_response",
        `The relay sent a reply to ${method} ${path} that is not JSON`,
        response.status,
      );
    }
  }

  const stream = (id) => `v1/streams/${encodeURIComponent(id)}`;

  return {
    base: base.href,
    url: (path) => new URL(path, base).href,
    health: () => request("GET", "healthz"),
    /** The StreamDiffusion catalog: models, ControlNets, param and frame limits. */
    getCatalog: () => request("GET", "v1/catalog"),
    getConfig: () => request("GET", "v1/config"),
    putConfig: (values) => request("PUT", "v1/config", { body: values }),
    getCredentials: () => request("GET", "v1/credentials"),
    putCredentials: (values) => request("PUT", "v1/credentials", { body: values }),
    // An empty JSON body: the relay refuses state changes without a JSON content type.
    startSignIn: () => request("POST", "v1/credentials/sign-in", { body: {} }),
    /** The sign-in's state; with `waitMs`, the relay answers early once it stops waiting. */
    getSignIn: (waitMs = 0) =>
      request("GET", `v1/credentials/sign-in?wait_ms=${waitMs}`, { timeoutMs: waitMs + DEFAULT_TIMEOUT_MS }),
    cancelSignIn: () => request("DELETE", "v1/credentials/sign-in"),
    finishSignIn: ({ token, state }) =>
      request("POST", "v1/credentials/sign-in/callback", { body: { token, state } }),
    listStreams: () => request("GET", "v1/streams"),
    getStream: (id) => request("GET", stream(id)),
    createStream: (body) => request("POST", "v1/streams", { body, timeoutMs: CREATE_TIMEOUT_MS }),
    updateStream: (id, params) => request("PATCH", stream(id), { body: { params } }),
    deleteStream: (id) => request("DELETE", stream(id), { timeoutMs: CREATE_TIMEOUT_MS }),
    /** Raw pixels into a stream, as the Frame Input node sends them. */
    postFrame: (id, pixels, { width, height, format = "rgba8" }) =>
      request("POST", `${stream(id)}/frames`, {
        raw: pixels,
        headers: {
          "content-type": "application/octet-stream",
          "x-frame-width": String(width),
          "x-frame-height": String(height),
          "x-frame-format": format,
        },
      }),
    whipUrl: (id) => new URL(`${stream(id)}/whip`, base).href,
    whepUrl: (id) => new URL(`${stream(id)}/whep`, base).href,
    eventsUrl: () => new URL("v1/events", base).href,
    agentUrl: () => {
      const url = new URL("v1/agent", base);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      return url.href;
    },
  };
}
