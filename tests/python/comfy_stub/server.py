"""Stand-in for ComfyUI's ``server`` module: a PromptServer with routes and ``send_sync``.

``address`` and ``port`` are where it listens (ComfyUI sets them once it does); ``client_id``
is the id of the client whose prompt is running (``None`` between prompts),
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
        # Where ComfyUI listens, set once it does.
        self.address: str | None = None
        self.port: int | None = None
        self.messages: list[tuple[str, Any, str | None]] = []

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        self.messages.append((event, data, sid))


PromptServer.instance = PromptServer()
