// One relay event stream per browser: the worker's hub and the pages' end, over real
// MessageChannels, with the relay's stream replaced by a recording fake.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createLiveState } from "../../www/js/live.mjs";
import { createRelayClient } from "../../www/js/relay-client.mjs";
import { createFeedHub, openSharedFeed } from "../../www/js/shared-feed.mjs";

/** Stands in for the relay's event stream inside the worker. */
function recordingFeeds() {
  const opened = [];
  const openFeed = (url, sink) => {
    const feed = { url, sink, closed: false, close: () => (feed.closed = true) };
    opened.push(feed);
    return feed;
  };
  return { opened, openFeed };
}

/** Web Locks, enough of them: exclusive, granted in request order, and a way to kill a holder. */
function fakeLocks() {
  const queues = new Map();
  const grant = (name) => {
    const queue = queues.get(name);
    const next = queue?.[0];
    if (!next || next.running) return;
    next.running = true;
    Promise.resolve()
      .then(next.callback)
      .then(next.resolve, next.reject)
      .finally(() => release(name, next));
  };
  const release = (name, holder) => {
    const queue = queues.get(name) ?? [];
    const at = queue.indexOf(holder);
    if (at < 0) return;
    queue.splice(at, 1);
    grant(name);
  };
  return {
    request(name, callback) {
      return new Promise((resolve, reject) => {
        if (!queues.has(name)) queues.set(name, []);
        queues.get(name).push({ callback, resolve, reject, running: false });
        grant(name);
      });
    },
    /** What the browser does when the page holding `name` goes away without a word. */
    kill(name) {
      release(name, queues.get(name)?.[0]);
    },
    held: () => [...queues].filter(([, queue]) => queue[0]?.running).map(([name]) => name),
  };
}

const channels = [];
// Open ports would keep the test process alive, like the pages a browser never closed.
after(() => {
  for (const channel of channels) {
    channel.port1.close();
    channel.port2.close();
  }
});

/** A SharedWorker whose script is the hub, connected by a real MessageChannel. */
function workerFor(hub, created = []) {
  return class FakeSharedWorker extends EventTarget {
    constructor(url, options) {
      super();
      const channel = new MessageChannel();
      channels.push(channel);
      this.port = channel.port1;
      this.url = String(url);
      this.options = options;
      created.push(this);
      hub.attach(channel.port2);
    }
  };
}

