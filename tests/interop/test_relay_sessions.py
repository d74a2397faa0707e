"""aiortc publishes and two aiortc viewers play through the full relay's own signalling
routes (`/v1/streams/{id}/whip?lease=…` and `/whep`): each viewer is its own session, both
play at once, and ending one leaves the other playing."""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
from conftest import Namespace, Relay
from peers import AiortcPeer

# aiortc's VideoStreamTrack sends 30 frames a second.
FPS = 30
WINDOW_FRAMES = 4 * FPS


class Agent:
    """A minimal browser agent: says hello on the relay's agent socket, answers its pings
    (aiohttp does, while the socket is read) and reports what the relay sends."""

    def __init__(self, relay: Relay) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._relay = relay
        self._stop = threading.Event()
        self._ended = threading.Event()
        self.closed_early: str | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        import aiohttp

        url = self._relay.url.replace("http://", "ws://") + "/v1/agent"
        headers = {"authorization": f"Bearer {self._relay.token}"}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(url, headers=headers, heartbeat=None) as ws,
            ):
                hello = {"type": "hello", "protocol": 1, "label": "t", "publish": True}
                await ws.send_json(hello)
                while not self._stop.is_set():
                    try:
                        message = await ws.receive(timeout=0.1)
                    except TimeoutError:
                        continue
                    if message.type == aiohttp.WSMsgType.TEXT:
                        self.messages.put(json.loads(message.data))
                    elif message.type != aiohttp.WSMsgType.BINARY:
                        self.closed_early = f"agent socket ended: {message.type.name}"
                        return
        finally:
            self._ended.set()

    def next(self, kind: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            assert self.closed_early is None, self.closed_early
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind!r} message from the relay"
            try:
                message = self.messages.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if message.get("type") == kind:
                return message

    def close(self) -> None:
        self._stop.set()
        self._ended.wait(timeout=10)


@pytest.fixture
def agent(relay: Relay) -> Iterator[Agent]:
    client = Agent(relay)
    yield client
    client.close()


def frames_up_to(viewer: AiortcPeer, first: int, last: int, timeout: float) -> list[dict[str, Any]]:
    """The viewer's frame reports numbered first..last, read until it passes `last`."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"viewer stalled; last frames {[f['frame'] for f in seen[-5:]]}"
        report = viewer.next(lambda m: "frame" in m or "track" in m or "state" in m, remaining)
        assert report.get("track") != "ended", "the viewer's track ended"
        assert report.get("state") not in ("closed", "failed"), f"viewer {report['state']}"
        if "frame" not in report or report["frame"] < first:
            continue
        if report["frame"] > last:
            return seen
        seen.append(report)


def check_played(name: str, frames: list[dict[str, Any]], first: int, last: int) -> None:
    """Nearly every frame of first..last arrived, in order, with its picture intact."""
    numbers = [f["frame"] for f in frames]
    expected = last - first + 1
    assert len(frames) >= expected * 0.9, (
        f"{name} got {len(frames)} of {expected} frames: {numbers}"
    )
    assert all(b > a for a, b in itertools.pairwise(numbers)), f"{name} out of order: {numbers}"
    gaps = [b - a for a, b in itertools.pairwise([first - 1, *numbers, last + 1])]
    assert max(gaps) <= FPS // 3, f"{name} went blind for {max(gaps)} frames: {numbers}"
    bad = [f for f in frames if not f["colours_ok"] or f["size"] != [320, 240]]
    assert not bad, f"{name} decoded damaged pictures: {bad[:3]}"


def viewer_count(relay: Relay, stream_id: str) -> int:
    """Viewers as the relay's last status poll of the local backend saw them (that backend's
    REST takes only the relay's own key)."""
    stream = relay.json("GET", f"/v1/streams/{stream_id}")
    status = stream["remote"]["status"] or {}  # type: ignore[index]
    return int(status.get("inference_status", {}).get("viewers", 0))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_aiortc_viewers_through_the_relay_each_keep_their_session(
    netns: Namespace, relay: Relay, agent: Agent
) -> None:
    agent.next("welcome")
    # Frame-number checks need the input back unchanged: no effect stage.
    params = {"model_id": "stabilityai/sdxl-turbo", "skip_diffusion": True}
    created = relay.json(
        "POST", "/v1/streams", {"name": "interop", "pipeline_config": {"params": params}}
    )
    stream_id = str(created["id"])
    grant = agent.next("publish")
    assert grant["stream_id"] == stream_id
    whip = grant["whip_url"]
    assert whip.startswith(f"/v1/streams/{stream_id}/whip?lease="), whip
    whep = f"/v1/streams/{stream_id}/whep"

    peers: list[AiortcPeer] = []
    try:
        publisher = AiortcPeer(netns, relay, "publish", whip)
        peers.append(publisher)
        publisher.next(lambda m: m.get("state") == "connected")
        # The relay learns the playback URL from the publisher's answer and tells the holder.
        agent.next("play")

        first = AiortcPeer(netns, relay, "view", whep)
        peers.append(first)
        first.next(lambda m: m.get("state") == "connected")
        second = AiortcPeer(netns, relay, "view", whep)
        peers.append(second)
        assert second.location != first.location, "both viewers were given one session"
        for viewer in (first, second):
            assert viewer.location.startswith("whep/"), viewer.location
        second.next(lambda m: m.get("state") == "connected")

        # Both play the same stretch of the stream once the second has joined; the old
        # relay ended the first viewer's session on the second's offer.
        start = second.next(lambda m: "frame" in m)["frame"] + 1
        end = start + WINDOW_FRAMES - 1
        timeout = 4 * WINDOW_FRAMES / FPS
        check_played("viewer 2", frames_up_to(second, start, end, timeout), start, end)
        check_played("viewer 1", frames_up_to(first, start, end, timeout), start, end)
        wait_for("two viewers", lambda: viewer_count(relay, stream_id) == 2)

        # Viewer 1 leaves through its own session URL: only it ends.
        session_url = urljoin(relay.url + whep, first.location)
        assert session_url == f"{relay.url}{whep}/{first.location.removeprefix('whep/')}"
        status, _, body = relay.request("DELETE", session_url.removeprefix(relay.url))
        assert status == 200, body
        first.next(lambda m: m.get("track") == "ended" or m.get("state") in ("closed", "failed"))
        wait_for("one viewer left", lambda: viewer_count(relay, stream_id) == 1)
        start = second.next(lambda m: "frame" in m)["frame"] + 1
        end = start + 2 * FPS - 1
        check_played("viewer 2 alone", frames_up_to(second, start, end, 8.0), start, end)
        status, _, body = relay.request("DELETE", session_url.removeprefix(relay.url))
        assert status == 404, body
    finally:
        for peer in peers:
            peer.stop()
