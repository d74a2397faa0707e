"""The pack's own routes on a real aiohttp server: the UI files under /rtc/ui/ (types, caching,
no listing, no traversal, a missing wasm package) and the relay's status and restart."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import relay_binary
from test_proxy import serve
from yarl import URL

from comfy_extension.rtc_node import assets, routes
from comfy_extension.rtc_node.access import TRUST_REMOTE_ENV
from comfy_extension.rtc_node.credentials import Credentials
from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions

Body = Callable[[aiohttp.ClientSession, str], Awaitable[None]]


class Control:
    """A supervisor stand-in that records restarts."""

    def __init__(self) -> None:
        self.restarts = 0

    def status(self) -> dict[str, object]:
        return {
            "state": "failed",
            "reason": "rtc-relay binary not found",
            "log_tail": ["line"],
            "restarts": self.restarts,
            "adopted": False,
            "url": "http://127.0.0.1:1",
            "pid": 4242,
        }

    def restart(self) -> None:
        self.restarts += 1


class Headless:
    """A headless agent manager stand-in that records the setting."""

    def __init__(self) -> None:
        self.enabled: list[bool] = []

    def status(self) -> dict[str, object]:
        return {"state": "off" if self.enabled[-1:] == [False] else "idle", "mode": "auto"}

    def set_enabled(self, enabled: bool) -> dict[str, object]:
        self.enabled.append(enabled)
        return self.status()


def with_routes(relay: Any, body: Body, headless: Headless | None = None) -> None:
    manager = headless or Headless()

    async def scenario() -> None:
        table = web.RouteTableDef()
        routes.register(table, lambda: relay, lambda: manager)
        app = web.Application()
        app.add_routes(table)
        runner, url = await serve(app)
        try:
            async with aiohttp.ClientSession() as session:
                await body(session, url)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


@pytest.fixture
def web_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A web folder and a wasm package of known content, outside the checkout."""
    www, pkg = tmp_path / "www", tmp_path / "pkg"
    (www / "js").mkdir(parents=True)
    (www / "css").mkdir()
    pkg.mkdir()
    (www / "preview.html").write_text("<!doctype html><title>preview</title>")
    (www / "js" / "comfy.mjs").write_text("export const ui = 1;\n")
    (www / "css" / "rtc.css").write_text(".rtc-root {}\n")
    (www / ".env").write_text("DAYDREAM_API_KEY=secret\n")
    (www / "notes.txt").write_text("not a page\n")
    (tmp_path / "outside.js").write_text("export const outside = 1;\n")
    (www / "js" / "link.mjs").symlink_to(tmp_path / "outside.js")
    (pkg / "rtc_client.js").write_text("export default async function init() {}\n")
    (pkg / "rtc_client_bg.wasm").write_bytes(b"\0asm\1\0\0\0")
    monkeypatch.setattr(assets, "WWW_DIR", www)
    monkeypatch.setattr(assets, "wasm_dir", lambda: pkg)
    return www, pkg


def test_files_are_served_with_their_types_and_revalidated_every_time(web_folders) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        expected = {
            "preview.html": "text/html",
            "js/comfy.mjs": "text/javascript",
            "css/rtc.css": "text/css",
            "pkg/rtc_client.js": "text/javascript",
            "pkg/rtc_client_bg.wasm": "application/wasm",
        }
        for path, content_type in expected.items():
            async with session.get(f"{url}/rtc/ui/{path}") as response:
                assert response.status == 200, path
                assert response.content_type == content_type, path
                assert response.headers["Cache-Control"] == "no-cache"
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                etag = response.headers["ETag"]
                content = await response.read()
            assert (
                content
                == (
                    (web_folders[1] / path[4:])
                    if path.startswith("pkg/")
                    else web_folders[0] / path
                ).read_bytes()
            )
            # The browser revalidates: an unchanged file costs a 304, a changed one is sent.
            async with session.get(
                f"{url}/rtc/ui/{path}", headers={"If-None-Match": etag}
            ) as response:
                assert response.status == 304, path

    with_routes(Control(), body)


@pytest.mark.parametrize(
    "raw",
    [
        "/rtc/ui/",
        "/rtc/ui/js",
        "/rtc/ui/js/",
        "/rtc/ui/pkg/",
        "/rtc/ui/.env",
        "/rtc/ui/notes.txt",
        "/rtc/ui/js/link.mjs",
        "/rtc/ui/../outside.js",
        "/rtc/ui/js/%2e%2e/%2e%2e/outside.js",
        "/rtc/ui/js/..%2f..%2foutside.js",
        "/rtc/ui/js//comfy.mjs",
        "/rtc/ui/js%5c..%5c..%5coutside.js",
        "/rtc/ui/pkg/../../outside.js",
    ],
)
def test_no_listing_no_hidden_files_no_way_out(web_folders, raw: str) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        # Sent as written: the client would otherwise resolve the dots itself.
        async with session.get(URL(url + raw, encoded=True)) as response:
            assert response.status == 404, raw
            text = await response.text()
        assert "export const outside" not in text and "secret" not in text

    with_routes(Control(), body)


