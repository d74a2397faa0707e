// Entry module of the RTC Node frontend. ComfyUI imports every .js file in this folder; this is
// the only one with side effects.
//
// Everything the user sees is served by ComfyUI itself, from the pack's `<root>/rtc/ui/`: the UI
// modules (`js/*.mjs`), the styles, the preview page and the wasm package (`pkg/`). So the
// sidebar works while the relay is down and can say why (`<root>/rtc/relay`, the pack's relay
// supervisor) and offer to restart it. Only API calls go to the relay, through the pack's
// same-origin proxy `<root>/rtc/api/`. All URLs derive from `import.meta.url`, so the pack works
// whatever folder it is installed in.
import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";
import { syncGraph, wireNode } from "./controlnet-choices.mjs";
import { fixSeedControls } from "./seed-controls.mjs";

const ROOT = new URL("../../", import.meta.url);
const API_BASE = new URL("rtc/api/", ROOT).href;
const UI_BASE = new URL("rtc/ui/", ROOT).href;
const RELAY_STATUS = new URL("rtc/relay", ROOT);
const RELAY_RESTART = new URL("rtc/relay/restart", ROOT);
const HEADLESS_SETTING = new URL("rtc/headless", ROOT);
const PREVIEW_NODE = "RTCStreamUIPreview";
const PACK_NODES = new Set([
  "RTCStreamPipelineConfig",
  "RTCStreamControlNet",
  "StartRTCStream",
  "UpdateRTCStream",
  "RTCStreamFrameInput",
  "RTCStreamFrameOutput",
  "RTCStreamStatus",
  PREVIEW_NODE,
]);
const SIDEBAR_ID = "rtc-node.stream";
const TOAST_EVENT = "rtc-stream-notification";

const SETTING = {
  credentials: "RTCNode.Credentials.Panel",
  name: "RTCNode.Stream.Name",
  model: "RTCNode.Stream.Model",
  prompt: "RTCNode.Stream.Prompt",
  publish: "RTCNode.Agent.Publish",
  headless: "RTCNode.Agent.Headless",
  streamToasts: "RTCNode.Toasts.StreamChanges",
};

let catalogPromise = null;
/** The pack's catalog.json (served by ComfyUI itself, relay or not); null when unreachable. */
function loadCatalog() {
  catalogPromise ??= fetch(new URL("rtc/catalog", ROOT))
    .then((response) => {
      if (!response.ok) throw new Error(`GET /rtc/catalog: ${response.status}`);
      return response.json();
    })
    .catch((err) => {
      console.warn(`[rtc-node] catalog not loaded (ControlNet choices not filtered): ${err.message}`);
      catalogPromise = null;
      return null;
    });
  return catalogPromise;
}

let uiPromise = null;
/** The shared UI modules; retried on the next call after a failure. */
function loadUi() {
  uiPromise ??= import(new URL("js/comfy.mjs", UI_BASE).href).catch((err) => {
    uiPromise = null;
    throw err;
  });
  return uiPromise;
}

function setting(id) {
  return app.extensionManager?.setting?.get(id);
}

function toast(message) {
  if (app.extensionManager?.toast) app.extensionManager.toast.add(message);
  else console.info(`[rtc-node] ${message.summary}: ${message.detail}`);
}

function notify(severity, summary, detail = "") {
  toast({ severity, summary, detail, life: severity === "error" ? 10000 : 3500 });
}

/** The sidebar's Start: the settings' model and prompt; an unset model is the catalog's default. */
async function streamDefaults() {
  const name = setting(SETTING.name) || "comfyui-live";
  const catalog = await loadCatalog();
  const modelId = setting(SETTING.model) || catalog?.params.model_id.default;
  // Without the catalog and a chosen model the relay's own defaults apply (the pipeline too).
  if (!modelId) return { name };
  const params = { model_id: modelId };
  const prompt = setting(SETTING.prompt);
  if (prompt) params.prompt = prompt;
  return { name, pipeline_config: { params } };
}

