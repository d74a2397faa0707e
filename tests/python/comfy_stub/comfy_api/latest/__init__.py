"""Test stand-in for ``comfy_api.latest``: the V3 node schema surface the pack uses."""

from __future__ import annotations

from . import io, ui


class ComfyExtension:
    async def on_load(self) -> None:
        return None

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        raise NotImplementedError


__all__ = ["ComfyExtension", "io", "ui"]
