"""P2 baseline: a WHIP/WHEP relay built on aiortc that decodes the published video and
re-encodes it for each viewer, the way a Python media server (like the original package's
aiortc pipeline) handles frames.

Run: aiortc_relay.py   (port from $BENCH_PORT; prints nothing, answers /healthz)
"""

from __future__ import annotations

import asyncio
import os
import uuid

import aioice.ice
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


def loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    # The benchmark runs on loopback only; aioice leaves 127.0.0.1 out by default.
    return ["127.0.0.1"] if use_ipv4 else []


aioice.ice.get_host_addresses = loopback_only


class ViewerTrack(MediaStreamTrack):
    """Hands the newest decoded frame to aiortc's encoder for one viewer."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=2)

    def offer(self, frame: object) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(frame)

    async def recv(self) -> object:
        return await self.queue.get()


class Relay:
    def __init__(self) -> None:
        self.sessions: dict[str, RTCPeerConnection] = {}
        self.viewers: list[ViewerTrack] = []
        self.publishing = False
        self.pumps: set[asyncio.Task] = set()

    async def pump(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                for viewer in self.viewers:
                    viewer.offer(frame)
        except MediaStreamError:
            self.publishing = False

    async def answer(self, request: web.Request, pc: RTCPeerConnection) -> web.Response:
        offer = RTCSessionDescription(sdp=await request.text(), type="offer")
        await pc.setRemoteDescription(offer)
        await pc.setLocalDescription(await pc.createAnswer())
        session = uuid.uuid4().hex
        self.sessions[session] = pc
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": f"/session/{session}"},
        )

    async def whip(self, request: web.Request) -> web.Response:
        pc = RTCPeerConnection()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self.publishing = True
                task = asyncio.ensure_future(self.pump(track))
                self.pumps.add(task)
                task.add_done_callback(self.pumps.discard)

        return await self.answer(request, pc)

    async def whep(self, request: web.Request) -> web.Response:
        pc = RTCPeerConnection()
        viewer = ViewerTrack()
        self.viewers.append(viewer)
        pc.addTrack(viewer)
        return await self.answer(request, pc)

    async def delete(self, request: web.Request) -> web.Response:
        pc = self.sessions.pop(request.match_info["id"], None)
        if pc is None:
            return web.Response(status=404)
        await pc.close()
        return web.Response(status=200)


@web.middleware
async def cors(request: web.Request, handler: object) -> web.StreamResponse:
    # The benchmark page is served from another loopback port.
    origin = request.headers.get("Origin", "")
    response = web.Response(status=204) if request.method == "OPTIONS" else await handler(request)
    if origin.startswith("http://127.0.0.1:"):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "content-type"
        response.headers["Access-Control-Expose-Headers"] = "location"
    return response


def build() -> web.Application:
    relay = Relay()
    app = web.Application(middlewares=[cors])
    app.router.add_get("/healthz", lambda _r: web.json_response({"ok": True}))
    app.router.add_route("*", "/whip", relay.whip)
    app.router.add_route("*", "/whep", relay.whep)
    app.router.add_route("*", "/session/{id}", relay.delete)
    return app


if __name__ == "__main__":
    port = int(os.environ.get("BENCH_PORT", "8897"))
    asyncio.run(web._run_app(build(), host="127.0.0.1", port=port, print=None))
