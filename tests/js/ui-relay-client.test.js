// API base resolution, the relay client's error handling, and the live event state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { apiBaseForPage } from "../../www/js/api-base.mjs";
import { createLiveState } from "../../www/js/live.mjs";
import { createRelayClient, RelayError } from "../../www/js/relay-client.mjs";

test("pages the pack serves use its /rtc/api/ proxy; relay-served pages use the root", () => {
  assert.equal(apiBaseForPage("http://127.0.0.1:8188/rtc/ui/preview.html"), "http://127.0.0.1:8188/rtc/api/");
  assert.equal(apiBaseForPage("https://box/comfy/rtc/ui/agent.html?camera=1"), "https://box/comfy/rtc/api/");
  assert.equal(
    apiBaseForPage("http://127.0.0.1:8188/rtc/api/preview.html"),
    "http://127.0.0.1:8188/rtc/api/",
  );
  assert.equal(apiBaseForPage("https://box/comfy/rtc/api/preview.html?x=1"), "https://box/comfy/rtc/api/");
  assert.equal(apiBaseForPage("http://127.0.0.1:8895/preview.html"), "http://127.0.0.1:8895/");
});

test("an ?api= override is honoured on the same origin only", () => {
  assert.equal(apiBaseForPage("http://h:1/index.html?api=/custom/api"), "http://h:1/custom/api/");
  assert.equal(apiBaseForPage("http://h:1/index.html?api=http://evil:2/"), "http://h:1/");
});

function fakeFetch(handler) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url: String(url), ...init });
    return handler(String(url), init);
  };
  return { impl, calls };
}

test("requests go to the base with JSON bodies and same-origin credentials", async () => {
  const { impl, calls } = fakeFetch(() => Response.json({ frame_rate: 30, width: 640, height: 360 }));
  const client = createRelayClient("http://h/rtc/api/", { fetchImpl: impl });
  const config = await client.putConfig({ frame_rate: 30 });
  assert.equal(config.width, 640);
  assert.equal(calls[0].url, "http://h/rtc/api/v1/config");
  assert.equal(calls[0].method, "PUT");
  assert.equal(calls[0].credentials, "same-origin");
  assert.equal(calls[0].body, '{"frame_rate":30}');
  assert.equal(client.eventsUrl(), "http://h/rtc/api/v1/events");
  assert.equal(client.agentUrl(), "ws://h/rtc/api/v1/agent");
  assert.equal(client.whepUrl("a/b"), "http://h/rtc/api/v1/streams/a%2Fb/whep");
});

test("the sign-in calls: start, a bounded wait, cancel, and a pasted answer", async () => {
  const { impl, calls } = fakeFetch(() => Response.json({ status: "waiting", timeout_ms: 300_000 }));
  const client = createRelayClient("http://h/rtc/api/", { fetchImpl: impl });
  await client.startSignIn();
  await client.getSignIn(20_000);
  await client.cancelSignIn();
  await client.finishSignIn({ token: "a.b.c", state: "S1" });
  assert.deepEqual(
    calls.map((c) => `${c.method} ${c.url}`),
    [
      "POST http://h/rtc/api/v1/credentials/sign-in",
      "GET http://h/rtc/api/v1/credentials/sign-in?wait_ms=20000",
      "DELETE http://h/rtc/api/v1/credentials/sign-in",
      "POST http://h/rtc/api/v1/credentials/sign-in/callback",
    ],
  );
  assert.equal(calls[0].body, "{}");
  assert.equal(calls[0].headers["content-type"], "application/json");
  assert.equal(calls[3].body, '{"token":"a.b.c","state":"S1"}');
});

test("relay errors keep their code and message", async () => {
  const { impl } = fakeFetch(() =>
    Response.json(
      { error: { code: "invalid_frame_settings", message: "width must be even" } },
      { status: 422 },
    ),
  );
  const client = createRelayClient("http://h/", { fetchImpl: impl });
  await assert.rejects(client.putConfig({ width: 3 }), (err) => {
    assert.ok(err instanceof RelayError);
    assert.equal(err.code, "invalid_frame_settings");
    assert.equal(err.status, 422);
    assert.equal(err.message, "width must be even");
    return true;
  });
});

