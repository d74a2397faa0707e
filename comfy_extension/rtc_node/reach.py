"""How far the local backend's media reaches: as far as ComfyUI itself listens.

Signalling always goes through ComfyUI's origin, but the browser sends media straight to the
relay's UDP socket. When ComfyUI listens beyond loopback (``--listen``), a browser on another
machine must reach that socket too, so it binds the same scope and announces the host's
reachable addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

BIND_VARIABLE = "RTC_LOCAL_MEDIA_BIND"
# Settings a user made for the media socket win over what ``--listen`` implies.
USER_SETTINGS = (BIND_VARIABLE, "RTC_LOCAL_MEDIA_ANNOUNCE")
EVERY_INTERFACE = "0.0.0.0"


def comfy_listen() -> str | None:
    """ComfyUI's ``--listen`` value, or None when not running inside ComfyUI."""
    try:
        from comfy.cli_args import args
    except ImportError:
        return None
    listen = getattr(args, "listen", None)
    return listen if isinstance(listen, str) else None


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address.lower() == "localhost"


def _media_bind(address: str) -> str:
    """The media bind for one address ComfyUI listens on: itself when it is one IPv4
    address, every interface otherwise (the media server announces IPv4 candidates)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return EVERY_INTERFACE
    return str(ip) if ip.version == 4 and not ip.is_unspecified else EVERY_INTERFACE


def media_environment(listen: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The relay's media settings for a ComfyUI listening on ``listen`` (comma-separated, as
    ComfyUI takes it): nothing on loopback or when the user set them, else the bind."""
    if listen is None or any(environ.get(name) for name in USER_SETTINGS):
        return {}
    beyond = [a for a in (p.strip() for p in listen.split(",")) if a and not _is_loopback(a)]
    if not beyond:
        return {}
    binds = {_media_bind(address) for address in beyond}
    return {BIND_VARIABLE: binds.pop() if len(binds) == 1 else EVERY_INTERFACE}
