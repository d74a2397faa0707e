"""Toasts in the ComfyUI tab whose prompt caused them, over ComfyUI's own websocket."""

from __future__ import annotations

import logging
from typing import Literal

log = logging.getLogger("rtc_node")

EVENT = "rtc-stream-notification"
Severity = Literal["success", "info", "warn", "error"]


def toast(severity: Severity, summary: str, detail: str) -> None:
    """Sends a toast to the client that queued the running prompt. Never fails the node.

    ComfyUI sets ``PromptServer.instance.client_id`` from the prompt's ``client_id`` while it
    executes; a prompt queued without one (an API script) has no tab to show it, so the
    message only goes to the log, like ComfyUI's own progress events.
    """
    log.info("%s: %s", summary, detail)
    try:
        from server import PromptServer

        client_id = PromptServer.instance.client_id
        if client_id is None:
            return
        PromptServer.instance.send_sync(
            EVENT, {"severity": severity, "summary": summary, "detail": detail}, client_id
        )
    except Exception:  # a toast must never break a workflow
        log.debug("toast not delivered: %s: %s", summary, detail, exc_info=True)
