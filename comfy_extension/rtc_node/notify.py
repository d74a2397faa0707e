"""Toasts in the ComfyUI tab, sent over ComfyUI's own websocket."""

from __future__ import annotations

import logging
from typing import Literal

log = logging.getLogger("rtc_node")

EVENT = "rtc-stream-notification"
Severity = Literal["success", "info", "warn", "error"]


def toast(severity: Severity, summary: str, detail: str) -> None:
    """Broadcasts a toast; the web extension shows it. Never fails the node."""
    try:
        from server import PromptServer

        PromptServer.instance.send_sync(
            EVENT, {"severity": severity, "summary": summary, "detail": detail}
        )
    except Exception:  # a toast must never break a workflow
        log.debug("toast not delivered: %s: %s", summary, detail, exc_info=True)
