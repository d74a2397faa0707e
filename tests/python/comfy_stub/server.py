"""Stand-in for ComfyUI's ``server`` module: a PromptServer with routes and ``send_sync``."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class PromptServer:
    instance: PromptServer

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.messages: list[tuple[str, Any]] = []

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        self.messages.append((event, data))

    def toasts(self) -> list[dict[str, Any]]:
        return [data for event, data in self.messages if event == "rtc-stream-notification"]


PromptServer.instance = PromptServer()
