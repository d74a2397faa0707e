"""The original package's way of doing the relay's job, as a baseline: a Python HTTP server
(aiohttp) that takes frames as JSON with a base64 PNG, decodes them, and keeps the newest for
a reader. Used by P1 (frame hand-off) and P4 (start-up, idle memory).

Run: baseline_server.py  (port from $BENCH_PORT)
"""

from __future__ import annotations

import asyncio
import base64
import io
import os

from aiohttp import web


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def frames(request: web.Request) -> web.Response:
    import numpy as np
    from PIL import Image

    body = await request.json()
    png = base64.b64decode(body["frame_b64"])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    state = request.app["state"]
    state["latest"] = pixels
    state["count"] += 1
    return web.json_response({"ok": True, "count": state["count"]})


def build() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["state"] = {"latest": None, "count": 0}
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/frames", frames)
    return app


if __name__ == "__main__":
    port = int(os.environ.get("BENCH_PORT", "8896"))
    asyncio.run(web._run_app(build(), host="127.0.0.1", port=port, print=None))
