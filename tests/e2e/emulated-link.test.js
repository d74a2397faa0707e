// The emulated remote link of tests/e2e/netns.mjs as a benchmark uses it: Chromium in the
// namespace loads a page from this host at the address `forward(port)` gives and holds a
// WebSocket through it, and every exchange pays the link's round trip. Lower bounds only.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import { after, before, test } from "node:test";
import { createRemoteHost } from "./netns.mjs";

const RTT_MS = 30;

let remote;

before(() => {
  remote = createRemoteHost({ emulate: { rate: "20mbit", rttMs: RTT_MS } });
});

after(() => remote?.remove());

const PAGE = `<!doctype html><script>
window.echoRoundTrips = (count) => new Promise((resolve, reject) => {
  const socket = new WebSocket(\`ws://\${location.host}/echo\`);
  const rtts = [];
  let sent = 0;
  const ping = () => { sent = performance.now(); socket.send(String(rtts.length)); };
  socket.onopen = ping;
  socket.onerror = () => reject(new Error("the WebSocket failed"));
  socket.onmessage = () => {
    rtts.push(performance.now() - sent);
    if (rtts.length < count) return ping();
    socket.close();
    resolve(rtts);
  };
});
</script>`;

/** Echoes the small text messages of one WebSocket (unfragmented, under 126 bytes). */
function echo(socket) {
  let pending = Buffer.alloc(0);
  socket.on("data", (data) => {
    pending = Buffer.concat([pending, data]);
    while (pending.length >= 6 && pending.length >= 6 + (pending[1] & 0x7f)) {
      const length = pending[1] & 0x7f;
      const opcode = pending[0] & 0x0f;
      const mask = pending.subarray(2, 6);
      const payload = Buffer.from(pending.subarray(6, 6 + length).map((byte, i) => byte ^ mask[i % 4]));
      pending = pending.subarray(6 + length);
      if (opcode === 0x8) return socket.end(Buffer.from([0x88, 0]));
      socket.write(Buffer.concat([Buffer.from([0x81, length]), payload]));
    }
    return undefined;
  });
}

test("a browser in the namespace reaches this host over the emulated link, WebSocket included", async () => {
  const clients = [];
  const server = http.createServer((req, res) => {
    clients.push(req.socket.remoteAddress);
    res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
  });
  server.on("upgrade", (req, socket) => {
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    echo(socket);
  });
  await new Promise((resolve) => server.listen(0, remote.hostIp, resolve));
  const { port } = server.address();
  const browser = await remote.launchBrowser();
  try {
    const address = remote.forward(port);
    assert.equal(address, `${remote.peerIp}:${port}`);
    const page = await browser.newPage();
    await page.goto(`http://${address}/`);
    const rtts = await page.evaluate(() => window.echoRoundTrips(5));
    console.log(`WebSocket echo over the emulated link: ${rtts.map((ms) => ms.toFixed(1)).join(", ")} ms`);
    assert.ok(Math.min(...rtts) >= RTT_MS, `round trips ${rtts}`);
    assert.deepEqual([...new Set(clients)], [remote.peerIp], "requests came over the link");
  } finally {
    await browser.close();
    server.closeAllConnections();
    server.close();
  }
});