/** Settings row for the default model: a choice among the catalog's models. */
function modelSetting(_name, setter, value) {
  const select = document.createElement("select");
  select.dataset.rtcModel = "";
  const fill = (catalog) => {
    const fallback = catalog ? `catalog default (${catalog.params.model_id.default})` : "catalog default";
    const ids = catalog ? Object.keys(catalog.models) : [];
    if (value && !ids.includes(value)) ids.push(value);
    select.replaceChildren(
      new Option(fallback, ""),
      ...ids.map((id) => new Option(id, id, false, id === value)),
    );
  };
  fill(null);
  loadCatalog().then(fill);
  select.addEventListener("change", () => setter(select.value));
  return select;
}

function addStylesheet() {
  const href = new URL("css/rtc.css", UI_BASE).href;
  if (document.querySelector(`link[href="${href}"]`)) return;
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href }));
}

/** Without the UI modules (the pack's web folder missing or unreadable) the panel still says so. */
function unavailable(el, err, retry) {
  const box = document.createElement("div");
  box.className = "rtc-root rtc-sidebar";
  box.dataset.state = "unavailable";
  const text = document.createElement("p");
  text.textContent = `The RTC Node interface did not load from ComfyUI (${err.message}). Reinstall the pack if this persists.`;
  const button = document.createElement("button");
  button.className = "rtc-button";
  button.textContent = "Retry";
  button.addEventListener("click", () => {
    box.remove();
    retry();
  });
  box.append(text, button);
  el.append(box);
}

const RELAY_POLL_DOWN_MS = 2000;
const RELAY_POLL_UP_MS = 10_000;

/**
 * The supervisor's view of the relay, polled from ComfyUI (quicker while it is down). Every
 * change is said once, in a toast and a console line, whatever panel is open.
 */
const relayWatch = {
  status: null,
  announced: undefined,
  listeners: new Set(),
  timer: null,
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  },
  running() {
    return this.status?.state === "running";
  },
  async fetchStatus() {
    try {
      const response = await fetch(RELAY_STATUS, { cache: "no-store" });
      if (!response.ok) throw new Error(`GET /rtc/relay: ${response.status}`);
      return await response.json();
    } catch (err) {
      return { state: "unknown", reason: err.message };
    }
  },
  async set(status) {
    this.status = status;
    const ui = await loadUi().catch(() => null);
    const first = this.announced === undefined;
    const news = ui?.isNewRelayStatus(this.announced, status);
    if (first || news) this.announced = status;
    if (news) {
      const words = ui.describeRelayStatus(status);
      const line = `[rtc-node] ${words.summary}${words.detail ? ` ${words.detail}` : ""}`;
      if (words.severity === "success") console.info(line);
      else console.warn(line);
      notify(words.severity, words.summary, words.detail);
    }
    for (const listener of this.listeners) listener(status);
  },
  async poll() {
    clearTimeout(this.timer);
    await this.set(await this.fetchStatus());
    // Quicker while the relay is down or the headless browser is starting, to show the outcome.
    const settled = this.running() && this.status?.headless?.state !== "starting";
    this.timer = setTimeout(() => this.poll(), settled ? RELAY_POLL_UP_MS : RELAY_POLL_DOWN_MS);
  },
  /** Asks the pack to restart the relay; resolves with the new status. */
  async restart() {
    const response = await fetch(RELAY_RESTART, { method: "POST" });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(body?.error?.message ?? `POST /rtc/relay/restart: ${response.status}`);
    await this.set(body);
    this.poll();
    return body;
  },
  /** Resolves once the relay runs. */
  untilRunning() {
    if (this.running()) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.subscribe(() => {
        if (!this.running()) return;
        off();
        resolve();
      });
    });
  },
};

