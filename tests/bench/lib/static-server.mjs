// Serves tests/bench/pages, and the built wasm package at /pkg/, on a free loopback port for
// the browser measurements.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname } from "node:path";

const types = {
  ".html": "text/html",
  ".mjs": "text/javascript",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
};

export function servePages() {
  const pages = new URL("../pages/", import.meta.url);
  const pkg = new URL("../../../www/pkg/", import.meta.url);
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname.replace(/^\/+/, "");
    if (path.includes("..")) {
      res.writeHead(400).end();
      return;
    }
    try {
      const file = path.startsWith("pkg/") ? new URL(path.slice(4), pkg) : new URL(path, pages);
      const body = await readFile(file);
      res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() });
    });
  });
}
