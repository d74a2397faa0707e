"""The same-origin proxy on a real aiohttp server: HTTP, SSE streaming, WebSocket pumping."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from conftest import RelayProcess

from comfy_extension.rtc_node.proxy import TRUST_REMOTE_ENV, RelayProxy, may_pass
from comfy_extension.rtc_node.relay_client import RelayEndpoint

TOKEN = "proxy-test-token"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def with_proxy(
    endpoint: Callable[[], Awaitable[RelayEndpoint]],
    body: Callable[[aiohttp.ClientSession, str], Awaitable[None]],
) -> None:
    proxy = RelayProxy(endpoint)
    routes = web.RouteTableDef()
    proxy.register(routes)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes(routes)
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            await body(session, url)
    finally:
        await proxy.close()
        await runner.cleanup()


def fixed(url: str) -> Callable[[], Awaitable[RelayEndpoint]]:
    async def endpoint() -> RelayEndpoint:
        return RelayEndpoint(url, TOKEN)

    return endpoint


class Upstream:
    """A relay-shaped upstream that records what reached it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.release_second_event = asyncio.Event()
        self.closed_by_client = asyncio.Event()
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/echo", self.echo)
        self.app.router.add_route("*", "/v1/credentials", self.echo)
        self.app.router.add_get("/v1/events", self.events)
        self.app.router.add_get("/v1/agent", self.agent)

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "query": request.query_string,
                "headers": dict(request.headers),
                "length": len(body),
                "sum": sum(body[::4096]),
            }
        )
        return web.json_response(
            {"error": {"code": "no_publisher", "message": "no tab"}},
            status=409,
            headers={"X-Frame-Sequence": "42", "Set-Cookie": "rtc_token=leak"},
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'event: stream\ndata: {"n": 1}\n\n')
        # The second event is sent only once the client has seen the first through the proxy.
        await asyncio.wait_for(self.release_second_event.wait(), 10)
        await response.write(b'event: stream\ndata: {"n": 2}\n\n')
        await response.write_eof()
        return response

    async def agent(self, request: web.Request) -> web.WebSocketResponse:
        self.seen.append({"headers": dict(request.headers)})
        socket_ = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await socket_.prepare(request)
        await socket_.send_str('{"type":"welcome"}')
        async for message in socket_:
            if message.type == aiohttp.WSMsgType.TEXT:
                await socket_.send_str("echo:" + message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await socket_.send_bytes(message.data[::-1])
        self.closed_by_client.set()
        return socket_


def run(coroutine: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 60))  # type: ignore[arg-type]


def test_healthz_through_the_proxy_reaches_the_real_relay(relay: RelayProcess) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/rtc/api/healthz") as response:
            assert response.status == 200
            health = await response.json()
            assert health["ok"] is True and health["backend"] == "local"

    run(with_proxy(fixed(relay.wait_ready()), body))


def test_http_adds_the_token_strips_browser_credentials_and_streams_bodies() -> None:
    async def scenario() -> None:
        upstream = Upstream()
        runner, upstream_url = await serve(upstream.app)
        payload = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # an 8 MB frame

        async def body(session: aiohttp.ClientSession, url: str) -> None:
            async with session.post(
                f"{url}/rtc/api/echo?after=3&wait_ms=10",
                data=payload,
                headers={
                    "Authorization": "Bearer comfy-user-token",
                    "Cookie": "comfy=session",
                    "Origin": "http://comfy.example",
                    "X-Frame-Width": "2048",
                },
            ) as response:
                assert response.status == 409
                assert await response.json() == {
                    "error": {"code": "no_publisher", "message": "no tab"}
                }
                assert response.headers["X-Frame-Sequence"] == "42"
                assert "Set-Cookie" not in response.headers

        try:
            await with_proxy(fixed(upstream_url), body)
        finally:
            await runner.cleanup()
        (seen,) = upstream.seen
        assert seen["method"] == "POST" and seen["query"] == "after=3&wait_ms=10"
        assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert seen["headers"]["X-Frame-Width"] == "2048"
        assert "Cookie" not in seen["headers"] and "Origin" not in seen["headers"]
        assert seen["headers"]["Host"] == upstream_url.removeprefix("http://")
        assert seen["length"] == len(payload) and seen["sum"] == sum(payload[::4096])

    run(scenario())


