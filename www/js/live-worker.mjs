// The SharedWorker that holds the browser's one connection to the relay's event stream for
// every page of this origin (see shared-feed.mjs).

import { openEventFeed } from "./event-feed.mjs";
import { createFeedHub } from "./shared-feed.mjs";

const hub = createFeedHub((url, sink) => openEventFeed(url, sink), self.navigator.locks ?? null);

self.addEventListener("connect", (event) => hub.attach(event.ports[0]));
