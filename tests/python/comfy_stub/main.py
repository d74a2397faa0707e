"""Stand-in for ComfyUI's ``main.py``, for tests of an installed pack.

Loads one folder of ``custom_nodes`` the way ComfyUI's ``nodes.load_custom_node`` does: its
``__init__.py`` as a package named after the folder, ``WEB_DIRECTORY`` served under
``/extensions/<folder>/``, a V3 ``comfy_entrypoint`` whose extension lists the nodes. Then it
serves the app with the routes the pack added, on a free loopback port:

    python main.py CUSTOM_NODE_FOLDER

Prints ``listening on http://ADDR`` once ready and serves until stdin closes. ``GET
/object_info`` answers with the loaded node ids (ComfyUI's answer has their schemas too).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


async def load(folder: Path) -> tuple[list[str], Path | None]:
    spec = importlib.util.spec_from_file_location(folder.name, folder / "__init__.py")
    assert spec is not None and spec.loader is not None, f"{folder} has no __init__.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules[folder.name] = module
    spec.loader.exec_module(module)
    web = getattr(module, "WEB_DIRECTORY", None)
    extension = await module.comfy_entrypoint()
    await extension.on_load()
    nodes = await extension.get_node_list()
    return [node.define_schema().node_id for node in nodes], (folder / web if web else None)


async def serve(folder: Path) -> None:
    from aiohttp import web
    from server import PromptServer

    node_ids, web_dir = await load(folder)
    server = PromptServer.instance

    async def object_info(_request: web.Request) -> web.Response:
        return web.json_response({node_id: {} for node_id in node_ids})

    server.routes.get("/object_info")(object_info)
    server.app.add_routes(server.routes)
    if web_dir is not None and web_dir.is_dir():
        server.app.router.add_static(f"/extensions/{folder.name}", web_dir)
    runner = web.AppRunner(server.app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    sys.stdout.write(f"listening on http://{host}:{port}\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
