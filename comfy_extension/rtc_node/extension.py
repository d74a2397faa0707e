"""The ComfyExtension that ComfyUI's V3 loader receives from ``comfy_entrypoint``."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io


class RTCNodeExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return []
