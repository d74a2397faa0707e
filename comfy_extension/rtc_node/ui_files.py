"""`GET /rtc/ui/{path}`: the pages, UI modules and styles (`www/`) and, under `pkg/`, the wasm
package, served by ComfyUI itself.

One home for every file the frontend loads, whether the relay runs or not: the sidebar can
then say why the relay is down, and a relay of another version never serves part of the UI.
Every answer says `no-cache` and carries an ETag, so the browser revalidates each file and
never mixes a cached module with a newer one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import assets

if TYPE_CHECKING:
    from aiohttp import web

PREFIX = "/rtc/ui/"
PKG = "pkg"
# What the pages load; anything else (sources maps, stamps, dot files) is not served.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _error(status: int, code: str, message: str) -> web.Response:
    from .proxy import error_response

    response = error_response(status, code, message)
    response.headers.update(NO_CACHE)
    return response


def _not_found(tail: str) -> web.Response:
    return _error(404, "not_found", f"no such file in the pack's web folder: {tail}")


def _wasm_missing() -> web.Response:
    return _error(
        404,
        "wasm_package_missing",
        "The wasm package (rtc_client.js, rtc_client_bg.wasm) is not installed, so the browser "
        "agent and the players cannot start. Reinstall the pack with its requirements "
        "(pip install -r requirements.txt), or in a checkout build it with "
        "scripts/build-wasm.sh.",
    )


def resolve(tail: str) -> Path | web.Response:
    """The file `tail` names below the web folder or the wasm package, or the error to send.

    Only plain relative names of known file types: no empty, `.` or `..` segments, no hidden
    files, no backslashes, nothing that resolves (through links) outside its folder."""
    parts = tail.split("/")
    if any(not p or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return _not_found(tail)
    if parts[0] == PKG:
        base = assets.wasm_dir()
        if base is None:
            return _wasm_missing()
        parts = parts[1:]
    else:
        base = assets.WWW_DIR
    if not parts or Path(parts[-1]).suffix not in CONTENT_TYPES:
        return _not_found(tail)
    root = base.resolve()
    path = root.joinpath(*parts).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return _not_found(tail)
    return path


async def handle(request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    found = resolve(request.match_info["tail"])
    if not isinstance(found, Path):
        return found
    headers = {**NO_CACHE, "Content-Type": CONTENT_TYPES[found.suffix]}
    return web.FileResponse(found, headers=headers)


def register(routes: web.RouteTableDef) -> None:
    routes.get(PREFIX + "{tail:.*}")(handle)
