// API key and backend. The key goes straight to the relay (`PUT /v1/credentials`), which
// stores it; afterwards the UI only ever learns whether a key is set. It is never written to
// ComfyUI settings (whose API returns every setting to any client) or to a workflow. The
// backend for new streams is chosen here too (stored by the relay with the key): Daydream,
// local, or "follow the key"; a relay started with `RTC_BACKEND` keeps that one.

import { h, setText } from "./dom.mjs";

const BACKEND_LABELS = {
  daydream: "Daydream (cloud)",
  local: "Local (passes video through unchanged)",
};

/** What the UI calls a backend. */
export function backendLabel(backend) {
  return BACKEND_LABELS[backend] ?? "unknown";
}

/** The select's value for a credentials view: an explicit choice, else "auto". */
export function backendChoice(info) {
  return info?.backend_source === "setting" || info?.backend_source === "env" ? info.backend : "auto";
}

/** The request body for a select value. */
export function backendRequest(choice) {
  return { backend: choice === "auto" ? null : choice };
}

/**
 * The confirmation after a switch: new streams use the new backend, running ones keep theirs.
 * @param {string} backend the backend new streams use now
 * @param {Iterable<{backend?: string, state?: string}>} streams the streams the relay reports
 */
export function describeBackendSwitch(backend, streams) {
  const keeping = [...streams].filter((s) => s.backend && s.backend !== backend && s.state !== "stopping");
  const next = `New streams use ${backendLabel(backend)}.`;
  if (keeping.length === 0) return next;
  const which = [...new Set(keeping.map((s) => s.backend))].map(backendLabel).join(", ");
  const count = keeping.length === 1 ? "1 running stream keeps" : `${keeping.length} running streams keep`;
  return `${next} ${count} the backend it started on (${which}).`;
}

export function describeCredentials(info) {
  if (!info) return "unknown";
  if (!info.has_api_key) return "not set";
  const from = { env: "from the environment", file: "saved on the relay" }[info.source] ?? info.source;
  return from ? `set (${from})` : "set";
}

/**
 * @param {ReturnType<import("./relay-client.mjs").createRelayClient>} client
 * @param {{
 *   notify?: (severity: string, summary: string, detail?: string) => void,
 *   streams?: () => Iterable<{backend?: string, state?: string}>,
 *   onChange?: (info: object) => void,
 * }} [options] `streams` lists the running streams (for the switch message); `onChange`
 *   hears every credentials view the relay returns
 */
export function createCredentialsPanel(
  client,
  { notify = () => {}, streams = () => [], onChange = () => {} } = {},
) {
  const keyState = h("strong", { dataset: { field: "key-state" } }, "…");
  const backendState = h("strong", { dataset: { field: "backend" } }, "…");
  const backendSelect = h(
    "select",
    { name: "rtc-backend", "aria-label": "Backend for new streams" },
    h("option", { value: "auto" }, "Follow the key (Daydream with a key, else local)"),
    h("option", { value: "daydream" }, backendLabel("daydream")),
    h("option", { value: "local" }, backendLabel("local")),
  );
  const backendNote = h("p", { className: "rtc-note", dataset: { field: "backend-note" } });
  const keyInput = h("input", {
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "Daydream API key",
    "aria-label": "Daydream API key",
    name: "rtc-api-key",
  });
  const urlInput = h("input", {
    type: "url",
    placeholder: "https://api.daydream.live",
    "aria-label": "Daydream API URL",
  });
  const message = h("p", { className: "rtc-form-message", role: "alert" });
  const saveKey = h("button", { type: "button", className: "rtc-button rtc-primary" }, "Save key");
  const removeKey = h("button", { type: "button", className: "rtc-button" }, "Remove key");
  let info = null;

  function show(next) {
    info = next;
    setText(keyState, describeCredentials(info));
    setText(backendState, backendLabel(info?.backend));
    backendSelect.value = backendChoice(info);
    backendSelect.disabled = info?.backend_source === "env";
    setText(
      backendNote,
      info?.backend_source === "env"
        ? "Fixed by RTC_BACKEND when the relay started."
        : "Applies to streams started from now on; running streams keep theirs.",
    );
    element.dataset.backend = info?.backend ?? "";
    onChange(info);
    if (document.activeElement !== urlInput && !urlInput.dataset.dirty) urlInput.value = info?.api_url ?? "";
    removeKey.disabled = !info?.has_api_key;
    element.dataset.hasKey = String(Boolean(info?.has_api_key));
  }

  async function submit(button, body, done) {
    button.disabled = true;
    setText(message, "");
    const before = info?.backend;
    try {
      show(await client.putCredentials(body));
      const switched = info.backend !== before ? ` ${describeBackendSwitch(info.backend, streams())}` : "";
      notify("success", "Credentials updated", `${done}.${switched}`);
    } catch (err) {
      setText(message, err.message);
      notify("error", "Credentials not saved", err.message);
      // The relay changed nothing: show what is in force again.
      if (info) show(info);
    } finally {
      button.disabled = button === backendSelect && info?.backend_source === "env";
      removeKey.disabled = !info?.has_api_key;
    }
  }

  backendSelect.addEventListener("change", () => {
    const choice = backendSelect.value;
    const what = choice === "auto" ? "The backend now follows the key" : "Backend choice saved";
    submit(backendSelect, backendRequest(choice), what);
  });

  saveKey.addEventListener("click", () => {
    const key = keyInput.value.trim();
    const url = urlInput.value.trim();
    if (!key && !urlInput.dataset.dirty) {
      setText(message, "Enter a key first.");
      return;
    }
    // The relay binds the key to its URL: a new URL needs the key meant for it.
    if (!key && info?.has_api_key) {
      setText(message, "Enter the API key for the new URL too.");
      return;
    }
    const body = {};
    if (key) body.api_key = key;
    if (urlInput.dataset.dirty) body.api_url = url;
    // The input is cleared whatever happens: the key must not linger in the page.
    keyInput.value = "";
    delete urlInput.dataset.dirty;
    submit(saveKey, body, key ? "API key saved on the relay" : "API URL saved");
  });
  removeKey.addEventListener("click", () => submit(removeKey, { api_key: null }, "API key removed"));
  urlInput.addEventListener("input", () => {
    urlInput.dataset.dirty = "1";
  });

  const element = h(
    "div",
    { className: "rtc-credentials" },
    h("p", {}, "API key: ", keyState),
    h("p", {}, "Backend for new streams: ", backendState),
    h("label", { className: "rtc-field" }, h("span", {}, "Backend"), backendSelect),
    backendNote,
    h("label", { className: "rtc-field" }, h("span", {}, "API key"), keyInput),
    h("label", { className: "rtc-field" }, h("span", {}, "API URL"), urlInput),
    h("div", { className: "rtc-actions" }, saveKey, removeKey),
    message,
    h(
      "p",
      { className: "rtc-note" },
      "The key is kept by the relay, never in ComfyUI settings or workflows.",
    ),
  );

  async function refresh() {
    try {
      show(await client.getCredentials());
    } catch (err) {
      setText(keyState, "unknown");
      setText(message, err.message);
    }
  }

  return { element, refresh };
}
