"""Faults around the relay process: a stopped relay, a killed relay, a failing Daydream.

- SIGSTOP for 3 s, then SIGCONT: the relay's liveness clock must not hold its own pause
  against a healthy agent, which keeps its lease while frames resume.
- SIGKILL: the pack's supervisor starts a new relay, and an agent behind the pack's proxy
  reconnects and publishes the stream the workflow creates again.
- Daydream answering 5xx (``RTC_LOCAL_FAULTS``): node code gets a clear, typed error and the
  relay stays healthy; "succeed, then fail" and the poller are covered in the relay's
  integration tests (lifecycle.rs, status_poller.rs, daydream_client.rs).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent import Agent
from conftest import RelayProcess, relay_binary

from comfy_extension.rtc_node.credentials import Credentials
from comfy_extension.rtc_node.relay_client import RelayClient, RelayEndpoint, RelayError
from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions

TOKEN = "faults-token-0123456789abcdef"
SIDE = 16


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


def frame() -> bytes:
    return bytes(SIDE * SIDE * 3)


def test_a_relay_stopped_for_3_s_keeps_a_healthy_agents_lease(relay_env: dict[str, str]) -> None:
    relay = RelayProcess({**relay_env, "RTC_RELAY_TOKEN": TOKEN}, [])
    url = relay.wait_ready()
    client = RelayClient(RelayEndpoint(url, TOKEN))
    agent = Agent(url, TOKEN, play_back=False)
    try:
        stream = client.create_stream({"name": "paused"})
        lease = agent.wait_lease(stream["id"])
        holder = client.get_stream(stream["id"])["lease"]
        assert holder is not None
        client.push_frame(stream["id"], frame(), SIDE, SIDE)
        agent.wait_for(lambda: len(agent.frames) >= 1)

        os.kill(relay.proc.pid, signal.SIGSTOP)
        time.sleep(3.0)  # the fault itself: the relay does not run for 3 s
        os.kill(relay.proc.pid, signal.SIGCONT)

        before = len(agent.frames)
        client.push_frame(stream["id"], frame(), SIDE, SIDE)
        agent.wait_for(lambda: len(agent.frames) > before, timeout=5)
        # Several ping intervals and one silence limit later, the lease has not moved.
        resumed, pushed = time.monotonic(), 0
        while time.monotonic() - resumed < 3.5:
            client.push_frame(stream["id"], frame(), SIDE, SIDE)
            pushed += 1
            time.sleep(0.1)  # a 10 fps source
        assert client.get_stream(stream["id"])["lease"] == holder
        assert not any(m.get("type") == "stop" for m in agent.messages), agent.messages
        grants = [m for m in agent.messages if m.get("type") == "publish"]
        assert grants == [lease], "the lease was granted again"
        # The agent is handed the newest frame each time: most of them, at 10 fps.
        agent.wait_for(lambda: len(agent.frames) >= before + pushed // 2, timeout=5)
    finally:
        agent.close()
        relay.stop()
    assert not any("agent gone" in line for line in relay.log), "".join(relay.log[-20:])


class ReconnectingTab:
    """An agent socket through the pack's proxy that reconnects when it drops, as the page's
    agent does, and counts the frames it is handed."""

    def __init__(self, proxy_url: str) -> None:
        self.url = proxy_url + "/rtc/api/v1/agent"
        self.connections = 0
        self.grants: list[dict[str, Any]] = []
        self.frames = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self._stop.is_set():
                try:
                    async with session.ws_connect(self.url, max_msg_size=64 << 20) as ws:
                        await self._serve(ws)
                except (aiohttp.ClientError, ConnectionError):
                    pass
                # The page's reconnect backoff (its first step).
                await asyncio.sleep(0.1)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_json({"type": "hello", "protocol": 1, "label": "tab", "publish": True})
        async for message in ws:
            if self._stop.is_set():
                return
            if message.type == aiohttp.WSMsgType.TEXT:
                body = json.loads(message.data)
                with self._changed:
                    if body["type"] == "welcome":
                        self.connections += 1
                    elif body["type"] == "publish":
                        self.grants.append(body)
                        live = {"stream_id": body["stream_id"], "role": "publisher"}
                        await ws.send_json({"type": "state", **live, "state": "live"})
                    self._changed.notify_all()
            elif message.type == aiohttp.WSMsgType.BINARY:
                with self._changed:
                    self.frames += 1
                    self._changed.notify_all()

    def wait_for(self, predicate, timeout: float = 15.0) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), "tab: condition not met"

    def stop(self) -> None:
        self._stop.set()


def test_a_killed_relay_is_restarted_and_the_agent_publishes_again(tmp_path: Path) -> None:
    from aiohttp import web

    from comfy_extension.rtc_node.proxy import RelayProxy

    supervisor = RelaySupervisor(
        SupervisorOptions(
            state_dir=tmp_path / "state", binary=relay_binary(), port=0, health_interval=0.2
        ),
        credentials=Credentials,
        binary_finder=lambda: (relay_binary(), []),
    )

    async def endpoint() -> RelayEndpoint:
        return await asyncio.get_running_loop().run_in_executor(None, supervisor.endpoint)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        proxy = RelayProxy(endpoint)
        routes = web.RouteTableDef()
        proxy.register(routes)
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        tab = ReconnectingTab(f"http://127.0.0.1:{port}")
        tab_task = asyncio.ensure_future(tab.run())

        def workflow() -> None:
            """What a queue does: create the stream (once per relay) and push frames."""
            client = RelayClient(supervisor.endpoint())
            stream = client.create_stream({"name": "supervised"})
            granted = len(tab.grants)
            tab.wait_for(lambda: len(tab.grants) > granted)
            assert tab.grants[-1]["stream_id"] == stream["id"]
            frames = tab.frames
            for _ in range(3):
                client.push_frame(stream["id"], frame(), SIDE, SIDE)
            tab.wait_for(lambda: tab.frames >= frames + 1)

        try:
            await loop.run_in_executor(None, workflow)
            assert tab.connections == 1
            pid = supervisor.status()["pid"]
            assert isinstance(pid, int)
            os.kill(pid, signal.SIGKILL)

            def restarted() -> bool:
                status = supervisor.status()
                return bool(status["running"]) and status["pid"] != pid

            await loop.run_in_executor(None, wait_until, restarted, 20, "supervisor restart")
            assert supervisor.status()["restarts"] >= 1
            # The tab reconnects through the same proxy URL to the new relay …
            await loop.run_in_executor(None, tab.wait_for, lambda: tab.connections >= 2)
            # … and publishes the stream the next queue creates there.
            await loop.run_in_executor(None, workflow)
        finally:
            tab.stop()
            tab_task.cancel()
            await proxy.close()
            await runner.cleanup()

    try:
        supervisor.endpoint()
        asyncio.run(scenario())
    finally:
        supervisor.stop()


def test_daydream_5xx_reaches_node_code_as_a_typed_error(relay_env: dict[str, str]) -> None:
    # Every create answered 502 by the (local) Daydream backend, for longer than the retries.
    faults = {
        "RTC_LOCAL_FAULTS": "create:502x50",
        "RTC_RETRY_BASE_MS": "10",
        "RTC_RETRY_CAP_MS": "20",
    }
    relay = RelayProcess({**relay_env, "RTC_RELAY_TOKEN": TOKEN, **faults}, [])
    url = relay.wait_ready()
    client = RelayClient(RelayEndpoint(url, TOKEN))
    try:
        with pytest.raises(RelayError) as failed:
            client.create_stream({"name": "unlucky"})
        assert failed.value.status == 503, failed.value
        assert failed.value.code == "daydream_unavailable", failed.value
        assert "502" in failed.value.message or "Daydream" in failed.value.message
        assert client.list_streams()["streams"] == [], "a failed create leaves nothing behind"
        assert relay.proc.poll() is None
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        relay.stop()
