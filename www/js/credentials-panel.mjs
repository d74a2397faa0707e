// API key and backend. The key goes straight to the relay (`PUT /v1/credentials`), which
// stores it; afterwards the UI only ever learns whether a key is set. It is never written to
// ComfyUI settings (whose API returns every setting to any client) or to a workflow. The
// backend for new streams is chosen here too (stored by the relay with the key): Daydream,
// local, or "follow the key"; a relay started with `RTC_BACKEND` keeps that one.
//
// "Sign in with Daydream" gets a key without copying one: the relay starts Daydream's desktop
// sign-in and receives the answer itself, so the key never passes through the page either. A
// browser on another machine than the relay cannot reach the relay's `localhost` callback; the
// address it ends on is pasted here and its token and state go to the relay instead.

import { h, setText } from "./dom.mjs";

const BACKEND_LABELS = {
  daydream: "Daydream (cloud)",
  local: "Local (stand-in effect, no account)",
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

// Each wait asks the relay to answer as soon as the sign-in stops waiting.
const SIGN_IN_WAIT_MS = 20_000;

/** What the panel says about a sign-in (`GET /v1/credentials/sign-in`). */
export function describeSignIn(view) {
  switch (view?.status) {
    case "waiting": {
      const minutes = Math.max(1, Math.round((view.timeout_ms ?? 300_000) / 60_000));
      return {
        state: "waiting",
        text: `Waiting for you to sign in on the Daydream page (up to ${minutes} min)…`,
      };
    }
    case "signed_in":
      return { state: "signed_in", text: "Signed in: the API key is saved on the relay." };
    case "failed":
      return { state: "failed", text: `Sign-in failed: ${view.message || "no reason given"}` };
    default:
      return { state: "idle", text: "" };
  }
}

/**
 * The token and state in the address a sign-in tab ended on, for a browser on another machine
 * than the relay (its `localhost` callback does not load there).
 */
export function parseSignInAddress(text) {
  let url;
  try {
    url = new URL(String(text).trim());
  } catch {
    throw new Error("Paste the whole address the sign-in tab ended on (it starts with http://localhost).");
  }
  const token = url.searchParams.get("token");
  const state = url.searchParams.get("state");
  if (!token || !state) {
    throw new Error("That address carries no token and state; paste the one the sign-in tab ended on.");
  }
  return { token, state };
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
  const signInButton = h(
    "button",
    { type: "button", className: "rtc-button rtc-primary", dataset: { action: "sign-in" } },
    "Sign in with Daydream",
  );
  const cancelSignIn = h(
    "button",
    { type: "button", className: "rtc-button", hidden: true },
    "Cancel sign-in",
  );
  const signInStatus = h("p", { className: "rtc-note", role: "status", dataset: { field: "sign-in" } });
  const signInLink = h(
    "a",
    { target: "_blank", rel: "noopener noreferrer", hidden: true, dataset: { field: "sign-in-link" } },
    "Open the sign-in page",
  );
  const addressInput = h("input", {
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "http://localhost:…/callback?token=…",
    "aria-label": "Address the sign-in tab ended on",
    name: "rtc-sign-in-address",
  });
  const finishSignIn = h("button", { type: "button", className: "rtc-button" }, "Finish sign-in");
  let info = null;
  // Only one loop follows the relay's sign-in; it reports the outcome once.
  let following = false;

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

  function showSignIn(view) {
    const { state, text } = describeSignIn(view);
    signInStatus.dataset.state = state;
    setText(signInStatus, text);
    const waiting = state === "waiting";
    cancelSignIn.hidden = !waiting;
    signInLink.hidden = !(waiting && view.sign_in_url);
    if (waiting && view.sign_in_url) signInLink.href = view.sign_in_url;
  }

  async function followSignIn(view) {
    // The long poll and a pasted address can both bring the same success: announce it once.
    const announced = signInStatus.dataset.state === "signed_in";
    showSignIn(view);
    if (following || (announced && view.status === "signed_in")) return;
    following = true;
    let current = view;
    try {
      while (current.status === "waiting") {
        current = await client.getSignIn(SIGN_IN_WAIT_MS);
        showSignIn(current);
      }
    } catch (err) {
      current = { status: "failed", message: err.message };
      showSignIn(current);
    } finally {
      following = false;
    }
    if (current.status === "signed_in") {
      notify("success", "Signed in with Daydream", "The API key is saved on the relay.");
      await refresh();
    } else if (current.status === "failed") {
      notify("error", "Sign-in failed", current.message || "");
    }
  }

  signInButton.addEventListener("click", async () => {
    // Opened during the click so no popup blocker stops it; pointed at the page once known.
    const tab = window.open("", "_blank");
    if (tab) tab.opener = null;
    signInButton.disabled = true;
    try {
      const view = await client.startSignIn();
      if (tab) tab.location.href = view.sign_in_url;
      signInButton.disabled = false;
      await followSignIn(view);
    } catch (err) {
      signInButton.disabled = false;
      tab?.close();
      showSignIn({ status: "failed", message: err.message });
      notify("error", "Sign-in failed", err.message);
    }
  });
  cancelSignIn.addEventListener("click", async () => {
    try {
      showSignIn(await client.cancelSignIn());
    } catch (err) {
      setText(signInStatus, err.message);
    }
  });
  finishSignIn.addEventListener("click", async () => {
    let answer;
    try {
      answer = parseSignInAddress(addressInput.value);
    } catch (err) {
      setText(signInStatus, err.message);
      return;
    }
    // The sign-in token must not linger in the page.
    addressInput.value = "";
    finishSignIn.disabled = true;
    try {
      await followSignIn(await client.finishSignIn(answer));
    } catch (err) {
      signInStatus.dataset.state = "failed";
      setText(signInStatus, `Sign-in failed: ${err.message}`);
      notify("error", "Sign-in failed", err.message);
    } finally {
      finishSignIn.disabled = false;
    }
  });

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
    h("div", { className: "rtc-actions" }, signInButton, cancelSignIn),
    signInStatus,
    signInLink,
    h(
      "details",
      { className: "rtc-sign-in-remote" },
      h("summary", {}, "Browser on another machine than the relay?"),
      h(
        "p",
        { className: "rtc-note" },
        "After signing in, the tab ends on a localhost address that does not load. Paste that address here.",
      ),
      h("label", { className: "rtc-field" }, h("span", {}, "Address"), addressInput),
      h("div", { className: "rtc-actions" }, finishSignIn),
    ),
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
      return;
    }
    // A sign-in started elsewhere (another tab, the other panel) is followed here too.
    if (!following) {
      const view = await client.getSignIn().catch(() => null);
      if (view?.status === "waiting") followSignIn(view);
    }
  }

  return { element, refresh };
}
