// The standalone studio: a test pattern, the camera or a video file → a stream → the processed output, side
// by side, with the same badge and figures as the sidebar. Frames take the product's path:
// this page posts them to the relay like the Frame Input node, the browser agent running in
// this page publishes them, and the output comes back over WHEP.

import { apiBaseForPage } from "./api-base.mjs";
import { createBadge } from "./badge.mjs";
import { createCredentialsPanel } from "./credentials-panel.mjs";
import { h, replaceChildren, setText } from "./dom.mjs";
import { formatFrameSettings, shortId } from "./format.mjs";
import { createHotParams } from "./hot-params.mjs";
import { createLiveState } from "./live.mjs";
import { loadPackage, startAgent } from "./media.mjs";
import { createOutputPlayer } from "./output-player.mjs";
import { createRelayClient } from "./relay-client.mjs";
import { createStatsPanel } from "./stats-panel.mjs";
import { describeStream } from "./status.mjs";
import { streamFigures } from "./stream-store.mjs";
import { drawTestPattern, openSource } from "./test-pattern.mjs";

const DEFAULT_PROMPT = "a watercolour painting, soft light";
const LOG_LINES = 100;
// While no tab holds the publish lease, frames are refused: try again at this pace.
const LEASE_WAIT_MS = 250;

/**
 * @param {HTMLElement} root
 * @param {URL} pageUrl
 */
