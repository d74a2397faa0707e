// API key and backend. The key goes straight to the relay (`PUT /v1/credentials`), which
// stores it; afterwards the UI only ever learns whether a key is set. It is never written to
// ComfyUI settings (whose API returns every setting to any client) or to a workflow. The
// relay picks the backend from the key (Daydream with one, the local stand-in without)
// unless it was started with a fixed `RTC_BACKEND`; the panel shows which one is in use.

import { h, setText } from "./dom.mjs";

export function describeCredentials(info) {
  if (!info) return "unknown";
  if (!info.has_api_key) return "not set";
  const from = { env: "from the environment", file: "saved on the relay" }[info.source] ?? info.source;
  return from ? `set (${from})` : "set";
}

/**
 * @param {ReturnType<import("./relay-client.mjs").createRelayClient>} client
 * @param {{notify?: (severity: string, summary: string, detail?: string) => void}} [options]
 */
export function createCredentialsPanel(client, { notify = () => {} } = {}) {
  const keyState = h("strong", { dataset: { field: "key-state" } }, "…");
  const backendState = h("strong", { dataset: { field: "backend" } }, "…");
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
    setText(
      backendState,
      { daydream: "Daydream (cloud)", local: "local stand-in" }[info?.backend] ?? "unknown",
    );
    if (document.activeElement !== urlInput && !urlInput.dataset.dirty) urlInput.value = info?.api_url ?? "";
    removeKey.disabled = !info?.has_api_key;
    element.dataset.hasKey = String(Boolean(info?.has_api_key));
  }

  async function submit(button, body, done) {
    button.disabled = true;
    setText(message, "");
    try {
      show(await client.putCredentials(body));
      notify("success", "Credentials updated", done);
    } catch (err) {
      setText(message, err.message);
      notify("error", "Credentials not saved", err.message);
    } finally {
      button.disabled = false;
      removeKey.disabled = !info?.has_api_key;
    }
  }

  saveKey.addEventListener("click", () => {
    const key = keyInput.value.trim();
    const url = urlInput.value.trim();
    if (!key && !urlInput.dataset.dirty) {
      setText(message, "Enter a key first.");
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
    h("p", {}, "Backend in use: ", backendState),
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