/** The headless agent setting goes to the pack, which needs it when no tab is open. */
async function saveHeadlessSetting(enabled, previous) {
  // ComfyUI also calls onChange with the stored value at start-up; the pack has it already.
  if (previous === undefined || enabled === previous) return;
  try {
    const response = await fetch(HEADLESS_SETTING, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ enabled: enabled !== false }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(body?.error?.message ?? `PUT /rtc/headless: ${response.status}`);
    relayWatch.poll();
  } catch (err) {
    notify("warn", "Headless browser setting not saved", err.message);
  }
}

/** What the sidebar shows about this tab's agent; it starts after the sidebar may render. */
const agentStatus = {
  summary: { state: "loading", agentId: null, error: null },
  listeners: new Set(),
  get() {
    return this.summary;
  },
  set(summary) {
    this.summary = summary;
    for (const listener of this.listeners) listener(summary);
  },
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  },
};

/** One live relay state for the tab: the sidebar, the toasts and the agent share it. */
const relayState = {
  live: null,
  client: null,
  agent: null,
  async start() {
    const ui = await loadUi();
    this.connect(ui);
    return ui;
  },
  /** Opens the live state once; only while the relay runs, so a relay that is down is not polled. */
  connect(ui) {
    if (this.live) return;
    this.client = ui.createRelayClient(API_BASE);
    this.live = ui.createLiveState(this.client);
    this.live.subscribe((state, previous, action) => {
      if (action.type === "snapshot" || setting(SETTING.streamToasts) === false) return;
      for (const message of ui.streamToasts(state, previous)) toast(message);
    });
    this.live.start();
    // Leave the browser's shared event stream at once rather than when the tab is gone, and
    // rejoin if the tab comes back from the back/forward cache.
    window.addEventListener("pagehide", () => this.live.stop());
    window.addEventListener("pageshow", (event) => event.persisted && this.live.start());
  },
};

/**
 * Starts this tab's agent once the relay runs (the page can load before the pack has it up;
 * the agent then reconnects by itself across relay restarts). A broken wasm package is
 * reported once and not retried.
 */
async function startAgent() {
  if (!relayWatch.running()) {
    agentStatus.set({ state: "waiting for the relay", agentId: null, error: null });
    await relayWatch.untilRunning();
  }
  try {
    const ui = await relayState.start();
    const wasm = await ui.loadPackage();
    relayState.agent = ui.startAgent(wasm, {
      baseUrl: API_BASE,
      label: `ComfyUI tab ${new Date().toLocaleTimeString()}`,
      publish: setting(SETTING.publish) !== false,
    });
    relayState.agent.subscribe((summary) => agentStatus.set(summary));
    agentStatus.set(relayState.agent.get());
    console.info(`[rtc-node] wasm agent ${wasm.version()} started`);
  } catch (err) {
    agentStatus.set({ state: "failed", agentId: null, error: err.message });
    console.warn(`[rtc-node] browser agent not started: ${err.message}`);
    notify("warn", "RTC agent not started", err.message);
  }
}

function registerSidebar() {
  let unmount = null;
  app.extensionManager.registerSidebarTab({
    id: SIDEBAR_ID,
    icon: "pi pi-video",
    title: "RTC Stream",
    tooltip: "Real-time streams: status, start/stop, live figures",
    type: "custom",
    render(el) {
      // The stream panel while the relay runs; the relay's status and Restart while it does not.
      let view = null;
      let unsubscribe = null;
      const show = (ui) => {
        const kind = relayWatch.running() ? "streams" : "relay";
        if (view?.kind !== kind) {
          view?.unmount();
          if (kind === "streams") relayState.connect(ui);
          view =
            kind === "streams"
              ? {
                  kind,
                  unmount: ui.mountSidebar(el, {
                    client: relayState.client,
                    live: relayState.live,
                    agent: agentStatus,
                    headless: {
                      get: () => relayWatch.status?.headless ?? null,
                      subscribe: (listener) => relayWatch.subscribe(listener),
                    },
                    notify,
                    streamDefaults,
                    previewUrl: previewUrl(LATEST),
                  }),
                }
              : { kind, ...ui.mountRelayStatus(el, { restart: () => relayWatch.restart() }) };
        }
        view.update?.(relayWatch.status);
      };
      const mount = () =>
        loadUi().then(
          (ui) => {
            addStylesheet();
            show(ui);
            unsubscribe = relayWatch.subscribe(() => show(ui));
          },
          (err) => unavailable(el, err, mount),
        );
      unmount = () => {
        unsubscribe?.();
        view?.unmount();
        view = null;
      };
      mount();
    },
    destroy() {
      unmount?.();
      unmount = null;
    },
  });
}