def test_sse_events_arrive_one_by_one_without_buffering() -> None:
    async def scenario() -> None:
        upstream = Upstream()
        runner, upstream_url = await serve(upstream.app)

        async def body(session: aiohttp.ClientSession, url: str) -> None:
            async with session.get(f"{url}/rtc/api/v1/events") as response:
                assert response.headers["Content-Type"] == "text/event-stream"
                first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
                assert json.loads(first.split(b"data: ")[1]) == {"n": 1}
                upstream.release_second_event.set()
                second = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
                assert json.loads(second.split(b"data: ")[1]) == {"n": 2}

        try:
            await with_proxy(fixed(upstream_url), body)
        finally:
            await runner.cleanup()

    run(scenario())


def test_websocket_messages_are_pumped_both_ways() -> None:
    async def scenario() -> None:
        upstream = Upstream()
        runner, upstream_url = await serve(upstream.app)
        frame = bytes(range(256)) * 16384  # 4 MB binary message

        async def body(session: aiohttp.ClientSession, url: str) -> None:
            # Offering permessage-deflate, as browsers do: deflating every raw frame costs more
            # than the frame's trip, so the proxy must decline it.
            async with session.ws_connect(
                f"{url.replace('http', 'ws')}/rtc/api/v1/agent",
                max_msg_size=64 * 1024 * 1024,
                compress=15,
            ) as ws:
                assert ws.compress == 0
                assert (await ws.receive_str(timeout=10)) == '{"type":"welcome"}'
                await ws.send_str('{"type":"hello"}')
                assert (await ws.receive_str(timeout=10)) == 'echo:{"type":"hello"}'
                await ws.send_bytes(frame)
                assert (await ws.receive_bytes(timeout=10)) == frame[::-1]
            await asyncio.wait_for(upstream.closed_by_client.wait(), 10)

        try:
            await with_proxy(fixed(upstream_url), body)
        finally:
            await runner.cleanup()
        assert upstream.seen[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"

    run(scenario())


def test_the_proxy_says_where_the_browser_is_and_a_browser_cannot_say_it() -> None:
    async def scenario() -> None:
        upstream = Upstream()
        runner, upstream_url = await serve(upstream.app)

        async def body(session: aiohttp.ClientSession, url: str) -> None:
            agent = f"{url.replace('http', 'ws')}/rtc/api/v1/agent"
            # A page on this machine claiming to be remote, and one behind a reverse proxy
            # (so anywhere) claiming to be local: the proxy's own view wins both times.
            for forged in (
                {"X-RTC-Client-Locality": "remote"},
                {"X-RTC-Client-Locality": "loopback", "X-Forwarded-For": "203.0.113.9"},
            ):
                async with session.ws_connect(agent, headers=forged) as ws:
                    assert (await ws.receive_str(timeout=10)) == '{"type":"welcome"}'
            # Plain HTTP requests carry no locality at all, forged or not.
            async with session.get(
                f"{url}/rtc/api/echo", headers={"X-RTC-Client-Locality": "remote"}
            ) as response:
                assert response.status == 409

        try:
            await with_proxy(fixed(upstream_url), body)
        finally:
            await runner.cleanup()

        def locality(seen: dict[str, Any]) -> list[str]:
            return [v for k, v in seen["headers"].items() if k.lower() == "x-rtc-client-locality"]

        assert [locality(seen) for seen in upstream.seen] == [["loopback"], ["remote"], []]

    run(scenario())


def test_a_dead_relay_gives_a_json_502() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/rtc/api/v1/streams") as response:
            assert response.status == 502
            error = (await response.json())["error"]
            assert error["code"] == "relay_unavailable"

    run(with_proxy(fixed(dead), body))


def test_a_relay_that_cannot_start_gives_a_json_503_with_the_reason() -> None:
    async def failing() -> RelayEndpoint:
        raise RuntimeError("rtc-relay binary not found (looked in: PATH)")

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/rtc/api/v1/streams") as response:
            assert response.status == 503
            error = (await response.json())["error"]
            assert error == {
                "code": "relay_unavailable",
                "message": "rtc-relay binary not found (looked in: PATH)",
            }

    run(with_proxy(failing, body))


def test_the_real_relay_events_and_agent_socket_pass_through(pack_relay) -> None:
    from agent import Agent

    from comfy_extension.rtc_node.relay_client import RelayClient

    endpoint = pack_relay.endpoint()
    client = RelayClient(endpoint)

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/rtc/api/v1/streams") as response:
            assert response.status == 200 and "streams" in await response.json()
        async with session.get(f"{url}/rtc/api/v1/events") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            created = await asyncio.get_running_loop().run_in_executor(
                None, client.create_stream, {"name": "through-the-proxy"}
            )
            while True:
                line = await asyncio.wait_for(response.content.readline(), 10)
                if line.startswith(b"data:") and created["id"].encode() in line:
                    break
        # The agent socket through the proxy: the proxy supplies the token.
        agent = Agent(f"{url}/rtc/api", token="not-the-relay-token")
        try:
            await asyncio.get_running_loop().run_in_executor(None, agent.wait_lease, created["id"])
        finally:
            agent.close()

    run(with_proxy(fixed_endpoint(endpoint), body))


def fixed_endpoint(endpoint: RelayEndpoint) -> Callable[[], Awaitable[RelayEndpoint]]:
    async def provide() -> RelayEndpoint:
        return endpoint

    return provide


class ProxiedTab:
    """An agent socket through the proxy that answers pings itself, as a browser does, until
    it goes silent like a tab whose laptop went to sleep."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.answering = True
        self.grants: list[dict[str, Any]] = []
        self.frames = 0
        self.granted = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str) -> ProxiedTab:
        ws = await session.ws_connect(
            f"{url}/rtc/api/v1/agent", autoping=False, max_msg_size=64 * 1024 * 1024
        )
        await ws.send_json({"type": "hello", "protocol": 1, "label": "tab", "publish": True})
        welcome = await ws.receive_json(timeout=10)
        assert welcome["type"] == "welcome", welcome
        return cls(ws)

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.PING:
                if self.answering:
                    await self.ws.pong(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                self.frames += 1
            elif message.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                if data["type"] == "publish":
                    self.grants.append(data)
                    self.granted.set()

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


def test_a_silent_tab_behind_the_proxy_loses_its_lease_within_two_seconds(pack_relay) -> None:
    from comfy_extension.rtc_node.relay_client import RelayClient

    client = RelayClient(pack_relay.endpoint())

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        loop = asyncio.get_running_loop()
        first = await ProxiedTab.open(session, url)
        created = await loop.run_in_executor(None, client.create_stream, {"name": "liveness"})
        await asyncio.wait_for(first.granted.wait(), 10)
        second = await ProxiedTab.open(session, url)
        try:
            # The first tab vanishes: its socket stays open (the proxy still holds it) but
            # nothing answers. The proxy must not answer the relay's pings in its place.
            first.answering = False
            went_silent = loop.time()
            await asyncio.wait_for(second.granted.wait(), 5)
            moved_after = loop.time() - went_silent
            assert moved_after < 2.0, f"the lease moved only after {moved_after:.2f} s"
            stream = await loop.run_in_executor(None, client.get_stream, created["id"])
            assert stream["lease"] is not None
            assert second.grants[0]["stream_id"] == created["id"]
        finally:
            await first.close()
            await second.close()

    run(with_proxy(fixed_endpoint(pack_relay.endpoint()), body))


def test_a_busy_tab_behind_the_proxy_keeps_its_lease_under_a_frame_flood(pack_relay) -> None:
    from comfy_extension.rtc_node.relay_client import RelayClient

    client = RelayClient(pack_relay.endpoint())
    width, height = 1920, 1080
    frame = bytes(width * height * 3)

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        loop = asyncio.get_running_loop()
        holder = await ProxiedTab.open(session, url)
        created = await loop.run_in_executor(None, client.create_stream, {"name": "busy"})
        await asyncio.wait_for(holder.granted.wait(), 10)
        standby = await ProxiedTab.open(session, url)
        try:
            # Six-megabyte frames as fast as the relay takes them, for longer than the
            # liveness budget: pings must still get through and be answered.
            deadline = loop.time() + 4.0
            posted = 0
            while loop.time() < deadline:
                await loop.run_in_executor(
                    None, client.push_frame, created["id"], frame, width, height
                )
                posted += 1
            assert holder.frames > 0, "the holder received no frames"
            assert not standby.granted.is_set(), "the busy holder lost its lease"
            assert len(holder.grants) == 1
            stream = await loop.run_in_executor(None, client.get_stream, created["id"])
            assert stream["frames"]["received"] >= posted
        finally:
            await holder.close()
            await standby.close()

    run(with_proxy(fixed_endpoint(pack_relay.endpoint()), body))


def test_credential_changes_are_refused_from_other_machines() -> None:
    async def scenario() -> None:
        upstream = Upstream()
        runner, upstream_url = await serve(upstream.app)

        async def body(session: aiohttp.ClientSession, url: str) -> None:
            put = {"json": {"api_url": "https://api.daydream.live", "api_key": "k"}}
            # Behind a reverse proxy the peer is the proxy; the user may be anywhere.
            for forwarded in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=1.2.3.4"}):
                for path in ("v1/credentials", "v1//credentials/"):
                    async with session.put(
                        f"{url}/rtc/api/{path}", headers=forwarded, **put
                    ) as response:
                        assert response.status == 403
                        error = (await response.json())["error"]
                        assert error["code"] == "credentials_local_only"
                        assert TRUST_REMOTE_ENV in error["message"]
            assert upstream.seen == []
            # Reading them is fine from anywhere; a change from this machine passes.
            async with session.get(
                f"{url}/rtc/api/v1/credentials", headers={"X-Forwarded-For": "203.0.113.9"}
            ) as response:
                assert response.status == 409  # the stand-in upstream's answer
            async with session.put(f"{url}/rtc/api/v1/credentials", **put) as response:
                assert response.status == 409
            assert [seen["method"] for seen in upstream.seen] == ["GET", "PUT"]

        try:
            await with_proxy(fixed(upstream_url), body)
        finally:
            await runner.cleanup()

    run(scenario())


def test_a_remote_peer_may_change_credentials_only_when_comfyui_authenticates(
    monkeypatch: Any,
) -> None:
    from aiohttp.test_utils import make_mocked_request

    class Transport:
        def __init__(self, peer: str) -> None:
            self.peer = peer

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return (self.peer, 50000) if name == "peername" else default

    def put(peer: str) -> web.Request:
        return make_mocked_request("PUT", "/rtc/api/v1/credentials", transport=Transport(peer))

    monkeypatch.delenv(TRUST_REMOTE_ENV, raising=False)
    assert may_pass(put("127.0.0.1"), "v1/credentials")
    assert may_pass(put("::1"), "v1/credentials")
    assert not may_pass(put("192.168.1.20"), "v1/credentials")
    assert may_pass(put("192.168.1.20"), "v1/streams")
    monkeypatch.setenv(TRUST_REMOTE_ENV, "1")
    assert may_pass(put("192.168.1.20"), "v1/credentials")
