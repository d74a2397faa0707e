"""Stand-in for ComfyUI's ``server`` module: a PromptServer with routes and ``send_sync``.

``client_id`` is the id of the client whose prompt is running (``None`` between prompts),
as ComfyUI's executor sets it; ``messages`` records ``(event, data, sid)``, where a ``None``
sid is a broadcast to every client.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web


class PromptServer:
    instance: PromptServer

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.client_id: str | None = None
        self.messages: list[tuple[str, Any, str | None]] = []

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        self.messages.append((event, data, sid))


PromptServer.instance = PromptServer()