const LATEST = "latest";

/** The preview page for `stream`: a stream id, or "latest" for the relay's current stream. */
function previewUrl(stream) {
  const url = new URL("preview.html", UI_BASE);
  if (stream && stream !== LATEST) url.searchParams.set("stream", stream);
  return url.href;
}

/** Calls `hook` after the node's own `name` method, if any. */
function after(node, name, hook) {
  const previous = node[name];
  node[name] = function (...args) {
    const result = previous?.apply(this, args);
    hook(...args);
    return result;
  };
}

/**
 * The preview's stream selector: "latest" or one of the relay's streams. The choice is saved in
 * the node's properties, not in `widgets_values`: the frontend writes those by widget position
 * but reads them back skipping unsaved widgets (the preview itself), so a value there would not
 * come back to its widget.
 */
function addStreamSelector(node, onSelect) {
  const values = [LATEST];
  const widget = node.addWidget(
    "combo",
    "stream",
    LATEST,
    (value) => {
      node.properties = { ...node.properties, stream: value };
      onSelect();
    },
    { values, serialize: false },
  );
  widget.serialize = false;
  let unsubscribe = () => {};
  relayWatch
    .untilRunning()
    .then(() => relayState.start())
    .then(
      () => {
        const refill = (state) => values.splice(1, values.length - 1, ...state.streams.keys());
        refill(relayState.live.state);
        unsubscribe = relayState.live.subscribe(refill);
      },
      // The relay is not up: "latest" and a stream chosen by a link still work.
      () => {},
    );
  after(node, "onRemoved", () => unsubscribe());
  return widget;
}

/** The preview page in a DOM widget, from ComfyUI's own origin (`frame-src 'self'`). */
function attachPreview(node) {
  const frame = document.createElement("iframe");
  frame.src = previewUrl(LATEST);
  frame.allow = "autoplay; fullscreen";
  frame.title = "RTC stream preview";
  Object.assign(frame.style, {
    width: "100%",
    height: "100%",
    border: "0",
    borderRadius: "6px",
    background: "#111",
  });
  frame.dataset.rtcPreview = "";
  const widget = node.addDOMWidget("rtc_preview", "rtc_preview", frame, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => 320,
  });
  widget.serialize = false;
  node.addWidget("button", "Reload preview", null, () => {
    frame.src = previewUrl(selector.value);
  });
  // Node renderers that cannot show DOM widgets (ComfyUI 1.27's Vue nodes draw only their own
  // widget types) still offer the preview this way.
  node.addWidget("button", "Open preview in a new tab", null, () => {
    window.open(previewUrl(selector.value), "_blank", "noopener");
  });
  const show = () => {
    const src = previewUrl(selector.value);
    if (frame.src !== src) frame.src = src;
  };
  const selector = addStreamSelector(node, show);
  const choose = (stream) => {
    selector.value = stream;
    show();
  };
  // A saved workflow restores the properties after the node is created.
  after(node, "onConfigure", () => choose(node.properties?.stream ?? LATEST));
  // A linked stream_id input arrives when the node runs.
  after(node, "onExecuted", (output) => {
    const id = output?.rtc_stream?.[0];
    if (typeof id !== "string" || !id) return;
    node.properties = { ...node.properties, stream: id };
    choose(id);
  });
  node.color = "#2a4a63";
  if (!node.size || node.size[0] < 480) node.setSize?.([560, 560]);
}

