"""The pack's own routes on ComfyUI's server, besides the relay proxy: the catalog, the UI
files and the relay's status and restart. They answer whether the relay runs or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from .relay_routes import HeadlessControl, RelayControl

CATALOG_ROUTE = "/rtc/catalog"


async def catalog_route(_request: object) -> web.Response:
    """`GET /rtc/catalog`: the pack's catalog.json, so the node editor has the models,
    ControlNet choices and limits even while the relay is down."""
    from aiohttp import web

    from .params import CATALOG

    return web.json_response(CATALOG)


def register(
    routes: web.RouteTableDef,
    relay: Callable[[], RelayControl],
    headless: Callable[[], HeadlessControl],
) -> None:
    from . import relay_routes, ui_files

    routes.get(CATALOG_ROUTE)(catalog_route)
    ui_files.register(routes)
    relay_routes.register(routes, relay, headless)
