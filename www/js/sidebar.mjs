// The control panel: status, streams, Start/Stop, frame settings, live figures, settings and
// log. Mounted by the ComfyUI extension in its sidebar tab; any page can mount it.

import { createBadge } from "./badge.mjs";
import { backendLabel, createCredentialsPanel } from "./credentials-panel.mjs";
import { h, replaceChildren, setText } from "./dom.mjs";
import { formatAge, formatFrameSettings, playbackLink, shortId } from "./format.mjs";
import { FRAME_FIELDS, FrameForm, frameLimits } from "./frame-form.mjs";
import { describeHeadless } from "./relay-status.mjs";
import { createStatsPanel } from "./stats-panel.mjs";
import { describeStream, isStoppable } from "./status.mjs";
import { publisherOwner, selectStream, streamFigures } from "./stream-store.mjs";

/**
 * @param {HTMLElement} root
 * @param {{
 *   client: ReturnType<import("./relay-client.mjs").createRelayClient>,
 *   live: ReturnType<import("./live.mjs").createLiveState>,
 *   agent?: {get(): {state: string, agentId: string|null, error: string|null}, subscribe(fn: () => void): () => void},
 *   headless?: {get(): import("./relay-status.mjs").HeadlessStatus|null, subscribe(fn: () => void): () => void},
 *   notify?: (severity: string, summary: string, detail?: string) => void,
 *   streamDefaults?: () => object | Promise<object>,
 *   previewUrl: string,
 *   now?: () => number,
 * }} options
 * @returns {() => void} unmount
 */
