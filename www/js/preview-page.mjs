// The preview page: plays a stream's processed output (WHEP) in a <video>, with Load status,
// Connect, Disconnect, Auto-connect, an event log and an info panel that follows the stream
// live. Inside ComfyUI it sits in the RTCStreamUIPreview node's DOM widget.

import { apiBaseForPage } from "./api-base.mjs";
import { createBadge } from "./badge.mjs";
import { h, replaceChildren, setText } from "./dom.mjs";
import { formatFrameSettings, shortId } from "./format.mjs";
import { createLiveState } from "./live.mjs";
import { loadPackage } from "./media.mjs";
import { createOutputPlayer } from "./output-player.mjs";
import { hasOutput } from "./preview-connection.mjs";
import { createRelayClient } from "./relay-client.mjs";
import { createStatsPanel } from "./stats-panel.mjs";
import { describeStream } from "./status.mjs";
import { selectStream, streamFigures } from "./stream-store.mjs";

const AUTO_CONNECT_KEY = "rtc-node.preview.autoConnect";
const LOG_LINES = 100;

function storedAutoConnect() {
  try {
    return localStorage.getItem(AUTO_CONNECT_KEY) !== "false";
  } catch {
    return true;
  }
}

/**
 * @param {HTMLElement} root
 * @param {URL} pageUrl `?stream=<id>` pins a stream (the node's selector or linked stream_id);
 *   otherwise the relay's current one
 */
export function startPreview(root, pageUrl) {
  const apiBase = apiBaseForPage(pageUrl);
  const client = createRelayClient(apiBase);
  const live = createLiveState(client);
  const pinned = pageUrl.searchParams.get("stream");
  let wasm = null;

  const badge = createBadge();
  const video = h("video", {
    className: "rtc-video",
    playsinline: true,
    autoplay: true,
    muted: true,
    controls: true,
  });
  const loadButton = h(
    "button",
    { type: "button", className: "rtc-button", dataset: { action: "load" } },
    "Load status",
  );
  const connectButton = h(
    "button",
    { type: "button", className: "rtc-button rtc-primary", dataset: { action: "connect" } },
    "Connect",
  );
  const disconnectButton = h(
    "button",
    { type: "button", className: "rtc-button", dataset: { action: "disconnect" } },
    "Disconnect",
  );
  const autoConnect = storedAutoConnect();
  const autoBox = h("input", { type: "checkbox", checked: autoConnect, name: "auto-connect" });
  const phase = h("span", { className: "rtc-phase", dataset: { field: "phase" }, role: "status" }, "idle");
  const info = h("dl", { className: "rtc-info" });
  const fields = {};
  for (const [key, label] of [
    ["stream", "Stream"],
    ["state", "State"],
    ["remote", "Remote"],
    ["settings", "Frames"],
    ["playback", "Playback ID"],
  ]) {
    fields[key] = h("dd", { dataset: { field: key } }, "—");
    info.append(h("dt", {}, label), fields[key]);
  }
  const stats = createStatsPanel();
  const log = h("ol", { className: "rtc-events", dataset: { field: "log" } });

  replaceChildren(
    root,
    h("div", { className: "rtc-preview-bar" }, badge.element, phase),
    video,
    h(
      "div",
      { className: "rtc-preview-bar" },
      loadButton,
      connectButton,
      disconnectButton,
      h("label", {}, autoBox, "Auto-connect"),
    ),
    h("details", { open: true }, h("summary", {}, "Stream info"), info, stats.element),
    h("details", {}, h("summary", {}, "Event log"), log),
  );

  function note(message, level = "info") {
    const line = h(
      "li",
      { className: `rtc-log-${level}` },
      h("time", {}, new Date().toLocaleTimeString()),
      " ",
      message,
    );
    log.prepend(line);
    while (log.children.length > LOG_LINES) log.lastElementChild.remove();
  }

  const output = createOutputPlayer({
    client,
    video,
    autoConnect,
    loadWasm: async () => {
      wasm ??= await loadPackage();
      return wasm;
    },
    note,
    onChange: () => render(),
  });

  function current() {
    return pinned ? (live.state.streams.get(pinned) ?? null) : selectStream(live.state);
  }

  function render() {
    const state = live.state;
    const stream = current();
    badge.update(describeStream(stream, { relayReachable: state.connection !== "offline" }));
    const connection = output.connection;
    const detail = connection.error ? ` · ${connection.error}` : "";
    setText(phase, `${connection.phase}${detail}`);
    root.dataset.phase = connection.phase;
    connectButton.disabled =
      connection.phase === "connecting" || connection.phase === "connected" || !hasOutput(stream);
    disconnectButton.disabled = connection.phase === "idle" && !output.playing;
    setText(
      fields.stream,
      stream
        ? `${stream.name ? `${stream.name} · ` : ""}${shortId(stream.id)}`
        : pinned
          ? `${shortId(pinned)} (not on the relay)`
          : "none",
    );
    fields.stream.title = stream?.id ?? "";
    setText(fields.state, stream?.state ?? "—");
    setText(fields.remote, stream?.remote?.state ?? "no telemetry");
    setText(fields.settings, formatFrameSettings(stream?.settings));
    setText(fields.playback, stream?.playback_id ?? "—");
    stats.update(
      streamFigures(stream, stream ? state.stats.get(stream.id) : undefined),
      stream ? state.history.get(stream.id) : undefined,
    );
  }

  let updates = 0;
  live.subscribe((state, previous, action) => {
    // A visible counter of applied updates, so tests can wait for "n more events" precisely.
    updates += 1;
    root.dataset.updates = String(updates);
    if (state.connection !== previous.connection)
      note(`relay events ${state.connection}`, state.connection === "offline" ? "warn" : "info");
    if (action.type === "stream" && action.stream?.id === current()?.id) {
      const before = previous.streams.get(action.stream.id);
      if (before?.state !== action.stream.state) note(`stream ${action.stream.state}`);
    }
    if (action.type === "removed") note(`stream ${action.id} removed`, "warn");
    output.sync(current());
    render();
  });

  loadButton.addEventListener("click", async () => {
    loadButton.disabled = true;
    const ok = await live.refresh();
    loadButton.disabled = false;
    const stream = current();
    note(
      ok
        ? stream
          ? `status: ${stream.id} ${stream.state}`
          : "status: no stream"
        : "status: relay unreachable",
      ok ? "info" : "error",
    );
    output.sync(current());
    render();
  });
  connectButton.addEventListener("click", () => output.userConnect());
  disconnectButton.addEventListener("click", () => output.userDisconnect());
  autoBox.addEventListener("change", () => {
    try {
      localStorage.setItem(AUTO_CONNECT_KEY, String(autoBox.checked));
    } catch {
      // Storage may be disabled; the choice then lasts for this page only.
    }
    output.setAutoConnect(autoBox.checked);
  });
  window.addEventListener("pagehide", () => {
    live.stop();
    output.close();
  });

  render();
  live.start();
  return { live, output };
}
