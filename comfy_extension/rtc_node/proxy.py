"""Same-origin proxy: `/rtc/api/{tail}` on ComfyUI's server to the relay's `/{tail}`.

The page only ever talks to its own origin (ComfyUI's origin check, `--offline` CSP, remote
use); this adds the relay's bearer token and streams bodies both ways, so SSE events and
WebSocket messages pass through as they arrive, never buffered beyond one message.

Whoever reaches ComfyUI reaches the relay through here (with ``--listen``, the network).
Changing the credentials decides where the Daydream key is sent, so that follows the rules
of ``access.py``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .access import TRUST_REMOTE_ENV, client_is_local, local_or_trusted
from .relay_client import RelayEndpoint

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import ClientSession, web

log = logging.getLogger("rtc_node.proxy")

PREFIX = "/rtc/api/"
# Frames travel over the agent socket: 4K RGBA plus header is ~33 MB.
MAX_MESSAGE = 64 * 1024 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Where the browser is, for the relay to choose how frames cross the agent socket (raw
# pixels on this machine, JPEG across a network). Only this proxy may say: a browser's own
# copy is dropped.
LOCALITY_HEADER = "X-RTC-Client-Locality"
# ComfyUI's own credentials and browser context stay on this side.
NOT_FORWARDED = HOP_BY_HOP | {
    "authorization",
    "cookie",
    "origin",
    "referer",
    "x-rtc-client-locality",
}
WS_HEADERS = frozenset({"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"})

EndpointProvider = Callable[[], Awaitable[RelayEndpoint]]

CREDENTIALS_ROUTE = "v1/credentials"
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def may_pass(request: web.Request, tail: str) -> bool:
    """Whether the request may go to the relay: everything but a credential change from a
    client that is not on this machine (when ComfyUI does not authenticate users)."""
    route = re.sub("/+", "/", tail).strip("/")
    if route != CREDENTIALS_ROUTE or request.method in READ_ONLY:
        return True
    return local_or_trusted(request)


def error_response(status: int, code: str, message: str) -> web.Response:
    from aiohttp import web

    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class RelayProxy:
    """aiohttp handler; one instance per ComfyUI server, one client session reused."""

    def __init__(self, endpoint: EndpointProvider) -> None:
        self._endpoint = endpoint
        self._session: ClientSession | None = None

    def _client(self) -> ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def register(self, routes: web.RouteTableDef) -> None:
        routes.route("*", PREFIX + "{tail:.*}")(self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        import aiohttp

        if not may_pass(request, request.match_info["tail"]):
            log.warning("refused a credentials change from %s", request.remote)
            return error_response(
                403,
                "credentials_local_only",
                "the Daydream credentials can be changed only from the machine running "
                f"ComfyUI; set {TRUST_REMOTE_ENV}=1 if ComfyUI authenticates its users",
            )
        try:
            endpoint = await self._endpoint()
        except Exception as error:  # the supervisor's message is the useful part
            return error_response(503, "relay_unavailable", str(error))
        target = endpoint.url + "/" + request.match_info["tail"]
        if request.query_string:
            target += "?" + request.query_string
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in NOT_FORWARDED and name.lower() not in WS_HEADERS
        }
        headers["Authorization"] = f"Bearer {endpoint.token}"
        try:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                headers[LOCALITY_HEADER] = "loopback" if client_is_local(request) else "remote"
                return await self._websocket(request, target, headers)
            return await self._http(request, target, headers)
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
            return error_response(502, "relay_unavailable", f"relay unreachable: {error}")

    async def _http(
        self, request: web.Request, target: str, headers: dict[str, str]
    ) -> web.StreamResponse:
        from aiohttp import web

        body = request.content if request.body_exists else None
        async with self._client().request(
            request.method, target, headers=headers, data=body, allow_redirects=False
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "set-cookie":
                    response.headers.add(name, value)
            length = upstream.headers.get("Content-Length")
            if length is not None:
                response.content_length = int(length)
            await response.prepare(request)
            # iter_any yields each chunk as soon as it arrives: SSE events are not held back.
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _websocket(
        self, request: web.Request, target: str, headers: dict[str, str]
    ) -> web.StreamResponse:
        from aiohttp import web

        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p
        ]
        headers.pop("Sec-WebSocket-Protocol", None)
        async with self._client().ws_connect(
            target.replace("http://", "ws://", 1),
            headers=headers,
            protocols=protocols,
            max_msg_size=MAX_MESSAGE,
            # Pings and pongs cross the proxy instead of being answered here, so the relay's
            # liveness check reaches the browser: a tab that vanished stops answering.
            autoping=False,
        ) as upstream:
            downstream = web.WebSocketResponse(
                protocols=[upstream.protocol] if upstream.protocol else (),
                max_msg_size=MAX_MESSAGE,
                autoping=False,
                # Browsers offer permessage-deflate and aiohttp accepts it by default: zlib
                # over every raw frame (1.4 MB at 720p) cut the hand-off to a few frames per
                # second, and JPEG frames do not shrink anyway.
                compress=False,
            )
            await downstream.prepare(request)
            await _pump_both(downstream, upstream)
            return downstream


async def _pump_both(
    downstream: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse
) -> None:
    """Copies messages both ways until either side closes, then closes the other."""

    async def copy(source, sink) -> None:  # noqa: ANN001 - both aiohttp socket kinds
        import aiohttp

        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type == aiohttp.WSMsgType.PING:
                await sink.ping(message.data)
            elif message.type == aiohttp.WSMsgType.PONG:
                await sink.pong(message.data)
            elif message.type == aiohttp.WSMsgType.ERROR:
                break
        await sink.close(code=source.close_code or 1000)

    tasks = [
        asyncio.ensure_future(copy(downstream, upstream)),
        asyncio.ensure_future(copy(upstream, downstream)),
    ]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            log.debug("websocket pump ended: %s", task.exception())


def supervised_endpoint() -> EndpointProvider:
    """The shared supervisor's endpoint, waited for off the event loop."""
    from . import runtime

    async def endpoint() -> RelayEndpoint:
        return await asyncio.get_running_loop().run_in_executor(None, runtime.supervisor().endpoint)

    return endpoint


def install(server: object) -> RelayProxy:
    """Registers the proxy on ComfyUI's ``PromptServer`` and closes it with the app."""
    proxy = RelayProxy(supervised_endpoint())
    proxy.register(server.routes)  # type: ignore[attr-defined]
    app = getattr(server, "app", None)
    if app is not None:

        async def close(_app: object) -> None:
            await proxy.close()

        app.on_cleanup.append(close)
    return proxy