/** Resolves once `check()` is truthy; MessagePort delivery is asynchronous. */
async function until(check, what) {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function recordingSink() {
  const seen = [];
  return {
    seen,
    sink: {
      status: (status) => seen.push(["status", status]),
      event: (type, data) => seen.push([type, data]),
    },
  };
}

test("pages share one feed; a page that joins an open feed is told at once; the last one out closes it", async () => {
  const { opened, openFeed } = recordingFeeds();
  const locks = fakeLocks();
  const hub = createFeedHub(openFeed, locks);
  const created = [];
  const SharedWorkerImpl = workerFor(hub, created);
  const fallback = () => assert.fail("no fallback while the worker works");
  const url = "http://h/rtc/api/v1/events";

  const a = recordingSink();
  const feedA = openSharedFeed(url, a.sink, {
    SharedWorkerImpl,
    workerUrl: "http://h/w.mjs",
    locks,
    fallback,
  });
  await until(() => opened.length === 1, "the feed to open");
  assert.deepEqual(created[0].options, { type: "module", name: "rtc-node-live-1" });
  opened[0].sink.status("open");
  await until(() => a.seen.length === 1, "page A to hear the status");

  const b = recordingSink();
  const feedB = openSharedFeed(url, b.sink, {
    SharedWorkerImpl,
    workerUrl: "http://h/w.mjs",
    locks,
    fallback,
  });
  await until(() => b.seen.length === 1, "page B to hear the status");
  assert.deepEqual(b.seen, [["status", "open"]]);
  assert.equal(opened.length, 1, "the second page reuses the feed");
  assert.deepEqual([...hub.subscribers()], [[url, 2]]);

  opened[0].sink.event("stream", '{"id":"str_a"}');
  await until(() => a.seen.length === 2 && b.seen.length === 2, "the event to reach both pages");
  assert.deepEqual(a.seen.at(-1), ["stream", '{"id":"str_a"}']);
  assert.deepEqual(b.seen.at(-1), ["stream", '{"id":"str_a"}']);

  // The page that started it all leaves: the other keeps the same connection.
  feedA.close();
  await until(() => hub.subscribers().get(url) === 1, "page A to be dropped");
  assert.equal(opened[0].closed, false);
  opened[0].sink.event("removed", '{"id":"str_a"}');
  await until(() => b.seen.length === 3, "the next event to reach page B");
  assert.equal(a.seen.length, 2, "a closed page hears nothing more");

  feedB.close();
  await until(() => opened[0].closed, "the feed to close with its last page");
  assert.equal(hub.subscribers().size, 0);
  await until(() => locks.held().length === 0, "the pages' locks to be released");
});

test("a page that vanishes without unsubscribing is dropped when its lock goes", async () => {
  const { opened, openFeed } = recordingFeeds();
  const locks = fakeLocks();
  const hub = createFeedHub(openFeed, locks);
  const SharedWorkerImpl = workerFor(hub);
  const url = "http://h/v1/events";
  const deps = { SharedWorkerImpl, workerUrl: "http://h/w.mjs", locks, fallback: () => assert.fail() };
  openSharedFeed(url, recordingSink().sink, deps);
  const survivor = openSharedFeed(url, recordingSink().sink, deps);
  await until(() => hub.subscribers().get(url) === 2, "two subscribers");
  const [crashed] = locks.held();
  locks.kill(crashed);
  await until(() => hub.subscribers().get(url) === 1, "the vanished page to be dropped");
  assert.equal(opened[0].closed, false);
  survivor.close();
  await until(() => opened[0].closed, "the feed to close");
});

test("without a working worker a page opens its own connection", async () => {
  const url = "http://h/v1/events";
  const fallbacks = [];
  const fallback = () => {
    const feed = { closed: false, close: () => (feed.closed = true) };
    fallbacks.push(feed);
    return feed;
  };

  // The constructor refuses (a Content-Security-Policy, say).
  class Refused {
    constructor() {
      throw new DOMException("blocked", "SecurityError");
    }
  }
  openSharedFeed(url, recordingSink().sink, { SharedWorkerImpl: Refused, workerUrl: "w", fallback });
  assert.equal(fallbacks.length, 1);

  // The worker script fails to load.
  const hub = createFeedHub(recordingFeeds().openFeed);
  const created = [];
  const feed = openSharedFeed(url, recordingSink().sink, {
    SharedWorkerImpl: workerFor(hub, created),
    workerUrl: "w",
    fallback,
  });
  created[0].dispatchEvent(new Event("error"));
  assert.equal(fallbacks.length, 2);
  feed.close();
  assert.equal(fallbacks[1].closed, true, "closing the page closes its own connection");

  // The worker has no EventSource.
  const bare = createFeedHub(() => {
    throw new TypeError("EventSource is not defined");
  });
  openSharedFeed(url, recordingSink().sink, { SharedWorkerImpl: workerFor(bare), workerUrl: "w", fallback });
  await until(() => fallbacks.length === 3, "the fallback after the worker's refusal");
  assert.equal(bare.subscribers().size, 0);
});

test("live state through the shared worker: snapshot on open, then the shared events", async () => {
  const { opened, openFeed } = recordingFeeds();
  const hub = createFeedHub(openFeed);
  const client = createRelayClient("http://h/rtc/api/", {
    fetchImpl: async () => Response.json({ streams: [{ id: "str_a", state: "starting" }], current: "str_a" }),
  });
  const pages = [1, 2].map(() =>
    createLiveState(client, {
      SharedWorkerImpl: workerFor(hub),
      EventSourceImpl: class {
        constructor() {
          assert.fail("no page opens its own event stream");
        }
      },
      locks: null,
    }),
  );
  for (const live of pages) live.start();
  await until(() => hub.subscribers().get("http://h/rtc/api/v1/events") === 2, "both pages to subscribe");
  assert.equal(opened.length, 1);
  opened[0].sink.status("open");
  await until(() => pages.every((live) => live.state.connection === "open"), "both pages to be open");
  opened[0].sink.event("stream", JSON.stringify({ id: "str_a", state: "live" }));
  await until(
    () => pages.every((live) => live.state.streams.get("str_a")?.state === "live"),
    "the event in both pages",
  );
  opened[0].sink.status("reconnecting");
  await until(() => pages.every((live) => live.state.connection === "reconnecting"), "the blip");
  for (const live of pages) live.stop();
  await until(() => opened[0].closed, "the feed to close");
});