export function mountSidebar(root, options) {
  const { client, live, agent, headless, previewUrl } = options;
  const notify = options.notify ?? (() => {});
  const streamDefaults = options.streamDefaults ?? (() => ({}));
  const now = options.now ?? Date.now;
  let selectedId = null;
  let backend = null;
  let busy = null;

  // Header.
  const badge = createBadge();
  const detail = h("p", { className: "rtc-detail" });
  const agentLine = h("p", { className: "rtc-note", dataset: { field: "agent" } });
  const headlessLine = h("p", { className: "rtc-note", dataset: { field: "headless" } });
  const backendLine = h("p", { className: "rtc-note", dataset: { field: "active-backend" } });

  // Streams.
  const streamList = h("ul", { className: "rtc-streams", "aria-label": "Streams" });
  const startButton = h(
    "button",
    { type: "button", className: "rtc-button rtc-primary", dataset: { action: "start" } },
    "Start stream",
  );
  const stopButton = h(
    "button",
    { type: "button", className: "rtc-button rtc-danger", dataset: { action: "stop" } },
    "Stop stream",
  );
  const actionMessage = h("p", { className: "rtc-form-message", role: "alert" });

  // Details of the selected stream.
  const fields = {};
  const info = h("dl", { className: "rtc-info" });
  for (const [key, label] of [
    ["id", "Stream ID"],
    ["playback", "Playback"],
    ["stream-backend", "Backend"],
    ["remote", "Remote pipeline"],
    ["publisher", "Publishing tab"],
    ["settings", "Frames"],
    ["age", "Running for"],
  ]) {
    fields[key] = h("dd", { dataset: { field: key } }, "—");
    info.append(h("dt", {}, label), fields[key]);
  }
  const stats = createStatsPanel();

  // Frame settings.
  const form = new FrameForm();
  const inputs = {};
  const fieldErrors = {};
  const formRow = h("div", { className: "rtc-frame-fields" });
  for (const [name, label] of Object.entries(FRAME_FIELDS)) {
    inputs[name] = h("input", {
      type: "number",
      inputmode: "numeric",
      name,
      "aria-label": label,
      oninput: (event) => {
        form.edit(name, event.target.value);
        syncFormButtons();
      },
      onblur: () => {
        if (!form.isDirty(name)) inputs[name].value = form.display(name);
      },
    });
    fieldErrors[name] = h("span", { className: "rtc-field-error" });
    formRow.append(
      h("label", { className: "rtc-field" }, h("span", {}, label), inputs[name], fieldErrors[name]),
    );
  }
  const saveSettings = h(
    "button",
    { type: "button", className: "rtc-button rtc-primary", dataset: { action: "save-settings" } },
    "Save",
  );
  const discardSettings = h(
    "button",
    { type: "button", className: "rtc-button", dataset: { action: "discard-settings" } },
    "Discard",
  );
  const formMessage = h("p", { className: "rtc-form-message", role: "alert" });

  // Log tab.
  const remoteStatus = h(
    "pre",
    { className: "rtc-json", dataset: { field: "remote-status" } },
    "No remote status yet.",
  );
  const events = h("ol", { className: "rtc-events", reversed: true });

  // Settings tab.
  const credentials = createCredentialsPanel(client, {
    notify,
    streams: () => live.state.streams.values(),
    onChange: (info) => {
      backend = info?.backend ?? backend;
      render();
    },
  });

  const panels = {
    controls: h(
      "section",
      { className: "rtc-panel", dataset: { panel: "controls" } },
      h(
        "div",
        { className: "rtc-card" },
        streamList,
        h("div", { className: "rtc-actions" }, startButton, stopButton),
        actionMessage,
      ),
      h("div", { className: "rtc-card" }, info),
      h("div", { className: "rtc-card" }, h("h3", {}, "Live figures"), stats.element),
      h(
        "div",
        { className: "rtc-card" },
        h("h3", {}, "Frame settings"),
        formRow,
        h("div", { className: "rtc-actions" }, saveSettings, discardSettings),
        formMessage,
        h(
          "p",
          { className: "rtc-note" },
          "Size and rate of the frames the relay publishes. Typing is never overwritten by updates.",
        ),
      ),
    ),
    settings: h(
      "section",
      { className: "rtc-panel", dataset: { panel: "settings" }, hidden: true },
      h("div", { className: "rtc-card" }, credentials.element),
    ),
    log: h(
      "section",
      { className: "rtc-panel", dataset: { panel: "log" }, hidden: true },
      h("div", { className: "rtc-card" }, h("h3", {}, "Latest remote status"), remoteStatus),
      h("div", { className: "rtc-card" }, h("h3", {}, "Events"), events),
    ),
  };
  const tabButtons = Object.keys(panels).map((name) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        className: "rtc-tab",
        dataset: { tab: name },
        "aria-selected": name === "controls" ? "true" : "false",
        onclick: () => showTab(name),
      },
      { controls: "Controls", settings: "Settings", log: "Log" }[name],
    ),
  );

  const container = h(
    "div",
    { className: "rtc-root rtc-sidebar" },
    h(
      "header",
      { className: "rtc-header" },
      h("div", { className: "rtc-title" }, h("h2", {}, "RTC Stream"), badge.element),
      detail,
      agentLine,
      headlessLine,
      backendLine,
    ),
    h("nav", { className: "rtc-tabs", role: "tablist" }, ...tabButtons),
    ...Object.values(panels),
  );
  root.append(container);

  function showTab(name) {
    for (const [key, panel] of Object.entries(panels)) panel.hidden = key !== name;
    for (const button of tabButtons)
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    if (name === "settings") credentials.refresh();
  }

  function syncFormButtons() {
    saveSettings.disabled = !form.dirty;
    discardSettings.disabled = !form.dirty;
  }

  function applyServerConfig(values) {
    for (const name of form.applyServer(values)) {
      if (document.activeElement !== inputs[name]) inputs[name].value = form.display(name);
    }
    syncFormButtons();
  }

  async function loadConfig() {
    try {
      if (!form.limits) {
        form.limits = frameLimits(await client.getCatalog());
        for (const [name, spec] of Object.entries(form.limits))
          Object.assign(inputs[name], { min: spec.min, max: spec.max, step: spec.step });
      }
      applyServerConfig(await client.getConfig());
    } catch (err) {
      setText(formMessage, `Cannot load frame settings: ${err.message}`);
    }
  }

  async function loadBackend() {
    try {
      backend = (await client.health()).backend ?? null;
      render();
    } catch {
      // The badge already says the relay is unreachable.
    }
  }

  saveSettings.addEventListener("click", async () => {
    const result = form.validate();
    for (const name of Object.keys(FRAME_FIELDS)) setText(fieldErrors[name], result.errors[name] ?? "");
    if (!result.ok) return;
    saveSettings.disabled = true;
    setText(formMessage, "");
    try {
      const saved = await client.putConfig(result.values);
      form.saved(saved);
      for (const name of Object.keys(FRAME_FIELDS)) inputs[name].value = form.display(name);
      notify("success", "Frame settings saved", formatFrameSettings(saved));
    } catch (err) {
      setText(formMessage, err.message);
      notify("error", "Frame settings not saved", err.message);
    }
    syncFormButtons();
  });
  discardSettings.addEventListener("click", () => {
    form.discard();
    for (const name of Object.keys(FRAME_FIELDS)) {
      inputs[name].value = form.display(name);
      setText(fieldErrors[name], "");
    }
    syncFormButtons();
  });

  async function act(kind, work) {
    busy = kind;
    setText(actionMessage, "");
    render();
    try {
      await work();
    } catch (err) {
      setText(actionMessage, err.message);
      notify("error", kind === "start" ? "Start failed" : "Stop failed", err.message);
    } finally {
      busy = null;
      render();
    }
  }

  startButton.addEventListener("click", () =>
    act("start", async () => {
      const stream = await client.createStream(await streamDefaults());
      selectedId = stream.id;
      live.dispatch({ type: "stream", stream });
      notify("info", "Stream created", stream.id);
    }),
  );
  function stop(id) {
    return act("stop", async () => {
      await client.deleteStream(id);
      live.dispatch({ type: "removed", id });
    });
  }
  stopButton.addEventListener("click", () => {
    const stream = selectStream(live.state, selectedId);
    if (stream) stop(stream.id);
  });

  let listSignature = "";
  function renderStreams(state, selected) {
    // Rebuilt only when something shown changes, so 1 Hz stats never swap a button under the
    // pointer mid-click.
    const signature = JSON.stringify([
      [...state.streams.values()].map((s) => [
        s.id,
        s.name,
        s.state,
        s.remote?.state,
        s.playback_id,
        s.publisher?.error,
      ]),
      selected?.id,
      busy,
      backend,
    ]);
    if (signature === listSignature) return;
    listSignature = signature;
    const rows = [...state.streams.values()].map((stream) => {
      const status = describeStream(stream);
      const link = playbackLink(stream, { backend: stream.backend ?? backend, previewUrl });
      return h(
        "li",
        {
          className: `rtc-stream${stream.id === selected?.id ? " rtc-selected" : ""}`,
          dataset: { streamId: stream.id },
        },
        h(
          "button",
          {
            type: "button",
            className: "rtc-link-button",
            title: stream.id,
            onclick: () => {
              selectedId = stream.id;
              render();
            },
          },
          stream.name ? `${stream.name} · ` : "",
          shortId(stream.id),
        ),
        h("span", { className: `rtc-chip rtc-tone-${status.tone}`, title: status.detail }, status.label),
        h("a", { href: link.href, target: "_blank", rel: "noopener noreferrer" }, link.text),
        h(
          "button",
          {
            type: "button",
            className: "rtc-button rtc-small",
            disabled: !isStoppable(stream) || busy !== null,
            onclick: () => stop(stream.id),
            "aria-label": `Stop ${stream.id}`,
          },
          "Stop",
        ),
      );
    });
    if (rows.length === 0) rows.push(h("li", { className: "rtc-empty" }, "No streams."));
    replaceChildren(streamList, ...rows);
  }

  function render() {
    const state = live.state;
    const reachable = state.connection !== "offline";
    const stream = selectStream(state, selectedId);
    const status = describeStream(stream, { relayReachable: reachable });
    badge.update(status);
    setText(detail, status.detail);

    const own = agent?.get() ?? null;
    setText(
      agentLine,
      own
        ? `This tab: agent ${own.state}${own.error ? ` (last error: ${own.error})` : ""}`
        : "This tab runs no agent.",
    );

    const standIn = describeHeadless(headless?.get() ?? null);
    setText(headlessLine, standIn.text);
    headlessLine.dataset.state = standIn.state;
    headlessLine.hidden = !standIn.text;

    setText(backendLine, `Backend for new streams: ${backend ? backendLabel(backend) : "…"}`);
    renderStreams(state, stream);
    startButton.disabled = busy !== null || !reachable;
    setText(startButton, busy === "start" ? "Starting…" : "Start stream");
    stopButton.disabled = busy !== null || !isStoppable(stream);
    setText(stopButton, busy === "stop" ? "Stopping…" : "Stop stream");

    setText(fields.id, stream?.id ?? "—");
    if (stream) {
      const link = playbackLink(stream, { backend: stream.backend ?? backend, previewUrl });
      replaceChildren(
        fields.playback,
        h(
          "a",
          { href: link.href, target: "_blank", rel: "noopener noreferrer" },
          stream.playback_id ?? link.text,
        ),
      );
    } else setText(fields.playback, "—");
    setText(fields["stream-backend"], stream?.backend ? backendLabel(stream.backend) : "—");
    setText(fields.remote, stream?.remote?.state ?? "no telemetry");
    setText(fields.publisher, stream ? publisherOwner(stream, own?.agentId ?? null).text : "—");
    setText(fields.settings, formatFrameSettings(stream?.settings));
    setText(fields.age, stream ? formatAge(stream.created_at, now()) : "—");
    stats.update(
      streamFigures(stream, stream ? state.stats.get(stream.id) : undefined),
      stream ? state.history.get(stream.id) : undefined,
    );

    setText(
      remoteStatus,
      stream?.remote?.status ? JSON.stringify(stream.remote.status, null, 2) : "No remote status yet.",
    );
    const latest = state.log.slice(-50).reverse();
    if (
      events.dataset.count !== String(state.log.length) ||
      events.dataset.newest !== String(latest[0]?.at ?? "")
    ) {
      replaceChildren(
        events,
        ...latest.map((entry) =>
          h(
            "li",
            { className: `rtc-log-${entry.level}` },
            h("time", {}, new Date(entry.at).toLocaleTimeString()),
            " ",
            entry.message,
          ),
        ),
      );
      events.dataset.count = String(state.log.length);
      events.dataset.newest = String(latest[0]?.at ?? "");
    }
  }

  const unsubscribe = live.subscribe((state, previous) => {
    if (state.connection === "open" && previous.connection !== "open") {
      loadConfig();
      loadBackend();
    }
    render();
  });
  const unsubscribeAgent = agent?.subscribe(render) ?? (() => {});
  const unsubscribeHeadless = headless?.subscribe(render) ?? (() => {});
  syncFormButtons();
  render();
  loadConfig();
  loadBackend();

  return () => {
    unsubscribe();
    unsubscribeAgent();
    unsubscribeHeadless();
    container.remove();
  };
}
