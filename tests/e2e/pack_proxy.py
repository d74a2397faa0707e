"""The pack's own routes on an aiohttp server, for browser tests that must go through the code
ComfyUI really runs: the same-origin proxy (comfy_extension/rtc_node/proxy.py) and the routes
of comfy_extension/rtc_node/routes.py (catalog, UI files, relay status and restart).

Two ways to find the relay, both through the environment (never argv):
- RTC_PROXY_RELAY_URL / RTC_PROXY_RELAY_TOKEN: a relay the test started; the status route
  reports it running and restart does nothing.
- RTC_PROXY_SUPERVISED=1: the pack's own supervisor starts and watches the relay, as inside
  ComfyUI (RTC_RELAY_BIN, RTC_RELAY_STATE_DIR, RTC_RELAY_PORT say which binary and where).

RTC_PROXY_CLIENTS_REMOTE=1 serves every request as if through a reverse proxy in front of
ComfyUI (with `X-Forwarded-For`), so the browser on this machine counts as remote: the
pack's proxy then tells the relay to use a compressed frame link.

ComfyUI's own arguments (e.g. `--listen 10.77.0.1`) may follow on the command line, with the
stand-in `comfy` package (tests/python/comfy_stub) on PYTHONPATH: the pack reads them from
there as inside ComfyUI. The proxy itself listens on RTC_PROXY_HOST (default 127.0.0.1).

Prints `listening on http://ADDR` once ready, and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


class RelayOfTheTest:
    """A relay the test runs itself, seen by the status route as always running."""

    def status(self) -> dict[str, object]:
        return {"state": "running", "reason": None, "log_tail": [], "restarts": 0}

    def restart(self) -> None:
        pass


async def serve() -> None:
    from aiohttp import web

    from comfy_extension.rtc_node import proxy, routes, runtime
    from comfy_extension.rtc_node.relay_client import RelayEndpoint

    table = web.RouteTableDef()
    if os.environ.get("RTC_PROXY_SUPERVISED") == "1":
        relay_proxy = proxy.RelayProxy(proxy.supervised_endpoint())
        routes.register(table, runtime.supervisor, runtime.headless)
        runtime.supervisor().start_background()
    else:
        relay = RelayEndpoint(
            os.environ["RTC_PROXY_RELAY_URL"], os.environ["RTC_PROXY_RELAY_TOKEN"]
        )

        async def endpoint() -> RelayEndpoint:
            return relay

        relay_proxy = proxy.RelayProxy(endpoint)
        own = RelayOfTheTest()
        routes.register(table, lambda: own, runtime.headless)
    relay_proxy.register(table)
    middlewares = []
    if os.environ.get("RTC_PROXY_CLIENTS_REMOTE") == "1":

        @web.middleware
        async def forwarded(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            headers = request.headers.copy()
            headers["X-Forwarded-For"] = "203.0.113.7"
            return await handler(request.clone(headers=headers))

        middlewares.append(forwarded)
    # ComfyUI's own limit for request bodies (raw frames are posted through the proxy).
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=middlewares)
    app.add_routes(table)
    # Tests stop the proxy with sockets still open; their handlers need not be waited for.
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, os.environ.get("RTC_PROXY_HOST", "127.0.0.1"), 0)
    await site.start()
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    sys.stdout.write(f"listening on http://{host}:{port}\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await relay_proxy.close()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
