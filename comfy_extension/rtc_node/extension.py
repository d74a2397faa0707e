"""The ComfyExtension that ComfyUI's V3 loader receives from ``comfy_entrypoint``."""

from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

log = logging.getLogger("rtc_node")


async def catalog_route(_request: object) -> object:
    """`GET /rtc/catalog`: the pack's catalog.json, served by ComfyUI so the node editor has
    the models, ControlNet choices and limits even while the relay is down."""
    from aiohttp import web

    from .params import CATALOG

    return web.json_response(CATALOG)


class RTCNodeExtension(ComfyExtension):
    def __init__(self) -> None:
        self._loaded = False

    async def on_load(self) -> None:
        # ComfyUI releases that define on_load but never call it exist (0.3.6x): the node list
        # request below runs it too, before ComfyUI adds its routes to the app.
        if self._loaded:
            return
        self._loaded = True
        from server import PromptServer

        from . import proxy, runtime

        proxy.install(PromptServer.instance)
        PromptServer.instance.routes.get("/rtc/catalog")(catalog_route)
        # Start the relay now, in the background: ComfyUI's start-up never waits for it, and
        # a problem (no binary, early exit) is logged at once and reported on first use.
        runtime.supervisor().start_background()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        await self.on_load()
        from .nodes import NODES

        return list(NODES)
