// A stand-in for ComfyUI's web server, for tests of the pack's frontend: it serves the
// extension folder under /extensions/<folder>/ like ComfyUI does, a minimal `app`/`api` pair
// at /scripts/, a host page, ComfyUI's own `/prompt`, `/queue` and `/view` (canned answers,
// to see whether the browser can still reach them), the pack's own routes (/rtc/catalog, the UI
// files under /rtc/ui/, the relay's status and restart under /rtc/relay) and its same-origin
// proxy /rtc/api/* → relay (adding the bearer token, streaming responses, passing WebSocket
// upgrades through). The pack's routes are always its real Python code (tests/e2e/pack_proxy.py)
// behind a plain pass-through; the proxy is a JS copy of the pack's unless `packProxy` names a
// `startPackProxy` process, whose proxy then serves /rtc/api/ as well. The frontend code under
// test is the real one; only ComfyUI is imitated, faithful to the documented API
// (docs/ARCHITECTURE.md, comfyui-platform notes §2).
import { spawn } from "node:child_process";
import { createReadStream, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { extname, join, normalize } from "node:path";
import { whenListening } from "./harness.mjs";

const root = new URL("../../", import.meta.url).pathname;
const webDir = join(root, "comfy_extension", "web");

const TYPES = {
  ".js": "application/javascript",
  ".mjs": "application/javascript",
  ".wasm": "application/wasm",
  ".css": "text/css",
  ".html": "text/html; charset=utf-8",
  ".json": "application/json",
  ".ts": "text/plain",
};

// The `app` and `api` modules ComfyUI exposes to extensions, reduced to what the pack uses.
const APP_JS = `
const settingsById = new Map();
const values = new Map();
const shim = {
  extensions: [],
  sidebarTabs: [],
  toasts: [],
  nodes: [],
};
window.comfyShim = shim;
function renderToast(t) {
  shim.toasts.push(t);
  const el = document.createElement("div");
  el.className = "shim-toast";
  el.dataset.severity = t.severity;
  el.textContent = t.summary + (t.detail ? ": " + t.detail : "");
  document.getElementById("toasts").append(el);
}
export const app = {
  registerExtension(ext) {
    shim.extensions.push(ext);
    for (const s of ext.settings ?? []) settingsById.set(s.id, s);
  },
  extensionManager: {
    registerSidebarTab(tab) { shim.sidebarTabs.push(tab); },
    toast: { add: renderToast },
    setting: {
      get: (id) => (values.has(id) ? values.get(id) : settingsById.get(id)?.defaultValue),
      set: (id, v) => values.set(id, v),
    },
  },
};
shim.settingsById = settingsById;
shim.settingValues = values;
`;

const API_JS = `
class ComfyApi extends EventTarget {}
export const api = new ComfyApi();
window.comfyShim.api = api;
`;

function hostPage(folder) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ComfyUI stand-in</title>
<style>
  body { margin: 0; background: #202020; color: #ddd; font: 13px system-ui; display: grid;
         grid-template-columns: 360px 1fr; gap: 12px; height: 100vh; }
  #sidebar { background: #171717; border-right: 1px solid #333; overflow: auto; }
  #graph { padding: 12px; display: flex; flex-direction: column; gap: 12px; overflow: auto; }
  .shim-node { width: 560px; background: #353535; border-radius: 8px; padding: 6px; }
  .shim-node-title { padding: 4px 6px 8px; font-weight: 600; }
  .shim-widget { height: 520px; }
  /* Real toasts expire; these stay for the assertions, so they must not block clicks. */
  #toasts { position: fixed; right: 12px; top: 12px; display: flex; flex-direction: column; gap: 4px;
            pointer-events: none; }
  .shim-toast { background: #333; padding: 6px 10px; border-radius: 4px; }
</style></head>
<body>
  <aside id="sidebar"></aside>
  <main id="graph"><section id="settings"></section></main>
  <div id="toasts"></div>
  <script type="module">
    import "/scripts/app.js";
    const shim = window.comfyShim;
    await import("/extensions/${folder}/main.js");
    for (const ext of shim.extensions) await ext.setup?.();
    shim.ready = true;
    // What ComfyUI does when the user opens the tab, a settings page or adds a node.
    shim.openSidebar = (id) => {
      const tab = shim.sidebarTabs.find((t) => t.id === id);
      const host = document.getElementById("sidebar");
      host.replaceChildren();
      tab.render(host);
      return tab;
    };
    shim.renderSettings = () => {
      const host = document.getElementById("settings");
      host.replaceChildren();
      for (const s of shim.settingsById.values()) {
        const row = document.createElement("div");
        row.dataset.settingId = s.id;
        row.append(s.name + ": ");
        if (typeof s.type === "function") row.append(s.type(s.name, (v) => shim.settingValues.set(s.id, v), shim.settingValues.get(s.id) ?? s.defaultValue, s.attrs ?? {}));
        else row.append(String(shim.settingValues.get(s.id) ?? s.defaultValue));
        host.append(row);
      }
    };
    shim.addNode = (comfyClass) => {
      const el = document.createElement("div");
      el.className = "shim-node";
      el.dataset.comfyClass = comfyClass;
      const title = document.createElement("div");
      title.className = "shim-node-title";
      title.textContent = comfyClass;
      el.append(title);
      const node = {
        comfyClass, widgets: [], size: [200, 100], properties: {},
        addDOMWidget(name, type, element, options) {
          const box = document.createElement("div");
          box.className = "shim-widget";
          box.append(element);
          el.append(box);
          const widget = { name, type, element, options };
          this.widgets.push(widget);
          return widget;
        },
        addWidget(type, name, value, callback, options = {}) {
          const widget = { type, name, value, callback, options };
          if (type === "button") {
            const button = document.createElement("button");
            button.textContent = name;
            button.addEventListener("click", () => callback());
            el.append(button);
          }
          this.widgets.push(widget);
          return widget;
        },
        setSize(size) { this.size = size; },
      };
      document.getElementById("graph").append(el);
      for (const ext of shim.extensions) ext.nodeCreated?.(node);
      shim.nodes.push(node);
      return node.widgets.map((w) => ({ name: w.name, type: w.type, serialize: w.options?.serialize }));
    };
    // What ComfyUI does when the user picks a combo value, when it loads a saved node
    // (properties, then widgets_values in order over the saved widgets, then onConfigure), when
    // it saves one (widgets_values by position, unsaved ones left as null), and when it has run.
    shim.pick = (index, name, value) => {
      const widget = shim.nodes[index].widgets.find((w) => w.name === name);
      widget.value = value;
      widget.callback(value);
    };
    shim.configure = (index, info) => {
      const node = shim.nodes[index];
      node.properties = { ...node.properties, ...info.properties };
      const saved = node.widgets.filter((w) => w.serialize !== false);
      (info.widgets_values ?? []).forEach((value, i) => {
        if (saved[i]) saved[i].value = value;
      });
      node.onConfigure?.(info);
    };
    shim.executed = (index, output) => shim.nodes[index].onExecuted?.(output);
    shim.serialize = (index) => {
      const node = shim.nodes[index];
      return {
        properties: { ...node.properties },
        widgets_values: node.widgets.map((w) => (w.serialize === false ? null : (w.value ?? null))),
      };
    };
  </script>
</body></html>`;
}

// A 1×1 PNG, what `/view` serves for any file.
const PIXEL_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/eL9GtQAAAABJRU5ErkJggg==",
  "base64",
);

/** ComfyUI's own routes the frontend uses all the time; served with and without `/api`. */
function comfyRoute(req, res, pathname) {
  const route = pathname.replace(/^\/api(?=\/)/, "");
  if (route === "/queue") {
    send(res, 200, "application/json", JSON.stringify({ queue_running: [], queue_pending: [] }));
    return true;
  }
  if (route === "/prompt") {
    const body =
      req.method === "POST"
        ? { prompt_id: crypto.randomUUID(), number: 0, node_errors: {} }
        : { exec_info: { queue_remaining: 0 } };
    send(res, 200, "application/json", JSON.stringify(body));
    return true;
  }
  if (route === "/view") {
    send(res, 200, "image/png", PIXEL_PNG);
    return true;
  }
  return false;
}

function send(res, status, type, body) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

function serveFile(res, dir, relative) {
  const path = normalize(join(dir, relative));
  if (!path.startsWith(dir)) return send(res, 403, "text/plain", "forbidden");
  let size;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new Error("not a file");
    size = stat.size;
  } catch {
    return send(res, 404, "text/plain", "not found");
  }
  res.writeHead(200, {
    "content-type": TYPES[extname(path)] ?? "application/octet-stream",
    "content-length": size,
  });
  createReadStream(path).pipe(res);
}

/**
 * Starts the pack's routes and proxy (a Python process); resolves once it listens. In front of
 * the relay at `relayUrl`, or, with `supervised` (extra environment: RTC_RELAY_BIN,
 * RTC_RELAY_STATE_DIR...), in front of a relay the pack's own supervisor starts and watches.
 * The token goes through the environment, as the pack keeps it out of argv. With
 * `clientsRemote`, every client counts as remote (as behind a reverse proxy); `host` is the
 * address it listens on (default 127.0.0.1). `comfyArgs` are ComfyUI's own command-line
 * arguments (e.g. ["--listen", "10.77.0.1"]), which the pack reads through the stand-in
 * `comfy.cli_args`.
 */
export function startPackProxy({
  relayUrl,
  token,
  supervised = null,
  clientsRemote = false,
  host,
  comfyArgs = null,
}) {
  const python = process.env.PYTHON ?? join(root, ".venv", "bin", "python");
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("DAYDREAM_") && !k.startsWith("RTC_")),
  );
  const env = supervised
    ? { ...clean, ...supervised, RTC_PROXY_SUPERVISED: "1" }
    : { ...clean, RTC_PROXY_RELAY_URL: relayUrl, RTC_PROXY_RELAY_TOKEN: token };
  if (clientsRemote) env.RTC_PROXY_CLIENTS_REMOTE = "1";
  if (host) env.RTC_PROXY_HOST = host;
  if (comfyArgs) env.PYTHONPATH = join(root, "tests", "python", "comfy_stub");
  const child = spawn(python, [join(root, "tests", "e2e", "pack_proxy.py"), ...(comfyArgs ?? [])], {
    env,
    stdio: ["pipe", "pipe", "inherit"],
  });
  return whenListening(child, child.stdout, "the pack's proxy", (c) => c.stdin.end());
}

/** The pack's own routes, served by ComfyUI next to the proxy. */
const PACK_ROUTE = /^\/rtc\/(ui\/|catalog$|relay(\/|$))/;

/**
 * What the pack's code, inside ComfyUI, would see as the client: the stand-in is a hop in
 * between, so a browser on another machine is named with `X-Forwarded-For` (as a reverse proxy
 * does) and the pack tells it from one on this machine.
 */
function clientAddress(req) {
  const address = req.socket.remoteAddress ?? "";
  const loopback = address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
  return loopback ? {} : { "x-forwarded-for": address.replace(/^::ffff:/, "") };
}

/** Streams `req` to `target` ({host, port, path, headers}) and its answer back to `res`. */
function pass(req, res, target, onStatus = () => {}) {
  const upstream = http.request({ ...target, method: req.method }, (answer) => {
    onStatus(answer.statusCode);
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  upstream.on("error", (err) => {
    if (!res.headersSent) {
      send(
        res,
        502,
        "application/json",
        JSON.stringify({ error: { code: "relay_unavailable", message: err.message } }),
      );
    } else res.destroy();
  });
  req.pipe(upstream);
}

/**
 * Starts the stand-in on a free port of `host` (loopback unless a test plays a ComfyUI started
 * with `--listen`).
 * @param {{relayUrl: string, token: string, folder?: string, packProxy?: string, host?: string}} options
 *   `folder` is the install folder name the extension is served under (the code must not
 *   depend on it); `packProxy` is the URL of `startPackProxy`'s process, which then handles
 *   /rtc/api/* unchanged instead of the JS copy.
 */
export async function startComfyShim({
  relayUrl,
  token,
  folder = "rtc-node-under-test",
  packProxy,
  host = "127.0.0.1",
}) {
  let relay = new URL(relayUrl);
  const ownPack = packProxy ? null : await startPackProxy({ relayUrl, token });
  const pack = new URL(packProxy ?? ownPack.url);
  /** Proxied requests still open, by path: event streams stay open for as long as they are read. */
  const open = new Map();
  const viaPack = packProxy ? new URL(packProxy) : null;
  /** Every /rtc/api/ request with the status it got, for tests of what reached the relay. */
  const apiRequests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://shim");
    if (comfyRoute(req, res, url.pathname)) return undefined;
    if (url.pathname === "/") return send(res, 200, "text/html; charset=utf-8", hostPage(folder));
    if (url.pathname === "/scripts/app.js") return send(res, 200, "application/javascript", APP_JS);
    if (url.pathname === "/scripts/api.js") return send(res, 200, "application/javascript", API_JS);
    // The pack's own routes answer whether the relay is up or not.
    if (PACK_ROUTE.test(url.pathname)) {
      const headers = { ...req.headers, host: pack.host, ...clientAddress(req) };
      return pass(req, res, {
        host: pack.hostname,
        port: pack.port,
        path: url.pathname + url.search,
        headers,
      });
    }
    const ext = `/extensions/${folder}/`;
    if (url.pathname.startsWith(ext))
      return serveFile(res, webDir, decodeURIComponent(url.pathname.slice(ext.length)));
    if (url.pathname.startsWith("/rtc/api/")) {
      open.set(url.pathname, (open.get(url.pathname) ?? 0) + 1);
      res.once("close", () => open.set(url.pathname, open.get(url.pathname) - 1));
      const record = { method: req.method, path: url.pathname, status: 0 };
      apiRequests.push(record);
      let target;
      if (viaPack) {
        target = { host: viaPack.hostname, port: viaPack.port, path: url.pathname + url.search };
        target.headers = { ...req.headers, host: viaPack.host, ...clientAddress(req) };
      } else {
        target = {
          host: relay.hostname,
          port: relay.port,
          path: url.pathname.slice("/rtc/api".length) + url.search,
        };
        target.headers = { ...req.headers, host: relay.host, authorization: `Bearer ${token}` };
        delete target.headers.cookie;
        delete target.headers.origin;
        delete target.headers.referer;
      }
      pass(req, res, target, (status) => {
        record.status = status;
      });
      return undefined;
    }
    return send(res, 404, "text/plain", "not found");
  });
  // WebSocket upgrades (the agent socket) pass through with the token added.
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url, "http://shim");
    if (!url.pathname.startsWith("/rtc/api/")) return socket.destroy();
    const to = viaPack ?? relay;
    const upstream = net.connect(Number(to.port), to.hostname, () => {
      const path = viaPack ? url.pathname : url.pathname.slice("/rtc/api".length);
      const lines = [`${req.method} ${path}${url.search} HTTP/1.1`];
      const dropped = viaPack ? ["host"] : ["host", "cookie", "origin", "authorization"];
      for (const [name, value] of Object.entries(req.headers)) {
        if (dropped.includes(name)) continue;
        lines.push(`${name}: ${value}`);
      }
      lines.push(`host: ${to.host}`);
      if (viaPack) {
        for (const [name, value] of Object.entries(clientAddress(req))) lines.push(`${name}: ${value}`);
      } else {
        lines.push(`authorization: Bearer ${token}`);
      }
      lines.push("", "");
      upstream.write(lines.join("\r\n"));
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
    return undefined;
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      const { port } = server.address();
      resolve({
        url: `http://${host}:${port}`,
        folder,
        /** How many proxied requests to `pathname` are open now. */
        openRequests: (pathname) => open.get(pathname) ?? 0,
        apiRequests,
        /** Points the proxy at another relay, like the pack after restarting it. */
        setRelay(url, newToken) {
          relay = new URL(url);
          token = newToken;
        },
        stop: async () => {
          await new Promise((done) => {
            server.closeAllConnections();
            server.close(done);
          });
          await ownPack?.stop();
        },
      });
    });
  });
}
