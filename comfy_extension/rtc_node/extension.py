"""The ComfyExtension that ComfyUI's V3 loader receives from ``comfy_entrypoint``."""

from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

log = logging.getLogger("rtc_node")


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

        from . import proxy, routes, runtime

        proxy.install(PromptServer.instance)
        routes.register(PromptServer.instance.routes, runtime.supervisor, runtime.headless)
        # Start the relay now, in the background: ComfyUI's start-up never waits for it, and
        # a problem (no binary, early exit) is logged at once and shown in the sidebar.
        runtime.supervisor().start_background()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        await self.on_load()
        from .nodes import NODES

        return list(NODES)
