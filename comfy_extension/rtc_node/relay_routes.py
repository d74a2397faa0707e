"""`GET /rtc/relay` and `POST /rtc/relay/restart`: the supervisor's view of the relay, served
by ComfyUI so the sidebar can say why the relay is down (and offer to restart it) when the
relay itself cannot answer; with it the headless agent's state, and `PUT /rtc/headless`, its
setting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .access import TRUST_REMOTE_ENV, local_or_trusted

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("rtc_node.relay_routes")

STATUS_ROUTE = "/rtc/relay"
RESTART_ROUTE = "/rtc/relay/restart"
HEADLESS_ROUTE = "/rtc/headless"
# What the page needs; the relay's address, pid and token stay on the server.
PUBLIC_FIELDS = ("state", "reason", "log_tail", "restarts", "adopted")


class RelayControl(Protocol):
    def status(self) -> dict[str, object]: ...

    def restart(self) -> None: ...


class HeadlessControl(Protocol):
    def status(self) -> dict[str, object]: ...

    def set_enabled(self, enabled: bool) -> dict[str, object]: ...


def _status(relay: RelayControl) -> dict[str, object]:
    status = relay.status()
    return {name: status.get(name) for name in PUBLIC_FIELDS}


def _refused_remotely(request: web.Request, code: str, what: str) -> web.Response | None:
    """The local-only rule of `access.py`: a 403 naming `what`, or None when allowed."""
    from .proxy import error_response

    if local_or_trusted(request):
        return None
    log.warning("refused %s from %s", code, request.remote)
    return error_response(
        403,
        code,
        f"{what} only from the machine running ComfyUI; set {TRUST_REMOTE_ENV}=1 if ComfyUI "
        "authenticates its users",
    )


def register(
    routes: web.RouteTableDef,
    relay: Callable[[], RelayControl],
    headless: Callable[[], HeadlessControl],
) -> None:
    """Adds the routes; `relay` gives the supervisor and `headless` the headless agent
    manager (called per request, so tests and embedders can swap them)."""
    from aiohttp import web

    @routes.get(STATUS_ROUTE)
    async def status(_request: web.Request) -> web.Response:
        body = {**_status(relay()), "headless": headless().status()}
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    @routes.put(HEADLESS_ROUTE)
    async def headless_setting(request: web.Request) -> web.Response:
        from .proxy import error_response

        what = "the headless agent can be turned on or off"
        if refused := _refused_remotely(request, "headless_setting_local_only", what):
            return refused
        try:
            body = await request.json()
        except ValueError:
            body = None
        enabled = body.get("enabled") if isinstance(body, dict) else None
        if not isinstance(enabled, bool):
            return error_response(
                422, "invalid_body", 'send {"enabled": true} or {"enabled": false}'
            )
        control = headless()
        # The setting is a file in the state folder: off the event loop.
        answer = await asyncio.get_running_loop().run_in_executor(
            None, control.set_enabled, enabled
        )
        return web.json_response(answer)

    @routes.post(RESTART_ROUTE)
    async def restart(request: web.Request) -> web.Response:
        from .proxy import error_response
        from .supervisor import RelayStartError

        what = "the relay can be restarted"
        if refused := _refused_remotely(request, "restart_local_only", what):
            return refused
        control = relay()
        log.info("relay restart requested from %s", request.remote)
        try:
            # Stopping waits for the relay to close its streams: off the event loop.
            await asyncio.get_running_loop().run_in_executor(None, control.restart)
        except RelayStartError as error:
            return error_response(409, "restart_refused", str(error))
        return web.json_response(_status(control), status=202)