/** Settings: a custom row for the key (never stored in ComfyUI settings), then stream defaults. */
function credentialsSetting() {
  const box = document.createElement("div");
  box.className = "rtc-root";
  box.dataset.rtcCredentials = "";
  loadUi().then(
    (ui) => {
      addStylesheet();
      if (!relayWatch.running()) {
        // The key is stored by the relay: without it there is nothing to show or change.
        const words = ui.describeRelayStatus(relayWatch.status);
        box.textContent = `${words.summary} ${words.detail} See the RTC Stream sidebar to restart it.`;
        return;
      }
      relayState.connect(ui);
      const panel = ui.createCredentialsPanel(relayState.client, {
        notify,
        streams: () => relayState.live?.state.streams.values() ?? [],
      });
      box.append(panel.element);
      panel.refresh();
    },
    (err) => {
      box.textContent = `The RTC Node interface did not load from ComfyUI: ${err.message}`;
    },
  );
  return box;
}

app.registerExtension({
  name: "rtc-node.main",
  settings: [
    {
      id: SETTING.credentials,
      name: "Daydream API key and backend",
      category: ["RTC Node", "Credentials", "Key"],
      type: credentialsSetting,
      defaultValue: "",
      tooltip: "Stored by the relay. ComfyUI settings and workflows never contain the key.",
    },
    {
      id: SETTING.name,
      name: "Stream name",
      category: ["RTC Node", "Stream defaults", "Name"],
      type: "text",
      defaultValue: "comfyui-live",
    },
    {
      id: SETTING.model,
      name: "Model",
      category: ["RTC Node", "Stream defaults", "Model"],
      type: modelSetting,
      defaultValue: "",
    },
    {
      id: SETTING.prompt,
      name: "Prompt",
      category: ["RTC Node", "Stream defaults", "Prompt"],
      type: "text",
      defaultValue: "",
    },
    {
      id: SETTING.publish,
      name: "This browser tab may publish streams",
      category: ["RTC Node", "Browser agent", "Publish"],
      type: "boolean",
      defaultValue: true,
      tooltip: "One tab publishes each stream; the others stand by and take over when it closes.",
    },
    {
      id: SETTING.headless,
      name: "Headless browser when no tab is open",
      category: ["RTC Node", "Browser agent", "Headless"],
      type: "boolean",
      defaultValue: true,
      tooltip:
        "On by default, because it is needed exactly when nobody is at a browser to turn it on: " +
        "a workflow queued through ComfyUI's API, or with every tab closed, gets its stream " +
        "published by a headless Chromium, Chrome or Edge that the pack starts on this machine " +
        "(RTC_BROWSER names one) and stops once a tab publishes again. Off: such workflows fail " +
        "with no_publisher. RTC_HEADLESS_AGENT=off|auto in ComfyUI's environment overrides this.",
      onChange: (value, previous) => saveHeadlessSetting(value, previous),
    },
    {
      id: SETTING.streamToasts,
      name: "Toasts when a stream goes live, fails or stops",
      category: ["RTC Node", "Notifications", "Stream changes"],
      type: "boolean",
      defaultValue: true,
    },
  ],
  async setup() {
    api.addEventListener(TOAST_EVENT, (event) => {
      loadUi().then(
        (ui) => {
          const message = ui.toastFromServerEvent(event.detail);
          if (message) toast(message);
        },
        () => {
          // Without the UI modules a well-formed toast still shows.
          if (typeof event.detail?.summary === "string")
            notify(event.detail.severity, event.detail.summary, event.detail.detail);
        },
      );
    });
    registerSidebar();
    // Not awaited: ComfyUI waits for every extension's setup before it finishes loading.
    relayWatch.poll();
    startAgent();
  },
  nodeCreated(node) {
    fixSeedControls(node, PACK_NODES);
    if (node.comfyClass === PREVIEW_NODE) attachPreview(node);
    wireNode(loadCatalog, node, () => node.graph ?? app.graph);
  },
  afterConfigureGraph() {
    loadCatalog().then((catalog) => {
      if (catalog) syncGraph(catalog, app.graph);
    });
  },
});
