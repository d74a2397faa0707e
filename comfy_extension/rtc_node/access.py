"""Who may change what the pack does on this machine.

Whoever reaches ComfyUI reaches the pack's routes (with ``--listen``, the network). Actions
that decide where the Daydream key is sent, or that stop and start the relay, are allowed only
to clients on this machine, unless ComfyUI authenticates its users (behind an authenticating
reverse proxy, say) and the operator says so with ``RTC_TRUST_REMOTE_USERS=1``.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

TRUST_REMOTE_ENV = "RTC_TRUST_REMOTE_USERS"
# Set by reverse proxies: the socket's peer is then the proxy, not the user.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def client_is_local(request: web.Request) -> bool:
    """Whether the client is on this machine: a loopback peer that no reverse proxy stands in
    for."""
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    return not forwarded and _is_loopback(request.remote)


def local_or_trusted(request: web.Request) -> bool:
    """Whether the client is on this machine, or the operator trusts every ComfyUI user."""
    return os.environ.get(TRUST_REMOTE_ENV) == "1" or client_is_local(request)
