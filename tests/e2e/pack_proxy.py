"""The pack's same-origin proxy (comfy_extension/rtc_node/proxy.py) on its own aiohttp server,
for browser tests that must go through the proxy ComfyUI really runs.

Reads the relay URL and token from RTC_PROXY_RELAY_URL / RTC_PROXY_RELAY_TOKEN (never argv),
prints `listening on http://ADDR` once ready, and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


async def serve() -> None:
    from aiohttp import web

    from comfy_extension.rtc_node.proxy import RelayProxy
    from comfy_extension.rtc_node.relay_client import RelayEndpoint

    relay = RelayEndpoint(os.environ["RTC_PROXY_RELAY_URL"], os.environ["RTC_PROXY_RELAY_TOKEN"])

    async def endpoint() -> RelayEndpoint:
        return relay

    proxy = RelayProxy(endpoint)
    routes = web.RouteTableDef()
    proxy.register(routes)
    # ComfyUI's own limit for request bodies (raw frames are posted through the proxy).
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes(routes)
    # Tests stop the proxy with sockets still open; their handlers need not be waited for.
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    sys.stdout.write(f"listening on http://{host}:{port}\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await proxy.close()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
