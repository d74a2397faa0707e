"""Stand-in for ComfyUI's ``main.py``, for tests of an installed pack.

Loads one folder of ``custom_nodes`` the way ComfyUI's ``nodes.load_custom_node`` does: its
``__init__.py`` as a package named after the folder, ``WEB_DIRECTORY`` served under
``/extensions/<folder>/``, a V3 ``comfy_entrypoint`` whose extension lists the nodes. Then it
serves the app with the routes the pack added, on a free loopback port:

    python main.py CUSTOM_NODE_FOLDER

Prints ``listening on http://ADDR`` once ready and serves until stdin closes. ``GET
/object_info`` answers with the loaded node ids (ComfyUI's answer has their schemas too).
``POST /prompt`` queues an API-format prompt as ComfyUI does (``{prompt, client_id?}`` →
``{prompt_id, number, node_errors}``), run one at a time by ``executor.Executor`` with the
pack's nodes and the core nodes the examples use; ``GET /history/{prompt_id}`` says how it
ended (``status.status_str`` ``success`` or ``error`` with the exception's text in
``status.messages``) and, unlike ComfyUI, what each node returned (``outputs``: numbers,
strings and booleans as they are, images as their shape and mean).
"""

from __future__ import annotations

import asyncio
import importlib.util
import queue
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


async def load(folder: Path) -> tuple[list[Any], Path | None]:
    spec = importlib.util.spec_from_file_location(folder.name, folder / "__init__.py")
    assert spec is not None and spec.loader is not None, f"{folder} has no __init__.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules[folder.name] = module
    spec.loader.exec_module(module)
    web = getattr(module, "WEB_DIRECTORY", None)
    extension = await module.comfy_entrypoint()
    await extension.on_load()
    nodes = await extension.get_node_list()
    return nodes, (folder / web if web else None)


def summary(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    shape = getattr(value, "shape", None)
    if shape is not None:
        return {"shape": list(shape), "mean": float(value.mean())}
    return repr(value)


class PromptQueue:
    """ComfyUI's prompt worker: one thread running queued prompts in order."""

    def __init__(self, nodes: list[Any]) -> None:
        from core_nodes import CORE_NODES
        from executor import Executor

        self.executor = Executor([*nodes, *CORE_NODES], client_id="")
        self.history: dict[str, dict[str, Any]] = {}
        self.count = 0
        self._queue: queue.Queue[tuple[str, dict[str, Any], str | None]] = queue.Queue()
        threading.Thread(target=self._work, name="prompt-worker", daemon=True).start()

    def put(self, prompt: dict[str, Any], client_id: str | None) -> tuple[str, int]:
        prompt_id = str(uuid.uuid4())
        self.count += 1
        self._queue.put((prompt_id, prompt, client_id))
        return prompt_id, self.count

    def _work(self) -> None:
        while True:
            prompt_id, prompt, client_id = self._queue.get()
            try:
                results = self.executor.run(prompt, extra_data={"client_id": client_id})
                outputs = {
                    node: [summary(value) for value in values] for node, values in results.items()
                }
                status = {"status_str": "success", "completed": True, "messages": []}
            except Exception as error:
                outputs = {}
                status = {"status_str": "error", "completed": False, "messages": [str(error)]}
            self.history[prompt_id] = {"status": status, "outputs": outputs}


async def serve(folder: Path) -> None:
    from aiohttp import web
    from server import PromptServer

    nodes, web_dir = await load(folder)
    node_ids = [node.define_schema().node_id for node in nodes]
    server = PromptServer.instance
    prompts = PromptQueue(nodes)

    async def object_info(_request: web.Request) -> web.Response:
        return web.json_response({node_id: {} for node_id in node_ids})

    async def post_prompt(request: web.Request) -> web.Response:
        body = await request.json()
        prompt_id, number = prompts.put(body["prompt"], body.get("client_id"))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def history(request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        done = prompts.history.get(prompt_id)
        return web.json_response({prompt_id: done} if done else {})

    server.routes.get("/object_info")(object_info)
    server.routes.post("/prompt")(post_prompt)
    server.routes.get("/history/{prompt_id}")(history)
    server.app.add_routes(server.routes)
    if web_dir is not None and web_dir.is_dir():
        server.app.router.add_static(f"/extensions/{folder.name}", web_dir)
    runner = web.AppRunner(server.app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    # ComfyUI records the first address it listens on so.
    server.address, server.port = host, port
    sys.stdout.write(f"listening on http://{host}:{port}\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
