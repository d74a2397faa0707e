"""The original package's way of doing the relay's job, as a baseline: a Python HTTP server
(aiohttp) that takes frames as JSON with a base64 PNG and decodes them (uplink), and keeps the
newest received frame, PNG+base64-encoding it for each reader (downlink). Used by P1 (frame
hand-off), P3 (frame to tensor) and P4 (start-up, idle memory).

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


async def put_output(request: web.Request) -> web.Response:
    """Stands in for the WHEP track callback: stores the newest processed frame."""
    import time

    import numpy as np

    width, height = int(request.query["width"]), int(request.query["height"])
    pixels = np.frombuffer(await request.read(), dtype=np.uint8).reshape(height, width, 3)
    request.app["state"]["output"] = (pixels.copy(), time.monotonic())
    return web.json_response({"ok": True})


async def whep_frame(request: web.Request) -> web.Response:
    """The original's GET /whep/frame: the latest frame as base64 PNG."""
    from PIL import Image

    pixels, received = request.app["state"]["output"]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return web.json_response(
        {"frame_b64": base64.b64encode(buffer.getvalue()).decode("ascii"), "received": received}
    )


def build() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["state"] = {"latest": None, "count": 0, "output": None}
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/frames", frames)
    app.router.add_post("/output", put_output)
    app.router.add_get("/whep/frame", whep_frame)
    return app


if __name__ == "__main__":
    port = int(os.environ.get("BENCH_PORT", "8896"))
    asyncio.run(web._run_app(build(), host="127.0.0.1", port=port, print=None))