test("a non-JSON error, a network failure and a timeout each get a clear code", async () => {
  const html = createRelayClient("http://h/", {
    fetchImpl: async () => new Response("<h1>Bad Gateway</h1>", { status: 502, statusText: "Bad Gateway" }),
  });
  await assert.rejects(html.health(), { code: "http_502", message: /502 Bad Gateway/ });
  const down = createRelayClient("http://h/", {
    fetchImpl: async () => {
      throw new TypeError("fetch failed");
    },
  });
  await assert.rejects(down.health(), { code: "network_error", message: /Cannot reach the relay/ });
  const hung = createRelayClient("http://h/", {
    timeoutMs: 20,
    fetchImpl: (_url, init) =>
      new Promise((_resolve, reject) =>
        init.signal.addEventListener("abort", () => reject(new Error("aborted"))),
      ),
  });
  await assert.rejects(hung.getStream("x"), { code: "timeout", message: /within 0.02 s/ });
});

class FakeEventSource extends EventTarget {
  static CLOSED = 2;
  static instances = [];
  readyState = 0;
  constructor(url, init) {
    super();
    this.url = url;
    this.init = init;
    FakeEventSource.instances.push(this);
    FakeEventSource.onCreate?.(this);
  }
  emit(type, data) {
    const event = new Event(type);
    event.data = typeof data === "string" ? data : JSON.stringify(data);
    this.dispatchEvent(event);
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
}

test("live state: snapshot on open, then events; bad events are logged, not fatal", async () => {
  FakeEventSource.instances = [];
  const client = createRelayClient("http://h/", {
    fetchImpl: async () => Response.json({ streams: [{ id: "str_a", state: "starting" }], current: "str_a" }),
  });
  const live = createLiveState(client, { EventSourceImpl: FakeEventSource, now: () => 1 });
  const seen = [];
  live.subscribe((_state, _prev, action) => seen.push(action.type));
  live.start();
  const source = FakeEventSource.instances[0];
  assert.equal(source.url, "http://h/v1/events");
  assert.deepEqual(source.init, { withCredentials: true });
  const opened = new Promise((resolve) => live.subscribe((s) => s.connection === "open" && resolve()));
  source.emit("open", "");
  await opened;
  assert.equal(live.state.streams.get("str_a").state, "starting");
  source.emit("stream", { id: "str_a", state: "live" });
  source.emit("stats", { streams: [{ id: "str_a", player: { fps: 24 } }] });
  source.emit("stream", "{not json");
  source.emit("removed", { id: "str_a" });
  assert.equal(live.state.streams.size, 0);
  assert.match(live.state.log.at(-1).message, /unreadable stream event/);
  assert.deepEqual(seen, ["snapshot", "connection", "stream", "stats", "log", "removed"]);
  live.stop();
  assert.equal(source.readyState, FakeEventSource.CLOSED);
});

test("live state: one dropped connection is a blip, a failed retry means offline", async () => {
  FakeEventSource.instances = [];
  const client = createRelayClient("http://h/", {
    fetchImpl: async () => Response.json({ streams: [], current: null }),
  });
  const live = createLiveState(client, { EventSourceImpl: FakeEventSource });
  live.start();
  const source = FakeEventSource.instances[0];
  const opened = new Promise((resolve) => live.subscribe((s) => s.connection === "open" && resolve()));
  source.emit("open", "");
  await opened;
  source.emit("error", "");
  assert.equal(live.state.connection, "reconnecting");
  source.emit("error", "");
  assert.equal(live.state.connection, "offline");
  assert.equal(FakeEventSource.instances.length, 1, "EventSource keeps retrying by itself");
  live.stop();
});

test("live state: a refused event stream goes offline and reopens with backoff", async () => {
  FakeEventSource.instances = [];
  const client = createRelayClient("http://h/", {
    fetchImpl: async () => Response.json({ streams: [], current: null }),
  });
  const live = createLiveState(client, { EventSourceImpl: FakeEventSource });
  live.start();
  const first = FakeEventSource.instances[0];
  first.readyState = FakeEventSource.CLOSED;
  const reopened = new Promise((resolve) => {
    FakeEventSource.onCreate = resolve;
  });
  first.emit("error", "");
  assert.equal(live.state.connection, "offline");
  await reopened;
  FakeEventSource.onCreate = undefined;
  assert.equal(FakeEventSource.instances.length, 2);
  live.stop();
  assert.equal(FakeEventSource.instances[1].readyState, FakeEventSource.CLOSED);
});