export function startStudio(root, pageUrl) {
  const apiBase = apiBaseForPage(pageUrl);
  const client = createRelayClient(apiBase);
  const live = createLiveState(client);
  let wasmPromise = null;
  let agent = null;
  let streamId = pageUrl.searchParams.get("stream");
  let source = null;
  let pumping = false;
  let frameNumber = 0;
  let framesPosted = 0;
  let pumpNote = "";

  const loadWasm = () => {
    wasmPromise ??= loadPackage();
    return wasmPromise;
  };

  const badge = createBadge();
  const wasmVersion = h("span", { id: "wasm-version", className: "rtc-note" }, "loading…");
  const agentLine = h("span", { className: "rtc-note", dataset: { field: "agent" } }, "agent: starting…");
  const canvas = h("canvas", {
    className: "rtc-video",
    width: 512,
    height: 512,
    "aria-label": "Source frames",
  });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const outputVideo = h("video", {
    className: "rtc-video",
    playsinline: true,
    autoplay: true,
    muted: true,
    "aria-label": "Processed output",
  });
  const sourceSelect = h(
    "select",
    { name: "source", "aria-label": "Source" },
    h("option", { value: "pattern" }, "Test pattern"),
    h("option", { value: "camera" }, "Camera"),
    h("option", { value: "file" }, "Video file"),
  );
  const fileInput = h("input", { type: "file", name: "file", accept: "video/*", "aria-label": "Video file" });
  const loopInput = h("input", { type: "checkbox", name: "loop", "aria-label": "Loop the video file" });
  const fileFields = h(
    "span",
    { className: "rtc-studio-file", hidden: true },
    fileInput,
    h("label", {}, loopInput, " Loop"),
  );
  const hotParams = createHotParams(DEFAULT_PROMPT);
  const startButton = h(
    "button",
    { type: "button", className: "rtc-button rtc-primary", dataset: { action: "start" } },
    "Start",
  );
  const stopButton = h(
    "button",
    { type: "button", className: "rtc-button rtc-danger", dataset: { action: "stop" }, disabled: true },
    "Stop",
  );
  const applyButton = h(
    "button",
    { type: "button", className: "rtc-button", dataset: { action: "apply" }, disabled: true },
    "Apply",
  );
  const message = h("p", { className: "rtc-form-message", role: "alert" });
  const fields = {};
  const info = h("dl", { className: "rtc-info" });
  for (const [key, label] of [
    ["stream", "Stream"],
    ["state", "State"],
    ["remote", "Remote pipeline"],
    ["settings", "Frames"],
    ["posted", "Frames posted"],
    ["output", "Output"],
  ]) {
    fields[key] = h("dd", { dataset: { field: key } }, "—");
    info.append(h("dt", {}, label), fields[key]);
  }
  const stats = createStatsPanel();
  const log = h("ol", { className: "rtc-events", dataset: { field: "log" } });
  // The studio has no toasts: the panel's notices go to the event log.
  const credentials = createCredentialsPanel(client, {
    notify: (severity, summary, detail) =>
      note(detail ? `${summary}: ${detail}` : summary, severity === "success" ? "info" : severity),
    streams: () => live.state.streams.values(),
  });

  replaceChildren(
    root,
    h("header", {}, h("h1", {}, "RTC Node Studio"), badge.element, wasmVersion, agentLine),
    h(
      "div",
      { className: "rtc-studio-controls" },
      h("label", { className: "rtc-field" }, h("span", {}, "Source"), sourceSelect),
      fileFields,
      startButton,
      stopButton,
    ),
    h("div", { className: "rtc-studio-controls" }, hotParams.element, applyButton),
    message,
    h(
      "div",
      { className: "rtc-studio-stage" },
      h("figure", {}, h("figcaption", {}, "Source"), canvas),
      h("figure", {}, h("figcaption", {}, "Processed output"), outputVideo),
    ),
    h(
      "div",
      { className: "rtc-studio-panels" },
      h("div", { className: "rtc-card" }, h("h3", {}, "Stream"), info),
      h("div", { className: "rtc-card" }, h("h3", {}, "Live figures"), stats.element),
      h("div", { className: "rtc-card" }, h("h3", {}, "Events"), log),
      h("div", { className: "rtc-card" }, h("h3", {}, "Daydream account"), credentials.element),
    ),
  );
  credentials.refresh();
  client.getCatalog().then(
    (catalog) => hotParams.useCatalog(catalog.params),
    (err) => note(`catalog unavailable: ${err.message}`, "warn"),
  );

  function note(text, level = "info") {
    log.prepend(
      h("li", { className: `rtc-log-${level}` }, h("time", {}, new Date().toLocaleTimeString()), " ", text),
    );
    while (log.children.length > LOG_LINES) log.lastElementChild.remove();
  }

  const output = createOutputPlayer({
    client,
    video: outputVideo,
    loadWasm,
    autoConnect: true,
    note,
    onChange: () => render(),
  });

  function current() {
    return streamId ? (live.state.streams.get(streamId) ?? null) : null;
  }

  function render() {
    const state = live.state;
    const stream = current();
    badge.update(describeStream(stream, { relayReachable: state.connection !== "offline" }));
    root.dataset.stream = stream?.id ?? "";
    root.dataset.output = output.connection.phase;
    root.dataset.source = source?.ended() ? "ended" : source ? "playing" : "idle";
    startButton.disabled = pumping;
    stopButton.disabled = !pumping && !stream;
    applyButton.disabled = !stream;
    setText(fields.stream, stream ? shortId(stream.id) : "none");
    fields.stream.title = stream?.id ?? "";
    setText(fields.state, stream?.state ?? "—");
    setText(fields.remote, stream?.remote?.state ?? "no telemetry");
    setText(fields.settings, formatFrameSettings(stream?.settings));
    setText(fields.posted, `${framesPosted}${pumpNote ? ` · ${pumpNote}` : ""}`);
    fields.posted.dataset.count = String(framesPosted);
    setText(
      fields.output,
      output.connection.phase + (output.connection.error ? ` · ${output.connection.error}` : ""),
    );
    stats.update(
      streamFigures(stream, stream ? state.stats.get(stream.id) : undefined),
      stream ? state.history.get(stream.id) : undefined,
    );
  }

  async function pump(id) {
    while (pumping && streamId === id) {
      if (source.ended()) {
        pumping = false;
        note("the video file ended");
        render();
        return;
      }
      const stream = current();
      const rate = stream?.settings?.frame_rate ?? 24;
      const width = stream?.settings?.width ?? 512;
      const height = stream?.settings?.height ?? 512;
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
      const started = performance.now();
      source.draw(ctx, width, height, frameNumber);
      frameNumber += 1;
      const pixels = ctx.getImageData(0, 0, width, height).data;
      let waitMs = 1000 / rate;
      try {
        await client.postFrame(id, pixels, { width, height, format: "rgba8" });
        framesPosted += 1;
        if (pumpNote) {
          pumpNote = "";
          note("frames accepted");
        }
      } catch (err) {
        const text = err.code === "no_publisher" ? "waiting for the publish lease" : err.message;
        if (text !== pumpNote) note(text, err.code === "no_publisher" ? "info" : "warn");
        pumpNote = text;
        waitMs = LEASE_WAIT_MS;
      }
      render();
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, waitMs - (performance.now() - started))),
      );
    }
  }

  async function start() {
    setText(message, "");
    startButton.disabled = true;
    try {
      source = await openSource(sourceSelect.value, {
        file: fileInput.files?.[0] ?? null,
        loop: loopInput.checked,
      });
      const catalog = await client.getCatalog();
      const stream = await client.createStream({
        name: "studio",
        pipeline_config: {
          pipeline: catalog.pipeline,
          params: { model_id: catalog.params.model_id.default, ...hotParams.values() },
        },
      });
      streamId = stream.id;
      live.dispatch({ type: "stream", stream });
      note(`stream ${stream.id} created`);
      pumping = true;
      framesPosted = 0;
      pump(stream.id);
    } catch (err) {
      source?.stop();
      source = null;
      setText(message, err.message);
      note(`start failed: ${err.message}`, "error");
    }
    output.sync(current());
    render();
  }

  async function stop() {
    pumping = false;
    source?.stop();
    source = null;
    const id = streamId;
    streamId = null;
    output.sync(null);
    render();
    if (!id) return;
    try {
      await client.deleteStream(id);
      note(`stream ${id} stopped`);
    } catch (err) {
      setText(message, err.message);
      note(`stop failed: ${err.message}`, "error");
    }
  }

  async function applyParams() {
    const id = streamId;
    if (!id) return;
    applyButton.disabled = true;
    try {
      await client.updateStream(id, hotParams.values());
      note("params applied");
    } catch (err) {
      setText(message, err.message);
      note(`update failed: ${err.message}`, "error");
    }
    render();
  }

  sourceSelect.addEventListener("change", () => {
    fileFields.hidden = sourceSelect.value !== "file";
  });
  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  applyButton.addEventListener("click", applyParams);
  live.subscribe((state, previous) => {
    if (state.connection !== previous.connection)
      note(`relay events ${state.connection}`, state.connection === "offline" ? "warn" : "info");
    output.sync(current());
    render();
  });
  window.addEventListener("pagehide", () => {
    pumping = false;
    live.stop();
    output.close();
    agent?.stop();
  });

  drawTestPattern(ctx, canvas.width, canvas.height, 0);

  loadWasm().then(
    (wasm) => {
      setText(wasmVersion, wasm.version());
      wasmVersion.dataset.state = "ready";
      try {
        agent = startAgent(wasm, { baseUrl: apiBase, label: "studio", publish: true });
        const show = (summary) =>
          setText(
            agentLine,
            `agent: ${summary.state}${summary.error ? ` (last error: ${summary.error})` : ""}`,
          );
        agent.subscribe(show);
        show(agent.get());
      } catch (err) {
        setText(agentLine, `agent: ${err.message}`);
        agentLine.dataset.state = "failed";
      }
    },
    (err) => {
      setText(wasmVersion, `failed: ${err.message}`);
      wasmVersion.dataset.state = "failed";
    },
  );
  render();
  live.start();
  return { live, output };
}