def test_a_missing_wasm_package_is_a_clear_error(web_folders, monkeypatch) -> None:
    monkeypatch.setattr(assets, "wasm_dir", lambda: None)

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/rtc/ui/pkg/rtc_client.js") as response:
            assert response.status == 404
            error = (await response.json())["error"]
        assert error["code"] == "wasm_package_missing"
        assert "requirements" in error["message"] and "build-wasm.sh" in error["message"]
        # The pages themselves are still there.
        async with session.get(f"{url}/rtc/ui/preview.html") as response:
            assert response.status == 200

    with_routes(Control(), body)


def test_every_module_the_frontend_loads_is_served_from_the_real_web_folder() -> None:
    """The checkout's own www/: the entry points main.js loads, and what they import."""
    import re

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        pending = ["js/comfy.mjs", "css/rtc.css", "preview.html", "agent.html"]
        seen: set[str] = set()
        while pending:
            path = pending.pop()
            if path in seen or path.startswith("pkg/"):
                continue
            seen.add(path)
            async with session.get(f"{url}/rtc/ui/{path}") as response:
                assert response.status == 200, path
                text = await response.text()
            if path.endswith(".mjs"):
                folder = path.rsplit("/", 1)[0]
                for name in re.findall(r'from "\./([\w.-]+\.mjs)"', text):
                    pending.append(f"{folder}/{name}")
        assert {"js/relay-status.mjs", "js/sidebar.mjs", "js/api-base.mjs"} <= seen

    with_routes(Control(), body)


def test_the_status_route_says_why_without_addresses_or_pids() -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/rtc/relay") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            status = await response.json()
        assert status == {
            "state": "failed",
            "reason": "rtc-relay binary not found",
            "log_tail": ["line"],
            "restarts": 0,
            "adopted": False,
            "headless": {"state": "idle", "mode": "auto"},
        }

    with_routes(Control(), body)


def test_the_headless_setting_is_checked_and_local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    headless = Headless()

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        monkeypatch.delenv(TRUST_REMOTE_ENV, raising=False)
        for bad in ({"enabled": "yes"}, {}, [True]):
            async with session.put(f"{url}/rtc/headless", json=bad) as response:
                assert response.status == 422
                assert (await response.json())["error"]["code"] == "invalid_body"
        async with session.put(
            f"{url}/rtc/headless", data=b"{", headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 422
        async with session.put(
            f"{url}/rtc/headless",
            json={"enabled": False},
            headers={"X-Forwarded-For": "203.0.113.9"},
        ) as response:
            assert response.status == 403
            error = (await response.json())["error"]
        assert error["code"] == "headless_setting_local_only"
        assert TRUST_REMOTE_ENV in error["message"]
        assert headless.enabled == []
        async with session.put(f"{url}/rtc/headless", json={"enabled": False}) as response:
            assert response.status == 200
            assert (await response.json())["state"] == "off"
        assert headless.enabled == [False]

    with_routes(Control(), body, headless)


def test_a_restart_is_refused_from_other_machines_unless_comfyui_authenticates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    control = Control()

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        monkeypatch.delenv(TRUST_REMOTE_ENV, raising=False)
        for forwarded in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=1.2.3.4"}):
            async with session.post(f"{url}/rtc/relay/restart", headers=forwarded) as response:
                assert response.status == 403
                error = (await response.json())["error"]
            assert error["code"] == "restart_local_only"
            assert TRUST_REMOTE_ENV in error["message"]
        assert control.restarts == 0
        # Reading it is not a restart.
        async with session.get(f"{url}/rtc/relay/restart") as response:
            assert response.status == 405
        async with session.post(f"{url}/rtc/relay/restart") as response:
            assert response.status == 202
            assert (await response.json())["restarts"] == 1
        monkeypatch.setenv(TRUST_REMOTE_ENV, "1")
        async with session.post(
            f"{url}/rtc/relay/restart", headers={"X-Forwarded-For": "203.0.113.9"}
        ) as response:
            assert response.status == 202
        assert control.restarts == 2

    with_routes(control, body)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_missing_binary_is_shown_and_restart_brings_the_relay_up(tmp_path: Path) -> None:
    """The real supervisor behind the routes: no binary, then the user installs it."""
    installed: list[Path] = []
    supervisor = RelaySupervisor(
        SupervisorOptions(state_dir=tmp_path / "state", port=0),
        credentials=lambda: Credentials(api_key=None, source="none"),
        binary_finder=lambda: (
            (installed[0], []) if installed else (None, [str(tmp_path / "bin" / "rtc-relay")])
        ),
    )
    supervisor.start_background()
    wait_for(lambda: supervisor.status()["state"] == "failed")

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async def status() -> dict[str, Any]:
            async with session.get(f"{url}/rtc/relay") as response:
                return await response.json()

        down = await status()
        assert down["state"] == "failed"
        assert "rtc-relay binary not found" in down["reason"]
        assert str(tmp_path / "bin" / "rtc-relay") in down["reason"]
        installed.append(relay_binary())
        async with session.post(f"{url}/rtc/relay/restart") as response:
            assert response.status == 202
            assert (await response.json())["state"] in ("starting", "restarting", "running")
        deadline = time.monotonic() + 20
        while (up := await status())["state"] != "running":
            assert up["state"] in ("starting", "restarting"), up
            assert time.monotonic() < deadline, up
            await asyncio.sleep(0.05)
        assert up["reason"] is None and up["restarts"] == 1

    try:
        with_routes(supervisor, body)
        pid = supervisor.status()["pid"]
        assert isinstance(pid, int)
        os.kill(pid, 0)
    finally:
        supervisor.stop()
