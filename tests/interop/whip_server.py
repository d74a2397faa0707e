"""A WHIP/WHEP test server on aiortc, an independent WebRTC stack, for checking the wasm client.

Routes (all WHIP/WHEP requests need ``Authorization: Bearer <token>``):

- ``POST /whip`` ingest; ``POST /whip-redirect`` answers 307 to ``/whip``;
- ``POST /whep`` egress of the current publisher (409 + Retry-After while there is none);
- ``POST /whep-counter`` egress through a WHEP 406 counter-offer, answered by PATCH;
- ``PATCH /session/{id}`` trickle fragments: 405 (this server does not trickle);
- ``DELETE /session/{id}``;
- ``GET /state`` JSON counters for assertions; ``/`` and ``/pkg/`` serve the test page and the
  built wasm package, so the page is same-origin with the endpoints.

Prints ``listening on http://HOST:PORT`` once bound.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
SDP = "application/sdp"


class Server:
    """Sessions and counters; one publisher at a time."""

    def __init__(self, token: str) -> None:
        from aiortc.contrib.media import MediaRelay

        self.token = token
        self.relay = MediaRelay()
        self.sessions: dict[str, Any] = {}
        self.source: Any = None
        self.ids = itertools.count(1)
        self.tasks: set[asyncio.Task[None]] = set()
        self.state: dict[str, Any] = {
            "publishes": 0,
            "plays": 0,
            "counter_offers": 0,
            "redirects": 0,
            "rejected_auth": 0,
            "patches": 0,
            "deleted": [],
            "frames_received": 0,
            "frame_size": None,
            "codecs": [],
        }

    def authorized(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        if not ok:
            self.state["rejected_auth"] += 1
        return ok

    def new_session(self, pc: Any) -> str:
        session_id = f"s{next(self.ids)}"
        self.sessions[session_id] = pc
        return session_id

    async def consume(self, track: Any) -> None:
        """Counts the publisher's decoded frames (proves media arrived and decodes)."""
        from aiortc.mediastreams import MediaStreamError

        local = self.relay.subscribe(track)
        while True:
            try:
                frame = await local.recv()
            except MediaStreamError:
                return
            self.state["frames_received"] += 1
            self.state["frame_size"] = [frame.width, frame.height]


def sdp_offer(request: web.Request, body: str) -> web.Response | None:
    if request.content_type != SDP:
        return web.Response(status=415, text="expected application/sdp")
    if "m=video" not in body:
        return web.Response(status=400, text="offer has no video section")
    return None


def codec_of(sdp: str) -> str:
    for line in sdp.splitlines():
        if line.startswith("m=video"):
            payload = line.split()[3]
            for rtpmap in sdp.splitlines():
                if rtpmap.startswith(f"a=rtpmap:{payload} "):
                    return rtpmap.split()[1].split("/")[0]
    return "?"


def routes(server: Server) -> web.RouteTableDef:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    r = web.RouteTableDef()

    @r.post("/whip-redirect")
    async def whip_redirect(request: web.Request) -> web.Response:
        server.state["redirects"] += 1
        raise web.HTTPTemporaryRedirect("/whip")

    @r.post("/whip")
    async def whip(request: web.Request) -> web.Response:
        if not server.authorized(request):
            return web.Response(status=401, text="bad token")
        body = await request.text()
        if (bad := sdp_offer(request, body)) is not None:
            return bad
        pc = RTCPeerConnection()

        @pc.on("track")
        def on_track(track: Any) -> None:
            server.source = track
            task = asyncio.ensure_future(server.consume(track))
            server.tasks.add(task)
            task.add_done_callback(server.tasks.discard)

        await pc.setRemoteDescription(RTCSessionDescription(body, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        server.state["publishes"] += 1
        answer = pc.localDescription.sdp
        server.state["codecs"].append(codec_of(answer))
        session_id = server.new_session(pc)
        return web.Response(
            status=201,
            text=answer,
            content_type=SDP,
            headers={"Location": f"/session/{session_id}", "ETag": f'"{session_id}"'},
        )

    def publisher_or_409() -> web.Response | None:
        if server.source is None or server.source.readyState != "live":
            return web.Response(status=409, text="no publisher yet", headers={"Retry-After": "1"})
        return None

    @r.post("/whep")
    async def whep(request: web.Request) -> web.Response:
        if not server.authorized(request):
            return web.Response(status=401, text="bad token")
        body = await request.text()
        if (bad := sdp_offer(request, body)) is not None:
            return bad
        if (busy := publisher_or_409()) is not None:
            return busy
        pc = RTCPeerConnection()
        pc.addTrack(server.relay.subscribe(server.source))
        await pc.setRemoteDescription(RTCSessionDescription(body, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        server.state["plays"] += 1
        session_id = server.new_session(pc)
        location = {"Location": f"/session/{session_id}"}
        sdp = pc.localDescription.sdp
        return web.Response(status=201, text=sdp, content_type=SDP, headers=location)

    @r.post("/whep-counter")
    async def whep_counter(request: web.Request) -> web.Response:
        if not server.authorized(request):
            return web.Response(status=401, text="bad token")
        if (busy := publisher_or_409()) is not None:
            return busy
        await request.text()
        pc = RTCPeerConnection()
        pc.addTransceiver(server.relay.subscribe(server.source), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        server.state["counter_offers"] += 1
        session_id = server.new_session(pc)
        location = {"Location": f"/session/{session_id}"}
        sdp = pc.localDescription.sdp
        return web.Response(status=406, text=sdp, content_type=SDP, headers=location)

    @r.patch("/session/{sid}")
    async def patch(request: web.Request) -> web.Response:
        server.state["patches"] += 1
        pc = server.sessions.get(request.match_info["sid"])
        if pc is None:
            return web.Response(status=404)
        if request.content_type == SDP and pc.remoteDescription is None:
            await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "answer"))
            server.state["plays"] += 1
            return web.Response(status=204)
        return web.Response(status=405, headers={"Allow": "POST, DELETE"})

    @r.delete("/session/{sid}")
    async def delete(request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        pc = server.sessions.pop(sid, None)
        if pc is None:
            return web.Response(status=404)
        await pc.close()
        server.state["deleted"].append(sid)
        return web.Response(status=200)

    @r.get("/state")
    async def state(request: web.Request) -> web.Response:
        return web.json_response(server.state)

    @r.get("/")
    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(Path(__file__).with_name("page.html"))

    r.static("/pkg", ROOT / "www" / "pkg")
    return r


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="interop-token")
    args = parser.parse_args()

    server = Server(args.token)
    app = web.Application()
    app.add_routes(routes(server))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    # aiohttp has no public getter for the bound port (needed with --port 0).
    port = site._server.sockets[0].getsockname()[1]
    # The test reads the address from stdout, like the relay's log line.
    sys.stdout.write(f"listening on http://{args.host}:{port}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        for pc in server.sessions.values():
            await pc.close()
        await runner.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
